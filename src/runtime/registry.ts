/**
 * Every runtime a service can run under, by the supervisor the fleet model gives it
 * (fleet/build.ts). Adding a runtime is one module implementing runtime.ts and one line here
 * (docs/CONTRIBUTING-brief.md); nothing else keeps a table per supervisor.
 */
import type { Supervisor } from '../fleet/model.js';
import { compose } from './compose.js';
import { launchd } from './launchd.js';
import { pid } from './pid.js';
import type { Runtime } from './runtime.js';
import { systemd } from './systemd.js';

/** The order is the order of their parts in a host's status script. */
export const RUNTIMES: { readonly [S in Supervisor]: Runtime<S> } = {
  systemd,
  pid,
  compose,
  launchd,
};

/** Items (services, rows) by the runtime of each, in registry order; runtimes without any are left out. */
export function byRuntime<T extends { supervisor: Supervisor }>(items: readonly T[]): { runtime: Runtime; items: T[] }[] {
  return Object.values(RUNTIMES)
    .map((runtime: Runtime) => ({ runtime, items: items.filter((item) => RUNTIMES[item.supervisor] === runtime) }))
    .filter((g) => g.items.length > 0);
}

/** The runtime of a service. */
export function runtimeOf(service: { supervisor: Supervisor }): Runtime {
  return RUNTIMES[service.supervisor];
}

/**
 * A host's whole status in one script and one round trip: each runtime's part for its services
 * there (systemd: one `systemctl show`; PID mode: the pid files; compose: one `docker inspect`),
 * then every loopback health probe of them all (one curl) and each released service's dead-man
 * switch.
 */
import { parseRevertStates, REVERT_STATE_FUNCTION, revertStateCall } from './revert.js';
import type { Runtime } from './runtime.js';
import { BASE_PRELUDE, HOST_LINE, probePart, records } from './shell.js';
import type { HostReport, RuntimeService } from './types.js';

/** The services of a host, by the runtime that runs them (registry order). */
export interface HostStatusInput {
  groups: readonly { runtime: Runtime; services: readonly RuntimeService[] }[];
}

export function hostStatusScript(input: HostStatusInput): string {
  const groups = input.groups.filter((g) => g.services.length > 0);
  const parts = groups.map((g) => g.runtime.statusPart(g.services));
  const probed = groups.flatMap((g) => g.runtime.probed(g.services));
  return `${[BASE_PRELUDE, HOST_LINE, ...parts, probePart(probed), revertPart(groups.flatMap((g) => g.services))].filter(Boolean).join('\n')}\n`;
}

/** Each released service's dead-man switch (armed or fired): file tests only, unless one is armed. */
function revertPart(services: readonly RuntimeService[]): string {
  const released = services.filter((u) => u.directory !== undefined);
  if (released.length === 0) return '';
  return [REVERT_STATE_FUNCTION, ...released.map((u) => revertStateCall(u.id, u.directory!, u.key))].join('\n');
}

export function parseHostStatus(input: HostStatusInput, output: string): HostReport {
  const host = records(output).find((r) => r[0] === 'host');
  const reverts = parseRevertStates(output);
  const services = input.groups
    .filter((g) => g.services.length > 0)
    .flatMap((g) => g.runtime.parseStatus(g.services, output))
    .map((s) => (reverts.has(s.id) ? { ...s, revert: reverts.get(s.id)! } : s));
  return { hostname: host?.[1] ?? null, clock: host?.[2] === undefined ? null : Number(host[2]), services };
}

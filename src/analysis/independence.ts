/**
 * `check independence`: the acceptance test of a team moving production off a workstation ("production runs with the workstation
 * fully offline") as a command. For every host whose role is workstation or dev: the
 * production services (environment prod) that go down or degrade without it, and the
 * critical tunnels (declared production lanes) that end on it.
 */
import { analyzeImpact, type BrokenTunnel, type DegradedService, type DownService } from './impact.js';
import { Reachability, type FleetIndex } from './topology.js';

export const PERSONAL_ROLES: readonly string[] = ['workstation', 'dev'];

export interface HostIndependence {
  host: string;
  role: string;
  ok: boolean;
  down: DownService[];
  degraded: DegradedService[];
  critical_tunnels: BrokenTunnel[];
}

export interface IndependenceReport {
  hosts: HostIndependence[];
  /**
   * All of those hosts offline at once (when there are two or more): each may be spared alone
   * while production needs one of them, e.g. two tunnel chains, one through each.
   */
  together: (Omit<HostIndependence, 'host' | 'role'> & { hosts: string[] }) | null;
  ok: boolean;
}

export function checkIndependence(index: FleetIndex, observedDown: ReadonlyMap<string, string> = new Map()): IndependenceReport {
  const baseline = new Reachability(index);
  const hosts: HostIndependence[] = [];
  for (const h of index.fleet.hosts) {
    if (!PERSONAL_ROLES.includes(h.role)) continue;
    hosts.push({ host: h.name, role: h.role, ...verdict(index, [h.name], baseline, observedDown) });
  }
  const together =
    hosts.length >= 2
      ? {
          hosts: hosts.map((h) => h.host),
          ...verdict(
            index,
            hosts.map((h) => h.host),
            baseline,
            observedDown,
          ),
        }
      : null;
  return { hosts, together, ok: hosts.every((h) => h.ok) && (together?.ok ?? true) };
}

/** Production services down or degraded, and critical tunnels broken, when these hosts are offline. */
function verdict(
  index: FleetIndex,
  offline: string[],
  baseline: Reachability,
  observedDown: ReadonlyMap<string, string>,
): Omit<HostIndependence, 'host' | 'role'> {
  const r = analyzeImpact(index, offline, { baseline, observedDown });
  const down = r.down.filter((s) => s.environment === 'prod');
  const degraded = r.degraded.filter((s) => s.environment === 'prod');
  const critical_tunnels = r.tunnels.filter((t) => t.critical);
  return { ok: down.length + degraded.length + critical_tunnels.length === 0, down, degraded, critical_tunnels };
}

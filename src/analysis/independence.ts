/**
 * `check independence`: seed 003's acceptance test ("production runs with the workstation
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
  ok: boolean;
}

export function checkIndependence(index: FleetIndex): IndependenceReport {
  const baseline = new Reachability(index);
  const hosts: HostIndependence[] = [];
  for (const h of index.fleet.hosts) {
    if (!PERSONAL_ROLES.includes(h.role)) continue;
    const r = analyzeImpact(index, [h.name], { baseline });
    const down = r.down.filter((s) => s.environment === 'prod');
    const degraded = r.degraded.filter((s) => s.environment === 'prod');
    const critical_tunnels = r.tunnels.filter((t) => t.critical);
    hosts.push({ host: h.name, role: h.role, ok: down.length + degraded.length + critical_tunnels.length === 0, down, degraded, critical_tunnels });
  }
  return { hosts, ok: hosts.every((h) => h.ok) };
}

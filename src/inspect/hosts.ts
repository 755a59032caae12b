/** `hosts`: hosts at a glance: role, provider, addresses, what runs there, which clusters live there. */
import { dropletServices, type Fleet } from '../fleet/model.js';

export interface HostRow {
  name: string;
  role: string;
  provider: string;
  alias: string;
  address: string | null;
  mesh_ip: string | null;
  public_ip: string | null;
  local: boolean;
  frozen: { carries: string[]; reason: string | null } | null;
  /** `droplet`: the droplet a producer-root manifest lists it under (null for a manifest's own service). */
  services: { project: string; environment: string; port: number | null; kind: string; droplet: string | null }[];
  clusters: { name: string; engine: string; port: number }[];
  tunnels: { name: string; from: string; to: string; critical: boolean }[];
  description: string | null;
}

export function listHosts(fleet: Fleet): HostRow[] {
  const onDroplets = dropletServices(fleet);
  return fleet.hosts.map((h) => ({
    name: h.name,
    role: h.role,
    provider: h.provider,
    alias: h.alias,
    address: h.address ?? null,
    mesh_ip: h.meshIp ?? null,
    public_ip: h.publicIp ?? null,
    local: h.local,
    frozen: h.frozen ? { carries: h.frozen.carries, reason: h.frozen.reason ?? null } : null,
    services: [
      ...fleet.services
        .filter((s) => s.host === h.name)
        .map((s) => ({ project: s.project, environment: s.environment, port: s.port ?? null, kind: s.kind, droplet: null })),
      ...onDroplets
        .filter((d) => d.hosts.includes(h.name))
        .map((d) => ({ project: d.name, environment: 'prod', port: d.port ?? null, kind: d.kind, droplet: d.droplet })),
    ],
    clusters: fleet.clusters.filter((c) => c.host === h.name).map((c) => ({ name: c.name, engine: c.engine, port: c.port })),
    tunnels: fleet.tunnels
      .filter((t) => t.from === h.name || t.to === h.name)
      .map((t) => ({ name: t.name, from: t.from, to: t.to, critical: t.critical === true })),
    description: h.description ?? null,
  }));
}

/** Services whose host is not in the inventory (shown so nothing silently disappears). */
export function unplacedServices(fleet: Fleet): string[] {
  const names = new Set(fleet.hosts.map((h) => h.name));
  const services = fleet.services.filter((s) => s.host === undefined || !names.has(s.host)).map((s) => s.id);
  return [
    ...services,
    ...dropletServices(fleet)
      .filter((d) => !d.hosts.some((h) => names.has(h)))
      .map((d) => d.id),
  ];
}

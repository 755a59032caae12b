/**
 * The declared databases, resolved for the data commands: each manifest's `database
 * {cluster, name, user}` with its cluster, the cluster's host, the project's service (which
 * receives the credentials) and the addresses both sides use.
 */
import { isIP } from 'node:net';
import { UsageError } from '../errors.js';
import { serviceId, type Cluster, type Fleet, type Host, type ProjectDatabase, type Service } from '../fleet/model.js';
import { directLink, onNetwork } from '../fleet/networks.js';
import { closest } from '../text/suggest.js';
import { pgNameIssue, POSTGRES_ENGINES } from '../names.js';

/** Engines the data commands drive (PostgreSQL and its extensions' clusters); others are reported, never skipped silently. */
export const DRIVEN_ENGINES: ReadonlySet<string> = POSTGRES_ENGINES;

export const notDrivenReason = (c: Cluster): string =>
  `${c.engine} clusters are not driven by manage-apps (PostgreSQL only): nothing was done for ${c.name}`;

/** A name manage-apps provisions (the same test as validate's rule db_name). */
export function pgName(kind: 'database' | 'user', value: string): string {
  const issue = pgNameIssue(kind, value);
  if (issue !== undefined)
    throw new UsageError(
      `unsafe ${kind} name ${JSON.stringify(value)}: it ${issue}`,
      'manage-apps validate reports where it is declared (rule db_name)',
    );
  return value;
}

export interface DeclaredDatabase {
  /** The project's service id (project, or project:env). */
  id: string;
  project: string;
  environment: string;
  name: string;
  user: string;
  cluster: Cluster;
  clusterHost: Host;
  /** The service that receives the credentials (the project's, same environment). */
  service: Service | undefined;
  serviceHost: Host | undefined;
  /** What the service connects to (DATABASE_URL's host): loopback when co-located, else the cluster host's address on the network they share. */
  connectHost: string | undefined;
  /** The address pg_hba.conf admits (CIDR), or undefined when the service host has no usable IP. */
  clientCidr: string | undefined;
  /** Why the credentials cannot be delivered (no service, no env_file, no address), if so. */
  undeliverable: string | undefined;
  backup: ProjectDatabase['backup'];
  /** The declared check query the drill runs on the restored copy, if any. */
  check: string | undefined;
  manifest: string;
}

const ipOf = (h: Host): string | undefined => [h.meshIp, h.address].find((a) => a !== undefined && isIP(a) !== 0);

/**
 * The client's and the server's IP addresses on the network the service host reaches the cluster
 * host on (fleet/networks.ts: the mesh preferred); undefined when they share none with IP addresses.
 */
function sharedAddresses(client: Host, server: Host): { client: string; server: string } | undefined {
  const link = directLink(client, server);
  if (link === undefined) return undefined;
  // Across the internet the server sees the client's public address.
  const from = link.kind === 'public' ? client.publicIp : onNetwork(client, link.kind)?.address;
  if (from === undefined || isIP(from) === 0 || isIP(link.address) === 0) return undefined;
  return { client: from, server: link.address };
}
const cidr = (ip: string) => (isIP(ip) === 6 ? `${ip}/128` : `${ip}/32`);

export function resolveDatabase(fleet: Fleet, d: ProjectDatabase): DeclaredDatabase | { id: string; cluster: string; reason: string } {
  const id = serviceId(d.project, d.environment);
  const cluster = fleet.clusters.find((c) => c.name === d.cluster);
  if (!cluster) return { id, cluster: d.cluster, reason: `cluster ${d.cluster} is not in the inventory` };
  const clusterHost = fleet.hosts.find((h) => h.name === cluster.host);
  if (!clusterHost) return { id, cluster: d.cluster, reason: `cluster ${d.cluster}'s host ${cluster.host} is not in the inventory` };
  const service = fleet.services.find((s) => s.project === d.project && s.environment === d.environment);
  const serviceHost = service?.host === undefined ? undefined : fleet.hosts.find((h) => h.name === service.host);
  let connectHost: string | undefined;
  let clientCidr: string | undefined;
  let undeliverable: string | undefined;
  if (!service || !serviceHost) undeliverable = `${id} has no service on a host to deliver the credentials to`;
  else if (service.envFile === undefined) undeliverable = `${id} declares no service.env_file: nowhere to put DATABASE_URL`;
  else if (serviceHost.name === clusterHost.name) {
    connectHost = '127.0.0.1';
    clientCidr = '127.0.0.1/32';
  } else {
    // The network the two hosts share (mesh, provider's private network, LAN, public: as the edge
    // dials its upstreams), else the addresses ssh reaches them on.
    const shared = sharedAddresses(serviceHost, clusterHost);
    const client = shared?.client ?? ipOf(serviceHost);
    const server = shared?.server ?? ipOf(clusterHost);
    if (client === undefined)
      undeliverable = `service host ${serviceHost.name} has no IP address to admit in pg_hba.conf (mesh_ip, private_ip, lan or public_ip shared with ${clusterHost.name}, or address)`;
    else if (server === undefined)
      undeliverable = `cluster host ${clusterHost.name} has no IP address for DATABASE_URL (mesh_ip, private_ip, lan or public_ip shared with ${serviceHost.name}, or address)`;
    else {
      clientCidr = cidr(client);
      connectHost = server;
    }
  }
  return {
    id,
    project: d.project,
    environment: d.environment,
    name: d.name,
    user: d.user,
    cluster,
    clusterHost,
    service,
    serviceHost,
    connectHost,
    clientCidr,
    undeliverable,
    backup: d.backup,
    check: d.check,
    manifest: d.manifest,
  };
}

export interface DatabaseSelection {
  databases: DeclaredDatabase[];
  /** Declared databases on clusters of other engines, or that cannot be resolved. */
  notDriven: { id: string | null; cluster: string; reason: string }[];
}

/**
 * Targets: a project, project:env, or a cluster name; none = every declared database.
 * Unknown targets are usage errors with a suggestion.
 */
export function selectDatabases(fleet: Fleet, targets: readonly string[], env?: string): DatabaseSelection {
  const all = fleet.databases.map((d) => resolveDatabase(fleet, d));
  const known = new Set([
    ...fleet.databases.map((d) => d.project),
    ...fleet.databases.map((d) => serviceId(d.project, d.environment)),
    ...fleet.clusters.map((c) => c.name),
  ]);
  for (const t of targets) {
    if (!known.has(t))
      throw new UsageError(
        `unknown target ${JSON.stringify(t)}: not a project with a database, nor a cluster`,
        closest(t, [...known])
          ? `did you mean ${JSON.stringify(closest(t, [...known]))}?`
          : 'see `manage-apps backups` for the clusters and their databases',
      );
  }
  const wanted = (r: { id: string; cluster: string | Cluster; project?: string; environment?: string }) => {
    const clusterName = typeof r.cluster === 'string' ? r.cluster : r.cluster.name;
    const project = r.project ?? r.id.split(':')[0];
    if (env !== undefined && r.environment !== undefined && r.environment !== env) return false;
    return targets.length === 0 || targets.some((t) => t === r.id || t === project || t === clusterName);
  };
  const out: DatabaseSelection = { databases: [], notDriven: [] };
  for (const r of all) {
    if (!wanted(r)) continue;
    if (!('clusterHost' in r)) out.notDriven.push(r);
    else if (!DRIVEN_ENGINES.has(r.cluster.engine)) out.notDriven.push({ id: r.id, cluster: r.cluster.name, reason: notDrivenReason(r.cluster) });
    else out.databases.push(r);
  }
  // A cluster of another engine that no manifest uses is still named, never silently skipped.
  for (const c of fleet.clusters) {
    if (DRIVEN_ENGINES.has(c.engine) || out.notDriven.some((n) => n.cluster === c.name)) continue;
    if (targets.length === 0 || targets.includes(c.name)) out.notDriven.push({ id: null, cluster: c.name, reason: notDrivenReason(c) });
  }
  return out;
}

/** The databases grouped by the host their cluster runs on (one script per host). */
export function byClusterHost(databases: readonly DeclaredDatabase[]): Map<string, DeclaredDatabase[]> {
  const out = new Map<string, DeclaredDatabase[]>();
  for (const d of databases) out.set(d.clusterHost.name, [...(out.get(d.clusterHost.name) ?? []), d]);
  return out;
}

/**
 * The resolved fleet: every command consumes this model, never the raw files.
 * Built by fleet/build.ts from the manifests that passed their schema and the inventory.
 */
import type { BackupPolicy, Provider, ServiceKind } from '../manifest/types.js';
import type { ManifestHardening } from '../manifest/hardening.js';
import type { SecretDeclaration } from '../manifest/secrets.js';
import type { HostRole, InventoryCluster, InventoryHost, InventoryTunnel } from '../inventory/types.js';
import type { JobSchedule } from './schedule.js';

export interface Host {
  name: string;
  /** What `ssh` is given: the alias, else the name. */
  alias: string;
  address?: string;
  user?: string;
  port?: number;
  identityFile?: string;
  proxyJump?: string;
  meshIp?: string;
  publicIp?: string;
  /** Address on its provider's private network (inventory private_ip). */
  privateIp?: string;
  lan?: string;
  provider: Provider;
  role: HostRole;
  /** This machine: services run in PID mode without ssh. */
  local: boolean;
  ephemeral: boolean;
  gpus: number;
  /** Its systemd major version as the inventory gives it (only given for one older than 250). */
  systemd?: number;
  frozen?: { since?: string; reason?: string; carries: string[] };
  wireguard?: InventoryHost['wireguard'];
  description?: string;
  owner?: string;
}

export interface Cluster extends InventoryCluster {
  name: string;
}

export type Tunnel = InventoryTunnel;

export type Supervisor = 'systemd' | 'pid' | 'compose' | 'launchd';

/** A Docker Compose service: where its compose file is and what deploy pins. */
export interface ComposeService {
  /** The compose file relative to the project directory, and its absolute path. */
  file: string;
  path: string;
  /** The bundle shipped with each release: the compose file's directory (absolute). */
  bundleDir: string;
  /** The compose file's path inside the bundle. */
  fileInBundle: string;
  service: string;
  /** docker compose -p. */
  project: string;
  /** Image repository without a tag, when known (the manifest's, else the compose file's). */
  image?: string | undefined;
  /** Tag template ({env}, {sha}, {short_sha}); undefined: the compose file's own tag. */
  tag?: string;
  /** The compose file's own image reference for the service. */
  fileImage?: string | undefined;
  /** Host ports the service publishes (read from the compose file). */
  published: number[];
  networkHost: boolean;
  containerName?: string | undefined;
  /** Hardening keys the compose file sets itself (user, read_only), and its tmpfs mounts. */
  declares: string[];
  tmpfs: string[];
}

export interface HealthCheck {
  readiness: string;
  liveness: string;
  timeoutMs: number;
}

export interface Service {
  /** project for prod, project:env otherwise (unique in a valid fleet). */
  id: string;
  project: string;
  environment: string;
  provider: Provider;
  /** Inventory host name (undefined only for a local service without a host). */
  host: string | undefined;
  port?: number;
  /** infra/v2 service.swap.ports: the two ports a swap alternates between (docs/operations.md). */
  swapPorts?: [number, number];
  unit?: string;
  runtime?: string;
  deployScript?: string;
  command?: string;
  /** service.migrate: run from the new release before `current` switches (deploy). */
  migrate?: string;
  kind: ServiceKind;
  health: HealthCheck;
  domains: string[];
  envFile?: string;
  runAs?: string;
  /** service.schedule (infra/v2): a scheduled job, run on its calendar instead of standing (fleet/schedule.ts). */
  schedule?: JobSchedule;
  /** service.launchd (infra/v2): a Mac service that needs the user's GUI session runs as a LaunchAgent (runtime/launchd.ts). */
  launchd?: { session: 'system' | 'gui'; reason?: string; user?: string };
  /** service.hardening (infra/v2): what it writes, what it relaxes (render/hardening.ts). */
  hardening?: ManifestHardening;
  /** service.secrets (infra/v2): what it needs, from where on the operator's machine, delivered how (docs/secrets.md). */
  secrets?: SecretDeclaration[];
  /** Service directory on the host: releases/<id> and current live there. */
  directory: string;
  artifact?: string;
  keepReleases: number;
  stateful: boolean;
  backup?: BackupPolicy;
  gpu?: { mode?: string; droplet?: string };
  dependsOn: string[];
  database?: { cluster: string; name: string; user: string; backup?: BackupPolicy };
  /** service.cluster: this service supervises the named inventory cluster (it is the database server, not a client of it). */
  cluster?: string;
  owner?: string;
  supervisor: Supervisor;
  /** Set for a Docker Compose service (supervisor 'compose'). */
  compose?: ComposeService;
  /** A tenant's instance of a site template (service.tenants.instances): which tenant, from which template (its service id). */
  tenant?: { slug: string; template: string };
  /** A shared service's tenant routes (service.tenants without instances): which of its domains are whose; the edge tells it the tenant. */
  tenantRoutes?: TenantRoute[];
  /** Plain settings its unit sets as Environment= (a tenant instance's TENANT, TENANT_KIND and config). */
  env?: Record<string, string>;
  apiVersion: string;
  /** Manifest path relative to the root, and the project's directory (absolute). */
  manifest: string;
  projectDir: string;
}

export interface TenantRoute {
  slug: string;
  domains: string[];
}

/** A service template for tenants (service.tenants): every tenant that enables its surface gets a route or an instance. */
export interface TenantTemplate {
  /** The template's service id (project, or project:env): instances are <project>-<slug>. */
  id: string;
  project: string;
  environment: string;
  surface: string;
  /** Domains as written, placeholders and all. */
  domains: string[];
  host: string | undefined;
  /** The port range of per-tenant instances; undefined: one shared service with a route per tenant. */
  ports?: [number, number];
  /** Why it cannot have instances (the key of the manifest that stands in the way): they are left out. */
  noInstances?: 'compose' | 'systemd_unit' | 'command';
  manifest: string;
}

/** A declared tenant as the fleet sees it (tenants.yaml). */
export interface FleetTenant {
  slug: string;
  kind: 'person' | 'org';
  tlds: string[];
  surfaces: string[];
  config: Record<string, string>;
  ports: Record<string, number>;
  description?: string;
}

/** A project's own logical database on a cluster (declared with or without a service). */
export interface ProjectDatabase {
  project: string;
  environment: string;
  cluster: string;
  name: string;
  user: string;
  backup?: BackupPolicy;
  check?: string;
  manifest: string;
}

export interface Droplet {
  name: string;
  role?: string;
  provider: Provider;
  region: string;
  size: string;
  image: string;
  previousNames: string[];
  hosts: string[];
  services: { name: string; kind: string; producer?: string; port?: number; domain?: string }[];
  project: string;
  manifest: string;
}

export interface RunnerPool {
  name: string;
  region: string;
  size: string;
  image?: string;
  sshKey?: string;
  producer?: string;
  project: string;
  manifest: string;
}

export interface ManifestSummary {
  file: string;
  project: string | undefined;
  environment: string;
  apiVersion: string | undefined;
}

export interface Fleet {
  root: string;
  /** Inventory path relative to the root (or absolute). */
  inventoryFile: string;
  mesh?: { cidr: string; hub?: string; topology: 'hub-and-spoke' | 'full-mesh'; listenPort: number; interface: string };
  conventions?: { droplet_naming?: { prefix: string; producers?: string[] }; default_region?: string; ssh_key?: string };
  hosts: Host[];
  clusters: Cluster[];
  tunnels: Tunnel[];
  services: Service[];
  /** Every declared database, including those of projects without a service block. */
  databases: ProjectDatabase[];
  droplets: Droplet[];
  runnerPools: RunnerPool[];
  manifests: ManifestSummary[];
  /** Each project's resolved promotion path (fleet/promotion.ts; docs/promotion.md). */
  promotions?: Promotion[];
  /** The OpenSSH allowed_signers file approvals are verified against, relative to the root. */
  allowedSigners?: string;
  /** The tenants file (relative to the root) and its tenants, when there is one (docs/tenants.md). */
  tenantsFile?: string;
  tenants?: FleetTenant[];
  /** Templates tenants are expanded from (their instances and routes are in `services`). */
  tenantTemplates?: TenantTemplate[];
}

/** A project's promotion path, resolved from its manifests and the inventory's default. */
export interface Promotion {
  project: string;
  /** Environments in order (only those the project has). */
  path: string[];
  /** How long a release serves in an environment before it is promoted out of it. */
  observeMs: number;
  /** A drill interval that overrides the backup policy's for promotion, as declared. */
  drill: string | null;
  /** Environments a promotion into needs a signed approval. */
  approve: string[];
  /** Where it was declared: a manifest (relative to the root) or the inventory file. */
  declared: string;
}

export function serviceId(project: string, environment: string): string {
  return environment === 'prod' ? project : `${project}:${environment}`;
}

export function findHost(fleet: Fleet, name: string | undefined): Host | undefined {
  return name === undefined ? undefined : fleet.hosts.find((h) => h.name === name);
}

const serviceIndexes = new WeakMap<Fleet, { services: Service[]; length: number; byKey: Map<string, Service> }>();

/** Services by project and environment, built once per fleet (rebuilt if its service list changes). */
function serviceIndex(fleet: Fleet): Map<string, Service> {
  const cached = serviceIndexes.get(fleet);
  if (cached && cached.services === fleet.services && cached.length === fleet.services.length) return cached.byKey;
  const byKey = new Map<string, Service>();
  for (const s of fleet.services) {
    const key = `${s.project}\u0000${s.environment}`;
    if (!byKey.has(key)) byKey.set(key, s);
  }
  serviceIndexes.set(fleet, { services: fleet.services, length: fleet.services.length, byKey });
  return byKey;
}

/** What a depends_on name means for a service: the same environment's instance, else prod's. */
export function resolveDependency(fleet: Fleet, from: Service, project: string): Service | undefined {
  const index = serviceIndex(fleet);
  return index.get(`${project}\u0000${from.environment}`) ?? index.get(`${project}\u0000prod`);
}

/** Domains a later service claims again: where (its service and index) and who claimed it first. */
export function repeatedDomains(
  fleet: Fleet,
  services: readonly Service[] = fleet.services,
): { service: Service; index: number; domain: string; first: Service }[] {
  const owner = new Map<string, Service>();
  const out: { service: Service; index: number; domain: string; first: Service }[] = [];
  for (const service of services) {
    service.domains.forEach((domain, index) => {
      const first = owner.get(domain);
      if (first === undefined) owner.set(domain, service);
      else out.push({ service, index, domain, first });
    });
  }
  return out;
}

/**
 * The edges (services of kind edge, one per host) that route a service's domains: edges of the
 * service's own environment (a dev edge never serves production; a dev service without a dev
 * edge goes through prod's); of those, the one on its own host when there is one, otherwise
 * every one (DNS decides which gets the traffic). `net caddy` renders these routes and `graph`
 * draws them.
 */
export function routingEdges(fleet: Fleet, service: Service): Service[] {
  const edges = fleet.services.filter((s) => s.kind === 'edge' && s.host !== undefined);
  const sameEnv = edges.filter((e) => e.environment === service.environment);
  const usable = sameEnv.length > 0 ? sameEnv : edges.filter((e) => e.environment === 'prod');
  const byHost = new Map<string, Service>();
  for (const s of usable) if (!byHost.has(s.host!)) byHost.set(s.host!, s);
  const own = service.host === undefined ? undefined : byHost.get(service.host);
  if (own) return own === service ? [] : [own];
  return [...byHost.keys()]
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map((h) => byHost.get(h)!)
    .filter((e) => e !== service);
}

/** The port on which an edge serves HTTPS: Caddy's default https_port (an edge elsewhere, e.g. 8443 behind a load balancer, may well speak plain HTTP). */
export const EDGE_TLS_PORTS: readonly number[] = [443];

/**
 * The name an HTTPS edge is probed with (SNI and Host): a name it serves — its own domains, else the
 * first domain (by name) of a service it routes; a wildcard becomes a name under it. Without any,
 * the host's name (the handshake then tells only that something listens). undefined for an edge
 * that does not serve HTTPS on its port (probed over plain HTTP like any service).
 */
export function edgeProbeName(fleet: Fleet, edge: Service): string | undefined {
  if (edge.kind !== 'edge' || edge.port === undefined || !EDGE_TLS_PORTS.includes(edge.port)) return undefined;
  const routed = fleet.services.filter((s) => s.kind !== 'edge' && routingEdges(fleet, s).includes(edge)).flatMap((s) => s.domains);
  const names = [...edge.domains, ...[...routed].sort()];
  const plain = names.find((d) => !d.startsWith('*.'));
  const name = plain ?? (names[0] === undefined ? undefined : `probe${names[0].slice(1)}`);
  return name ?? edge.host;
}

export function durationMs(value: number | string | undefined, fallbackMs: number): number {
  if (value === undefined) return fallbackMs;
  if (typeof value === 'number') return value * 1000;
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(value);
  if (!m) return fallbackMs;
  const n = Number(m[1]);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
  return n * unit;
}

/**
 * A service a producer-root manifest lists under `droplets[].services` (the infra/v1 convention
 * shared_infra_topology: each droplet lists the co-located services it runs). It is part of
 * the fleet: it listens on the droplet's hosts (every name the droplet registers in the
 * inventory is the same machine), so `hosts`, `ports`, `graph` and `net reconcile` show it and
 * a port or domain it claims clashes with anyone else's. `host` is the first registered host.
 */
export interface DropletService {
  /** `<name>@<droplet>`: unique per droplet, never a project id (those have no "@"). */
  id: string;
  name: string;
  kind: string;
  producer?: string;
  port?: number;
  domain?: string;
  droplet: string;
  hosts: string[];
  host: string | undefined;
  manifest: string;
  /** Where it is declared: droplets[dropletIndex].services[serviceIndex] of its manifest. */
  path: (string | number)[];
}

export function dropletServices(fleet: Fleet): DropletService[] {
  const out: DropletService[] = [];
  const indexInManifest = new Map<string, number>();
  for (const d of fleet.droplets) {
    const dropletIndex = indexInManifest.get(d.manifest) ?? 0;
    indexInManifest.set(d.manifest, dropletIndex + 1);
    d.services.forEach((s, serviceIndex) => {
      out.push({
        id: `${s.name}@${d.name}`,
        name: s.name,
        kind: s.kind,
        ...(s.producer === undefined ? {} : { producer: s.producer }),
        ...(s.port === undefined ? {} : { port: s.port }),
        ...(s.domain === undefined ? {} : { domain: s.domain }),
        droplet: d.name,
        hosts: [...d.hosts],
        host: d.hosts[0],
        manifest: d.manifest,
        path: ['droplets', dropletIndex, 'services', serviceIndex],
      });
    });
  }
  return out;
}

/** Who listens on which port of which host: clusters, services, droplet services (in that order). */
export interface Listener {
  host: string;
  port: number;
  owner: string;
  type: 'cluster' | 'service' | 'droplet';
  environment: string | null;
  /** Inventory or manifest path relative to the root. */
  source: string;
  /** Where the port is declared in `source`. */
  path: (string | number)[];
}

export function listeners(fleet: Fleet): Listener[] {
  const out: Listener[] = [];
  for (const c of fleet.clusters)
    out.push({
      host: c.host,
      port: c.port,
      owner: c.name,
      type: 'cluster',
      environment: null,
      source: fleet.inventoryFile,
      path: ['clusters', c.name, 'port'],
    });
  for (const s of fleet.services) {
    // A cluster's server (service.cluster) listens on the cluster's port: listed once, as the cluster.
    const servesCluster = s.cluster !== undefined && fleet.clusters.some((c) => c.name === s.cluster && c.host === s.host && c.port === s.port);
    if (s.port !== undefined && s.host !== undefined && !servesCluster)
      out.push({
        host: s.host,
        port: s.port,
        owner: s.id,
        type: 'service',
        environment: s.environment,
        source: s.manifest,
        path: ['service', 'port'],
      });
    // A compose service holds every host port its compose file publishes, not only the one it is probed on.
    if (s.host !== undefined)
      for (const port of s.compose?.published ?? [])
        if (port !== s.port)
          out.push({
            host: s.host,
            port,
            owner: s.id,
            type: 'service',
            environment: s.environment,
            source: s.manifest,
            path: ['service', 'compose', 'file'],
          });
  }
  for (const d of dropletServices(fleet)) {
    if (d.port === undefined) continue;
    for (const host of new Set(d.hosts))
      out.push({ host, port: d.port, owner: d.id, type: 'droplet', environment: 'prod', source: d.manifest, path: [...d.path, 'port'] });
  }
  return out;
}

/** A droplet name under the fleet's droplet_naming convention: `<prefix>.<role>` or `<prefix>.<producer>.<role>` */
export function matchesNaming(name: string, prefix: string, producers: readonly string[] | undefined): boolean {
  if (!name.startsWith(`${prefix}.`)) return false;
  const rest = name.slice(prefix.length + 1).split('.');
  const role = /^[a-z0-9-]+$/;
  if (rest.length === 1) return role.test(rest[0]!);
  if (rest.length === 2) return (producers ?? []).includes(rest[0]!) && role.test(rest[1]!);
  return false;
}

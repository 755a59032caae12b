/** The .infra.yaml contract as TypeScript types (infra/v2 is a superset of infra/v1). */
import type { ManifestHardening } from './hardening.js';
import type { ManifestSecretSource } from './secrets.js';

export type ApiVersion = 'infra/v1' | 'infra/v2';
export type Provider = 'digitalocean' | 'mac' | 'bare-metal' | 'local' | 'vps';
export type ServiceKind = 'app' | 'worker' | 'edge';

export interface BackupPolicy {
  rpo: string;
  rto: string;
  method: string;
  target?: string;
  drill?: string;
}

export interface ManifestDatabase {
  cluster: string;
  name: string;
  user: string;
  backup?: BackupPolicy;
  /** infra/v2: a read-only SQL query the restore drill runs on the restored copy (docs/data.md). */
  check?: string;
}

export interface ManifestService {
  host?: string;
  runtime?: string;
  port?: number;
  systemd_unit?: string;
  deploy?: string;
  command?: string;
  migrate?: string;
  kind?: ServiceKind;
  health?: { readiness?: string; liveness?: string; timeout?: number | string };
  domains?: string[];
  env_file?: string;
  user?: string;
  directory?: string;
  artifact?: string;
  keep_releases?: number;
  stateful?: boolean;
  backup?: BackupPolicy;
  gpu?: { mode?: 'on-demand' | 'standing'; droplet?: string };
  depends_on?: string[];
  compose?: ManifestCompose;
  /** Zero-downtime swaps behind an edge: the new release starts beside the old one on the other port. */
  swap?: { ports: [number, number] };
  /** This service is the named inventory cluster's server (its supervisor): port, backups and listening come from the cluster. */
  cluster?: string;
  /** What the service writes and the hardening directives it relaxes (docs/manifest.md#hardening). */
  hardening?: ManifestHardening;
  /** The secrets it needs, each by its source on the operator's machine (docs/secrets.md). Never a value. */
  secrets?: Record<string, ManifestSecretSource>;
  /** A scheduled job: runs on this calendar instead of standing (docs/jobs.md). */
  schedule?: ManifestSchedule;
  /** On a Mac: whether it needs the user's GUI session (a LaunchAgent) instead of running as a LaunchDaemon (docs/launchd.md). */
  launchd?: { session?: 'system' | 'gui'; reason?: string };
  /** A template for the fleet's tenants (docs/tenants.md): one route, or one instance, per tenant that enables the surface. */
  tenants?: ManifestTenantTemplate;
}

/** service.tenants (infra/v2): fleet/tenants.ts expands it. */
export interface ManifestTenantTemplate {
  surface: string;
  /** One service per tenant, its port from this range [first, last]; without it, one shared service with a route per tenant. */
  instances?: { ports: [number, number] };
}

/** service.schedule (infra/v2): fleet/schedule.ts reads it. */
export interface ManifestSchedule {
  calendar: string;
  timeout?: number | string;
  catch_up?: boolean;
  randomized_delay?: number | string;
  grace?: number | string;
}

/** A Docker Compose service (infra/v2): the compose file in the project, the service in it, its image and tag template. */
export interface ManifestCompose {
  file: string;
  service: string;
  project?: string;
  image?: string;
  tag?: string;
}

export interface ManifestDroplet {
  name: string;
  role?: string;
  provider?: Provider;
  region?: string;
  size?: string;
  image?: string;
  previous_names?: string[];
  hosts?: string[];
  services: { name: string; kind: string; producer?: string; port?: number; domain?: string }[];
}

export interface RunnerPool {
  name: string;
  region?: string;
  size?: string;
  image?: string;
  ssh_key?: string;
  producer?: string;
}

/** `promotion` (infra/v2, and the inventory's fleet-wide default): a project's promotion path (docs/promotion.md). */
export interface ManifestPromotion {
  path?: string[];
  observe?: number | string;
  drill?: string;
  approve?: string[];
}

export interface InfraManifest {
  apiVersion: ApiVersion;
  project: string;
  environment?: string;
  provider: Provider;
  owner?: string;
  database?: ManifestDatabase;
  service?: ManifestService;
  droplets?: ManifestDroplet[];
  runner_pool?: RunnerPool;
  promotion?: ManifestPromotion;
}

/** mesh-hosts.json: the host inventory (see docs/inventory.md and schemas/mesh-hosts.schema.json). */
import type { BackupPolicy, ManifestPromotion, Provider } from '../manifest/types.js';

/** The inventory's file name under the root when --inventory is not given. */
export const DEFAULT_INVENTORY = 'mesh-hosts.json';

export type HostRole = 'production' | 'staging' | 'dev' | 'workstation' | 'legacy';

export interface InventoryHost {
  alias?: string;
  address?: string;
  user?: string;
  port?: number;
  identity_file?: string;
  proxy_jump?: string;
  mesh_ip?: string;
  public_ip?: string;
  private_ip?: string;
  lan?: string;
  provider: Provider;
  role: HostRole;
  description?: string;
  os?: string;
  local?: boolean;
  ephemeral?: boolean;
  gpus?: number;
  /** The host's systemd major version, when older than 250: credentials go as root-only files (docs/secrets.md). */
  systemd?: number;
  frozen?: { since?: string; reason?: string; carries: string[] };
  wireguard?: { public_key?: string; endpoint?: string; private_key_path?: string; behind_nat?: boolean };
  owner?: string;
}

export interface InventoryCluster {
  host: string;
  port: number;
  engine: 'postgres' | 'timescaledb' | 'mysql' | 'redis' | 'minio' | 'sqlite' | 'other';
  /** PostgreSQL major version `hosts prepare` installs and creates the cluster with (default: the distribution's). */
  version?: string;
  owner?: string;
  role?: 'primary' | 'replica' | 'cache';
  backup?: BackupPolicy;
  description?: string;
}

export interface InventoryTunnel {
  name: string;
  from: string;
  to: string;
  direction?: 'forward' | 'reverse';
  ports?: number[];
  carries?: string;
  critical?: boolean;
  owner?: string;
  /** The host that opens the tunnel: must agree with direction (forward: from; reverse: to). */
  initiator?: string;
  /** Exact forwards (else one per port of `ports`, same port both ends). */
  forwards?: { listen: number; target_port?: number; target_host?: string; bind?: string; publish?: string }[];
  /** The far host's account the tunnel logs in as: ma-tunnel-… (default ma-tunnel-open / ma-tunnel-listen). */
  ssh_user?: string;
  /** The address the initiator dials for the far host (default: mesh IP, public IP, address). */
  connect?: string;
}

export interface ServicesMapEntry {
  project: string;
  environment: string;
  host: string;
  port?: number;
  unit?: string;
  kind?: string;
  domains?: string[];
  manifest?: string;
}

export interface Inventory {
  $schema?: string;
  version?: 1;
  mesh?: { cidr: string; hub?: string; topology?: 'hub-and-spoke' | 'full-mesh'; listen_port?: number; interface?: string };
  conventions?: { droplet_naming?: { prefix: string; producers?: string[] }; default_region?: string; ssh_key?: string };
  hosts: Record<string, InventoryHost>;
  clusters?: Record<string, InventoryCluster>;
  tunnels?: InventoryTunnel[];
  services?: Record<string, ServicesMapEntry>;
  /** The fleet-wide promotion path (docs/promotion.md) and where the approvers' keys are. */
  promotion?: ManifestPromotion & { allowed_signers?: string };
}

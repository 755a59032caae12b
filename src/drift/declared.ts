/**
 * What the repository declares for each host, as the renderers render it now (never a second
 * renderer): the units `deploy` installs (render/systemd-unit.ts), the tunnels' files
 * (render/tunnels.ts), the edge's Caddyfile (render/caddy.ts), the pg_hba.conf managed block
 * `db provision` keeps (data/hba.ts), the credentials it writes into services' env files
 * (data/envfile.ts), the backup unit and timer `backups install` writes (data/backup-scripts.ts),
 * the mesh host's WireGuard config (render/wireguard.ts), the released services and their pinned
 * images, and the ports the port registry holds (inspect/ports.ts).
 */
import { FleetIndex } from '../analysis/topology.js';
import { periodSeconds, planBackups } from '../data/backup.js';
import { backupTimer, backupUnit } from '../data/backup-scripts.js';
import { MANAGED_VARS } from '../data/envfile.js';
import { byClusterHost, selectDatabases, type DeclaredDatabase } from '../data/declared.js';
import type { Fleet, Host, Service } from '../fleet/model.js';
import { portRegistry, type PortEntry } from '../inspect/ports.js';
import { renderCaddy } from '../render/caddy.js';
import { jobTimer } from '../fleet/schedule.js';
import { renderTimer, renderUnit, swapTemplateName, unitName, unitSkipReason, UnitError } from '../render/systemd-unit.js';
import { renderTunnels } from '../render/tunnels.js';
import { renderWireguard } from '../render/wireguard.js';
import { HOST_SECRETS_ROOT, serviceSecretsDir } from '../secrets/layout.js';
import { runtimeOf } from '../runtime/registry.js';
import { defaultLocator } from '../source/locator.js';
import { resolveTunnels, type ResolvedTunnel } from '../tunnels/resolve.js';

export const UNIT_DIR = '/etc/systemd/system';
/** Where the Debian/Ubuntu caddy package's unit reads its config (what `net caddy` renders goes there). */
export const CADDYFILE = '/etc/caddy/Caddyfile';

/** Where a host keeps the fingerprints of the secrets delivered to a service's live generation (docs/secrets.md). */
export const secretsFingerprintsPath = (s: Service): string => `${secretsDir(s)}/fingerprints`;
/** The live generation of a service's delivered secrets (docs/secrets.md). */
export const secretsDir = (s: Service): string => `${serviceSecretsDir(HOST_SECRETS_ROOT, s.environment, s.project)}/current`;

/** A unit manage-apps installs, as it would render it now. */
export interface DeclaredUnit {
  /** The file's name under /etc/systemd/system (a swap: its template `<stem>@.service`). */
  file: string;
  content: string;
  /** Who declares it: a service id, or "tunnel NAME". */
  owner: string;
  /** The unit whose enabled state is checked (null: a template is never enabled itself). */
  enabled: string | null;
  /** The manifest or inventory it comes from. */
  source: string;
}

/** A service's env file, where `db provision` keeps its database credentials (the other lines are the operator's). */
export interface DeclaredEnvFile {
  /** The service id. */
  owner: string;
  path: string;
  /** The variables db provision keeps there. */
  keys: readonly string[];
  /** Those of them that are not secret, as provision writes them (PGHOST, PGPORT, PGDATABASE, PGUSER). */
  values: Record<string, string>;
}

/** The mesh config `net wireguard` renders for this host, and the interface it configures. */
export interface DeclaredWireguard {
  iface: string;
  path: string;
  content: string;
}

export interface DeclaredHost {
  host: Host;
  /** The services of the selection on this host. */
  services: Service[];
  units: DeclaredUnit[];
  /** Why a unit could not be rendered (reported as unknown, never skipped silently). */
  unrenderable: { owner: string; reason: string }[];
  /** Every unit file the fleet declares on this host, selected or not: anything else with manage-apps' marker is extra. */
  allUnitFiles: Set<string>;
  /** The edge's Caddyfile, when this host is an edge. */
  caddyfile: string | null;
  /** Tunnels this host opens (initiator) or serves (far end). */
  initiated: ResolvedTunnel[];
  served: ResolvedTunnel[];
  /** Declared databases whose cluster runs here. */
  databases: DeclaredDatabase[];
  /** The port registry's entries for this host (services, clusters, tunnels, droplet services). */
  ports: PortEntry[];
  /** Env files of the selected services that hold database credentials. */
  envFiles: DeclaredEnvFile[];
  /** The WireGuard config, when this host is on the mesh. */
  wireguard: DeclaredWireguard | null;
}

export interface Declared {
  fleet: Fleet;
  index: FleetIndex;
  tunnels: ResolvedTunnel[];
  hosts: DeclaredHost[];
}

/**
 * The units deploy installs for a service, as they would render now: its unit (a swap: the
 * template), and for a scheduled job its timer too. A job's unit is started by its timer, so the
 * timer is what is enabled, never the unit.
 */
function unitsOf(service: Service, host: Host): DeclaredUnit[] | { owner: string; reason: string } {
  if (unitSkipReason(service) !== undefined || runtimeOf(service).releases === undefined) return [];
  try {
    const unit = unitName(service);
    const swap = service.swapPorts !== undefined;
    const job = service.schedule !== undefined;
    const units: DeclaredUnit[] = [
      {
        file: swap ? swapTemplateName(unit) : unit,
        content: renderUnit(service, host, swap ? { template: 'swap' } : {}),
        owner: service.id,
        enabled: swap || job ? null : unit,
        source: service.manifest,
      },
    ];
    if (job) {
      const timer = jobTimer(unit);
      units.push({ file: timer, content: renderTimer(service, host), owner: service.id, enabled: timer, source: service.manifest });
    }
    return units;
  } catch (error) {
    if (error instanceof UnitError) return { owner: service.id, reason: error.message };
    throw error;
  }
}

/**
 * What `backups install` writes on each cluster host whose backup is declared and can run: the
 * unit template (one per host) and, where the RPO is a period, the cluster's timer (enabled).
 */
function backupUnits(fleet: Fleet): Map<string, DeclaredUnit[]> {
  const out = new Map<string, DeclaredUnit[]>();
  for (const p of planBackups(fleet, []).plans) {
    const period = periodSeconds(p.policy);
    // A backup that cannot run as declared, or has no period for its timer, is not installed: `backups install` says why.
    if (p.problem !== undefined || period === undefined) continue;
    const units = out.get(p.host.name) ?? [];
    const owner = `backup ${p.cluster.name}`;
    const template = units.find((u) => u.file === BACKUP_TEMPLATE);
    if (template === undefined) units.push({ file: BACKUP_TEMPLATE, content: backupUnit(), owner, enabled: null, source: fleet.inventoryFile });
    else template.owner = `${template.owner}, ${p.cluster.name}`;
    const timer = `manage-apps-backup@${p.cluster.name}.timer`;
    units.push({ file: timer, content: backupTimer(p.cluster.name, period), owner, enabled: timer, source: fleet.inventoryFile });
    out.set(p.host.name, units);
  }
  return out;
}

/** The unit template of every cluster's backup on a host. */
export const BACKUP_TEMPLATE = 'manage-apps-backup@.service';

/** The declared state of the hosts the selected services run on (every host when `hostNames` is undefined). */
export function declare(fleet: Fleet, selected: readonly Service[], hostNames?: readonly string[]): Declared {
  const index = new FleetIndex(fleet);
  const locator = defaultLocator(fleet.inventoryFile);
  const tunnels = resolveTunnels(index, locator).tunnels;
  const caddy = renderCaddy(fleet, locator);
  const databases = byClusterHost(selectDatabases(fleet, []).databases);
  const registry = portRegistry(fleet).entries;
  // The tunnels' units come from the same renderer as `net tunnels` (keys do not change a unit).
  const tunnelFiles = new Map(renderTunnels(index, locator).files.map((f) => [f.path, f.content]));
  const wanted = new Set(hostNames ?? selected.flatMap((s) => (s.host === undefined ? [] : [s.host])));
  const backups = backupUnits(fleet);
  const wireguard =
    fleet.mesh === undefined ? new Map<string, string>() : new Map(renderWireguard(fleet, locator).files.map((f) => [f.path, f.content]));
  const envDatabases = selectDatabases(fleet, []).databases.filter((d) => d.undeliverable === undefined && selected.includes(d.service!));
  const hosts: DeclaredHost[] = [];
  for (const host of fleet.hosts) {
    if (!wanted.has(host.name) || host.local) continue;
    const services = selected.filter((s) => s.host === host.name);
    const units: DeclaredUnit[] = [];
    const unrenderable: DeclaredHost['unrenderable'] = [];
    const allUnitFiles = new Set<string>();
    for (const s of fleet.services.filter((x) => x.host === host.name)) {
      const declared = unitsOf(s, host);
      if ('reason' in declared) {
        if (services.includes(s)) unrenderable.push(declared);
        continue;
      }
      for (const u of declared) allUnitFiles.add(u.file);
      if (services.includes(s)) units.push(...declared);
    }
    // The backup of a cluster on this host: declared with the cluster, whoever is selected (one template unit for every cluster here).
    for (const u of backups.get(host.name) ?? []) {
      allUnitFiles.add(u.file);
      if (hostNames !== undefined || services.length > 0) units.push(u);
    }
    const initiated = tunnels.filter((t) => t.initiator === host.name);
    for (const t of initiated) {
      const content = tunnelFiles.get(`${host.name}${UNIT_DIR}/${t.unit}`);
      allUnitFiles.add(t.unit);
      if (content !== undefined) units.push({ file: t.unit, content, owner: `tunnel ${t.name}`, enabled: t.unit, source: fleet.inventoryFile });
    }
    const caddyfile = caddy.files.find((f) => f.path === `${host.name}.Caddyfile`)?.content ?? null;
    hosts.push({
      host,
      services,
      units,
      unrenderable,
      allUnitFiles,
      caddyfile,
      initiated,
      served: tunnels.filter((t) => t.far === host.name),
      databases: databases.get(host.name) ?? [],
      ports: registry.filter((e) => e.host === host.name),
      envFiles: envDatabases
        .filter((d) => d.serviceHost!.name === host.name)
        .map((d) => ({
          owner: d.id,
          path: d.service!.envFile!,
          keys: MANAGED_VARS,
          values: { PGHOST: d.connectHost!, PGPORT: String(d.cluster.port), PGDATABASE: d.name, PGUSER: d.user },
        })),
      wireguard:
        fleet.mesh !== undefined && wireguard.has(`${host.name}.conf`)
          ? { iface: fleet.mesh.interface, path: `/etc/wireguard/${fleet.mesh.interface}.conf`, content: wireguard.get(`${host.name}.conf`)! }
          : null,
    });
  }
  return { fleet, index, tunnels, hosts };
}

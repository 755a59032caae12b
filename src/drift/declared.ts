/**
 * What the repository declares for each host, as the renderers render it now (never a second
 * renderer): the units `deploy` installs (render/systemd-unit.ts), the tunnels' files
 * (render/tunnels.ts), the edge's Caddyfile (render/caddy.ts), the pg_hba.conf managed block
 * `db provision` keeps (data/hba.ts), the released services and their pinned images, and the
 * ports the port registry holds (inspect/ports.ts).
 */
import { FleetIndex } from '../analysis/topology.js';
import { byClusterHost, selectDatabases, type DeclaredDatabase } from '../data/declared.js';
import type { Fleet, Host, Service } from '../fleet/model.js';
import { portRegistry, type PortEntry } from '../inspect/ports.js';
import { renderCaddy } from '../render/caddy.js';
import { jobTimer } from '../fleet/schedule.js';
import { renderTimer, renderUnit, swapTemplateName, unitName, unitSkipReason, UnitError } from '../render/systemd-unit.js';
import { renderTunnels } from '../render/tunnels.js';
import { runtimeOf } from '../runtime/registry.js';
import { defaultLocator } from '../source/locator.js';
import { resolveTunnels, type ResolvedTunnel } from '../tunnels/resolve.js';

export const UNIT_DIR = '/etc/systemd/system';
/** Where the Debian/Ubuntu caddy package's unit reads its config (what `net caddy` renders goes there). */
export const CADDYFILE = '/etc/caddy/Caddyfile';

/** Where a host keeps the fingerprints of the secrets delivered to a service's live generation (docs/secrets.md). */
export const secretsFingerprintsPath = (s: Service): string => `/var/lib/manage-apps/secrets/${s.environment}/${s.project}/current/fingerprints`;

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
    });
  }
  return { fleet, index, tunnels, hosts };
}

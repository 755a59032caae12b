/** `list`: the services of the fleet, one row each. */
import { dropletServices, type Fleet, type Supervisor } from '../fleet/model.js';
import { composeDisplay } from '../manifest/compose.js';

/** A row of `list`: a service of the fleet (supervised by its runtime), or one a droplet runs. */
export type ServiceRow = OwnServiceRow | DropletServiceRow;

interface RowFields {
  project: string;
  environment: string;
  host: string | null;
  provider: string;
  port: number | null;
  unit: string | null;
  depends_on: string[];
  kind: string;
  manifest: string;
}

export interface OwnServiceRow extends RowFields {
  supervisor: Supervisor;
  droplet?: undefined;
  /** A tenant's instance of a template (docs/tenants.md): the tenant's slug and the template's service id. */
  tenant?: { slug: string; template: string };
  /** Compose services: the compose project, service, file (relative to the root) and image repository. */
  compose?: { project: string; service: string; file: string; image: string | null };
}

export interface DropletServiceRow extends RowFields {
  /** A droplet's service runs there: manage-apps does not supervise it. */
  supervisor: 'none';
  /** A service a producer-root manifest lists under `droplets[].services`: its droplet (as `hosts` shows it). */
  droplet: string;
}

export function listServices(fleet: Fleet, filter: { environment?: string; host?: string } = {}): ServiceRow[] {
  const own: OwnServiceRow[] = fleet.services
    .filter(
      (s) => (filter.environment === undefined || s.environment === filter.environment) && (filter.host === undefined || s.host === filter.host),
    )
    .map((s) => ({
      project: s.project,
      environment: s.environment,
      host: s.host ?? null,
      provider: s.provider,
      port: s.port ?? null,
      unit: s.unit ?? null,
      depends_on: s.dependsOn,
      kind: s.kind,
      supervisor: s.supervisor,
      manifest: s.manifest,
      ...(s.tenant === undefined ? {} : { tenant: { ...s.tenant } }),
      ...(s.compose === undefined
        ? {}
        : {
            compose: {
              project: s.compose.project,
              service: s.compose.service,
              file: composeDisplay(s.manifest, s.compose.file),
              image: s.compose.image ?? null,
            },
          }),
    }));
  // The services droplets run are part of the fleet as `hosts`, `ports` and `graph` show it: listed too.
  const providerOf = new Map(fleet.droplets.map((d) => [d.name, d.provider]));
  const onDroplets: DropletServiceRow[] = dropletServices(fleet)
    .filter(
      (d) =>
        (filter.environment === undefined || filter.environment === DROPLET_ENVIRONMENT) &&
        (filter.host === undefined || d.hosts.includes(filter.host)),
    )
    .map((d) => ({
      project: d.name,
      environment: DROPLET_ENVIRONMENT,
      host: filter.host ?? d.host ?? null,
      provider: providerOf.get(d.droplet) ?? 'digitalocean',
      port: d.port ?? null,
      unit: null,
      depends_on: [],
      kind: d.kind,
      supervisor: 'none',
      manifest: d.manifest,
      droplet: d.droplet,
    }));
  return [...own, ...onDroplets];
}

/** A droplet's services are production (the environment `hosts` and `ports` give them). */
export const DROPLET_ENVIRONMENT = 'prod';

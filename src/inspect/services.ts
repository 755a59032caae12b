/** `list`: the services of the fleet, one row each. */
import type { Fleet } from '../fleet/model.js';
import { composeDisplay } from '../manifest/compose.js';

export interface ServiceRow {
  project: string;
  environment: string;
  host: string | null;
  provider: string;
  port: number | null;
  unit: string | null;
  depends_on: string[];
  kind: string;
  supervisor: string;
  manifest: string;
  /** Compose services: the compose project, service, file (relative to the root) and image repository. */
  compose?: { project: string; service: string; file: string; image: string | null };
}

export function listServices(fleet: Fleet, filter: { environment?: string; host?: string } = {}): ServiceRow[] {
  return fleet.services
    .filter((s) => (filter.environment === undefined || s.environment === filter.environment) && (filter.host === undefined || s.host === filter.host))
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
      ...(s.compose === undefined ? {} : { compose: { project: s.compose.project, service: s.compose.service, file: composeDisplay(s.manifest, s.compose.file), image: s.compose.image ?? null } }),
    }));
}

/** `list`: the services of the fleet, one row each. */
import type { Fleet } from '../fleet/model.js';

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
    }));
}

/** releases: what each service has on its host, newest first, with gate outcomes and the switch. */
import { EXIT_OK, EXIT_PROBLEMS } from '../errors.js';
import type { Service } from '../fleet/model.js';
import type { FleetOptions } from '../load/fleet.js';
import type { SelectOptions } from '../ops/selection.js';
import { collectReleases, type ServiceReleases } from '../ops/releases.js';
import { resolveSettings, type OpsSettings } from '../ops/settings.js';
import { problemJson } from '../problems.js';
import type { Answer, WithProblems } from './answer.js';
import { prepare } from './prepare.js';

/** `selected`: every service selected, with those that keep no releases on a host (PID mode), so a front end can name them. */
export async function releases(
  source: FleetOptions,
  selector: SelectOptions,
  given: Partial<OpsSettings>,
): Promise<Answer<WithProblems<{ services: ServiceReleases[] }>> & { selected: Service[] }> {
  const { loaded, ops, selection } = await prepare(source, selector, resolveSettings(given));
  const services = await collectReleases(ops, selection.services);
  return {
    exitCode: services.every((s) => s.reachable) ? EXIT_OK : EXIT_PROBLEMS,
    document: { services, problems: loaded.problems.map(problemJson) },
    loaded,
    selected: selection.services,
  };
}

/** list: the services the files declare, droplet services too. */
import { UsageError } from '../errors.js';
import { dropletServices } from '../fleet/model.js';
import { DROPLET_ENVIRONMENT, listServices, type ServiceRow } from '../inspect/services.js';
import { loadFleet, type FleetOptions } from '../load/fleet.js';
import { requireHost } from '../ops/selection.js';
import { closest } from '../text/suggest.js';
import { viewAnswer, type Answer, type WithProblems } from './answer.js';

/** `list`: the services (droplet services too), of one environment and one host when given. */
export async function list(
  source: FleetOptions,
  filter: { env?: string; host?: string } = {},
): Promise<Answer<WithProblems<{ services: ServiceRow[] }>>> {
  const loaded = await loadFleet(source);
  // A filter that can match nothing is a typo, not an empty fleet: say so, as ops commands do.
  if (filter.host !== undefined) requireHost(loaded.fleet, filter.host);
  const environments = [
    ...new Set([...loaded.fleet.services.map((s) => s.environment), ...(dropletServices(loaded.fleet).length > 0 ? [DROPLET_ENVIRONMENT] : [])]),
  ].sort();
  if (filter.env !== undefined && !environments.includes(filter.env)) {
    const near = closest(filter.env, environments);
    throw new UsageError(
      `no service of environment ${JSON.stringify(filter.env)} under the root`,
      near ? `did you mean ${near}?` : `environments: ${environments.join(', ') || 'none'}`,
    );
  }
  const services = listServices(loaded.fleet, {
    ...(filter.env === undefined ? {} : { environment: filter.env }),
    ...(filter.host === undefined ? {} : { host: filter.host }),
  });
  return viewAnswer(loaded, { services });
}

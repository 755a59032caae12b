import { UsageError } from '../../errors.js';
import { loadFleet } from '../../load/fleet.js';
import { DROPLET_ENVIRONMENT, listServices } from '../../inspect/services.js';
import { dropletServices } from '../../fleet/model.js';
import { requireHost } from '../../ops/selection.js';
import type { CommandResult, GlobalOptions } from '../context.js';
import { closest } from '../../text/suggest.js';
import { plural, table } from '../style.js';
import { withProblemNote } from './shared.js';
import { runtimeOf } from '../../runtime/registry.js';

export async function list(options: GlobalOptions & { env?: string; host?: string }): Promise<CommandResult> {
  const loaded = await loadFleet(options);
  // A filter that can match nothing is a typo, not an empty fleet: say so, as ops commands do.
  if (options.host !== undefined) requireHost(loaded.fleet, options.host);
  const environments = [
    ...new Set([...loaded.fleet.services.map((s) => s.environment), ...(dropletServices(loaded.fleet).length > 0 ? [DROPLET_ENVIRONMENT] : [])]),
  ].sort();
  if (options.env !== undefined && !environments.includes(options.env)) {
    const near = closest(options.env, environments);
    throw new UsageError(
      `no service of environment ${JSON.stringify(options.env)} under the root`,
      near ? `did you mean ${near}?` : `environments: ${environments.join(', ') || 'none'}`,
    );
  }
  const filter: { environment?: string; host?: string } = {};
  if (options.env !== undefined) filter.environment = options.env;
  if (options.host !== undefined) filter.host = options.host;
  const services = listServices(loaded.fleet, filter);
  return withProblemNote(loaded, { services }, () => {
    if (services.length === 0) return 'No services found under the root.';
    const rows = services.map((s) => [
      s.project,
      s.environment,
      s.host ?? '',
      s.provider,
      s.port === null ? '' : String(s.port),
      s.droplet !== undefined ? `(on droplet ${s.droplet})` : runtimeOf(s).declaredLabel(s),
      s.depends_on.join(', '),
    ]);
    return `${table(['PROJECT', 'ENV', 'HOST', 'PROVIDER', 'PORT', 'UNIT', 'DEPENDS ON'], rows)}\n\n${plural(services.length, 'service')}.`;
  });
}

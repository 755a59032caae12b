import { loadFleet } from '../../fleet/load.js';
import { listServices } from '../../inspect/services.js';
import type { CommandResult, GlobalOptions } from '../context.js';
import { plural, table } from '../style.js';
import { withProblemNote } from './shared.js';

export async function list(options: GlobalOptions & { env?: string; host?: string }): Promise<CommandResult> {
  const loaded = await loadFleet(options);
  const filter: { environment?: string; host?: string } = {};
  if (options.env !== undefined) filter.environment = options.env;
  if (options.host !== undefined) filter.host = options.host;
  const services = listServices(loaded.fleet, filter);
  return withProblemNote(loaded, { services }, () => {
    if (services.length === 0) return 'No services found under the root.';
    const rows = services.map((s) => [s.project, s.environment, s.host ?? '', s.provider, s.port === null ? '' : String(s.port), s.unit ?? (s.supervisor === 'pid' ? '(pid mode)' : ''), s.depends_on.join(', ')]);
    return `${table(['PROJECT', 'ENV', 'HOST', 'PROVIDER', 'PORT', 'UNIT', 'DEPENDS ON'], rows)}\n\n${plural(services.length, 'service')}.`;
  });
}

import { list as listUseCase } from '../../app/list.js';
import type { CommandResult, GlobalOptions } from '../context.js';
import { fleetSource } from '../ops-options.js';
import { plural, table } from '../style.js';
import { viewResult } from './shared.js';
import { runtimeOf } from '../../runtime/registry.js';

export async function list(options: GlobalOptions & { env?: string; host?: string }): Promise<CommandResult> {
  const filter = { ...(options.env === undefined ? {} : { env: options.env }), ...(options.host === undefined ? {} : { host: options.host }) };
  return viewResult(await listUseCase(fleetSource(options), filter), ({ services }) => {
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

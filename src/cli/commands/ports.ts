import { ports as portsUseCase } from '../../app/ports.js';
import type { CommandResult, GlobalOptions } from '../context.js';
import { fleetSource } from '../ops-options.js';
import { style, table } from '../style.js';
import { errorsElsewhere, viewResult } from './shared.js';

export async function ports(options: GlobalOptions & { writeEnv?: string; check?: boolean }): Promise<CommandResult> {
  const answer = await portsUseCase(fleetSource(options), {
    ...(options.writeEnv === undefined ? {} : { writeEnv: options.writeEnv }),
    check: options.check === true,
  });
  const { loaded } = answer;
  return viewResult(answer, ({ ports: entries, clashes, env_file: envFile }) => {
    const out = [
      table(
        ['HOST', 'PORT', 'OWNER', 'TYPE', 'ENV', 'DECLARED IN'],
        entries.map((e) => [e.host, String(e.port), e.owner, e.type, e.environment ?? '', e.source]),
      ),
    ];
    if (clashes.length > 0) {
      out.push('', style.red(`${clashes.length} clash(es):`));
      for (const c of clashes) out.push(`  ${c.host}:${c.port} is claimed by ${c.owners.join(' and ')}`);
    } else {
      out.push('', `${style.green('✔')} no port is claimed twice on one host.${errorsElsewhere(loaded)}`);
    }
    for (const c of envFile?.collisions ?? [])
      out.push(style.red(`✖ ${c.name} would name both ${c.owners.map((o) => `${o.owner} (${o.port})`).join(' and ')}: rename one project`));
    if (envFile) {
      const what =
        {
          created: 'written',
          updated: 'updated',
          unchanged: 'already in sync',
          'out-of-date': style.red('out of date (run without --check to update)'),
          'up-to-date': 'in sync',
          'not-written': style.red('not written'),
        }[envFile.outcome] ?? envFile.outcome;
      out.push(`${envFile.path}: ${what}${envFile.backup ? ` (previous content kept in ${envFile.backup})` : ''}`);
    }
    return out.join('\n');
  });
}

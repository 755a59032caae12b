import { resolve } from 'node:path';
import { EXIT_PROBLEMS, UsageError } from '../../errors.js';
import { writeFileSafely, readIfExists } from '../../files/write.js';
import { loadFleet } from '../../load/fleet.js';
import { envPortsFile, portRegistry, type EnvNameCollision } from '../../inspect/ports.js';
import type { CommandResult, GlobalOptions } from '../context.js';
import { style, table } from '../style.js';
import { errorsElsewhere, withProblemNote } from './shared.js';

export async function ports(options: GlobalOptions & { writeEnv?: string; check?: boolean }): Promise<CommandResult> {
  if (options.check && options.writeEnv === undefined)
    throw new UsageError('--check compares the file given with --write-env', 'e.g. manage-apps ports --write-env .env.ports --check');
  const loaded = await loadFleet(options);
  const registry = portRegistry(loaded.fleet);
  let envFile: { path: string; outcome: string; backup?: string; collisions?: EnvNameCollision[] } | undefined;
  let drift = false;
  if (options.writeEnv !== undefined) {
    const path = resolve(process.cwd(), options.writeEnv);
    const { text, collisions } = envPortsFile(registry);
    if (collisions.length > 0) {
      // Which port a shared name should carry is not ours to pick: nothing is written.
      envFile = { path, outcome: 'not-written', collisions };
    } else if (options.check) {
      drift = (await readIfExists(path)) !== text;
      envFile = { path, outcome: drift ? 'out-of-date' : 'up-to-date' };
    } else {
      envFile = await writeFileSafely(path, text);
    }
  }
  const result = withProblemNote(loaded, { ports: registry.entries, clashes: registry.clashes, ...(envFile ? { env_file: envFile } : {}) }, () => {
    const out = [
      table(
        ['HOST', 'PORT', 'OWNER', 'TYPE', 'ENV', 'DECLARED IN'],
        registry.entries.map((e) => [e.host, String(e.port), e.owner, e.type, e.environment ?? '', e.source]),
      ),
    ];
    if (registry.clashes.length > 0) {
      out.push('', style.red(`${registry.clashes.length} clash(es):`));
      for (const c of registry.clashes) out.push(`  ${c.host}:${c.port} is claimed by ${c.owners.join(' and ')}`);
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
  if (registry.clashes.length > 0 || drift || (envFile?.collisions?.length ?? 0) > 0) result.exitCode = EXIT_PROBLEMS;
  return result;
}

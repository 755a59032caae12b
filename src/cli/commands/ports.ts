import { resolve } from 'node:path';
import { EXIT_PROBLEMS } from '../../errors.js';
import { writeFileSafely, readIfExists } from '../../files/write.js';
import { loadFleet } from '../../fleet/load.js';
import { envPortsFile, portRegistry } from '../../inspect/ports.js';
import type { CommandResult, GlobalOptions } from '../context.js';
import { style, table } from '../style.js';
import { withProblemNote } from './shared.js';

export async function ports(options: GlobalOptions & { writeEnv?: string; check?: boolean }): Promise<CommandResult> {
  const loaded = await loadFleet(options);
  const registry = portRegistry(loaded.fleet);
  let envFile: { path: string; outcome: string; backup?: string } | undefined;
  let drift = false;
  if (options.writeEnv !== undefined) {
    const path = resolve(process.cwd(), options.writeEnv);
    const content = envPortsFile(registry);
    if (options.check) {
      drift = (await readIfExists(path)) !== content;
      envFile = { path, outcome: drift ? 'out-of-date' : 'up-to-date' };
    } else {
      envFile = await writeFileSafely(path, content);
    }
  }
  const result = withProblemNote(loaded, { ports: registry.entries, clashes: registry.clashes, ...(envFile ? { env_file: envFile } : {}) }, () => {
    const out = [table(['HOST', 'PORT', 'OWNER', 'TYPE', 'ENV', 'DECLARED IN'], registry.entries.map((e) => [e.host, String(e.port), e.owner, e.type, e.environment ?? '', e.source]))];
    if (registry.clashes.length > 0) {
      out.push('', style.red(`${registry.clashes.length} clash(es):`));
      for (const c of registry.clashes) out.push(`  ${c.host}:${c.port} is claimed by ${c.owners.join(' and ')}`);
    } else {
      out.push('', `${style.green('✔')} no port is claimed twice on one host.`);
    }
    if (envFile) {
      const what = { created: 'written', updated: 'updated', unchanged: 'already in sync', 'out-of-date': style.red('out of date (run without --check to update)'), 'up-to-date': 'in sync' }[envFile.outcome] ?? envFile.outcome;
      out.push(`${envFile.path}: ${what}${envFile.backup ? ` (previous content kept in ${envFile.backup})` : ''}`);
    }
    return out.join('\n');
  });
  if (registry.clashes.length > 0 || drift) result.exitCode = EXIT_PROBLEMS;
  return result;
}

/** ports: the port registry per host and its clashes; a .env.ports file kept in sync. */
import { resolve } from 'node:path';
import { EXIT_PROBLEMS, UsageError } from '../errors.js';
import { readIfExists, writeFileSafely } from '../files/write.js';
import { envPortsFile, portRegistry, type EnvNameCollision, type PortRegistry } from '../inspect/ports.js';
import { loadFleet, type FleetOptions } from '../load/fleet.js';
import { viewAnswer, type Answer, type WithProblems } from './answer.js';

export interface EnvFileReport {
  path: string;
  outcome: string;
  backup?: string;
  collisions?: EnvNameCollision[];
}
export type PortsDocument = WithProblems<{ ports: PortRegistry['entries']; clashes: PortRegistry['clashes']; env_file?: EnvFileReport }>;

/**
 * `ports`: the port registry and its clashes. `writeEnv`: keep that file (relative to the working
 * directory) of NAME_PORT=N lines in sync, or with `check` only say whether it is.
 */
export async function ports(source: FleetOptions, choices: { writeEnv?: string; check?: boolean } = {}): Promise<Answer<PortsDocument>> {
  if (choices.check && choices.writeEnv === undefined)
    throw new UsageError('--check compares the file given with --write-env', 'e.g. manage-apps ports --write-env .env.ports --check');
  const loaded = await loadFleet(source);
  const registry = portRegistry(loaded.fleet);
  let envFile: EnvFileReport | undefined;
  let drift = false;
  if (choices.writeEnv !== undefined) {
    const path = resolve(process.cwd(), choices.writeEnv);
    const { text, collisions } = envPortsFile(registry);
    if (collisions.length > 0) {
      // Which port a shared name should carry is not ours to pick: nothing is written.
      envFile = { path, outcome: 'not-written', collisions };
    } else if (choices.check) {
      drift = (await readIfExists(path)) !== text;
      envFile = { path, outcome: drift ? 'out-of-date' : 'up-to-date' };
    } else {
      envFile = await writeFileSafely(path, text);
    }
  }
  const answer = viewAnswer(loaded, { ports: registry.entries, clashes: registry.clashes, ...(envFile ? { env_file: envFile } : {}) });
  if (registry.clashes.length > 0 || drift || (envFile?.collisions?.length ?? 0) > 0) answer.exitCode = EXIT_PROBLEMS;
  return answer;
}

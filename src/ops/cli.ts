/** What every ops command does first: options → settings, the fleet, the selection. */
import { UsageError } from '../errors.js';
import { loadFleet, type LoadedFleet } from '../fleet/load.js';
import { countBySeverity } from '../problems.js';
import type { PendingScript } from '../transport/ssh.js';
import { Ops } from './context.js';
import { cancelPending } from './prewarm.js';
import { selectServices, type Selection } from './plan.js';
import { settingsFrom, type OpsCliOptions, type OpsSettings } from './settings.js';

export interface Prepared {
  loaded: LoadedFleet;
  ops: Ops;
  selection: Selection;
}

/**
 * Loads the fleet and selects the services. `started`: ssh connections a command opened
 * before the fleet was known (status); they are handed to the Ops, or cancelled on an error.
 */
export async function prepare(targets: readonly string[], options: OpsCliOptions, defaults: Partial<OpsSettings> = {}, started: Map<string, PendingScript> = new Map()): Promise<Prepared> {
  try {
    const prepared = await load(targets, options, settingsFrom(options, defaults));
    for (const [host, script] of started) prepared.ops.pending.set(host, script);
    return prepared;
  } catch (error) {
    cancelPending({ pending: started });
    throw error;
  }
}

async function load(targets: readonly string[], options: OpsCliOptions, settings: OpsSettings): Promise<Prepared> {
  const loaded = await loadFleet(options);
  const selection = selectServices(loaded.fleet, {
    targets,
    ...(options.env === undefined ? {} : { env: options.env }),
    ...(options.host === undefined ? {} : { host: options.host }),
  });
  if (selection.services.length === 0) {
    const { errors } = countBySeverity(loaded.problems);
    throw new UsageError(
      `no service matches ${[...targets, options.env ? `--env ${options.env}` : '', options.host ? `--host ${options.host}` : ''].filter(Boolean).join(' ') || 'under the root'}`,
      errors > 0 ? 'some manifests have errors and take no part: run `manage-apps validate`' : 'see `manage-apps list`',
    );
  }
  return { loaded, ops: new Ops(loaded.fleet, settings), selection };
}

/** "npx manage-apps stop --root examples/fleet --env dev": the command to type next, in the user's own words. */
export function commandLine(verb: string, targets: readonly string[], options: OpsCliOptions): string {
  const q = (s: string) => (/^[A-Za-z0-9_./:@=+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  const words = [process.env['npm_command'] === 'exec' ? 'npx manage-apps' : 'manage-apps', verb, ...targets.map(q)];
  if (options.root !== undefined) words.push('--root', q(options.root));
  if (options.inventory !== undefined) words.push('--inventory', q(options.inventory));
  if (options.env !== undefined) words.push('--env', q(options.env));
  if (options.host !== undefined) words.push('--host', q(options.host));
  if (options.sshConfig !== undefined) words.push('--ssh-config', q(options.sshConfig));
  return words.join(' ');
}

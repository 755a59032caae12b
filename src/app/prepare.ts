/** What every use case over selected services does first: the fleet, the selection, the connections. */
import { UsageError } from '../errors.js';
import { loadFleet, type FleetOptions, type LoadedFleet } from '../load/fleet.js';
import { Ops } from '../ops/context.js';
import { selectServices, type Selection, type SelectOptions } from '../ops/selection.js';
import { cancelPending } from '../ops/prewarm.js';
import type { OpsSettings } from '../ops/settings.js';
import { countBySeverity } from '../problems.js';
import type { PendingScript } from '../transport/ssh.js';

export interface Prepared {
  loaded: LoadedFleet;
  ops: Ops;
  selection: Selection;
}

/**
 * Loads the fleet and selects the services. `started`: ssh connections opened before the
 * fleet was known (status); they are handed to the Ops, or cancelled on an error.
 */
export async function prepare(
  source: FleetOptions,
  selector: SelectOptions,
  settings: OpsSettings,
  started: Map<string, PendingScript> = new Map(),
): Promise<Prepared> {
  try {
    const prepared = await load(source, selector, settings);
    for (const [host, script] of started) prepared.ops.pending.set(host, script);
    return prepared;
  } catch (error) {
    cancelPending({ pending: started });
    throw error;
  }
}

async function load(source: FleetOptions, selector: SelectOptions, settings: OpsSettings): Promise<Prepared> {
  const loaded = await loadFleet(source);
  const selection = selectServices(loaded.fleet, selector);
  if (selection.services.length === 0) {
    const { errors } = countBySeverity(loaded.problems);
    const { targets, env, host } = selector;
    throw new UsageError(
      `no service matches ${[...targets, env ? `--env ${env}` : '', host ? `--host ${host}` : ''].filter(Boolean).join(' ') || 'under the root'}`,
      errors > 0 ? 'some manifests have errors and take no part: run `manage-apps validate`' : 'see `manage-apps list`',
    );
  }
  return { loaded, ops: new Ops(loaded.fleet, settings), selection };
}

/** status, once its ssh connections are opening (see status.ts): services, the tunnels and the backup runs read in the same round trip. */
import { FleetIndex } from '../analysis/topology.js';
import { backupRunCollector, badRun } from '../data/backup-runs.js';
import { EXIT_OK, EXIT_PROBLEMS } from '../errors.js';
import type { FleetOptions, LoadedFleet } from '../load/fleet.js';
import { locatorOf } from '../load/locator.js';
import type { Service } from '../fleet/model.js';
import type { SelectOptions } from '../ops/selection.js';
import { collectStatus, mergeExtras } from '../ops/service-status.js';
import type { OpsSettings } from '../ops/settings.js';
import { tunnelStatusCollector, type TunnelStatusCollector } from '../ops/tunnel-verdicts.js';
import { problemJson } from '../problems.js';
import type { PendingScript } from '../transport/ssh.js';
import { resolveTunnels } from '../tunnels/resolve.js';
import { secretsStatusCollector } from '../secrets/deliver.js';
import type { Answer } from './answer.js';
import { prepare } from './prepare.js';

async function collect(source: FleetOptions, selector: SelectOptions, settings: OpsSettings, started: Map<string, PendingScript>) {
  const { loaded, ops, selection } = await prepare(source, selector, settings, started);
  const narrowed = selector.targets.length > 0 || selector.env !== undefined || selector.host !== undefined;
  const tunnelCollector = tunnelsForStatus(loaded, selection.services, narrowed);
  // The installed backup timers' last runs, read in the cluster hosts' same round trip (docs/data.md).
  const backupCollector = backupRunCollector(loaded.fleet, {
    onlyInstalled: true,
    ...(narrowed ? { hosts: new Set(selection.services.map((s) => s.host!)) } : {}),
  });
  // The delivered secrets' fingerprints against what the store holds now, in the same round trip (docs/secrets.md).
  const secretsCollector = secretsStatusCollector(ops, selection.services);
  const report = await collectStatus(
    ops,
    selection.services,
    undefined,
    mergeExtras(tunnelCollector.extras, backupCollector.extras, secretsCollector.extras),
  );
  const tunnels = tunnelCollector.report();
  const backups = backupCollector.report();
  const secrets = await secretsCollector.report();
  return { loaded, document: { ...report, tunnels, backups, secrets, skipped: selection.skipped, problems: loaded.problems.map(problemJson) } };
}

export type StatusDocument = Awaited<ReturnType<typeof collect>>['document'];

export async function statusDocument(
  source: FleetOptions,
  selector: SelectOptions,
  settings: OpsSettings,
  started: Map<string, PendingScript>,
): Promise<Answer<StatusDocument>> {
  const { loaded, document } = await collect(source, selector, settings, started);
  const allHealthy =
    document.summary.healthy === document.summary.services &&
    document.tunnels.every((t) => t.verdict === 'up') &&
    !document.backups.some(badRun) &&
    document.secrets.summary.stale + document.secrets.summary.missing === 0;
  // A manifest that failed to load was skipped: the others' status is shown, and the exit code says something is wrong.
  const loadErrors = loaded.problems.some((p) => p.severity === 'error');
  return { exitCode: allHealthy && !loadErrors ? EXIT_OK : EXIT_PROBLEMS, document, loaded };
}

/** Every tunnel that can be opened; with a selection, those with an end on a selected service's host. */
function tunnelsForStatus(loaded: LoadedFleet, services: readonly Service[], narrowed: boolean): TunnelStatusCollector {
  const index = new FleetIndex(loaded.fleet);
  const all = resolveTunnels(index, locatorOf(loaded)).tunnels;
  const hosts = new Set(services.map((s) => s.host));
  return tunnelStatusCollector(index, narrowed ? all.filter((t) => hosts.has(t.initiator) || hosts.has(t.far)) : all);
}

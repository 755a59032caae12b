/** deploy and rollback. */
import { EXIT_OK, EXIT_PROBLEMS, UsageError } from '../errors.js';
import type { FleetOptions, LoadedFleet } from '../load/fleet.js';
import { runDeploy, runRollback, type DeployOptions, type DeployReport, type RollbackResult } from '../ops/deploy.js';
import type { SelectOptions } from '../ops/selection.js';
import type { Progress } from '../ops/progress.js';
import { resolveSettings, type OpsSettings } from '../ops/settings.js';
import { problemJson } from '../problems.js';
import type { Answer, WithProblems } from './answer.js';
import { prepare } from './prepare.js';
import { deployRecords, record, rollbackRecords } from '../promotion/record.js';
import { liveRecord, previouslyPromoted } from '../promotion/history.js';
import { readLedger } from '../promotion/ledger.js';
import type { Fleet, Service } from '../fleet/model.js';

/** `ledger`: present when the project has a promotion path (docs/promotion.md): records appended, or why none could be. */
export type LedgerNote = { ledger?: { appended: number; error?: string } };
export type DeployDocument = WithProblems<DeployReport> & LedgerNote;
export type RollbackDocument = WithProblems<{ dry_run: boolean; rollbacks: RollbackResult[] }> & LedgerNote;

/**
 * An empty selector deploys every service under the root: the front end decides whether its
 * user asked for that (the CLI wants --all). `onLoaded`: called once the fleet is loaded and the
 * selection checked, before any host is touched.
 */
export async function deploy(
  source: FleetOptions,
  selector: SelectOptions,
  given: Partial<OpsSettings>,
  options: DeployOptions,
  progress: Progress,
  onLoaded: (loaded: LoadedFleet) => void = () => {},
): Promise<Answer<DeployDocument>> {
  const { loaded, ops, selection } = await prepare(source, selector, resolveSettings(given));
  if (options.artifact !== undefined && selection.services.length !== 1)
    throw new UsageError('--artifact ships one artifact: name exactly one service', `${selection.services.length} services match`);
  onLoaded(loaded);
  const report = await runDeploy(ops, selection, options, progress);
  const records = report.dry_run ? [] : deployRecords(loaded.fleet, report.deploys);
  const ledger = records.length === 0 ? undefined : record(loaded.fleet.root, records);
  return {
    exitCode: report.summary.failed === 0 && ledger?.error === undefined ? EXIT_OK : EXIT_PROBLEMS,
    document: { ...report, ...(ledger === undefined ? {} : { ledger }), problems: loaded.problems.map(problemJson) },
    loaded,
  };
}

export async function rollback(
  source: FleetOptions,
  selector: SelectOptions,
  given: Partial<OpsSettings>,
  options: DeployOptions & { to?: string },
  progress: Progress,
): Promise<Answer<RollbackDocument>> {
  if (selector.targets.length === 0) throw new UsageError('rollback needs a target', 'name the project (or project@host) to switch back');
  const { loaded, ops, selection } = await prepare(source, selector, resolveSettings(given));
  // In an environment releases are promoted into, rollback goes back to the release promoted before the live one.
  const only = selection.services.length === 1 ? selection.services[0]! : undefined;
  const back = options.to === undefined && only !== undefined ? promotedBefore(loaded.fleet, only) : undefined;
  const results = await runRollback(ops, selection, back === undefined ? options : { ...options, to: back }, progress);
  const records = options.dryRun ? [] : rollbackRecords(loaded.fleet, results);
  const ledger = records.length === 0 ? undefined : record(loaded.fleet.root, records);
  return {
    exitCode: results.every((r) => r.ok) && ledger?.error === undefined ? EXIT_OK : EXIT_PROBLEMS,
    document: {
      dry_run: options.dryRun,
      rollbacks: results,
      ...(ledger === undefined ? {} : { ledger }),
      problems: loaded.problems.map(problemJson),
    },
    loaded,
  };
}

function promotedBefore(fleet: Fleet, service: Service): string | undefined {
  const path = (fleet.promotions ?? []).find((p) => p.project === service.project)?.path ?? [];
  if (path.indexOf(service.environment) <= 0) return undefined;
  const { records } = readLedger(fleet.root);
  const live = liveRecord(records, service.project, service.environment);
  return previouslyPromoted(records, service.project, service.environment, typeof live?.['release'] === 'string' ? live['release'] : null);
}

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

export type DeployDocument = WithProblems<DeployReport>;
export type RollbackDocument = WithProblems<{ dry_run: boolean; rollbacks: RollbackResult[] }>;

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
  return {
    exitCode: report.summary.failed === 0 ? EXIT_OK : EXIT_PROBLEMS,
    document: { ...report, problems: loaded.problems.map(problemJson) },
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
  const results = await runRollback(ops, selection, options, progress);
  return {
    exitCode: results.every((r) => r.ok) ? EXIT_OK : EXIT_PROBLEMS,
    document: { dry_run: options.dryRun, rollbacks: results, problems: loaded.problems.map(problemJson) },
    loaded,
  };
}

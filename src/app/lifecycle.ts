/** start, stop, restart: in dependency order; what a stop leaves running without what it needs. */
import { EXIT_OK, EXIT_PROBLEMS } from '../errors.js';
import type { FleetOptions, LoadedFleet } from '../load/fleet.js';
import { degradedBy } from '../ops/degrade.js';
import { runLifecycle, type LifecycleAction, type LifecycleOptions } from '../ops/lifecycle.js';
import { withDependencies, type SelectOptions } from '../ops/selection.js';
import type { Progress } from '../ops/progress.js';
import { resolveSettings, type OpsSettings } from '../ops/settings.js';
import { problemJson } from '../problems.js';
import type { Answer } from './answer.js';
import { prepare } from './prepare.js';

export interface LifecycleChoices extends LifecycleOptions {
  /** start: also bring up what the targets depend on (false with --no-deps). */
  deps: boolean;
}

async function run(
  action: LifecycleAction,
  source: FleetOptions,
  selector: SelectOptions,
  given: Partial<OpsSettings>,
  choices: LifecycleChoices,
  progress: Progress,
  onLoaded: (loaded: LoadedFleet) => void,
) {
  const prepared = await prepare(source, selector, resolveSettings(given));
  const { loaded, ops } = prepared;
  onLoaded(loaded);
  // start brings up what the targets depend on first (docker compose up), unless --no-deps.
  const expanded =
    action === 'start' && choices.deps ? withDependencies(ops.fleet, prepared.selection) : { selection: prepared.selection, added: [] };
  const selection = expanded.selection;
  const { deps: _deps, ...options } = choices;
  const report = await runLifecycle(ops, selection, action, options, progress);
  const stopped =
    action === 'stop'
      ? report.results
          .filter((r) => r.ok && (r.outcome === 'stopped' || r.outcome === 'not-running'))
          .map((r) => ops.fleet.services.find((s) => s.id === r.id)!)
      : [];
  const degraded = stopped.length > 0 ? await degradedBy(ops, stopped) : [];
  return {
    loaded,
    report,
    document: {
      ...report,
      skipped_targets: selection.skipped,
      ...(action === 'start' ? { dependencies_added: expanded.added } : {}),
      ...(action === 'stop' ? { degraded } : {}),
      problems: loaded.problems.map(problemJson),
    },
  };
}

export type LifecycleDocument = Awaited<ReturnType<typeof run>>['document'];

/** `onLoaded`: called once the fleet is loaded, before any host is touched (the CLI notes the files' problems there, ahead of the progress). */
export async function lifecycle(
  action: LifecycleAction,
  source: FleetOptions,
  selector: SelectOptions,
  given: Partial<OpsSettings>,
  choices: LifecycleChoices,
  progress: Progress,
  onLoaded: (loaded: LoadedFleet) => void = () => {},
): Promise<Answer<LifecycleDocument>> {
  const { loaded, report, document } = await run(action, source, selector, given, choices, progress, onLoaded);
  // Not summary.failed alone: a service skipped for a failed dependency did not come up either.
  return { exitCode: report.results.every((r) => r.ok) ? EXIT_OK : EXIT_PROBLEMS, document, loaded };
}

/** db provision, db status. */
import { dbStatus as readDbStatus } from '../data/db-status.js';
import { provision } from '../data/provision.js';
import { EXIT_OK, EXIT_PROBLEMS, UsageError } from '../errors.js';
import { loadFleet, type FleetOptions, type LoadedFleet } from '../load/fleet.js';
import { Ops } from '../ops/context.js';
import type { Progress } from '../ops/progress.js';
import { resolveSettings, type OpsSettings } from '../ops/settings.js';
import { problemJson } from '../problems.js';

export interface ProvisionChoices {
  rotate: boolean;
  dryRun: boolean;
  readyTimeoutMs?: number;
}

/** `onLoaded`: called once the fleet is loaded, before any host is touched. */
export async function dbProvision(
  source: FleetOptions,
  selector: { targets: string[]; env?: string },
  given: Partial<OpsSettings>,
  choices: ProvisionChoices,
  progress: Progress,
  onLoaded: (loaded: LoadedFleet) => void = () => {},
) {
  const loaded = await loadFleet(source);
  const ops = new Ops(loaded.fleet, resolveSettings(given));
  onLoaded(loaded);
  const locate = (file: string, path: Parameters<LoadedFleet['manifests'][number]['source']['locate']>[0]) =>
    loaded.manifests.find((m) => m.file === file)?.source.locate(path);
  const report = await provision(loaded.fleet, ops, { ...selector, locate, ...choices }, progress);
  await progress.close();
  return {
    exitCode: report.summary.failed + report.summary.not_delivered > 0 || report.clusters.some((c) => !c.ok) ? EXIT_PROBLEMS : EXIT_OK,
    document: { ...report, problems: loaded.problems.map(problemJson) },
    loaded,
  };
}

export async function dbStatus(source: FleetOptions, clusters: string[], given: Partial<OpsSettings>) {
  const loaded = await loadFleet(source);
  requireClusters(loaded, clusters);
  const report = await readDbStatus(loaded.fleet, new Ops(loaded.fleet, resolveSettings(given)), clusters);
  const { missing, violations, unreachable } = report.summary;
  return {
    exitCode: missing + violations + unreachable > 0 ? EXIT_PROBLEMS : EXIT_OK,
    document: { ...report, problems: loaded.problems.map(problemJson) },
    loaded,
  };
}

/** Every cluster named is one the inventory declares. */
export function requireClusters(loaded: LoadedFleet, clusters: readonly string[]): void {
  for (const c of clusters) {
    if (!loaded.fleet.clusters.some((x) => x.name === c))
      throw new UsageError(
        `no cluster ${JSON.stringify(c)} in the inventory`,
        `clusters: ${loaded.fleet.clusters.map((x) => x.name).join(', ') || '(none)'}`,
      );
  }
}

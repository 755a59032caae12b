/** backups: each cluster's policy, what the drills proved (declared against achieved), and with --live the backup timers' last runs read on the cluster hosts. */
import { backupReport, type BackupReport } from '../analysis/backups.js';
import { FleetIndex } from '../analysis/topology.js';
import type { BackupRunStatus } from '../data/backup-runs.js';
import { badDrill, drillStatus, readEvidence, type DrillStatus } from '../data/evidence.js';
import { loadFleet, type FleetOptions } from '../load/fleet.js';
import type { Fleet } from '../fleet/model.js';
import type { OpsSettings } from '../ops/settings.js';
import { viewAnswer, type Answer, type WithProblems } from './answer.js';
import { OBSERVE_DEFAULTS } from './live.js';

export type BackupsDocument = WithProblems<BackupReport & { drills: DrillStatus[]; backup_runs?: BackupRunStatus[] }>;

/** --live (loaded only then): the runs, and whether one is bad. */
async function observeRuns(fleet: Fleet, given: Partial<OpsSettings>): Promise<{ runs: BackupRunStatus[]; bad: boolean }> {
  const [{ observeBackupRuns, badRun }, { Ops }, { resolveSettings }] = await Promise.all([
    import('../data/backup-runs.js'),
    import('../ops/context.js'),
    import('../ops/settings.js'),
  ]);
  const runs = await observeBackupRuns(fleet, new Ops(fleet, resolveSettings(given, OBSERVE_DEFAULTS)));
  return { runs, bad: runs.some(badRun) };
}

/** `live`: read the runs now, with these settings (the user's). `ownProblems`: this view's own findings (the exit code is 1 for them as for errors in the files). */
export async function backups(
  source: FleetOptions,
  choices: { live?: Partial<OpsSettings> } = {},
): Promise<Answer<BackupsDocument> & { ownProblems: boolean }> {
  const loaded = await loadFleet(source);
  // --live: the backup timers' last runs, read on the cluster hosts (docs/data.md).
  const runs = choices.live === undefined ? undefined : await observeRuns(loaded.fleet, choices.live);
  const report = backupReport(new FleetIndex(loaded.fleet));
  // Declared against achieved: the drills' evidence (docs/data.md).
  const evidence = readEvidence(loaded.fleet.root);
  const drills = report.clusters
    .filter((c) => c.policy !== null || evidence.some((e) => e.cluster === c.name))
    .map((c) => drillStatus(c.name, c.policy, evidence));
  const ownProblems = !report.ok || drills.some(badDrill) || runs?.bad === true;
  return { ...viewAnswer(loaded, { ...report, drills, ...(runs ? { backup_runs: runs.runs } : {}) }, ownProblems), ownProblems };
}

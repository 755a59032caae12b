/**
 * backups run, backups install, backups drill: the declared backups (src/data/backup.ts),
 * executed on the hosts, in parallel across clusters. Each appends its evidence
 * (backup-evidence.jsonl) and returns its documented --json document.
 */
import pLimit from 'p-limit';
import {
  appendEvidence,
  drill,
  failedObjectives,
  install,
  periodSeconds,
  planBackups,
  runBackup,
  type BackupPlan,
  type DrillRecord,
  type InstallResult,
  type RunResult,
} from '../data/backup.js';
import { EXIT_OK, EXIT_PROBLEMS } from '../errors.js';
import { loadFleet, type FleetOptions, type LoadedFleet } from '../load/fleet.js';
import { Ops } from '../ops/context.js';
import type { Progress } from '../ops/progress.js';
import { resolveSettings, type OpsSettings } from '../ops/settings.js';
import { problemJson } from '../problems.js';
import type { Answer } from './answer.js';
import { requireClusters } from './db.js';

/** A cluster the command leaves alone, with why (no policy, a method not driven here, …). */
export interface NotDriven {
  cluster: string;
  reason: string;
}

export type InstallEntry = InstallResult & { host: string; target: string | null; dry_run: boolean };
export interface BackupRunsDocument {
  runs: RunResult[];
  not_driven: NotDriven[];
  problems: Record<string, unknown>[];
}
export interface BackupInstallsDocument {
  installs: InstallEntry[];
  not_driven: NotDriven[];
  problems: Record<string, unknown>[];
}
export interface DrillsDocument {
  drills: DrillRecord[];
  evidence_file: string | null;
  not_driven: NotDriven[];
  problems: Record<string, unknown>[];
}

/** `clusters`: the ones named (none: every cluster with a backup policy). */
async function prepare(
  source: FleetOptions,
  clusters: string[],
  given: Partial<OpsSettings>,
): Promise<{ loaded: LoadedFleet; ops: Ops; plans: BackupPlan[]; notDriven: NotDriven[] }> {
  const loaded = await loadFleet(source);
  requireClusters(loaded, clusters);
  const { plans, notDriven } = planBackups(loaded.fleet, clusters);
  return { loaded, ops: new Ops(loaded.fleet, resolveSettings(given)), plans, notDriven };
}

/** What a plan backs up where, for progress notes. */
export const planLine = (p: BackupPlan) =>
  `${p.cluster.name} on ${p.host.name} → ${p.target?.name ?? '?'} (${p.method === 'restic' ? 'restic repository' : 'dump files'})`;

/** `backups run`: each cluster's backup now (installing what it needs first); `timeoutMs`: how long one cluster's run may take. */
export async function backupsRun(
  source: FleetOptions,
  clusters: string[],
  given: Partial<OpsSettings>,
  timeoutMs: number,
  progress: Progress,
): Promise<Answer<BackupRunsDocument>> {
  const { loaded, ops, plans, notDriven } = await prepare(source, clusters, given);
  const limit = pLimit(ops.settings.concurrency);
  const results: RunResult[] = await Promise.all(
    plans.map((p) =>
      limit(async (): Promise<RunResult> => {
        if (p.problem)
          return { cluster: p.cluster.name, host: p.host.name, target: p.target?.name ?? null, ok: false, reason: p.problem, backup: null };
        progress.note(`backing up ${planLine(p)}`);
        const inst = await install(ops, p, false);
        if (!inst.ok)
          return { cluster: p.cluster.name, host: p.host.name, target: p.target!.name, ok: false, reason: `install: ${inst.reason}`, backup: null };
        const r = await runBackup(ops, p, timeoutMs);
        await appendEvidence(loaded.fleet.root, {
          kind: 'backup',
          time: new Date().toISOString(),
          cluster: r.cluster,
          host: r.host,
          target: r.target,
          ok: r.ok,
          ...(r.reason ? { reason: r.reason } : {}),
          backup_id: r.backup?.id ?? null,
          databases: r.backup?.databases?.map((d) => ({ name: d.name, bytes: d.bytes, sha256: d.sha256 })) ?? [],
        });
        return r;
      }),
    ),
  );
  await progress.close();
  return {
    exitCode: results.every((r) => r.ok) ? EXIT_OK : EXIT_PROBLEMS,
    document: { runs: results, not_driven: notDriven, problems: loaded.problems.map(problemJson) },
    loaded,
  };
}

/** `backups install`: the backup and its timer (period: the declared RPO) on each cluster host; `dryRun`: say what would be installed. */
export async function backupsInstall(
  source: FleetOptions,
  clusters: string[],
  given: Partial<OpsSettings>,
  choices: { dryRun: boolean },
): Promise<Answer<BackupInstallsDocument>> {
  const { loaded, ops, plans, notDriven } = await prepare(source, clusters, given);
  const limit = pLimit(ops.settings.concurrency);
  const results: InstallEntry[] = await Promise.all(
    plans.map((p) =>
      limit(async () => {
        const base = { host: p.host.name, target: p.target?.name ?? null, dry_run: choices.dryRun };
        if (p.problem) return { ...base, cluster: p.cluster.name, ok: false, reason: p.problem, timer: null };
        const period = periodSeconds(p.policy);
        if (period === undefined)
          return {
            ...base,
            cluster: p.cluster.name,
            ok: false,
            reason: `RPO ${JSON.stringify(p.policy?.rpo)} is not a duration: no timer period (a continuous RPO needs replication, not a timer)`,
            timer: null,
          };
        if (choices.dryRun)
          return { ...base, cluster: p.cluster.name, ok: true, timer: { unit: `manage-apps-backup@${p.cluster.name}.timer`, period_s: period } };
        return { ...base, ...(await install(ops, p, true)) };
      }),
    ),
  );
  return {
    exitCode: results.every((r) => r.ok) ? EXIT_OK : EXIT_PROBLEMS,
    document: { installs: results, not_driven: notDriven, problems: loaded.problems.map(problemJson) },
    loaded,
  };
}

/** A drill that restored and verified, and met every declared objective it could measure. */
export const drillGood = (d: DrillRecord) => d.ok && d.met.rpo !== false && d.met.rto !== false;

/** `backups drill`: the newest backup restored into a throw-away cluster and verified, objectives measured, evidence appended. */
export async function backupsDrill(
  source: FleetOptions,
  clusters: string[],
  given: Partial<OpsSettings>,
  timeoutMs: number,
  progress: Progress,
): Promise<Answer<DrillsDocument>> {
  const { loaded, ops, plans, notDriven } = await prepare(source, clusters, given);
  const limit = pLimit(ops.settings.concurrency);
  const drills: DrillRecord[] = [];
  let evidence: string | null = null;
  await Promise.all(
    plans.map((p) =>
      limit(async () => {
        if (p.problem) {
          drills.push({
            kind: 'drill',
            time: new Date().toISOString(),
            cluster: p.cluster.name,
            host: p.host.name,
            target: p.target?.name ?? null,
            backup_id: null,
            backup_time: null,
            ok: false,
            reason: p.problem,
            databases: [],
            achieved: { rpo_s: null, rto_s: null },
            declared: { rpo: p.policy?.rpo ?? null, rto: p.policy?.rto ?? null, drill: p.policy?.drill ?? null },
            met: failedObjectives({ rpo: p.policy?.rpo ?? null, rto: p.policy?.rto ?? null, drill: null }),
          });
          return;
        }
        progress.note(`drilling ${planLine(p)}: restoring into a throw-away cluster on ${p.target!.name}`);
        const rec = await drill(ops, p, timeoutMs);
        drills.push(rec);
        evidence = await appendEvidence(loaded.fleet.root, rec);
      }),
    ),
  );
  await progress.close();
  drills.sort((a, b) => (a.cluster < b.cluster ? -1 : 1));
  return {
    exitCode: drills.every(drillGood) ? EXIT_OK : EXIT_PROBLEMS,
    document: { drills, evidence_file: evidence, not_driven: notDriven, problems: loaded.problems.map(problemJson) },
    loaded,
  };
}

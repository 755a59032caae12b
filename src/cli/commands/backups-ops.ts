/** backups run, backups install, backups drill: the declared backups, executed on the hosts. */
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
} from '../../data/backup.js';
import { EXIT_OK, EXIT_PROBLEMS, UsageError } from '../../errors.js';
import { loadFleet, type LoadedFleet } from '../../load/fleet.js';
import { Ops } from '../../ops/context.js';
import { makeProgress } from '../../ops/progress.js';
import { resolveSettings } from '../../ops/settings.js';
import { problemJson } from '../../problems.js';
import { fleetSource, givenSettings, seconds, type OpsCliOptions } from '../ops-options.js';
import type { CommandResult } from '../context.js';
import { plural, style } from '../style.js';

interface BackupsCliOptions extends OpsCliOptions {
  backupTimeout?: string;
  dryRun?: boolean;
}

async function prepare(
  clusters: string[],
  options: BackupsCliOptions,
): Promise<{ loaded: LoadedFleet; ops: Ops; plans: BackupPlan[]; notDriven: { cluster: string; reason: string }[] }> {
  const loaded = await loadFleet(fleetSource(options));
  for (const c of clusters) {
    if (!loaded.fleet.clusters.some((x) => x.name === c))
      throw new UsageError(
        `no cluster ${JSON.stringify(c)} in the inventory`,
        `clusters: ${loaded.fleet.clusters.map((x) => x.name).join(', ') || '(none)'}`,
      );
  }
  const { plans, notDriven } = planBackups(loaded.fleet, clusters);
  return { loaded, ops: new Ops(loaded.fleet, resolveSettings(givenSettings(options))), plans, notDriven };
}

const notDrivenLines = (n: { cluster: string; reason: string }[]) => n.map((x) => `${style.yellow('-')} ${x.cluster}: not driven: ${x.reason}`);
const planLine = (p: BackupPlan) =>
  `${p.cluster.name} on ${p.host.name} → ${p.target?.name ?? '?'} (${p.method === 'restic' ? 'restic repository' : 'dump files'})`;

export async function backupsRun(clusters: string[], options: BackupsCliOptions): Promise<CommandResult> {
  const { loaded, ops, plans, notDriven } = await prepare(clusters, options);
  const progress = makeProgress({ json: options.json === true });
  const timeoutMs = seconds('--backup-timeout', options.backupTimeout, 3600) * 1000;
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
    json: { runs: results, not_driven: notDriven, problems: loaded.problems.map(problemJson) },
    human: () => {
      const out: string[] = [];
      for (const r of results) {
        if (!r.ok) out.push(`${style.red('✖')} ${r.cluster} on ${r.host}: ${r.reason}`);
        else {
          out.push(
            `${style.green('✔')} ${r.cluster} on ${r.host} → ${r.target}: backup ${r.backup!.id} in ${((r.backup!.duration_ms ?? 0) / 1000).toFixed(1)}s`,
          );
          for (const d of r.backup!.databases ?? [])
            out.push(
              `    ${d.name}: ${d.bytes} bytes, sha256 ${d.sha256.slice(0, 12)}…, ${Object.keys(d.tables).length} table(s)${d.restic_snapshot ? `, restic snapshot ${d.restic_snapshot.slice(0, 8)}` : ''}`,
            );
        }
      }
      out.push(...notDrivenLines(notDriven));
      if (results.length === 0 && notDriven.length === 0) out.push('No database cluster to back up.');
      return out.join('\n');
    },
  };
}

export async function backupsInstall(clusters: string[], options: BackupsCliOptions): Promise<CommandResult> {
  const { loaded, ops, plans, notDriven } = await prepare(clusters, options);
  const limit = pLimit(ops.settings.concurrency);
  const results: (InstallResult & { host: string; target: string | null; dry_run: boolean })[] = await Promise.all(
    plans.map((p) =>
      limit(async () => {
        const base = { host: p.host.name, target: p.target?.name ?? null, dry_run: options.dryRun === true };
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
        if (options.dryRun)
          return { ...base, cluster: p.cluster.name, ok: true, timer: { unit: `manage-apps-backup@${p.cluster.name}.timer`, period_s: period } };
        return { ...base, ...(await install(ops, p, true)) };
      }),
    ),
  );
  return {
    exitCode: results.every((r) => r.ok) ? EXIT_OK : EXIT_PROBLEMS,
    json: { installs: results, not_driven: notDriven, problems: loaded.problems.map(problemJson) },
    human: () =>
      [
        ...results.map((r) =>
          r.ok
            ? `${style.green(r.dry_run ? '~' : '✔')} ${r.cluster} on ${r.host} → ${r.target}: ${r.dry_run ? 'would install' : 'installed'} ${r.timer!.unit}, every ${r.timer!.period_s}s (the declared RPO)`
            : `${style.red('✖')} ${r.cluster} on ${r.host}: ${r.reason}`,
        ),
        ...notDrivenLines(notDriven),
      ].join('\n'),
  };
}

export async function backupsDrill(clusters: string[], options: BackupsCliOptions): Promise<CommandResult> {
  const { loaded, ops, plans, notDriven } = await prepare(clusters, options);
  const progress = makeProgress({ json: options.json === true });
  const timeoutMs = seconds('--backup-timeout', options.backupTimeout, 3600) * 1000;
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
  const good = (d: DrillRecord) => d.ok && d.met.rpo !== false && d.met.rto !== false;
  return {
    exitCode: drills.every(good) ? EXIT_OK : EXIT_PROBLEMS,
    json: { drills, evidence_file: evidence, not_driven: notDriven, problems: loaded.problems.map(problemJson) },
    human: () => {
      const out: string[] = [];
      for (const d of drills) {
        if (!d.ok) out.push(`${style.red('✖')} ${d.cluster}: drill FAILED${d.backup_id ? ` on backup ${d.backup_id}` : ''}: ${d.reason}`);
        else
          out.push(
            `${good(d) ? style.green('✔') : style.yellow('!')} ${d.cluster}: backup ${d.backup_id} restored and verified on ${d.target}: RPO achieved ${d.achieved.rpo_s}s (declared ${d.declared.rpo ?? '-'}${d.met.rpo === false ? ', MISSED' : ''}), RTO achieved ${d.achieved.rto_s}s (declared ${d.declared.rto ?? '-'}${d.met.rto === false ? ', MISSED' : ''})`,
          );
        for (const db of d.databases) {
          const rows = db.tables.reduce((n, t) => n + (t.restored ?? 0), 0);
          out.push(
            `    ${db.ok ? '✔' : '✖'} ${db.name}: ${db.ok ? `${db.bytes} bytes, checksum matches, ${plural(db.tables.length, 'table')} with ${plural(rows, 'row')} match the catalog, restored in ${(db.restore_ms / 1000).toFixed(1)}s` : db.reason}`,
          );
          // The check query's own answer, so the output shows what was verified, not only that it was.
          if (db.check)
            out.push(
              `      check ${JSON.stringify(db.check.query.length > 80 ? `${db.check.query.slice(0, 77)}…` : db.check.query)}: ${db.check.ok ? 'returned' : 'FAILED,'} ${db.check.value === null ? 'nothing' : JSON.stringify(db.check.value)} (${plural(db.check.rows, 'row')})`,
            );
        }
      }
      out.push(...notDrivenLines(notDriven));
      if (evidence) out.push(style.dim(`evidence appended to ${evidence}`));
      return out.join('\n');
    },
  };
}

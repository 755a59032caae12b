/** backups run, backups install, backups drill: flags into settings, the answers as text (src/app/backup-actions.ts). */
import {
  backupsDrill as drillUseCase,
  backupsInstall as installUseCase,
  backupsRun as runUseCase,
  drillGood,
  type NotDriven,
} from '../../app/backup-actions.js';
import { makeProgress } from '../../ops/progress.js';
import { fleetSource, givenSettings, seconds, type OpsCliOptions } from '../ops-options.js';
import type { CommandResult } from '../context.js';
import { plural, style } from '../style.js';

interface BackupsCliOptions extends OpsCliOptions {
  backupTimeout?: string;
  dryRun?: boolean;
}

const notDrivenLines = (n: NotDriven[]) => n.map((x) => `${style.yellow('-')} ${x.cluster}: not driven: ${x.reason}`);
const timeoutOf = (options: BackupsCliOptions) => seconds('--backup-timeout', options.backupTimeout, 3600) * 1000;

export async function backupsRun(clusters: string[], options: BackupsCliOptions): Promise<CommandResult> {
  const timeoutMs = timeoutOf(options);
  const answer = await runUseCase(fleetSource(options), clusters, givenSettings(options), timeoutMs, makeProgress({ json: options.json === true }));
  const { runs: results, not_driven: notDriven } = answer.document;
  return {
    exitCode: answer.exitCode,
    json: answer.document,
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
  const answer = await installUseCase(fleetSource(options), clusters, givenSettings(options), { dryRun: options.dryRun === true });
  const { installs: results, not_driven: notDriven } = answer.document;
  return {
    exitCode: answer.exitCode,
    json: answer.document,
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
  const timeoutMs = timeoutOf(options);
  const answer = await drillUseCase(fleetSource(options), clusters, givenSettings(options), timeoutMs, makeProgress({ json: options.json === true }));
  const { drills, evidence_file: evidence, not_driven: notDriven } = answer.document;
  return {
    exitCode: answer.exitCode,
    json: answer.document,
    human: () => {
      const out: string[] = [];
      for (const d of drills) {
        if (!d.ok) out.push(`${style.red('✖')} ${d.cluster}: drill FAILED${d.backup_id ? ` on backup ${d.backup_id}` : ''}: ${d.reason}`);
        else
          out.push(
            `${drillGood(d) ? style.green('✔') : style.yellow('!')} ${d.cluster}: backup ${d.backup_id} restored and verified on ${d.target}: RPO achieved ${d.achieved.rpo_s}s (declared ${d.declared.rpo ?? '-'}${d.met.rpo === false ? ', MISSED' : ''}), RTO achieved ${d.achieved.rto_s}s (declared ${d.declared.rto ?? '-'}${d.met.rto === false ? ', MISSED' : ''})`,
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

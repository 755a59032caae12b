import type { BackupReport, PolicyJson } from '../../analysis/backups.js';
import { backups as backupsUseCase } from '../../app/backups.js';
import { badDrill, type DrillStatus } from '../../data/evidence.js';
import type { CommandResult, GlobalOptions } from '../context.js';
import { givenSettings, type OpsCliOptions } from '../ops-options.js';
import { style, table } from '../style.js';
import { errorsElsewhere, viewResult } from './shared.js';

export async function backups(options: GlobalOptions & OpsCliOptions & { live?: boolean }): Promise<CommandResult> {
  const answer = await backupsUseCase(options, options.live === true ? { live: givenSettings(options) } : {});
  const runsText =
    answer.document.backup_runs === undefined ? '' : (await import('./backup-runs-text.js')).backupRunsSection(answer.document.backup_runs);
  return viewResult(
    answer,
    (doc) => `${backupsText(doc)}${drillsText(doc.drills)}${runsText}${answer.ownProblems ? '' : errorsElsewhere(answer.loaded)}`,
  );
}

const status = (s: string, production: boolean) =>
  s === 'ok' ? style.green('ok') : s === 'cache' ? style.dim('cache') : production ? style.red('MISSING') : style.yellow('missing');
const cells = (p: PolicyJson | null) => (p ? [p.rpo, p.rto, p.method, p.target ?? ''] : ['', '', '', '']);

export function backupsText(r: BackupReport): string {
  const out: string[] = [];
  if (r.clusters.length > 0) {
    out.push(style.bold('Database clusters'));
    const rows: string[][] = [];
    for (const c of r.clusters) {
      rows.push([c.name, c.host, c.engine + (c.role === 'primary' ? '' : ` (${c.role})`), ...cells(c.policy), status(c.status, c.production)]);
      // A logical database's own policy (database.backup), or its gap when others have one.
      const partial = c.status === 'missing' && c.databases.some((d) => d.policy !== null);
      for (const d of c.databases) {
        if (d.source === 'database.backup')
          rows.push([style.dim(`  └ ${d.name} (${d.service ?? d.project})`), '', '', ...cells(d.policy), style.dim('database.backup')]);
        else if (d.policy === null && partial)
          rows.push([style.dim(`  └ ${d.name} (${d.service ?? d.project})`), '', '', ...cells(null), status('missing', d.environment === 'prod')]);
      }
    }
    out.push(table(['CLUSTER', 'HOST', 'ENGINE', 'RPO', 'RTO', 'METHOD', 'TARGET', 'STATUS'], rows), '');
  }
  if (r.services.length > 0) {
    out.push(style.bold('Stateful services'));
    out.push(
      table(
        ['SERVICE', 'HOST', 'RPO', 'RTO', 'METHOD', 'TARGET', 'STATUS'],
        r.services.map((s) => [s.id, s.host ?? '', ...cells(s.policy), status(s.status, s.production)]),
      ),
      '',
    );
  }
  if (r.clusters.length === 0 && r.services.length === 0) out.push('No database cluster and no stateful service: nothing to back up.', '');
  out.push(
    style.bold('If a host is lost') +
      style.dim('  (worst RPO / RTO over the data that lives there; "none": something there has no policy, or its backup is kept there too)'),
  );
  out.push(
    table(
      ['HOST', 'ROLE', 'DATA THERE', 'WORST RPO', 'WORST RTO', 'HOLDS BACKUPS OF'],
      r.host_loss.map((h) => {
        const gone = [...h.undeclared, ...h.backup_on_same_host.map((n) => `${n}: backup kept here`)];
        const gap = gone.length > 0 ? style.dim(` (${gone.join(', ')})`) : '';
        return [h.host, h.role, h.data.map((d) => d.name).join(', '), fmt(h.worst_rpo) + gap, fmt(h.worst_rto) + gap, h.holds_backups_of.join(', ')];
      }),
    ),
  );
  if (r.warnings.length > 0) {
    out.push('', style.bold('Warnings'));
    for (const w of r.warnings) out.push(`  ${style.yellow('!')} ${w}`);
  }
  if (r.missing.length > 0) {
    out.push('', style.bold('Without a backup policy'));
    for (const m of r.missing) out.push(`  ${m.severity === 'error' ? style.red('✖') : style.yellow('!')} ${m.message}`);
  }
  out.push(
    '',
    r.ok
      ? `${style.green('✔')} every production database and stateful service declares a backup policy.`
      : `${style.red('✖')} ${r.missing.filter((m) => m.severity === 'error').length} production item(s) have no backup policy: add database.backup / service.backup (infra/v2) or clusters.<name>.backup in the inventory.`,
  );
  return out.join('\n');
}

function fmt(v: string | null): string {
  if (v === null) return style.dim('no data');
  return v === 'none' ? style.red('none') : v;
}

function drillsText(drills: readonly DrillStatus[]): string {
  if (drills.length === 0) return '';
  const mark = (d: DrillStatus) => (d.verdict === 'ok' ? style.green('ok') : badDrill(d) ? style.red(d.verdict.toUpperCase()) : style.dim(d.verdict));
  const rows = drills.map((d) => [
    d.cluster,
    d.declared.rpo ?? '',
    d.last_drill?.achieved_rpo_s == null ? '' : `${d.last_drill.achieved_rpo_s}s`,
    d.declared.rto ?? '',
    d.last_drill?.achieved_rto_s == null ? '' : `${d.last_drill.achieved_rto_s}s`,
    d.last_drill?.time ?? '',
    d.last_run ? `${d.last_run.time} ${d.last_run.ok ? 'ok' : 'FAILED'}` : '',
    mark(d),
  ]);
  const notes = drills.filter(badDrill).map((d) => `  ${style.red('✖')} ${d.cluster}: ${d.message}`);
  return `\n\n${style.bold('Drills')}${style.dim('  (declared against achieved, from backup-evidence.jsonl)')}\n${table(['CLUSTER', 'RPO', 'ACHIEVED', 'RTO', 'ACHIEVED', 'LAST DRILL', 'LAST RUN', 'DRILL'], rows)}${notes.length ? `\n${notes.join('\n')}` : ''}`;
}

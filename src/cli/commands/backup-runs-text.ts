/** The backup timers' last runs as a table (status, backups --live). */
import { badRun, type BackupRunStatus } from '../../data/backup-runs.js';
import { style, table } from '../style.js';

export function backupRunsTable(runs: readonly BackupRunStatus[]): string {
  const mark = (r: BackupRunStatus) => (r.verdict === 'ok' ? style.green('ok') : badRun(r) ? style.red(r.verdict) : style.yellow(r.verdict));
  const rows = runs.map((r) => [
    r.cluster,
    r.host,
    r.timer.installed ? `${r.timer.active ? 'every' : 'inactive, every'} ${r.timer.period_s ?? '?'}s` : 'no timer',
    r.last_run
      ? `${r.last_run.time ?? '?'} ${r.last_run.outcome === 'ok' ? style.green('ok') : r.last_run.outcome === 'failed' ? style.red('failed') : r.last_run.outcome}`
      : '',
    r.last_ok ? `${r.last_ok.bytes} B, ${r.last_ok.id}` : '',
    r.declared_rpo ?? '',
    mark(r),
  ]);
  const notes = runs.filter((r) => r.verdict !== 'ok').map((r) => `  ${badRun(r) ? style.red('✖') : style.yellow('…')} ${r.cluster}: ${r.message}`);
  return [table(['BACKUP OF', 'ON', 'TIMER', 'LAST RUN', 'LAST GOOD', 'RPO', 'VERDICT'], rows), ...notes].join('\n');
}

/** backups --live: the runs under their own heading. */
export function backupRunsSection(runs: readonly BackupRunStatus[]): string {
  const text = runs.length === 0 ? 'No PostgreSQL cluster with a usable backup plan: no run to read.' : backupRunsTable(runs);
  return `\n\n${style.bold('Backup runs')}${style.dim("  (read now on the cluster hosts: the timer's and `backups run`'s last run)")}\n${text}`;
}

/** recover: the plan, the run, the abort, the report (docs/recover.md). */
import { recover as recoverUseCase, type RecoverDocument } from '../../../app/recover.js';
import { UsageError } from '../../../errors.js';
import type { CommandResult } from '../../context.js';
import { fleetSource, givenSettings, type OpsCliOptions } from '../../ops-options.js';
import { moveDeployOptions, STATE, stepLines, tunnelLines } from './move.js';
import { plural, style } from '../../style.js';

export interface RecoverCliOptions extends OpsCliOptions {
  to?: string;
  dryRun?: boolean;
  abort?: boolean;
  readyTimeout?: string;
  revertMargin?: string;
}

export async function recover(lost: string, options: RecoverCliOptions): Promise<CommandResult> {
  if (options.to === undefined) throw new UsageError('a recovery needs a target host', 'pass --to HOST');
  const quiet = options.json === true;
  const answer = await recoverUseCase(
    fleetSource(options),
    lost,
    options.to,
    givenSettings(options),
    {
      dryRun: options.dryRun === true,
      abort: options.abort === true,
      deploy: moveDeployOptions(options),
    },
    stepLines(quiet),
  );
  return { exitCode: answer.exitCode, json: answer.document, human: () => recoverText(answer.document) };
}

const verdict = (met: boolean | null) => (met === null ? '' : met ? style.green(' met') : style.red(' MISSED'));

export function recoverText(d: RecoverDocument): string {
  const title =
    d.action === 'plan'
      ? `Recovery plan: ${d.lost} (lost) → ${d.to} (dry run: nothing was touched; ${d.lost} is never contacted)`
      : d.action === 'abort'
        ? `Abort of the recovery of ${d.lost} → ${d.to}`
        : `Recovery of ${d.lost} → ${d.to}`;
  const out = [style.bold(title), style.dim(`journal: ${d.journal}`)];
  for (const w of d.waves) {
    out.push('', style.bold(`Wave ${w.wave}`) + (w.label ? style.dim(`  ← ${w.label}`) : ''));
    for (const i of w.items) {
      const state = (STATE[i.state] ?? ((s: string) => s))(i.state === 'moved' ? 'recovered' : i.state);
      out.push(
        `  ${i.kind === 'cluster' ? `${i.name} (db)` : i.name}  ${state}${i.done.length > 0 && i.state !== 'moved' ? style.dim(` (done: ${i.done.join(', ')})`) : ''}`,
      );
      if (i.source.detail !== i.blocked) out.push(style.dim(`    from: ${i.source.detail}`));
      if (i.blocked !== null && i.state !== 'moved') out.push(`    ${style.red('✖ cannot recover:')} ${i.blocked}`);
      if (i.reason !== null) out.push(`    ${style.red('✖')} ${i.reason}`);
      if (d.action === 'plan') for (const [n, s] of i.steps.entries()) out.push(style.dim(`    ${n + 1}. `) + s);
    }
  }
  if (d.edits.length > 0) {
    out.push('', style.bold('Edits of the repository') + style.dim('  (one value each; comments and formatting kept; a .bak of each file)'));
    for (const e of d.edits)
      out.push(`  ${e.file}:${e.line}  ${e.field}`, style.red(`    - ${e.before.trim()}`), style.green(`    + ${e.after.trim()}`));
  }
  out.push(...tunnelLines(d.tunnels, d.action === 'plan'));
  if (d.warnings.length > 0) {
    out.push('', style.bold('Warnings'));
    for (const w of d.warnings) out.push(`  ${style.yellow('!')} ${w}`);
  }
  const r = d.report;
  if (r !== null) {
    out.push('', style.bold('Recovery objectives') + style.dim(`  (since ${r.started})`));
    out.push(
      `  RTO: ${r.rto.achieved_s === null ? 'not reached yet (services not all healthy)' : `${r.rto.achieved_s}s`} achieved, ${r.rto.declared ?? 'none'} declared${verdict(r.rto.met)}`,
    );
    out.push(
      `  RPO: ${r.rpo.achieved_s === null ? 'no backup restored' : `${r.rpo.achieved_s}s of writes lost (the restored backup's age)`}, ${r.rpo.declared ?? 'none'} declared${verdict(r.rpo.met)}`,
    );
    for (const b of r.backups) out.push(style.dim(`    ${b.cluster}: backup ${b.backup_id} of ${b.backup_time} (${b.age_s}s old)`));
    if (r.evidence !== null) out.push(style.dim(`  recorded in ${r.evidence}`));
  }
  const s = d.summary;
  out.push(
    '',
    `${plural(s.items, 'item')}: ${s.recovered} recovered, ${s.pending} pending, ${s.failed} failed, ${s.returned} returned${s.blocked > 0 ? `, ${s.blocked} cannot be recovered` : ''}`,
  );
  if (d.action === 'execute' && s.recovered < s.items)
    out.push(style.dim('Run it again to continue from the journal, or with --abort to stop what it started and put the files back.'));
  return out.join('\n');
}

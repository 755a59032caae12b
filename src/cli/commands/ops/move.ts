/** move and drain --execute: the plan, the run, the abort (docs/move.md). */
import { move as moveUseCase, type MoveDocument, type MoveWhat } from '../../../app/move.js';
import { UsageError } from '../../../errors.js';
import type { CommandResult } from '../../context.js';
import { fleetSource, givenSettings, seconds, type OpsCliOptions } from '../../ops-options.js';
import { plural, style } from '../../style.js';

export interface MoveCliOptions extends OpsCliOptions {
  to?: string;
  dryRun?: boolean;
  abort?: boolean;
  force?: boolean;
  execute?: boolean;
  readyTimeout?: string;
  revertMargin?: string;
}

export async function move(what: MoveWhat, options: MoveCliOptions): Promise<CommandResult> {
  if (options.to === undefined) throw new UsageError('a move needs a target host', 'pass --to HOST');
  if (what.mode === 'move' && what.targets.length === 0) throw new UsageError('move needs a target', 'name the projects (or project@host) to move');
  const quiet = options.json === true;
  const answer = await moveUseCase(
    fleetSource(options),
    what,
    options.to,
    givenSettings(options),
    {
      dryRun: options.dryRun === true,
      abort: options.abort === true,
      force: options.force === true,
      deploy: moveDeployOptions(options),
    },
    stepLines(quiet),
  );
  return { exitCode: answer.exitCode, json: answer.document, human: () => moveText(answer.document) };
}

/** The deploy settings a move (or a recovery) passes on to each service's deploy on the target. */
export function moveDeployOptions(options: { readyTimeout?: string; revertMargin?: string }): { readyTimeoutMs?: number; revertMarginMs?: number } {
  return {
    ...(options.readyTimeout === undefined ? {} : { readyTimeoutMs: seconds('--ready-timeout', options.readyTimeout, 60) * 1000 }),
    ...(options.revertMargin === undefined ? {} : { revertMarginMs: seconds('--revert-margin', options.revertMargin, 20) * 1000 }),
  };
}

/** Each step on stderr as it happens, with the seconds since the command started (nothing with --json). */
export function stepLines(quiet: boolean): (line: string) => void {
  const t0 = Date.now();
  return quiet ? () => {} : (line) => process.stderr.write(`${style.dim(`${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s`)} ${line}\n`);
}

/** How an item's state is shown. */
export const STATE: Record<string, (s: string) => string> = {
  moved: (s) => style.green(s),
  returned: (s) => style.yellow(s),
  failed: (s) => style.red(s),
  moving: (s) => style.yellow(s),
  pending: (s) => style.dim(s),
};

/** The tunnels that follow a move or a recovery: each with its state, its wave and (a plan) its steps. */
export function tunnelLines(tunnels: MoveDocument['tunnels'], plan: boolean): string[] {
  if (tunnels.length === 0) return [];
  const out = ['', style.bold('Tunnels')];
  for (const t of tunnels) {
    const state = t.after === null ? '' : `  ${(STATE[t.state] ?? ((s: string) => s))(t.state)}${style.dim(` (after wave ${t.wave})`)}`;
    out.push(`  ${t.name} (${t.from} → ${t.to}): ${t.suggestion}${state}`);
    if (t.reason !== null) out.push(`    ${style.red('✖')} ${t.reason}`);
    if (plan) for (const [n, s] of t.steps.entries()) out.push(style.dim(`    ${n + 1}. `) + s);
  }
  return out;
}

export function moveText(d: MoveDocument): string {
  const title =
    d.action === 'plan'
      ? `Move plan → ${d.to} (dry run: nothing was touched)`
      : d.action === 'abort'
        ? `Abort of the move → ${d.to}${d.dry_run ? ' (dry run)' : ''}`
        : `Move → ${d.to}`;
  const out = [style.bold(title), style.dim(`journal: ${d.journal}`)];
  for (const w of d.waves) {
    out.push('', style.bold(`Wave ${w.wave}`) + (w.label ? style.dim(`  ← ${w.label}`) : ''));
    for (const i of w.items) {
      const state = (STATE[i.state] ?? ((s: string) => s))(i.state);
      out.push(
        `  ${i.kind === 'cluster' ? `${i.name} (db)` : i.name}  ${i.from} → ${i.to}  ${state}${i.done.length > 0 && i.state !== 'moved' ? style.dim(` (done: ${i.done.join(', ')})`) : ''}`,
      );
      if (i.blocked !== null && i.state !== 'moved') out.push(`    ${style.red('✖ cannot move:')} ${i.blocked}`);
      if (i.reason !== null) out.push(`    ${style.red('✖')} ${i.reason}`);
      for (const db of i.databases ?? [])
        out.push(
          style.dim(
            `    ${db.name}: ${plural(db.tables.length, 'table')}, ${db.tables.reduce((n, t) => n + t.source, 0)} rows, every count equal on ${i.to} (${(db.bytes / 1024 / 1024).toFixed(1)} MiB in ${db.seconds}s)`,
          ),
        );
      if (d.action === 'plan') for (const [n, s] of i.steps.entries()) out.push(style.dim(`    ${n + 1}. `) + s);
    }
  }
  if (d.edits.length > 0) {
    out.push('', style.bold('Edits of the repository') + style.dim('  (one value each; comments and formatting kept)'));
    for (const e of d.edits)
      out.push(`  ${e.file}:${e.line}  ${e.field}`, style.red(`    - ${e.before.trim()}`), style.green(`    + ${e.after.trim()}`));
  }
  out.push(...tunnelLines(d.tunnels, d.action === 'plan'));
  if (d.warnings.length > 0) {
    out.push('', style.bold('Warnings'));
    for (const w of d.warnings) out.push(`  ${style.yellow('!')} ${w}`);
  }
  const s = d.summary;
  out.push(
    '',
    `${plural(s.items, 'item')}: ${s.moved} moved, ${s.pending} pending, ${s.failed} failed, ${s.returned} returned${s.blocked > 0 ? `, ${s.blocked} cannot move` : ''}${d.elapsed_s === null ? '' : ` in ${d.elapsed_s}s`}`,
  );
  if (d.action === 'execute' && s.moved < s.items)
    out.push(style.dim(`Run it again to continue from the journal, or with --abort to send the unfinished waves back to their source.`));
  return out.join('\n');
}

/**
 * The render commands' front: --write/--check into a mode, and the text of a render's answer
 * (src/app/render-files.ts does the rendering, comparing and writing).
 */
import type { FileStatus, Mode, RenderAnswer, RenderSettings } from '../../../app/render-files.js';
import { UsageError } from '../../../errors.js';
import { countBySeverity } from '../../../problems.js';
import type { RenderedFile } from '../../../render/common.js';
import { lineSource, type CommandResult, type GlobalOptions } from '../../context.js';
import { fleetSource } from '../../ops-options.js';
import { formatProblems, problemSummary, type LineSource } from '../../report-problems.js';
import { plural, style } from '../../style.js';
import { applyRendered, type InstalledConfig } from '../../../app/apply-configs.js';
import { givenSettings } from '../../ops-options.js';

export interface RenderFlags extends GlobalOptions {
  write?: boolean;
  check?: boolean;
  out?: string;
  host?: string;
  /** net caddy / net wireguard: install on the hosts (with the ssh options the ops commands take). */
  apply?: boolean;
  dryRun?: boolean;
  sshConfig?: string;
  connectTimeout?: string;
  timeout?: string;
  concurrency?: string;
}

export function modeOf(flags: RenderFlags): Mode {
  if (flags.write && flags.check) throw new UsageError('--write and --check exclude each other', '--check only compares; --write writes');
  if (flags.apply && (flags.write || flags.check))
    throw new UsageError(
      `--apply and --${flags.write ? 'write' : 'check'} exclude each other`,
      '--apply installs on the hosts; --write and --check work on local files',
    );
  if (flags.dryRun && !flags.apply)
    throw new UsageError('--dry-run goes with --apply', '--apply --dry-run checks each host and shows what would change');
  return flags.write ? 'write' : flags.check ? 'check' : 'print';
}

/** The flags as a render's settings. */
export function renderSettings(flags: RenderFlags): RenderSettings {
  return {
    ...fleetSource(flags),
    mode: modeOf(flags),
    ...(flags.out === undefined ? {} : { out: flags.out }),
    ...(flags.host === undefined ? {} : { host: flags.host }),
  };
}

/** stdout of print mode: the file itself, or each file under a "# ==> path <==" line. */
export function printed(files: RenderedFile[]): string {
  if (files.length === 1) return files[0]!.content;
  return files.map((f) => `# ==> ${f.path} <==\n${f.content}`).join('\n');
}

const STATUS_TEXT: Record<FileStatus, string> = {
  rendered: 'rendered',
  'up-to-date': 'up to date',
  'out-of-date': 'out of date',
  missing: 'missing',
  written: 'written',
  unchanged: 'unchanged',
  stale: 'stale: rendered by manage-apps, no longer part of the rendering (remove it)',
};

/** The one result shape of every render command (docs/render.md). */
export function renderResult(answer: RenderAnswer): CommandResult {
  const r = answer.report;
  const failed = r.blocked;
  const errors = countBySeverity(r.problems).errors > 0;
  const lines = lineSource(r.loaded);
  const lineOf: LineSource = (file, line) => lines(file, line) ?? r.extraLines?.get(file)?.[line - 1];
  return {
    exitCode: answer.exitCode,
    json: answer.document,
    human: () => {
      const err: string[] = [];
      const done = r.mode === 'write' ? 'written' : r.mode === 'check' ? 'checked' : 'rendered';
      const verdict = failed ? `: nothing was ${done}` : errors ? `: none of them changes the rendering, so it was ${done} anyway (exit code 1)` : '';
      if (r.problems.length > 0)
        err.push(
          formatProblems(r.problems, lineOf),
          '',
          `${failed || errors ? style.red('✖') : style.yellow('!')} ${problemSummary(r.problems)}${verdict}.`,
        );
      if (r.other.length > 0)
        err.push(
          `${style.yellow('note:')} ${problemSummary(r.other)} elsewhere in the manifests or inventory; run \`manage-apps validate\` for details.`,
        );
      if (r.mode === 'print') {
        for (const s of r.skipped) err.push(`${style.dim('skipped')} ${s.name}: ${s.reason}`);
        if (err.length > 0) process.stderr.write(`${err.join('\n')}\n`);
        return failed ? '' : printed(r.rendered).replace(/\n$/, '');
      }
      if (err.length > 0) process.stderr.write(`${err.join('\n')}\n`);
      if (failed) return '';
      const out = r.files.map((f) => {
        const text = STATUS_TEXT[f.status];
        const shownStatus =
          f.status === 'out-of-date' || f.status === 'missing' || f.status === 'stale'
            ? style.red(text)
            : f.status === 'written'
              ? style.green(text)
              : text;
        return `${f.path}: ${shownStatus}${f.backup ? ` (previous content kept in ${f.backup})` : ''}`;
      });
      for (const s of r.skipped) out.push(`${style.dim('skipped')} ${s.name}: ${s.reason}`);
      const leftOver = r.files.filter((f) => f.status === 'stale').length;
      if (r.mode === 'check') {
        const differ = r.files.filter((f) => f.status !== 'up-to-date' && f.status !== 'stale').length;
        if (differ === 0 && leftOver === 0) out.push(`${style.green('✔')} ${plural(r.files.length, 'file')} up to date.`);
        if (differ > 0)
          out.push(
            `${style.red('✖')} ${plural(differ, 'file')} differ from the rendering: \`manage-apps ${r.command} --write\` (same options) updates them.`,
          );
        if (leftOver > 0)
          out.push(`${style.red('✖')} ${plural(leftOver, 'file')} left from an earlier rendering: remove ${leftOver === 1 ? 'it' : 'them'}.`);
      } else {
        const written = r.files.filter((f) => f.status === 'written').length;
        out.push(
          `${plural(written, 'file')} written, ${r.files.length - written - leftOver} unchanged.` +
            (leftOver > 0
              ? ` ${style.red(`${plural(leftOver, 'file')} left from an earlier rendering: remove ${leftOver === 1 ? 'it' : 'them'}.`)}`
              : ''),
        );
      }
      return out.join('\n');
    },
  };
}

const APPLIED: Record<InstalledConfig['state'], string> = {
  changed: 'installed',
  unchanged: 'unchanged',
  'would-change': 'would change (--dry-run: nothing installed)',
  refused: 'refused: the file and the running config are untouched',
  failed: 'failed',
  unreachable: 'unreachable',
};

/** --apply (net caddy, net wireguard): each host's rendered file installed there, one round trip per host, in parallel. */
export async function applyResult(command: 'net caddy' | 'net wireguard', flags: RenderFlags): Promise<CommandResult> {
  modeOf(flags);
  const json = flags.json === true;
  const answer = await applyRendered(
    command,
    { ...fleetSource(flags), ...(flags.host === undefined ? {} : { host: flags.host }) },
    givenSettings(flags),
    flags.dryRun === true,
    json ? () => {} : (line) => process.stderr.write(`${style.dim(line)}\n`),
  );
  const r = answer.report;
  const { hosts } = answer.document;
  return {
    exitCode: answer.exitCode,
    json: answer.document,
    human: () => {
      if (r.problems.length > 0) process.stderr.write(`${formatProblems(r.problems, lineSource(r.loaded))}\n\n${problemSummary(r.problems)}.\n`);
      if (r.blocked) return `${style.red('✖')} nothing was installed: the rendering has problems (above).`;
      const out = hosts.map((h) => {
        const bad = h.state === 'refused' || h.state === 'failed' || h.state === 'unreachable';
        const what = bad ? style.red(APPLIED[h.state]) : h.state === 'changed' ? style.green(APPLIED[h.state]) : APPLIED[h.state];
        const reload =
          h.reload === 'graceful'
            ? ', reloaded gracefully'
            : h.reload === 'started'
              ? ', service started'
              : h.reload === 'down'
                ? ', not running'
                : '';
        return `${h.host}: ${h.path} ${what}${reload}${h.backup ? ` (previous file kept in ${h.backup})` : ''}${h.message ? `\n    ${h.message}` : ''}`;
      });
      for (const s of r.skipped) out.push(`${style.dim('skipped')} ${s.name}: ${s.reason}`);
      const count = (state: InstalledConfig['state']) => hosts.filter((h) => h.state === state).length;
      const bad = count('refused') + count('failed') + count('unreachable');
      const summary = flags.dryRun
        ? `${plural(count('would-change'), 'host')} would change, ${count('unchanged')} unchanged`
        : `${plural(count('changed'), 'host')} changed, ${count('unchanged')} unchanged`;
      out.push(bad === 0 ? `${style.green('✔')} ${summary}.` : `${style.red('✖')} ${summary}, ${bad} not: see above (exit code 1).`);
      return out.join('\n');
    },
  };
}

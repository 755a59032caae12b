/**
 * The one reporter for located problems: a header line, a short code frame
 * (with secrets masked), and the hint. Used by every command that finds problems.
 */
import type { Problem } from '../problems.js';
import { countBySeverity } from '../problems.js';
import { printable } from '../text/control.js';
import { plural, style } from './style.js';

export type LineSource = (file: string, line: number) => string | undefined;

export function formatProblem(p: Problem, lineOf: LineSource, secretLines: ReadonlySet<string> = new Set()): string {
  const label = p.severity === 'error' ? style.red(style.bold('error')) : style.yellow(style.bold('warning'));
  const out = [`${label} ${style.dim(`[${p.rule}]`)} ${style.bold(`${printable(p.file)}:${p.line}:${p.column}`)}`, `  ${printable(p.message)}`];
  const frame = codeFrame(p, lineOf, secretLines);
  if (frame) out.push(frame);
  if (p.hint) out.push(`  ${style.cyan('hint:')} ${printable(p.hint)}`);
  return out.join('\n');
}

function codeFrame(p: Problem, lineOf: LineSource, secretLines: ReadonlySet<string>): string | undefined {
  const target = lineOf(p.file, p.line);
  if (target === undefined) return undefined;
  const first = Math.max(1, p.line - 1);
  const width = String(p.line + 1).length;
  const rows: string[] = [];
  for (let n = first; n <= p.line + 1; n++) {
    let text = lineOf(p.file, n);
    if (text === undefined) continue;
    if (n !== p.line && text.trim() === '') continue;
    // Any line known to hold a secret is masked in every frame, whichever problem shows it.
    if ((n === p.line && p.redact) || secretLines.has(`${p.file}:${n}`)) text = redact(text);
    const gutter = `${n === p.line ? style.red('>') : ' '} ${String(n).padStart(width)} |`;
    const shown = frameWindow(text.replace(/\t/g, ' '), p.column);
    rows.push(`  ${gutter} ${printable(shown.text)}`);
    if (n === p.line) {
      const caretLen = Math.max(1, Math.min(p.length ?? 1, Math.max(1, shown.text.length - shown.column + 1)));
      rows.push(`  ${' '.repeat(width + 2)} | ${' '.repeat(Math.max(0, shown.column - 1))}${style.red('^'.repeat(caretLen))}`);
    }
  }
  return rows.join('\n');
}

/** Lines wider than this are cut to a window around the column: a megabyte line prints as one screen line. */
export const FRAME_WIDTH = 160;

/** The part of a line a frame shows, and where the column falls in it. */
function frameWindow(text: string, column: number): { text: string; column: number } {
  if (text.length <= FRAME_WIDTH) return { text, column };
  const start = Math.max(0, Math.min(column - 1 - FRAME_WIDTH / 4, text.length - FRAME_WIDTH));
  const end = start + FRAME_WIDTH;
  const head = start > 0 ? '…' : '';
  return { text: `${head}${text.slice(start, end)}${end < text.length ? '…' : ''}`, column: column - start + head.length };
}

/** Keep the key, hide the value: a secret must not reach a terminal or a CI log. */
export function redact(line: string): string {
  const m = /^(\s*(?:-\s+)?[^:#]+:\s*)(.*)$/.exec(line);
  if (m && m[2]!.trim() !== '') return `${m[1]}${'*'.repeat(8)}`;
  const indent = /^\s*(?:-\s+)?/.exec(line)?.[0] ?? '';
  return `${indent}${'*'.repeat(8)}`;
}

export function formatProblems(problems: readonly Problem[], lineOf: LineSource): string {
  const secretLines = new Set(problems.filter((p) => p.redact).map((p) => `${p.file}:${p.line}`));
  return problems.map((p) => formatProblem(p, lineOf, secretLines)).join('\n\n');
}

export function problemSummary(problems: readonly Problem[]): string {
  const { errors, warnings } = countBySeverity(problems);
  const parts = [errors > 0 ? style.red(plural(errors, 'error')) : '', warnings > 0 ? style.yellow(plural(warnings, 'warning')) : ''].filter(Boolean);
  return parts.join(', ');
}

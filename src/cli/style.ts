/**
 * Terminal styling that switches itself off for pipes, NO_COLOR and --json. Asked at each use,
 * not once at start-up: the resident process (src/daemon) serves clients whose stdout may or may
 * not be a terminal, each with its own environment.
 */
export const styleEnabled = (): boolean => process.stdout.isTTY === true && !('NO_COLOR' in process.env) && process.env['TERM'] !== 'dumb';

const wrap = (open: number, close: number) => (s: string) => (styleEnabled() ? `\u001b[${open}m${s}\u001b[${close}m` : s);

export const style = {
  bold: wrap(1, 22),
  dim: wrap(2, 22),
  red: wrap(31, 39),
  green: wrap(32, 39),
  yellow: wrap(33, 39),
  blue: wrap(34, 39),
  cyan: wrap(36, 39),
};

const ANSI = /\u001b\[[0-9;]*m/g;

export function visibleLength(s: string): number {
  return s.replace(ANSI, '').length;
}

/** A plain aligned table; empty cells print as "-". */
/** Columns aligned on the widest cell; a cell with line breaks spans several lines of its row. */
export function table(headers: string[], rows: string[][]): string {
  const cells = rows.map((r) => r.map((c) => (c === '' ? '-' : c).split('\n')));
  const widths = headers.map((h, i) => Math.max(visibleLength(h), ...cells.flatMap((r) => (r[i] ?? ['']).map(visibleLength))));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c + ' '.repeat(widths[i]! - visibleLength(c))))
      .join('  ')
      .trimEnd();
  const rowLines = (r: string[][]) => Array.from({ length: Math.max(...r.map((c) => c.length)) }, (_, k) => line(r.map((c) => c[k] ?? '')));
  return [style.bold(line(headers)), ...cells.flatMap(rowLines)].join('\n');
}

/** Where a table must fit: the terminal's width, else a conventional 120 columns. */
export function outputWidth(): number {
  return process.stdout.isTTY && process.stdout.columns ? process.stdout.columns : 120;
}

export function plural(n: number, word: string, pluralWord = `${word}s`): string {
  return `${n} ${n === 1 ? word : pluralWord}`;
}

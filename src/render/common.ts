/**
 * What every renderer shares. A renderer is a pure function: fleet in, text out,
 * no I/O, no clock, no environment. Same input, byte-identical output: hosts,
 * peers, sites and keys are sorted by code point (never by locale), and every
 * file ends with one newline.
 */
import type { Location, Problem, Severity } from '../problems.js';
import { problem } from '../problems.js';
import type { PathSegment } from '../source/document.js';

/** One file a renderer produces: `path` is relative to the output directory. */
export interface RenderedFile {
  path: string;
  content: string;
  /** File mode for --write (e.g. 0o600 for WireGuard configs). */
  mode?: number;
}

/** Something the renderer left out on purpose, and why (not a problem). */
export interface Skipped {
  name: string;
  reason: string;
}

export interface RenderOutput {
  files: RenderedFile[];
  problems: Problem[];
  skipped: Skipped[];
}

/** Problems found by renderers (values that cannot be rendered, missing keys, unroutable domains). */
export const RENDER_RULE = 'render';

export function renderProblem(at: Location, message: string, hint?: string, severity: Severity = 'error'): Problem {
  return problem(RENDER_RULE, at, message, hint, severity);
}

/** Code-point order: the same on every machine and locale. */
export function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function sortedBy<T>(items: readonly T[], key: (item: T) => string): T[] {
  return [...items].sort((a, b) => byCodePoint(key(a), key(b)));
}

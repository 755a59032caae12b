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

/**
 * Where a value came from, so renderer problems point into the user's files.
 * Built from a loaded fleet by the CLI; the default points at line 1 of the file.
 */
export interface Locator {
  inventory(path: readonly PathSegment[]): Location;
  manifest(file: string, path: readonly PathSegment[]): Location;
}

export function defaultLocator(inventoryFile: string): Locator {
  return {
    inventory: () => ({ file: inventoryFile, line: 1, column: 1 }),
    manifest: (file) => ({ file, line: 1, column: 1 }),
  };
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

/** Exactly one trailing newline. */
export function withNewline(text: string): string {
  return `${text.replace(/\n+$/, '')}\n`;
}

/**
 * A value that is safe as one token in a line-oriented config (ssh_config,
 * wg-quick, Caddyfile, systemd): printable ASCII, no whitespace, no quotes,
 * no backslash, no comment sign, no braces. Anything else could end the line,
 * split the token or open a block, i.e. inject a directive.
 */
export const PLAIN_TOKEN = /^[!$%&()*+,\-./0-9:;<=>?@A-Z[\]^_`a-z|~]+$/;

export function isPlainToken(value: string): boolean {
  return PLAIN_TOKEN.test(value);
}

/** For messages: a value shown with its invisible characters visible. */
export function shown(value: string): string {
  return JSON.stringify(value);
}

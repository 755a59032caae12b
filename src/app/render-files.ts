/**
 * What the render commands share: print, check or write, which load problems stop a render,
 * and the one JSON shape (docs/render.md). Renderers stay pure (src/render); reading and
 * writing files happens here, through writeFileSafely. Each render use case (src/app/render.ts,
 * net-reconcile.ts, ssh-config.ts) returns a RenderAnswer; the CLI formats it.
 */
import { readdir } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { EXIT_OK, EXIT_PROBLEMS, UsageError } from '../errors.js';
import { makeDirectory, readIfExists, writeFileSafely } from '../files/write.js';
import type { FleetOptions, LoadedFleet } from '../load/fleet.js';
import { countBySeverity, problemJson, sortProblems, type Problem } from '../problems.js';
import { byCodePoint, type RenderedFile, type Skipped } from '../render/common.js';
import type { Answer } from './answer.js';

export type Mode = 'print' | 'check' | 'write';
export type FileStatus = 'rendered' | 'up-to-date' | 'out-of-date' | 'missing' | 'written' | 'unchanged' | 'stale';

/** What a render is asked: where the fleet is, print/check/write, the output directory (relative to the working directory) and one host's files. */
export interface RenderSettings extends FleetOptions {
  mode: Mode;
  out?: string;
  host?: string;
}

export interface FileReport {
  path: string;
  status: FileStatus;
  /** --write: where the previous content was kept. */
  backup?: string;
  /** print mode, --json only: the rendered text. */
  content?: string;
}

/** A file to compare or write: absolute path, full content. */
export interface Target {
  path: string;
  content: string;
  mode?: number;
  /** Mode only when the file is created (keep the user's own mode otherwise). */
  modeIfNew?: number;
  /** The --out directory a rendered file belongs in: links are replaced and none may lead out of it (files/write.ts). */
  within?: string;
  /** A file of ours beside the user's: a link at it is replaced, not followed. */
  replaceLink?: boolean;
}

/** --out is where check and write look; without it there is no file to compare. */
export function outDir(settings: RenderSettings, command: string): string | undefined {
  if (settings.out !== undefined) return resolve(process.cwd(), settings.out);
  if (settings.mode !== 'print') throw new UsageError(`${command} --${settings.mode} needs --out DIR: the directory that holds the rendered files`);
  return undefined;
}

/**
 * Rules whose errors make a rendering wrong even though every file loaded: two manifests for one
 * service (which one is rendered?), a secret (it would be copied into the rendered file), and a
 * name that is not plain (it would be written into a file or a path).
 */
const BLOCKING_RULES: ReadonlySet<string> = new Set(['duplicate_project', 'secret_in_manifest', 'safe_name']);

/**
 * Which load problems stop a render, which are reported with it, which are only a note.
 *
 * - `blocking`: errors that change what would be rendered: a manifest that failed to load (its
 *   service would silently drop out), a problem of the inventory itself (an entry left out),
 *   an unreadable directory, and BLOCKING_RULES. Nothing is rendered.
 * - `reported`: every other error of the fleet (a production service on a dev box, a port
 *   clash, …) for renderers that read the manifests: the rendering does not depend on it, so
 *   it is rendered, and the problem is reported and makes the exit code 1.
 * - `other`: warnings, and for renderers that read only the inventory (ssh config, WireGuard)
 *   everything outside it: a one-line note.
 */
export function splitLoadProblems(loaded: LoadedFleet, scope: 'inventory' | 'fleet'): { blocking: Problem[]; reported: Problem[]; other: Problem[] } {
  const blocking: Problem[] = [];
  const reported: Problem[] = [];
  const other: Problem[] = [];
  const inventoryProblems = new Set(loaded.inventory.problems);
  const manifests = new Map(loaded.manifests.map((m) => [m.file, m]));
  for (const p of loaded.problems) {
    if (p.severity !== 'error') {
      other.push(p);
      continue;
    }
    if (scope === 'inventory') {
      (p.file === loaded.inventory.file ? blocking : other).push(p);
      continue;
    }
    const manifest = manifests.get(p.file);
    const failedToLoad = inventoryProblems.has(p) || (manifest === undefined ? p.file !== loaded.inventory.file : !manifest.valid);
    (failedToLoad || BLOCKING_RULES.has(p.rule) ? blocking : reported).push(p);
  }
  return { blocking, reported, other };
}

/** Problems the renderer found may repeat what loading found (same place, same rule): once each. */
export function mergeProblems(...lists: Problem[][]): Problem[] {
  const seen = new Set<string>();
  const out: Problem[] = [];
  for (const p of lists.flat()) {
    // A load rule and the renderer may say the same thing under two rule ids (domain_unique, render).
    const keys = [`${p.file}\u0000${p.line}\u0000${p.column}\u0000${p.rule}`, `${p.file}\u0000${p.line}\u0000${p.column}\u0000${p.message}`];
    if (keys.some((k) => seen.has(k))) continue;
    for (const k of keys) seen.add(k);
    out.push(p);
  }
  return sortProblems(out);
}

export async function checkTargets(targets: Target[]): Promise<FileReport[]> {
  const out: FileReport[] = [];
  for (const t of targets) {
    const current = await readIfExists(t.path);
    out.push({ path: t.path, status: current === undefined ? 'missing' : current === t.content ? 'up-to-date' : 'out-of-date' });
  }
  return out;
}

export async function writeTargets(targets: Target[]): Promise<FileReport[]> {
  const out: FileReport[] = [];
  for (const t of targets) {
    // A directory that will hold a private file (a wg-quick key, 0600) is private as well.
    const privateFile = ((t.mode ?? t.modeIfNew ?? 0o644) & 0o077) === 0;
    await makeDirectory(dirname(t.path), { mode: privateFile ? 0o700 : 0o755, ...(t.within === undefined ? {} : { within: t.within }) });
    let mode = t.mode;
    if (mode === undefined && t.modeIfNew !== undefined && (await readIfExists(t.path)) === undefined) mode = t.modeIfNew;
    const result = await writeFileSafely(t.path, t.content, {
      ...(mode === undefined ? {} : { mode }),
      ...(t.within === undefined ? {} : { within: t.within }),
      ...(t.replaceLink ? { replaceLink: true } : {}),
    });
    out.push({
      path: t.path,
      status: result.outcome === 'unchanged' ? 'unchanged' : 'written',
      ...(result.backup === undefined ? {} : { backup: result.backup }),
    });
  }
  return out;
}

/**
 * Files under the output directory that an earlier rendering wrote (their header says
 * "rendered by manage-apps") and this one no longer produces: a removed service's unit, a
 * host that left the mesh. Reported, never deleted. Backups (`.bak`) are not ours to report.
 */
export async function staleFiles(dir: string, targets: Target[], keep: (relative: string) => boolean = () => true): Promise<FileReport[]> {
  const wanted = new Set(targets.map((t) => t.path));
  const out: FileReport[] = [];
  const visit = async (at: string, depth: number): Promise<void> => {
    let entries;
    try {
      entries = await readdir(at, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries.sort((a, b) => byCodePoint(a.name, b.name))) {
      const path = join(at, e.name);
      if (e.isDirectory() && depth < 2) await visit(path, depth + 1);
      if (!e.isFile() || wanted.has(path) || e.name.endsWith('.bak') || !keep(relative(dir, path))) continue;
      const head = ((await readIfExists(path)) ?? '').slice(0, 400);
      if (/rendered by manage-apps/i.test(head)) out.push({ path, status: 'stale' });
    }
  };
  await visit(dir, 1);
  return out;
}

/** Targets for renderer files under an output directory. */
export function targetsIn(dir: string, files: RenderedFile[]): Target[] {
  return files.map((f) => ({ path: resolve(dir, f.path), content: f.content, within: dir, ...(f.mode === undefined ? {} : { mode: f.mode }) }));
}

export interface RenderReport {
  command: string;
  mode: Mode;
  loaded: LoadedFleet;
  /** Print mode: what is printed. */
  rendered: RenderedFile[];
  /** Check/write mode: what happened to each file. */
  files: FileReport[];
  skipped: Skipped[];
  /** Problems that concern this command; any error makes the exit code 1. */
  problems: Problem[];
  /** Nothing was rendered because of them (a file that failed to load, a value that cannot be rendered). */
  blocked: boolean;
  /** Load problems elsewhere in the fleet: a note, not a failure. */
  other: Problem[];
  /** Extra lines for code frames (files that are not part of the fleet, e.g. ~/.ssh/config). */
  extraLines?: Map<string, string[]>;
}

/** The --json document of every render command (docs/render.md). */
export interface RenderDocument {
  command: string;
  mode: Mode;
  files: FileReport[];
  skipped: Skipped[];
  problems: Record<string, unknown>[];
}

/** A render's answer: the document, and the report the text is made from. */
export type RenderAnswer = Answer<RenderDocument> & { report: RenderReport };

export function renderAnswer(r: RenderReport): RenderAnswer {
  const errors = countBySeverity(r.problems).errors > 0;
  const drift = r.mode === 'check' && r.files.some((f) => f.status !== 'up-to-date');
  const files: FileReport[] = r.mode === 'print' ? r.rendered.map((f) => ({ path: f.path, status: 'rendered', content: f.content })) : r.files;
  return {
    exitCode: r.blocked || errors || drift ? EXIT_PROBLEMS : EXIT_OK,
    document: { command: r.command, mode: r.mode, files, skipped: r.skipped, problems: r.problems.map(problemJson) },
    loaded: r.loaded,
    report: r,
  };
}

/** Keeps the files of one host (`<host>.conf`, `<host>.Caddyfile`, `<host>/<unit>`). */
export function filterHost(files: RenderedFile[], host: string | undefined, known: string[], hostOf: (f: RenderedFile) => string): RenderedFile[] {
  if (host === undefined) return files;
  if (!known.includes(host)) throw new UsageError(`unknown host "${host}"`, `known hosts: ${known.join(', ')}`);
  return files.filter((f) => hostOf(f) === host);
}

/**
 * The common run of a multi-file renderer: stop on blocking load problems, render,
 * then print, compare (--check) or write (--write) under --out.
 */
export async function renderFiles(
  command: string,
  loaded: LoadedFleet,
  settings: RenderSettings,
  scope: 'inventory' | 'fleet',
  render: () => { files: RenderedFile[]; problems: Problem[]; skipped: Skipped[] },
  hostOf?: (f: RenderedFile) => string,
): Promise<RenderAnswer> {
  const mode = settings.mode;
  const dir = outDir(settings, command);
  const { blocking, reported, other } = splitLoadProblems(loaded, scope);
  const base = { command, mode, loaded, other, rendered: [] as RenderedFile[], files: [] as FileReport[], skipped: [] as Skipped[] };
  if (blocking.length > 0) return renderAnswer({ ...base, problems: sortProblems([...blocking, ...reported]), blocked: true });
  const output = render();
  const known = loaded.fleet.hosts.map((h) => h.name);
  const files = hostOf ? filterHost(output.files, settings.host, known, hostOf) : output.files;
  const problems = mergeProblems(reported, output.problems);
  const blocked = countBySeverity(output.problems).errors > 0;
  // --host renders one host's files: skip notes about the others are noise.
  const hostOfSkipped = (name: string) =>
    loaded.fleet.hosts.find((h) => h.name === name)?.name ?? loaded.fleet.services.find((s) => s.id === name)?.host;
  const skipped =
    settings.host === undefined
      ? output.skipped
      : output.skipped.filter((s) => hostOfSkipped(s.name) === undefined || hostOfSkipped(s.name) === settings.host);
  if (settings.host !== undefined && files.length === 0 && !skipped.some((s) => s.name === settings.host))
    skipped.push({ name: settings.host, reason: `${command} renders no file for this host` });
  const report = { ...base, skipped, problems, blocked };
  if (blocked) return renderAnswer(report);
  if (mode === 'print') return renderAnswer({ ...report, rendered: files });
  const targets = targetsIn(dir!, files);
  const reports = mode === 'check' ? await checkTargets(targets) : await writeTargets(targets);
  const ours = (rel: string) => settings.host === undefined || hostOf === undefined || hostOf({ path: rel, content: '' }) === settings.host;
  return renderAnswer({ ...report, files: [...reports, ...(await staleFiles(dir!, targets, ours))] });
}

/**
 * Writing the user's files: atomically (never half-written), with a backup of anything we
 * replace, and never through a link nobody chose. A write that would change nothing touches
 * nothing.
 *
 * - Every file is written as a fresh temp file (created exclusively: O_EXCL never follows a
 *   link) and renamed into place; the backup `<file>.bak` too. A rename replaces a link that
 *   sits at the name, so a planted `<file>.bak -> ~/.bashrc` is replaced, not written through.
 * - A path the user named (`~/.ssh/config`, `--write-env FILE`) may be a link of theirs (a
 *   dotfiles repo): the write goes to its target, and the link stays.
 * - A rendered file under a directory manage-apps writes (`--out DIR`) is ours: a link at its
 *   name is replaced by the file (the link is kept as the backup), and no directory on the way
 *   may lead outside DIR.
 * - What is not a regular file (a directory, a FIFO, a device, /proc) is refused with a usage
 *   error naming the path; so is any write the system refuses.
 * - Temp files left by a write that was killed are removed by the next write beside them.
 */
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, open, readdir, readlink, realpath, rename, stat, symlink, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { UsageError } from '../errors.js';
import { isProcessAlive } from '../process.js';
import { isPseudoFilesystem, kindOf, readRegularFileSync } from './read.js';

export type WriteOutcome = 'created' | 'updated' | 'unchanged';

export interface WriteResult {
  path: string;
  outcome: WriteOutcome;
  /** Where the previous content was saved, when there was any. */
  backup?: string;
}

export interface WriteOptions {
  /** File mode of a new file (an existing file keeps its own unless this is given). */
  mode?: number;
  /** The directory manage-apps renders into (--out DIR): a link at the file is replaced, and the file must really be inside DIR. */
  within?: string;
  /** A file manage-apps owns beside the user's (config.d/manage-apps): a link at it is replaced, not followed. */
  replaceLink?: boolean;
}

/** The largest existing file read back to compare or back up: anything bigger is not a config. */
const MAX_EXISTING_BYTES = 64 * 1024 * 1024;

const REASONS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'the file system is read-only',
  ENOTDIR: 'a part of the path is not a directory',
  EISDIR: 'it is a directory',
  ENOSPC: 'no space left on the device',
  EEXIST: 'something that is not a directory is in the way',
  ENOENT: 'the directory does not exist',
  ELOOP: 'too many levels of symbolic links',
  ENAMETOOLONG: 'the name is too long',
  EFBIG: `it is larger than ${MAX_EXISTING_BYTES / 1024 / 1024} MiB`,
};

function cannot(action: string, path: string, reasonOrError: unknown): UsageError {
  const reason =
    typeof reasonOrError === 'string'
      ? reasonOrError
      : (REASONS[(reasonOrError as NodeJS.ErrnoException).code ?? ''] ?? (reasonOrError as Error).message);
  return new UsageError(`cannot ${action} ${path}: ${reason}`, 'give a regular file in a directory this user may write');
}

/** Usage errors pass through; any other failure of the file system names the path. */
async function naming<T>(action: string, path: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw cannot(action, path, err);
  }
}

/** The file's text; undefined when it does not exist. Anything but a regular file is a usage error naming the path. */
export async function readIfExists(path: string): Promise<string | undefined> {
  const read = readRegularFileSync(path, MAX_EXISTING_BYTES);
  if ('text' in read) return read.text;
  if (read.code === 'ENOENT') return undefined;
  throw cannot(
    'read',
    path,
    read.code === 'ENOTREG' || read.code === 'EFBIG' ? read.error : Object.assign(new Error(read.code), { code: read.code }),
  );
}

async function lstatOrUndefined(path: string) {
  try {
    return await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function inside(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith(sep) ? dir : `${dir}${sep}`);
}

/** Throws unless the existing part of `dir` really is inside `within` (no link on the way leads out). */
async function checkInside(dir: string, within: string, target: string): Promise<void> {
  const root = await realpath(within);
  let existing = dir;
  while (!(await lstatOrUndefined(existing))) existing = dirname(existing);
  const real = await realpath(existing);
  if (!inside(real, root))
    throw new UsageError(
      `refusing to write ${target}: ${existing} leads to ${real}, outside ${within}`,
      `a link inside ${within} must not send rendered files elsewhere: remove it`,
    );
}

/**
 * Creates the missing directories of `dir`, one at a time, each as a fresh directory with
 * `mode`: what already exists is the user's (a link of theirs included) and is kept; a name
 * that appears while we create it must be a real directory, never a link planted on the way.
 */
async function createMissing(dir: string, mode: number): Promise<void> {
  const missing: string[] = [];
  let at = resolve(dir);
  while (!(await lstatOrUndefined(at))) {
    missing.unshift(at);
    const up = dirname(at);
    if (up === at) break;
    at = up;
  }
  for (const component of missing) {
    try {
      await mkdir(component, { mode });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const info = await lstat(component);
      if (!info.isDirectory())
        throw cannot(
          'create the directory',
          component,
          info.isSymbolicLink() ? 'a link appeared there while it was being created' : `it is ${kindOf(info)}`,
        );
    }
  }
}

/**
 * mkdir -p, with errors as usage errors naming the path. The missing components are created
 * with `mode` (0755 unless given), never through a link that was not there when we looked;
 * under `within` (itself created when missing: the user named it), no link may lead out of it.
 */
export async function makeDirectory(dir: string, options: { mode?: number; within?: string } = {}): Promise<void> {
  const mode = options.mode ?? 0o755;
  await naming('create the directory', dir, async () => {
    if (options.within !== undefined) {
      await createMissing(options.within, mode);
      await checkInside(dir, options.within, dir);
    }
    await createMissing(dir, mode);
    const info = await stat(dir);
    if (!info.isDirectory()) throw cannot('create the directory', dir, `it is ${kindOf(info)}`);
  });
}

const TEMP_SUFFIX = '.manage-apps-tmp';

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Temp files of earlier writes of `name` whose process is gone (killed mid-write): removed. */
async function removeStaleTemps(dir: string, name: string): Promise<void> {
  const pattern = new RegExp(`^\\.${escapeRegExp(name)}\\.(\\d+)\\.[0-9a-f]{8}${escapeRegExp(TEMP_SUFFIX)}$`);
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return;
  }
  for (const entry of entries) {
    const m = pattern.exec(entry);
    if (!m || isProcessAlive(Number(m[1]))) continue;
    const info = await lstatOrUndefined(join(dir, entry)).catch(() => undefined);
    if (info?.isFile()) await unlink(join(dir, entry)).catch(() => undefined);
  }
}

/**
 * Writes `content` to a fresh temp file beside `path` and renames it over `path`: readers see
 * the old file or the new one, never a part; a link at `path` is replaced, never followed.
 */
async function replaceAtomically(
  path: string,
  content: string | { link: string },
  mode: number | undefined,
  owner?: { uid: number; gid: number },
): Promise<void> {
  const dir = dirname(path);
  const name = basename(path);
  await removeStaleTemps(dir, name);
  const temp = join(dir, `.${name}.${process.pid}.${randomBytes(4).toString('hex')}${TEMP_SUFFIX}`);
  try {
    if (typeof content === 'string') {
      // 'wx': O_CREAT | O_EXCL, which fails on an existing name (a link included) instead of following it.
      const handle = await open(temp, 'wx', mode ?? 0o666);
      try {
        await handle.writeFile(content);
        if (mode !== undefined) await handle.chmod(mode);
        // Root rewriting someone's file leaves it theirs (best effort).
        if (owner !== undefined && process.getuid?.() === 0) await handle.chown(owner.uid, owner.gid).catch(() => undefined);
        await handle.sync();
      } finally {
        await handle.close();
      }
    } else {
      await symlink(content.link, temp);
    }
    await rename(temp, path);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
  // The rename itself is durable once the directory is synced (best effort: not every file system allows it).
  const handle = await open(dir, 'r').catch(() => undefined);
  await handle?.sync().catch(() => undefined);
  await handle?.close();
}

/** What is at a path now: nothing, a regular file (with its text and mode), or a link we do not follow. */
type Existing = { kind: 'none' } | { kind: 'file'; text: string; mode: number; uid: number; gid: number } | { kind: 'link'; target: string };

async function existingAt(path: string, followLink: boolean): Promise<{ path: string; existing: Existing }> {
  const info = await lstatOrUndefined(path);
  if (!info) return { path, existing: { kind: 'none' } };
  if (info.isSymbolicLink()) {
    if (!followLink) return { path, existing: { kind: 'link', target: await readlink(path) } };
    // The user's own link: write where it points (a dangling one is created there).
    const target = resolve(dirname(path), await readlink(path));
    const real = await realpath(target).catch(() => target);
    return existingAt(real, false).then((found) => (found.existing.kind === 'link' ? { path: real, existing: { kind: 'none' } as Existing } : found));
  }
  if (!info.isFile()) throw cannot('write', path, `it is ${kindOf(info)}, not a regular file`);
  const text = await readIfExists(path);
  return { path, existing: text === undefined ? { kind: 'none' } : { kind: 'file', text, mode: info.mode & 0o7777, uid: info.uid, gid: info.gid } };
}

export async function writeFileSafely(path: string, content: string, options: WriteOptions = {}): Promise<WriteResult> {
  if (isPseudoFilesystem(path)) throw new UsageError(`cannot write ${path}: it is on a kernel pseudo-filesystem, not a file of yours`);
  return naming('write', path, async () => {
    if (options.within !== undefined) await checkInside(dirname(path), options.within, path);
    const followLink = options.within === undefined && options.replaceLink !== true;
    const { path: target, existing } = await existingAt(path, followLink);
    if (existing.kind === 'file' && existing.text === content) return { path, outcome: 'unchanged' };
    let backup: string | undefined;
    if (existing.kind !== 'none') {
      // Beside the name the user knows; written fresh, so a link planted at <file>.bak is replaced, not followed.
      backup = `${path}.bak`;
      await naming('write the backup', backup, async () => {
        if ((await lstatOrUndefined(backup!))?.isDirectory()) throw cannot('write the backup', backup!, 'it is a directory');
        await replaceAtomically(
          backup!,
          existing.kind === 'file' ? existing.text : { link: existing.target },
          existing.kind === 'file' ? existing.mode : undefined,
          existing.kind === 'file' ? existing : undefined,
        );
      });
    }
    await replaceAtomically(
      target,
      content,
      options.mode ?? (existing.kind === 'file' ? existing.mode : undefined),
      existing.kind === 'file' ? existing : undefined,
    );
    return backup === undefined ? { path, outcome: 'created' } : { path, outcome: 'updated', backup };
  });
}

/**
 * A private directory for ssh's ControlPath sockets, checked the way OpenSSH checks the paths it
 * trusts (safe_path for authorized_keys, known_hosts and identity files): every component from
 * `/` down is owned by root or by this user and cannot be rewritten by anyone else. Whoever can
 * write a directory on the way can rename an entry and swap in a directory, a link or a master
 * socket of their own, and every script this CLI sends (database passwords in heredocs included)
 * would go through their connection.
 *
 * The rules, per component (lstat, never following a link unchecked):
 * - owned by root or by this user;
 * - not writable by group or others, except a root-owned sticky directory such as /tmp (there
 *   nobody can rename or remove an entry they do not own, and the entry itself is checked next);
 * - a symbolic link is followed only when it is owned by root or this user (it sits in a
 *   directory already checked), and its target is checked the same way from `/`;
 * - the directories this CLI makes itself (`create`) are owned by this user exactly, mkdir'ed
 *   with mode 0700 (never through a link: mkdir refuses an existing name) and lstat'ed after.
 * Anything else is refused with the component and why, never repaired.
 */
import { chmodSync, lstatSync, mkdirSync, readlinkSync, type Stats } from 'node:fs';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { UsageError } from '../errors.js';

const HINT = 'set MANAGE_APPS_CONTROL_DIR to a directory only you can write (every directory above it owned by root or you, none writable by others)';

function currentUid(): number | undefined {
  return typeof process.getuid === 'function' ? process.getuid() : undefined;
}

class UnsafePath extends UsageError {
  constructor(dir: string, component: string, why: string) {
    super(`the ssh control directory ${dir} is not private: ${component} ${why}`, HINT);
  }
}

function owner(uid: number): string {
  return uid === 0 ? 'root' : `uid ${uid}`;
}

/** lstat, or undefined when the name does not exist. */
function lstatOrNone(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Checks an existing path component by component; returns the path with every link resolved.
 * `depth` bounds link chains (ELOOP, as the kernel does).
 */
function checkedRealPath(dir: string, path: string, uid: number, depth = 0): string {
  if (depth > 40) throw new UnsafePath(dir, path, 'is a chain of too many symbolic links');
  const parts = resolve(path).split(sep).filter(Boolean);
  let current = '/';
  checkDirectory(dir, current, lstatSync(current), uid);
  for (let i = 0; i < parts.length; i++) {
    const next = join(current, parts[i]!);
    const st = lstatOrNone(next);
    if (st === undefined) throw new UnsafePath(dir, next, 'does not exist');
    if (st.isSymbolicLink()) {
      if (st.uid !== 0 && st.uid !== uid) throw new UnsafePath(dir, next, `is a symbolic link owned by ${owner(st.uid)}, not by root or you`);
      const target = readlinkSync(next);
      current = checkedRealPath(dir, isAbsolute(target) ? target : join(current, target), uid, depth + 1);
      continue;
    }
    checkDirectory(dir, next, st, uid);
    current = next;
  }
  return current;
}

function checkDirectory(dir: string, path: string, st: Stats, uid: number): void {
  if (!st.isDirectory()) throw new UnsafePath(dir, path, 'is not a directory');
  if (st.uid !== 0 && st.uid !== uid) throw new UnsafePath(dir, path, `is owned by ${owner(st.uid)}, not by root or you`);
  const writableByOthers = (st.mode & 0o022) !== 0;
  const rootSticky = st.uid === 0 && (st.mode & 0o1000) !== 0;
  if (writableByOthers && !rootSticky)
    throw new UnsafePath(dir, path, `is writable by ${(st.mode & 0o020) !== 0 ? 'its group' : 'others'} (mode ${(st.mode & 0o7777).toString(8)})`);
}

/** A directory this CLI made or will make: this user's own, a real directory, nobody else's bits. */
function checkOwn(dir: string, path: string, st: Stats, uid: number): void {
  if (st.isSymbolicLink()) throw new UnsafePath(dir, path, `is a symbolic link (owned by ${owner(st.uid)})`);
  if (!st.isDirectory()) throw new UnsafePath(dir, path, 'is not a directory');
  if (st.uid !== uid) throw new UnsafePath(dir, path, `is owned by ${owner(st.uid)}, not by you`);
  if ((st.mode & 0o022) !== 0)
    throw new UnsafePath(dir, path, `is writable by ${(st.mode & 0o020) !== 0 ? 'its group' : 'others'} (mode ${(st.mode & 0o7777).toString(8)})`);
}

/**
 * The private directory `dir`, made if missing: `base` must exist and pass the checks above;
 * every directory from `base` down to `dir` is made by this user with mode 0700 (or must already
 * be this user's own, unwritable by others). The last one is made 0700 if it is looser (it is
 * ours). On a system without uids (Windows) nothing is checked.
 */
export function privateDirectory(dir: string, base: string): string {
  const uid = currentUid();
  const absolute = resolve(dir);
  const root = resolve(base);
  if (uid === undefined) {
    mkdirSync(absolute, { recursive: true, mode: 0o700 });
    return absolute;
  }
  if (absolute !== root && !absolute.startsWith(root + sep)) throw new Error(`${absolute} is not under ${root}`);
  let current = checkedRealPath(absolute, root, uid);
  const below =
    absolute === root
      ? []
      : absolute
          .slice(root.length + 1)
          .split(sep)
          .filter(Boolean);
  for (const part of below) {
    const next = join(current, part);
    try {
      mkdirSync(next, { mode: 0o700 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw new UnsafePath(absolute, next, `cannot be made: ${(error as Error).message}`);
    }
    checkOwn(absolute, next, lstatSync(next), uid);
    current = next;
  }
  const st = lstatSync(current);
  if (below.length === 0) checkOwn(absolute, current, st, uid);
  if ((st.mode & 0o077) !== 0) chmodSync(current, 0o700);
  return absolute;
}

/** The nearest existing ancestor of `dir` (the base a configured directory is made under). */
export function existingAncestor(dir: string): string {
  let current = resolve(dir);
  while (lstatOrNone(current) === undefined) {
    const parent = dirname(current);
    if (parent === current) break;
    current = parent;
  }
  return current;
}

/**
 * Where the resident process listens, and which build of manage-apps it is. Read by the client
 * (bin/manage-apps.js, before any of the CLI is imported) as well as by the process itself, so
 * this file imports node's own modules only.
 *
 * The socket lives in a directory of the user's own, mode 0700: $XDG_RUNTIME_DIR/manage-apps
 * (a per-user tmpfs under systemd), else the state directory (~/.local/state/manage-apps). Node
 * cannot ask a Unix socket who its peer is, so that directory is what keeps other users out: it is
 * checked with lstat before every use (a directory, not a link, owned by this user, mode 0700).
 */
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The directory of the socket, from the environment alone (nothing is created). */
export function daemonDirectory(env: NodeJS.ProcessEnv = process.env): string {
  const runtime = env['XDG_RUNTIME_DIR'];
  if (runtime !== undefined && runtime.startsWith('/')) return join(runtime, 'manage-apps');
  const state = env['XDG_STATE_HOME'];
  return join(state !== undefined && state.startsWith('/') ? state : join(env['HOME'] ?? homedir(), '.local', 'state'), 'manage-apps');
}

/** The compiled CLI's directory (dist/): this file is dist/daemon/place.js, or a chunk of dist/bundle/. */
const distDirectory = (): string => join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * One socket per installed copy of manage-apps (its dist/ directory): two checkouts on one
 * machine each have their own, and a build of one never stops the other's process. Its entry
 * (bundle or not) is part of the build, not of the name: a rebuild finds the old process.
 */
export function socketPath(directory: string): string {
  return join(directory, `daemon-${createHash('sha256').update(distDirectory()).digest('hex').slice(0, 12)}.sock`);
}

/** Why the directory must not be used, or undefined when it is this user's own, mode 0700 and not a link. */
export function unsafeDirectory(directory: string): string | undefined {
  let info;
  try {
    info = lstatSync(directory);
  } catch (error) {
    return `${directory} cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`;
  }
  if (info.isSymbolicLink()) return `${directory} is a symbolic link`;
  if (!info.isDirectory()) return `${directory} is not a directory`;
  const uid = process.getuid?.();
  if (uid !== undefined && info.uid !== uid) return `${directory} belongs to user ${info.uid}, not to this user (${uid})`;
  if ((info.mode & 0o777) !== 0o700) return `${directory} has mode ${(info.mode & 0o777).toString(8)}, not 700`;
  return undefined;
}

/**
 * Creates the directory (its parents as usual, itself mode 0700 whatever the umask) and checks
 * it; throws with the reason when it is not safe to use (one made by someone else, a link).
 */
export function makeDaemonDirectory(directory: string): void {
  mkdirSync(dirname(directory), { recursive: true, mode: 0o700 });
  try {
    mkdirSync(directory, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const unsafe = unsafeDirectory(directory);
  if (unsafe !== undefined) throw new Error(unsafe);
}

/**
 * The build a client runs and a resident process serves: the CLI's entry file (the bundle, or
 * dist/main.js without one), its size, modification time to the nanosecond and a sha256 of its
 * text. A rebuild rewrites it (the bundle's chunks are named by their content, and the entry
 * imports them by name), so a process of another build is never used.
 */
export function buildStamp(entry: string): string {
  const info = statSync(entry, { bigint: true });
  const digest = createHash('sha256').update(readFileSync(entry)).digest('hex');
  return `${entry}\0${info.size}\0${info.mtimeNs}\0${digest}`;
}

/** The CLI's entry file: the bundle of dist/ when it is at least as new as dist/main.js, else dist/main.js (a bare tsc since). */
export function cliEntry(): string {
  const dist = distDirectory();
  const mtime = (file: string) => statSync(join(dist, file), { throwIfNoEntry: false })?.mtimeMs ?? -1;
  return join(dist, mtime('bundle/main.js') >= mtime('main.js') ? 'bundle/main.js' : 'main.js');
}

// Small, dependency-free helpers over the machine: running commands, processes,
// mounts and cgroups. The test-fleet harness builds on these.
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, readFileSync, readdirSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Environment for every command the harness runs, so the caller's environment never leaks into a host. */
export const CLEAN_ENV = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  LANG: 'C.UTF-8',
} as const;

export interface SyncResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly result: SyncResult,
  ) {
    super(`${command} failed (exit ${result.status}): ${result.stderr.trim() || result.stdout.trim()}`);
  }
}

/**
 * Runs a short command synchronously. The harness does every create/delete step this way so
 * that a signal handler can never run between creating a resource and recording it.
 */
export function runSync(cmd: string, args: readonly string[], options: { allowFailure?: boolean } = {}): SyncResult {
  const out = spawnSync(cmd, args, { encoding: 'utf8', env: CLEAN_ENV, stdio: ['ignore', 'pipe', 'pipe'] });
  if (out.error) throw out.error;
  const result = { status: out.status, stdout: out.stdout, stderr: out.stderr };
  if (result.status !== 0 && !options.allowFailure) throw new CommandError([cmd, ...args].join(' '), result);
  return result;
}

export interface CommandResult {
  /** null when the command was killed (timeout) */
  exitCode: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  durationMs: number;
}

/** Commands started by runAsync and not yet finished; killed first when the process is torn down. */
const inFlight = new Set<import('node:child_process').ChildProcess>();

export function killInFlightCommands(): void {
  for (const child of inFlight) child.kill('SIGKILL');
  inFlight.clear();
}

export function runAsync(cmd: string, args: readonly string[], options: { timeoutMs?: number } = {}): Promise<CommandResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: CLEAN_ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    inFlight.add(child);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
          }, options.timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      inFlight.delete(child);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      inFlight.delete(child);
      resolve({ exitCode: timedOut ? null : code, stdout, stderr, timedOut, durationMs: Date.now() - started });
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const sleepCell = new Int32Array(new SharedArrayBuffer(4));
/** Blocks the thread; only for the synchronous teardown that runs in 'exit' handlers. */
export function sleepSync(ms: number): void {
  Atomics.wait(sleepCell, 0, 0, ms);
}

export function commandInPath(cmd: string): boolean {
  return CLEAN_ENV.PATH.split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, cmd), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

// ---- processes -----------------------------------------------------------------------------

/** A process identified by pid and start time, so a recycled pid is never mistaken for it. */
export interface ProcessRef {
  pid: number;
  startTime: string;
}

function readStat(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

export function processRef(pid: number): ProcessRef | undefined {
  const fields = readStat(pid);
  // fields[0] is field 3 (state); start time is field 22.
  const startTime = fields?.[19];
  return startTime === undefined ? undefined : { pid, startTime };
}

/** True while the process runs; a zombie counts as gone. */
export function isAlive(ref: ProcessRef | undefined): boolean {
  if (!ref) return false;
  const fields = readStat(ref.pid);
  return fields !== undefined && fields[19] === ref.startTime && fields[0] !== 'Z' && fields[0] !== 'X';
}

export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .split(' ')
      .filter((field) => field.trim() !== '')
      .map(Number);
  } catch {
    return [];
  }
}

/** The pid the process has in its innermost PID namespace (last NSpid field). */
export function innermostPid(pid: number): number | undefined {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('NSpid:'));
    const last = line?.split(/\s+/).filter(Boolean).at(-1);
    return last === undefined ? undefined : Number(last);
  } catch {
    return undefined;
  }
}

export function killProcess(ref: ProcessRef | undefined, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (!ref || !isAlive(ref)) return;
  try {
    process.kill(ref.pid, signal);
  } catch {
    // gone in between
  }
}

// ---- mounts --------------------------------------------------------------------------------

export interface MountEntry {
  id: number;
  mountPoint: string;
  fsType: string;
}

function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

export function readMounts(): MountEntry[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const fields = line.split(' ');
      const separator = fields.indexOf('-');
      return { id: Number(fields[0]), mountPoint: unescapeMountPath(fields[4] ?? ''), fsType: fields[separator + 1] ?? '' };
    });
}

export function isInside(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
}

/** Mounts at or below dir, deepest (and most recently stacked) first: the order to unmount them in. */
export function mountsUnder(dir: string): MountEntry[] {
  return readMounts()
    .filter((entry) => isInside(entry.mountPoint, dir))
    .sort((a, b) => b.mountPoint.length - a.mountPoint.length || b.id - a.id);
}

// ---- cgroups -------------------------------------------------------------------------------

/** Where the cgroup2 hierarchy is mounted (/sys/fs/cgroup on unified machines, …/unified on hybrid ones). */
export function cgroup2Root(): string | undefined {
  return readMounts().find((entry) => entry.fsType === 'cgroup2')?.mountPoint;
}

export function cgroupPopulated(dir: string): boolean {
  try {
    return /^populated 1$/m.test(readFileSync(join(dir, 'cgroup.events'), 'utf8'));
  } catch {
    return false;
  }
}

/** SIGKILLs every process in the cgroup subtree (cgroup.kill, or one by one on kernels before 5.14). */
export function killCgroup(dir: string): void {
  try {
    writeFileSync(join(dir, 'cgroup.kill'), '1');
    return;
  } catch {
    // fall through
  }
  for (const sub of cgroupTree(dir)) {
    let pids: string[] = [];
    try {
      pids = readFileSync(join(sub, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean);
    } catch {
      continue;
    }
    for (const pid of pids) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

/** The cgroup and all its descendants, children before parents. */
export function cgroupTree(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  const below = entries
    .map((name) => join(dir, name))
    .filter((path) => {
      try {
        return statSync(path).isDirectory();
      } catch {
        return false;
      }
    })
    .flatMap((path) => cgroupTree(path));
  return [...below, dir];
}

/** Removes an (unpopulated) cgroup subtree; returns the directories that could not be removed. */
export function removeCgroupTree(dir: string, options: { keepRoot?: boolean } = {}): string[] {
  const left: string[] = [];
  for (const path of cgroupTree(dir)) {
    if (options.keepRoot && path === dir) continue;
    try {
      rmdirSync(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') left.push(path);
    }
  }
  return left;
}

// ---- kernel allowances ---------------------------------------------------------------------

/** What the test hosts need of the machine-wide inotify allowances (see ensureInotifyAllowance). */
export const INOTIFY_NEEDED = { max_user_instances: 1024, max_user_watches: 524288 } as const;

/**
 * Every test host's systemd, dbus and logind (and each `journalctl -f`, each `systemctl --wait`)
 * take inotify instances from one allowance: root's, machine-wide, 128 by default. A full test
 * run boots a dozen or more hosts side by side, and past the allowance a host stops while
 * booting (its systemd exits 255 with nothing on its console), its sshd never starts, or
 * `journalctl -f` prints "Insufficient watch descriptors available. Reverting to -n." and
 * ends. Raised to what the hosts need, never lowered; returns what it changed.
 */
export function ensureInotifyAllowance(): string[] {
  const changed: string[] = [];
  for (const [name, needed] of Object.entries(INOTIFY_NEEDED)) {
    const path = `/proc/sys/fs/inotify/${name}`;
    const now = Number(readFileSync(path, 'utf8').trim());
    if (now >= needed) continue;
    writeFileSync(path, `${needed}\n`);
    changed.push(`fs.inotify.${name} ${now} → ${needed}`);
  }
  return changed;
}

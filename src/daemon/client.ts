/**
 * The client side of the resident process: bin/manage-apps.js calls `runThroughDaemon` before it
 * imports any of the CLI. With no process running (no socket file) it costs one lstat and one
 * stat and says nothing: the command runs in this process as it always did. With one running, the
 * command is sent there (argv, working directory, environment, whether stdout and stderr are
 * terminals), its output is written here as it comes, and its exit code returned.
 *
 * Only commands that change nothing and read no input are sent (ROUTED): everything else runs
 * here. Whenever the process cannot serve (busy with another client, another build, gone, not
 * answering within a second) the command runs here; a fault is said once on stderr.
 */
import { connect, type Socket } from 'node:net';
import { statSync, unlinkSync } from 'node:fs';
import { readFrames, send, type Reply } from './frames.js';
import { buildStamp, daemonDirectory, socketPath, unsafeDirectory } from './place.js';

/** The commands the resident process runs: read-only, no input, no prompt, no long-lived output. */
export const ROUTED = new Set([
  'validate',
  'list',
  'status',
  'drift',
  'graph',
  'impact',
  'check independence',
  'releases',
  'secrets status',
  'tenants list',
  'tenants status',
  'db status',
]);

/** How long the process may take to take a request on (it answers at once unless it is stuck). */
const ACCEPT_TIMEOUT_MS = 1000;

/** The command a command line names ("secrets status" for `secrets status --json`), when routed. */
export function routedCommand(argv: readonly string[]): string | undefined {
  const [first, second] = argv;
  if (first === undefined) return undefined;
  if (second !== undefined && ROUTED.has(`${first} ${second}`)) return `${first} ${second}`;
  return ROUTED.has(first) ? first : undefined;
}

const say = (message: string) => process.stderr.write(`manage-apps: ${message}; running the command in this process\n`);

/** The command's exit code when the resident process ran it; undefined when it is to run here. */
export async function runThroughDaemon(argv: readonly string[], entry: string): Promise<number | undefined> {
  if (routedCommand(argv) === undefined) return undefined;
  if (process.env['MANAGE_APPS_DAEMON'] === '0') return undefined;
  const directory = daemonDirectory();
  const socket = socketPath(directory);
  try {
    if (statSync(socket, { throwIfNoEntry: false }) === undefined) return undefined;
  } catch {
    // A state directory this user cannot read (another account's HOME, as under setpriv or sudo -u): no process of its own there.
    return undefined;
  }
  const unsafe = unsafeDirectory(directory);
  if (unsafe !== undefined) {
    say(`not using the background process: ${unsafe}`);
    return undefined;
  }
  let build: string;
  try {
    build = buildStamp(entry);
  } catch {
    return undefined;
  }
  return new Promise((resolve) => {
    let settled = false;
    let accepted = false;
    let wroteStdout = false;
    const conn: Socket = connect(socket);
    const timer = setTimeout(() => {
      if (accepted) return;
      say('the background process did not answer within a second');
      finish(undefined);
    }, ACCEPT_TIMEOUT_MS);
    const onSignal = (signal: NodeJS.Signals) => {
      // Ctrl-C: the process ends the command's ssh sessions; this client ends as if it ran it.
      send(conn, { type: 'cancel' });
      conn.end();
      finish(signal === 'SIGINT' ? 130 : 143);
    };
    const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
    function finish(code: number | undefined): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      for (const s of signals) process.off(s, onSignal);
      if (code === undefined) conn.destroy();
      resolve(code);
    }
    for (const s of signals) process.on(s, onSignal);
    conn.on('error', (error: NodeJS.ErrnoException) => {
      if (settled) return;
      if (!accepted && (error.code === 'ECONNREFUSED' || error.code === 'ENOENT')) {
        // A socket file with no process behind it (killed, or the machine slept through its end).
        try {
          unlinkSync(socket);
        } catch {}
        say(`the background process is not running (its socket ${socket} was left behind and is now removed)`);
      } else say(`the background process could not be reached (${error.code ?? error.message})`);
      finish(undefined);
    });
    conn.on('close', () => {
      if (settled) return;
      if (!accepted || !wroteStdout) {
        say(accepted ? 'the background process stopped during the command' : 'the background process closed the connection');
        finish(undefined);
      } else {
        process.stderr.write('manage-apps: the background process stopped during the command; its output above is incomplete\n');
        finish(2);
      }
    });
    conn.on('connect', () => {
      send(conn, {
        type: 'run',
        build,
        argv: [...argv],
        cwd: process.cwd(),
        env: Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined)),
        stdoutTTY: process.stdout.isTTY === true,
        stderrTTY: process.stderr.isTTY === true,
        columns: process.stdout.columns ?? process.stderr.columns,
        rows: process.stdout.rows ?? process.stderr.rows,
      });
    });
    readFrames<Reply>(conn, (frame) => {
      if (settled) return;
      switch (frame.type) {
        case 'accepted':
          accepted = true;
          clearTimeout(timer);
          return;
        case 'busy':
          // Another client's command is running there: this one runs here rather than wait.
          return finish(undefined);
        case 'stale':
          say('the background process was started by another build of manage-apps and is stopping');
          return finish(undefined);
        case 'out':
        case 'err':
          if (frame.type === 'out') wroteStdout = true;
          (frame.type === 'out' ? process.stdout : process.stderr).write(Buffer.from(frame.data, 'base64'));
          return;
        case 'exit':
          conn.end();
          return finish(frame.code);
        default:
          return;
      }
    });
  });
}

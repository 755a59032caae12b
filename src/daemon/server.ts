/**
 * The resident process: keeps the CLI's modules loaded and compiled, and the resolved fleet model
 * in memory, and runs one command at a time for clients (src/daemon/client.ts) exactly as the
 * client would have run it: the CLI's own main for the client's argv, in its working directory,
 * with its environment, stdout and stderr (and whether they are terminals) for the duration of the
 * request. Node runs one thing at a time and the CLI uses process-wide state (the environment,
 * the working directory, the output streams), so a request that arrives while another runs is
 * told to run in its own process. Nothing of a request outlives it: the environment, directory
 * and streams are put back, secrets are resolved per request as in any run and never kept, and
 * the log holds only when the process started and ended and why.
 *
 * Bound to one build: a client whose CLI entry differs (size, modification time, sha256) is told
 * to run the command itself, and the process ends. It ends by itself after an idle time, and on
 * `manage-apps daemon stop`.
 */
import { appendFileSync, readFileSync, unlinkSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { keepModelsInMemory } from '../load/fleet-cache.js';
import { stopRunningChildren } from '../transport/spawn.js';
import { readFrames, send, type DaemonInfo, type Request } from './frames.js';
import { buildStamp, daemonDirectory, makeDaemonDirectory, socketPath } from './place.js';

export interface DaemonSettings {
  /** The CLI entry this process runs (src/daemon/place.ts cliEntry). */
  entry: string;
  idleTimeoutS: number;
  /** The command line's main (handed in by the composition root, src/main.ts). */
  run: (argv: string[]) => Promise<number>;
}

type RunRequest = Extract<Request, { type: 'run' }>;

/** Serves until stopped, idle or replaced by another build; resolves when the socket is closed. */
export async function serveDaemon(settings: DaemonSettings): Promise<void> {
  const directory = daemonDirectory();
  makeDaemonDirectory(directory);
  const path = socketPath(directory);
  const logFile = path.replace(/\.sock$/, '.log');
  const log = (line: string) => {
    try {
      appendFileSync(logFile, `${new Date().toISOString()} pid ${process.pid}: ${line}\n`, { mode: 0o600 });
    } catch {
      // A full disk must not end the process.
    }
  };
  if (await answers(path)) throw new Error(`a background process already listens on ${path}`);
  try {
    unlinkSync(path);
  } catch {}
  const build = buildStamp(settings.entry);
  keepModelsInMemory();
  const info: DaemonInfo = {
    pid: process.pid,
    build,
    startedAt: new Date().toISOString(),
    requests: 0,
    idleTimeoutS: settings.idleTimeoutS,
    busy: false,
  };

  let idle: NodeJS.Timeout | undefined;
  const server = createServer();
  const end = (why: string) => {
    clearTimeout(idle);
    log(`ends: ${why} (${info.requests} requests served)`);
    server.close();
    try {
      unlinkSync(path);
    } catch {}
    // Connections still open (a cancelled command winding down) must not keep the process.
    setTimeout(() => process.exit(0), 100).unref();
  };
  const armIdle = () => {
    clearTimeout(idle);
    idle = setTimeout(() => end(`idle for ${settings.idleTimeoutS} s`), settings.idleTimeoutS * 1000);
  };
  process.once('SIGTERM', () => end('SIGTERM'));
  // The process group's Ctrl-C (see interruptCommand) is for the command's processes, not for this one.
  process.on('SIGINT', () => undefined);
  // Whatever a command left unhandled, the process state can no longer be trusted: end (the
  // client runs the command itself when the connection closes before its exit code).
  process.on('uncaughtException', (error) => {
    log(`ends: internal error: ${error.message}`);
    process.exit(70);
  });
  process.on('unhandledRejection', (reason) => {
    log(`ends: internal error: ${reason instanceof Error ? reason.message : String(reason)}`);
    process.exit(70);
  });

  server.on('connection', (socket: Socket) => {
    let handled = false;
    const request: { cancel?: () => void } = {};
    socket.on('error', () => undefined);
    readFrames<Request>(socket, (frame) => {
      if (handled) {
        if (frame.type === 'cancel') request.cancel?.();
        return;
      }
      handled = true;
      if (frame.type === 'status') {
        send(socket, { type: 'status', info });
        socket.end();
      } else if (frame.type === 'stop') {
        send(socket, { type: 'stopping', pid: process.pid });
        socket.end();
        end('stopped by manage-apps daemon stop');
      } else if (frame.type === 'run') {
        if (frame.build !== build) {
          send(socket, { type: 'stale' });
          socket.end();
          end('a client of another build of manage-apps connected');
        } else if (info.busy) {
          send(socket, { type: 'busy' });
          socket.end();
        } else {
          info.busy = true;
          clearTimeout(idle);
          send(socket, { type: 'accepted' });
          void serveRequest(frame, socket, request, settings.run).finally(() => {
            info.busy = false;
            info.requests++;
            armIdle();
          });
        }
      } else socket.destroy();
    });
  });

  const previousUmask = process.umask(0o077);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  process.umask(previousUmask);
  log(`started (socket ${path}, idle timeout ${settings.idleTimeoutS} s)`);
  armIdle();
  await new Promise<void>((resolve) => server.on('close', () => resolve()));
}

/** Whether a process answers on this socket (a status request within a second). */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path);
    const done = (yes: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(yes);
    };
    const timer = setTimeout(() => done(false), 1000);
    socket.on('error', () => done(false));
    socket.on('connect', () => send(socket, { type: 'status' }));
    readFrames(socket, () => done(true));
  });
}

/** One command for one client, with the client's environment, directory and streams for its duration. */
async function serveRequest(
  request: RunRequest,
  socket: Socket,
  hooks: { cancel?: () => void },
  run: (argv: string[]) => Promise<number>,
): Promise<void> {
  let cancelled = false;
  // Ctrl-C on the client (or the client gone): the command's ssh sessions end now, its output goes nowhere.
  const cancel = () => {
    if (cancelled) return;
    cancelled = true;
    interruptCommand();
  };
  let finished = false;
  hooks.cancel = cancel;
  socket.on('close', () => {
    if (!finished) cancel();
  });

  const restoreEnv = swapEnvironment(request.env);
  const ownDirectory = process.cwd();
  const restoreStreams = [
    redirect(process.stdout, request.stdoutTTY, request, (data) => !cancelled && send(socket, { type: 'out', data })),
    redirect(process.stderr, request.stderrTTY, request, (data) => !cancelled && send(socket, { type: 'err', data })),
  ];
  let code: number;
  try {
    process.chdir(request.cwd);
    code = await run(request.argv);
  } catch (error) {
    // main maps every error to an exit code; one escaping it (or a chdir that failed) is reported as main would.
    process.stderr.write(`manage-apps: internal error: ${error instanceof Error ? error.message : String(error)}\n`);
    code = 2;
  } finally {
    for (const restore of restoreStreams) restore();
    restoreEnv();
    process.chdir(ownDirectory);
  }
  finished = true;
  if (!cancelled) {
    send(socket, { type: 'exit', code });
    socket.end();
  }
}

/**
 * What Ctrl-C does to a command run in a process of its own: the terminal sends SIGINT to its
 * whole process group, ssh and whatever ssh started (a ProxyCommand, which ssh itself leaves
 * running when it is killed before the connection is made). This process leads a group of its own
 * (started detached, a session of its own), so it does the same to its group, ignoring the signal
 * itself; ssh masters kept for later commands live in sessions of their own and stay, as they do
 * after Ctrl-C. Where the group cannot be read (no /proc), the command's own children are ended.
 */
function interruptCommand(): void {
  stopRunningChildren();
  let group: number | undefined;
  try {
    // /proc/self/stat: "pid (comm) state ppid pgrp …"; comm may hold spaces, so count after its ')'.
    const stat = readFileSync('/proc/self/stat', 'utf8');
    group = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
  } catch {
    group = undefined;
  }
  if (group === process.pid) process.kill(-process.pid, 'SIGINT');
}

/** Makes process.env the client's, in place (child processes and every module read it there); returns the undo. */
function swapEnvironment(env: Record<string, string>): () => void {
  const own = { ...process.env };
  const replace = (next: NodeJS.ProcessEnv) => {
    for (const key of Object.keys(process.env)) if (!(key in next)) delete process.env[key];
    for (const [key, value] of Object.entries(next)) if (value !== undefined) process.env[key] = value;
  };
  replace(env);
  return () => replace(own);
}

/** Sends what is written to a stream to the client, and makes the stream look like the client's (a terminal or not, its size). */
function redirect(
  stream: NodeJS.WriteStream,
  tty: boolean,
  size: { columns: number | undefined; rows: number | undefined },
  forward: (base64: string) => void,
): () => void {
  const ownWrite = Object.getOwnPropertyDescriptor(stream, 'write');
  const names = ['isTTY', 'columns', 'rows'] as const;
  const own = names.map((name) => Object.getOwnPropertyDescriptor(stream, name));
  const values = { isTTY: tty, columns: tty ? size.columns : undefined, rows: tty ? size.rows : undefined };
  for (const name of names) Object.defineProperty(stream, name, { value: values[name], configurable: true, writable: true });
  Object.defineProperty(stream, 'write', {
    configurable: true,
    writable: true,
    value: (chunk: string | Uint8Array, encoding?: BufferEncoding | ((error?: Error | null) => void), callback?: (error?: Error | null) => void) => {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk, typeof encoding === 'string' ? encoding : 'utf8') : Buffer.from(chunk);
      forward(bytes.toString('base64'));
      const done = typeof encoding === 'function' ? encoding : callback;
      if (done) process.nextTick(done);
      return true;
    },
  });
  return () => {
    names.forEach((name, i) => {
      const descriptor = own[i];
      if (descriptor === undefined) delete (stream as unknown as Record<string, unknown>)[name];
      else Object.defineProperty(stream, name, descriptor);
    });
    if (ownWrite === undefined) delete (stream as unknown as Record<string, unknown>)['write'];
    else Object.defineProperty(stream, 'write', ownWrite);
  };
}

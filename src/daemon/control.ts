/**
 * `manage-apps daemon start|stop|status`: what the command line asks of the resident process
 * (src/daemon/server.ts) over its socket, and how it is started (a detached node running the same
 * CLI entry, src/main.ts serveDaemon).
 */
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { pathToFileURL } from 'node:url';
import { isProcessAlive } from '../process.js';
import { readFrames, send, type DaemonInfo, type Reply, type Request } from './frames.js';
import { buildStamp, cliEntry, daemonDirectory, makeDaemonDirectory, socketPath, unsafeDirectory } from './place.js';

export interface DaemonState {
  running: boolean;
  socket: string;
  pid?: number;
  /** Whether it serves the build this command runs (a process of another build is never used). */
  current?: boolean;
  startedAt?: string;
  requests?: number;
  idleTimeoutS?: number;
}

/** One request, one reply (undefined: nothing answers there within the time). */
function ask(path: string, request: Request, timeoutMs = 2000): Promise<Reply | undefined> {
  return new Promise((resolve) => {
    const socket = connect(path);
    const done = (reply: Reply | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(reply);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    socket.on('error', () => done(undefined));
    socket.on('connect', () => send(socket, request));
    readFrames<Reply>(socket, done);
  });
}

const place = () => {
  const entry = cliEntry();
  const directory = daemonDirectory();
  return { entry, directory, socket: socketPath(directory) };
};

export async function daemonStatus(): Promise<DaemonState> {
  const { entry, directory, socket } = place();
  const unsafe = unsafeDirectory(directory);
  if (unsafe !== undefined) return { running: false, socket };
  const reply = await ask(socket, { type: 'status' });
  if (reply?.type !== 'status') return { running: false, socket };
  return describe(socket, reply.info, entry);
}

function describe(socket: string, info: DaemonInfo, entry: string): DaemonState {
  return {
    running: true,
    socket,
    pid: info.pid,
    current: info.build === buildStamp(entry),
    startedAt: info.startedAt,
    requests: info.requests,
    idleTimeoutS: info.idleTimeoutS,
  };
}

/** Stops the process (waits up to 5 s for it to end); the pid of the one stopped, if one ran. */
export async function stopDaemon(): Promise<{ stopped: boolean; pid?: number; socket: string }> {
  const { socket } = place();
  const reply = await ask(socket, { type: 'stop' });
  if (reply?.type !== 'stopping') return { stopped: false, socket };
  for (let waited = 0; waited < 5000 && isProcessAlive(reply.pid); waited += 50) await new Promise((r) => setTimeout(r, 50));
  return { stopped: true, pid: reply.pid, socket };
}

/**
 * Starts the process unless one of this build already runs (one of another build is stopped
 * first), and waits until it answers. Throws with its own words when it cannot start.
 */
export async function startDaemon(idleTimeoutS: number): Promise<DaemonState & { started: boolean }> {
  const { entry, directory, socket } = place();
  makeDaemonDirectory(directory);
  const running = await ask(socket, { type: 'status' });
  if (running?.type === 'status') {
    const state = describe(socket, running.info, entry);
    if (state.current === true) return { ...state, started: false };
    await stopDaemon();
  }
  const script =
    'const [entry, settings] = process.argv.slice(1);' +
    'const cli = await import(entry);' +
    'await cli.serveDaemon(JSON.parse(settings)).catch((e) => { process.stderr.write(`${e.message}\\n`); process.exit(2); });';
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, pathToFileURL(entry).href, JSON.stringify({ entry, idleTimeoutS })], {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
    cwd: '/',
  });
  let errors = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (errors += chunk));
  let exited: number | null | undefined;
  child.on('exit', (code) => (exited = code));
  try {
    for (let waited = 0; waited < 15_000; waited += 50) {
      await new Promise((r) => setTimeout(r, 50));
      if (exited !== undefined) break;
      const reply = await ask(socket, { type: 'status' }, 500);
      if (reply?.type === 'status') return { ...describe(socket, reply.info, entry), started: true };
    }
  } finally {
    child.stderr.destroy();
    child.unref();
  }
  const said = errors
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('at '));
  throw new Error(`the background process did not start${said.length > 0 ? `: ${said.slice(-1)[0]}` : exited === undefined ? ' within 15 s' : ''}`);
}

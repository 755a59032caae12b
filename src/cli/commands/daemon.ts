/** `daemon start|stop|status`: the background process of src/daemon, as documents and text. */
import { daemonStatus as askStatus, startDaemon, stopDaemon, type DaemonState } from '../../daemon/control.js';
import { ManageAppsError, UsageError } from '../../errors.js';
import type { CommandResult } from '../context.js';

const DEFAULT_IDLE_S = 30 * 60;

/** `--idle`: 90s, 15m, 2h (or seconds alone). */
function idleSeconds(value: string | undefined): number {
  if (value === undefined) return DEFAULT_IDLE_S;
  const m = /^(\d+)(s|m|h)?$/.exec(value);
  const seconds = m === null ? NaN : Number(m[1]) * { s: 1, m: 60, h: 3600 }[(m[2] ?? 's') as 's' | 'm' | 'h'];
  if (!Number.isSafeInteger(seconds) || seconds < 1 || seconds > 7 * 86_400)
    throw new UsageError(`--idle ${value}: not a duration between 1s and 7 days`, 'give it as 90s, 15m or 2h');
  return seconds;
}

/** The --json document of one state (docs/json.md "daemon"). */
function document(state: DaemonState): Record<string, unknown> {
  return {
    running: state.running,
    socket: state.socket,
    ...(state.running
      ? { pid: state.pid, current: state.current, started_at: state.startedAt, requests: state.requests, idle_timeout_s: state.idleTimeoutS }
      : {}),
  };
}

function describe(state: DaemonState): string {
  if (!state.running) return `No background process runs (it would listen on ${state.socket}).`;
  return [
    `Background process ${state.pid} listens on ${state.socket}`,
    `  since ${state.startedAt}, ${state.requests} commands served, ends after ${state.idleTimeoutS} s without one`,
    state.current === true
      ? '  it runs this build of manage-apps: drift, status, validate, secrets status, … are answered there'
      : '  it runs another build of manage-apps: it is not used, and ends at the next command',
  ].join('\n');
}

export async function daemonStart(options: { idle?: string }): Promise<CommandResult> {
  const idle = idleSeconds(options.idle);
  let state;
  try {
    state = await startDaemon(idle);
  } catch (error) {
    throw new ManageAppsError('E_DAEMON', error instanceof Error ? error.message : String(error), {
      hint: 'commands keep running in their own process; see docs/performance.md "Resident process"',
    });
  }
  return {
    exitCode: 0,
    json: { started: state.started, ...document(state) },
    human: () => `${state.started ? 'Started.' : 'Already running.'}\n${describe(state)}`,
  };
}

export async function daemonStop(_options: unknown): Promise<CommandResult> {
  const stopped = await stopDaemon();
  return {
    exitCode: 0,
    json: { stopped: stopped.stopped, socket: stopped.socket, ...(stopped.pid === undefined ? {} : { pid: stopped.pid }) },
    human: () => (stopped.stopped ? `Stopped background process ${stopped.pid}.` : 'No background process was running.'),
  };
}

export async function daemonStatus(_options: unknown): Promise<CommandResult> {
  const state = await askStatus();
  return { exitCode: state.running ? 0 : 1, json: document(state), human: () => describe(state) };
}

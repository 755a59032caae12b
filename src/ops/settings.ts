/** Ops command options → settings. Light on purpose: status reads them before the rest of manage-apps is loaded. */
import { UsageError } from '../errors.js';
import { DEFAULT_CONNECT_TIMEOUT_S } from '../transport/ssh.js';

export interface OpsSettings {
  /** ssh config file for -F (--ssh-config / MANAGE_APPS_SSH_CONFIG). */
  sshConfig?: string;
  connectTimeoutS: number;
  /** Per-host command timeout for quick commands (status, stop), in ms. */
  commandTimeoutMs: number;
  /** Hosts worked on at once. */
  concurrency: number;
  /** Local PID-mode state directory (default <root>/.state). */
  stateDir?: string;
  /** For tests and benchmarks: a control directory for ssh multiplexing. */
  controlDir?: string;
}

export const DEFAULT_SETTINGS: OpsSettings = {
  connectTimeoutS: DEFAULT_CONNECT_TIMEOUT_S,
  commandTimeoutMs: 20_000,
  concurrency: 16,
};

export interface OpsCliOptions {
  root?: string;
  inventory?: string;
  json?: boolean;
  env?: string;
  host?: string;
  sshConfig?: string;
  connectTimeout?: string;
  timeout?: string;
  concurrency?: string;
}

export function seconds(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${name} takes a number of seconds, not ${JSON.stringify(value)}`);
  return n;
}

export function count(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${name} takes a whole number ≥ 1, not ${JSON.stringify(value)}`);
  return n;
}

export function settingsFrom(options: OpsCliOptions, defaults: Partial<OpsSettings> = {}): OpsSettings {
  const settings: OpsSettings = {
    ...DEFAULT_SETTINGS,
    ...defaults,
    connectTimeoutS: Math.ceil(seconds('--connect-timeout', options.connectTimeout, defaults.connectTimeoutS ?? DEFAULT_CONNECT_TIMEOUT_S)),
    commandTimeoutMs: seconds('--timeout', options.timeout, (defaults.commandTimeoutMs ?? DEFAULT_SETTINGS.commandTimeoutMs) / 1000) * 1000,
    concurrency: count('--concurrency', options.concurrency, defaults.concurrency ?? DEFAULT_SETTINGS.concurrency),
  };
  const config = options.sshConfig ?? process.env['MANAGE_APPS_SSH_CONFIG'];
  if (config !== undefined && config !== '') settings.sshConfig = config;
  return settings;
}

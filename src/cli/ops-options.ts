/** The flags of commands that reach hosts, as commander hands them over (strings), parsed into typed settings. */
import { UsageError } from '../errors.js';
import type { OpsSettings } from '../ops/settings.js';
import type { SelectOptions } from '../ops/selection.js';
import type { FleetOptions } from '../app/answer.js';

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

/** Only what the user set (flags, MANAGE_APPS_SSH_CONFIG): each use case fills in its own defaults. */
export function givenSettings(options: OpsCliOptions): Partial<OpsSettings> {
  const given: Partial<OpsSettings> = {};
  if (options.connectTimeout !== undefined) given.connectTimeoutS = Math.ceil(seconds('--connect-timeout', options.connectTimeout, 0));
  if (options.timeout !== undefined) given.commandTimeoutMs = seconds('--timeout', options.timeout, 0) * 1000;
  if (options.concurrency !== undefined) given.concurrency = count('--concurrency', options.concurrency, 0);
  const config = options.sshConfig ?? process.env['MANAGE_APPS_SSH_CONFIG'];
  if (config !== undefined && config !== '') given.sshConfig = config;
  return given;
}

/** Where the fleet's files are. */
export const fleetSource = (options: FleetOptions): FleetOptions => ({
  ...(options.root === undefined ? {} : { root: options.root }),
  ...(options.inventory === undefined ? {} : { inventory: options.inventory }),
});

/** Which services: the targets named and --env/--host. */
export const selectorOf = (targets: readonly string[], options: { env?: string; host?: string }): SelectOptions => ({
  targets,
  ...(options.env === undefined ? {} : { env: options.env }),
  ...(options.host === undefined ? {} : { host: options.host }),
});

/** "npx manage-apps stop --root examples/fleet --env dev": the command to type next, in the user's own words. */
export function commandLine(verb: string, targets: readonly string[], options: OpsCliOptions): string {
  const q = (s: string) => (/^[A-Za-z0-9_./:@=+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  const words = [process.env['npm_command'] === 'exec' ? 'npx manage-apps' : 'manage-apps', verb, ...targets.map(q)];
  if (options.root !== undefined) words.push('--root', q(options.root));
  if (options.inventory !== undefined) words.push('--inventory', q(options.inventory));
  if (options.env !== undefined) words.push('--env', q(options.env));
  if (options.host !== undefined) words.push('--host', q(options.host));
  if (options.sshConfig !== undefined) words.push('--ssh-config', q(options.sshConfig));
  return words.join(' ');
}

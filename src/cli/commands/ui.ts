/** `ui`: the dashboard server until Ctrl-C. The server lives in src/dashboard; the composition root (src/main.ts) hands over its start function. */
import { spawn } from 'node:child_process';
import type { StartDashboard } from '../../app/dashboard.js';
import { EXIT_OK, UsageError } from '../../errors.js';
import type { CommandResult } from '../context.js';
import { fleetSource, givenSettings, seconds, type OpsCliOptions } from '../ops-options.js';

export interface UiCliOptions extends OpsCliOptions {
  port?: string;
  open?: boolean;
  allowActions?: boolean;
  interval?: string;
}

function portNumber(value: string | undefined): number {
  if (value === undefined) return 8765;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new UsageError(`--port takes a port number (0 for any free one), not ${JSON.stringify(value)}`);
  return n;
}

/**
 * The desktop's opener, with the URL as one argument (no shell). That argv is readable by every
 * local user (/proc/<pid>/cmdline, ps): it gets a one-time link (src/dashboard/server.ts), never
 * the token URL.
 */
function openInBrowser(url: string): void {
  const opener = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  const child = spawn(opener, [url], { stdio: 'ignore', detached: true });
  child.on('error', () => process.stderr.write(`manage-apps: could not run ${opener}; open the URL yourself.\n`));
  child.unref();
}

export async function ui(options: UiCliOptions, startDashboard: StartDashboard): Promise<CommandResult> {
  const port = portNumber(options.port);
  const interval = seconds('--interval', options.interval, 5);
  let dashboard;
  try {
    dashboard = await startDashboard({
      source: fleetSource(options),
      given: givenSettings(options),
      port,
      interval,
      allowActions: options.allowActions === true,
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE')
      throw new UsageError(`port ${port} on 127.0.0.1 is taken`, 'pass --port with another port, or --port 0 for any free one');
    throw err;
  }
  const { url } = dashboard;
  if (options.json === true)
    process.stdout.write(
      `${JSON.stringify({ event: 'listening', url, port: dashboard.port, allow_actions: options.allowActions === true, interval_s: interval })}\n`,
    );
  else
    process.stdout.write(
      `Dashboard: ${url}\n${options.allowActions ? 'Actions (restart, deploy, rollback) are allowed, each after a confirmation.' : 'Read-only (start with --allow-actions for restart, deploy, rollback).'} Stop with Ctrl-C.\n`,
    );
  if (options.open === true) openInBrowser(dashboard.oneTimeLink());
  // Handlers that stay registered until the server is closed: the deploy hook, set by a
  // deploy run from the page, sees them and leaves the stopping to this one.
  let stop = () => {};
  await new Promise<void>((resolve) => {
    stop = resolve;
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await dashboard.close();
  process.off('SIGINT', stop);
  process.off('SIGTERM', stop);
  return { exitCode: EXIT_OK, json: { event: 'stopped', url }, human: () => 'Dashboard stopped.' };
}

/** Helpers for the ops tests: the CLI as a child process (async, so several can run at once). */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { packageRoot } from '../../src/package-root.js';

export interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface CliProcess {
  pid: number;
  done: Promise<CliRun>;
}

/** Starts `manage-apps ARGS` (the built CLI, bin/manage-apps.js). */
export function startCli(args: string[], env: NodeJS.ProcessEnv = {}, onStderr?: (chunk: string) => void): CliProcess {
  const t0 = Date.now();
  const child = spawn(process.execPath, [join(packageRoot(), 'bin/manage-apps.js'), ...args], {
    env: { ...process.env, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => {
    stderr += c;
    onStderr?.(c);
  });
  const done = new Promise<CliRun>((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr, ms: Date.now() - t0 })));
  return { pid: child.pid!, done };
}

export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  return startCli(args, env).done;
}

/** The JSON document a --json run printed. */
export function json<T = Record<string, unknown>>(run: CliRun): T {
  try {
    return JSON.parse(run.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${run.status}):\n${run.stdout}\n--- stderr:\n${run.stderr}`);
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function eventually<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined | false>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(100);
  }
}

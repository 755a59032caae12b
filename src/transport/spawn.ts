/** One child process with a timeout, live output and stdin from a string, buffer or stream. */
import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import type { RunOptions } from './types.js';

export interface SpawnResult {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  durationMs: number;
  spawnError?: string;
}

/** Children still running: killed if manage-apps itself is interrupted, so nothing is left behind. */
const running = new Set<import('node:child_process').ChildProcess>();
let hooked = false;
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.once('exit', () => {
    for (const child of running) child.kill('SIGTERM');
  });
}

/**
 * Ends every child still running (SIGTERM, SIGKILL two seconds later): what the resident process
 * (src/daemon) does when its client is interrupted, as Ctrl-C ends them in a process of its own.
 */
export function stopRunningChildren(): void {
  for (const child of running) {
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 2000).unref();
  }
}

export function runProcess(
  file: string,
  args: readonly string[],
  options: RunOptions & { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<SpawnResult> {
  hookExit();
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], env: options.env ?? process.env, cwd: options.cwd });
    running.add(child);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let settled = false;
    let spawnError: string | undefined;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      options.onStdout?.(chunk);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      options.onStderr?.(chunk);
    });
    // A command that exits before reading all its input must not crash us with EPIPE.
    child.stdin.on('error', () => undefined);
    const kill = () => {
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 2000).unref();
    };
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            kill();
          }, options.timeoutMs);
    const onAbort = () => kill();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const finish = (code: number | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      running.delete(child);
      resolve({
        code: timedOut ? null : code,
        stdout,
        stderr,
        timedOut,
        durationMs: Date.now() - started,
        ...(spawnError === undefined ? {} : { spawnError }),
      });
    };
    child.on('error', (error) => {
      spawnError = error.message;
      finish(null);
    });
    child.on('close', (code) => finish(code));
    // With ssh multiplexing the master holds the client's stdio (passed to it over the control
    // socket): a killed client's pipes can stay open until the master gives up. Once the process
    // itself has exited, its output is complete after a moment; do not wait for the pipes longer.
    child.on('exit', (code) => {
      setTimeout(
        () => {
          if (settled) return;
          child.stdout.destroy();
          child.stderr.destroy();
          finish(code);
        },
        timedOut ? 100 : 1000,
      ).unref();
    });
    const input = options.stdin;
    if (input === undefined) child.stdin.end();
    else if (typeof input === 'string' || Buffer.isBuffer(input)) child.stdin.end(input);
    else if (input instanceof Readable) {
      input.on('error', (error) => {
        stderr += `\ninput stream failed: ${error.message}`;
        kill();
      });
      input.pipe(child.stdin);
    }
  });
}

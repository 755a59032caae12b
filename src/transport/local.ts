/**
 * The same interface as ssh, on this machine: `sh -s` with the script on stdin. PID mode runs
 * through it for `local` hosts (and a mac that is this machine), so one set of POSIX scripts
 * serves local and remote PID-mode hosts alike.
 */
import type { Shell } from './quote.js';
import { runProcess } from './spawn.js';
import type { RunOptions, RunResult, Transport } from './types.js';

export class LocalTransport implements Transport {
  readonly kind = 'local' as const;
  readonly target = 'local';

  constructor(
    readonly host: string,
    private readonly cwd?: string,
  ) {}

  async script(script: string, options: Omit<RunOptions, 'stdin'> = {}): Promise<RunResult> {
    const r = await runProcess('sh', ['-s'], { ...options, stdin: script, ...(this.cwd === undefined ? {} : { cwd: this.cwd }) });
    return {
      code: r.code,
      stdout: r.stdout,
      stderr: r.stderr,
      timedOut: r.timedOut,
      durationMs: r.durationMs,
      unreachable: r.spawnError === undefined ? undefined : `cannot run sh: ${r.spawnError}`,
    };
  }

  async command(command: Shell, options: RunOptions = {}): Promise<RunResult> {
    const r = await runProcess('sh', ['-c', command.text], { ...options, ...(this.cwd === undefined ? {} : { cwd: this.cwd }) });
    return {
      code: r.code,
      stdout: r.stdout,
      stderr: r.stderr,
      timedOut: r.timedOut,
      durationMs: r.durationMs,
      unreachable: r.spawnError === undefined ? undefined : `cannot run sh: ${r.spawnError}`,
    };
  }

  commandArgv(command: Shell): { file: string; args: string[] } {
    return { file: 'sh', args: ['-c', command.text] };
  }

  async close(): Promise<void> {}
}

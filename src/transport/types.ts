/** What every transport offers: run a POSIX sh script, or one command line, on one host. */
import type { Readable } from 'node:stream';
import type { Shell } from './quote.js';

export interface RunOptions {
  /** Data for the command's stdin (a tar stream when shipping a release). */
  stdin?: Readable | string | Buffer;
  /** Kill the command after this long; the result then has timedOut = true. */
  timeoutMs?: number;
  /** Live output, for `logs -f` and progress. */
  onStdout?: (chunk: string) => void;
  onStderr?: (chunk: string) => void;
  signal?: AbortSignal;
}

export interface RunResult {
  /** Exit code; null when killed (timeout or signal). */
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  durationMs: number;
  /** The host could not be reached at all (ssh exit 255 with a connection error, or a timeout). */
  unreachable: string | undefined;
}

export interface Transport {
  readonly kind: 'ssh' | 'local';
  /** The inventory host name. */
  readonly host: string;
  /** What ssh is given (the alias), or "local". */
  readonly target: string;
  /** Runs a POSIX sh script on the host. The script travels on stdin (`sh -s`): argv stays short, secrets never appear in it. */
  script(script: string, options?: Omit<RunOptions, 'stdin'>): Promise<RunResult>;
  /** Runs one command line (built with `sh```) on the host, optionally with data on stdin. */
  command(command: Shell, options?: RunOptions): Promise<RunResult>;
  /** The program and argv that run one command line there (for a byte stream between two hosts: transport/pipe.ts). */
  commandArgv(command: Shell): { file: string; args: string[] };
  /** Releases what the transport holds (nothing to do for multiplexed ssh: ControlPersist ends the master). */
  close(): Promise<void>;
}

/** A short reason for a failed run: what an operator reads in a report. */
export function failureReason(result: RunResult): string {
  if (result.unreachable) return result.unreachable;
  if (result.timedOut) return `timed out after ${(result.durationMs / 1000).toFixed(1)}s`;
  const err = result.stderr.trim().split('\n').filter(Boolean).slice(-3).join(' | ');
  return `exit ${result.code ?? 'signal'}${err ? `: ${err}` : ''}`;
}

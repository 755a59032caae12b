/**
 * A byte stream from a command on one host to a command on another, through this machine (the
 * hosts need not reach each other): `ssh a 'producer' | ssh b 'consumer'`, the bytes untouched
 * (a database dump), with an optional first line written ahead of them on the consumer's stdin
 * (a secret the consumer reads with `read`: never in argv). The producer's stderr and the
 * consumer's stdout and stderr are kept for the caller's records.
 */
import { spawn } from 'node:child_process';
import type { Shell } from './quote.js';
import { classify } from './ssh.js';
import type { RunResult, Transport } from './types.js';

export interface PipeResult {
  /** The producer's result (its stdout is the stream: empty here). */
  from: RunResult;
  to: RunResult;
  /** Bytes carried. */
  bytes: number;
}

function asResult(transport: Transport, code: number | null, stderr: string, stdout: string, timedOut: boolean, ms: number): RunResult {
  const spawned = { code, stdout, stderr, timedOut, durationMs: ms };
  return transport.kind === 'ssh' ? classify(spawned, transport.target) : { ...spawned, unreachable: undefined };
}

export function pipeBetween(
  from: Transport,
  producer: Shell,
  to: Transport,
  consumer: Shell,
  options: { timeoutMs: number; head?: string },
): Promise<PipeResult> {
  const started = Date.now();
  const a = from.commandArgv(producer);
  const b = to.commandArgv(consumer);
  const p = spawn(a.file, a.args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const c = spawn(b.file, b.args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const kill = () => {
    for (const child of [p, c]) child.kill('SIGTERM');
  };
  // This process killed mid-stream: neither end is left behind.
  process.once('exit', kill);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    kill();
  }, options.timeoutMs);
  let bytes = 0;
  const texts = { pErr: '', cOut: '', cErr: '' };
  p.stderr.setEncoding('utf8').on('data', (x: string) => (texts.pErr = (texts.pErr + x).slice(-20_000)));
  // The consumer's records may end with a table count per table: kept whole up to 8 MB.
  c.stdout.setEncoding('utf8').on('data', (x: string) => (texts.cOut = (texts.cOut + x).slice(-8_000_000)));
  c.stderr.setEncoding('utf8').on('data', (x: string) => (texts.cErr = (texts.cErr + x).slice(-20_000)));
  c.stdin.on('error', () => undefined);
  if (options.head !== undefined) c.stdin.write(`${options.head}\n`);
  p.stdout.on('data', (chunk: Buffer) => (bytes += chunk.length));
  p.stdout.pipe(c.stdin);
  const exited = (child: { on(e: 'error', f: () => void): unknown; on(e: 'close', f: (code: number | null) => void): unknown }) =>
    new Promise<number | null>((resolve) => {
      child.on('error', () => resolve(null));
      child.on('close', (code) => resolve(code));
    });
  // The consumer gone early (refused the stream): the producer stops too.
  const consumerDone = exited(c).then((code) => {
    if (p.exitCode === null) p.kill('SIGTERM');
    return code;
  });
  return Promise.all([exited(p), consumerDone]).then(([pc, cc]) => {
    clearTimeout(timer);
    process.removeListener('exit', kill);
    const ms = Date.now() - started;
    return {
      from: asResult(from, timedOut ? null : pc, texts.pErr, '', timedOut, ms),
      to: asResult(to, timedOut ? null : cc, texts.cErr, texts.cOut, timedOut, ms),
      bytes,
    };
  });
}

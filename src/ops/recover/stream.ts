/**
 * Bytes from a script on one host to a script on another, through this machine as a stream
 * (never held whole in memory, never on disk here): the reader's stdout becomes the writer's
 * stdin after the writer's own script (scriptThenData). Used for a backup's dump, from the host
 * that keeps the backups to the host a database is recovered on: neither needs a key for the
 * other.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { PassThrough } from 'node:stream';
import type { Host } from '../../fleet/model.js';
import { scriptThenData } from '../../runtime/release.js';
import { SshTransport } from '../../transport/ssh.js';
import type { RunResult } from '../../transport/types.js';
import type { Ops } from '../context.js';

export interface Copied {
  /**
   * The reader's exit code (null: killed or never ran), the end of its stderr, and the sha256
   * (hex) of every byte it wrote, taken here as they pass (OpenSSL's, which uses the CPU's SHA
   * instructions: no second pass, no `tee` into `sha256sum` on a host). ssh carries them intact.
   */
  read: { code: number | null; error: string; sha256: string; bytes: number };
  write: RunResult;
}

export async function copyBetween(
  ops: Ops,
  from: Host,
  readScript: string,
  to: Host,
  writeScript: string,
  timeoutMs: number,
  head = '',
): Promise<Copied> {
  const source = ops.transport(from);
  const [file, args] = source instanceof SshTransport ? [source.options.ssh ?? 'ssh', source.argv('sh -s')] : ['sh', ['-s']];
  const reader = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  reader.stdin.end(readScript);
  let error = '';
  reader.stderr.setEncoding('utf8').on('data', (c: string) => (error = (error + c).slice(-2000)));
  const exited = new Promise<number | null>((res) => reader.on('close', (code) => res(code)).on('error', () => res(null)));
  const { command, header } = scriptThenData(writeScript);
  const stdin = new PassThrough();
  stdin.write(header);
  // A line the write script reads before the data (a password): stdin only, never argv.
  if (head !== '') stdin.write(head);
  const hash = createHash('sha256');
  let bytes = 0;
  reader.stdout.on('data', (c: Buffer) => {
    hash.update(c);
    bytes += c.length;
  });
  reader.stdout.pipe(stdin);
  const timer = setTimeout(() => reader.kill('SIGTERM'), timeoutMs);
  try {
    const write = await ops.transport(to).command(command, { stdin, timeoutMs });
    // The writer is done: a reader still sending has nobody to send to.
    if (reader.exitCode === null) reader.kill('SIGTERM');
    const code = await exited;
    return { read: { code, error: error.trim().split('\n').slice(-3).join(' | '), sha256: hash.digest('hex'), bytes }, write };
  } finally {
    clearTimeout(timer);
    stdin.destroy();
  }
}

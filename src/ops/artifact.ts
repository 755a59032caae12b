/**
 * What the built-in release strategy ships: a directory (sent as a tar stream made by the
 * system tar) or an archive (.tar, .tar.gz/.tgz, sent as it is). Never scp; the stream goes
 * on the ssh connection's stdin, so nothing lands in argv.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { UsageError } from '../errors.js';

export interface Artifact {
  path: string;
  kind: 'directory' | 'tar' | 'tar.gz';
  /** First 8 hex digits of a sha256 over the content (a directory: paths, modes and bytes). */
  hash: string;
  bytes: number;
}

async function walk(dir: string, base = dir): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const out: string[] = [];
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p, base)));
    else out.push(relative(base, p));
  }
  return out;
}

export async function resolveArtifact(path: string, baseDir: string): Promise<Artifact> {
  const abs = isAbsolute(path) ? path : resolve(baseDir, path);
  let info;
  try {
    info = await stat(abs);
  } catch {
    throw new UsageError(`artifact not found: ${abs}`, 'build it first, or pass --artifact PATH (a directory or a .tar/.tar.gz archive)');
  }
  const hash = createHash('sha256');
  let bytes = 0;
  if (info.isDirectory()) {
    const files = (await walk(abs)).sort();
    if (files.length === 0) throw new UsageError(`artifact directory is empty: ${abs}`);
    for (const f of files) {
      const s = await stat(join(abs, f));
      const content = s.isFile() ? await readFile(join(abs, f)) : Buffer.alloc(0);
      bytes += content.length;
      hash.update(`${f}\0${s.mode & 0o777}\0${content.length}\0`);
      hash.update(content);
    }
    return { path: abs, kind: 'directory', hash: hash.digest('hex').slice(0, 8), bytes };
  }
  if (!info.isFile()) throw new UsageError(`artifact is neither a directory nor a file: ${abs}`);
  const fh = await open(abs, 'r');
  const head = Buffer.alloc(2);
  await fh.read(head, 0, 2, 0);
  await fh.close();
  const gz = head[0] === 0x1f && head[1] === 0x8b;
  if (!gz && !/\.tar$/i.test(abs)) throw new UsageError(`artifact ${abs} is not a directory, a .tar or a gzip'ed tar`);
  const content = await readFile(abs);
  hash.update(content);
  return { path: abs, kind: gz ? 'tar.gz' : 'tar', hash: hash.digest('hex').slice(0, 8), bytes: content.length };
}

/** The bytes to send: a tar stream of the directory (made by the system tar), or the archive itself. */
export function artifactStream(artifact: Artifact): { stream: Readable; done: Promise<string | undefined> } {
  if (artifact.kind !== 'directory') {
    const stream = createReadStream(artifact.path);
    return { stream, done: new Promise((res) => stream.on('close', () => res(undefined)).on('error', (e) => res(e.message))) };
  }
  // COPYFILE_DISABLE: macOS tar would add ._ files otherwise.
  const tar = spawn('tar', ['-c', '-f', '-', '-C', artifact.path, '.'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, COPYFILE_DISABLE: '1' },
  });
  let err = '';
  tar.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  const done = new Promise<string | undefined>((res) => {
    tar.on('error', (e) => res(`tar: ${e.message}`));
    tar.on('close', (code) => res(code === 0 ? undefined : `tar exited ${code}: ${err.trim()}`));
  });
  return { stream: tar.stdout, done };
}

/**
 * "20261124T141500123Z-1a2b3c4d": sortable by time to the millisecond (two deploys within one
 * second must still sort in order: rollback takes the one before), and says which content it is.
 */
export function releaseId(hash: string, now = new Date()): string {
  return `${now.toISOString().replace(/[-:.]/g, '')}-${hash}`;
}

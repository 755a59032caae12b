/**
 * A copy of each release a deploy shipped and that passed its gate, kept on this machine under
 * the state directory (`<state>/releases/<service>/<release>.tar` and `.json`), the newest
 * KEEP_PER_SERVICE per service. When the host it ran on is lost, `recover` deploys this copy
 * elsewhere: the same bits under the same release id, without the lost host or a rebuild. The
 * record says where it ran and, for a compose service, the image digest it ran. Nothing secret
 * is in it (an env file never is part of a release).
 */
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileSafe } from '../transport/quote.js';
import type { Artifact } from './artifact.js';

export const KEEP_PER_SERVICE = 3;

export interface KeptRelease {
  service: string;
  host: string;
  release: string;
  /** The archive beside this record: a plain tar or a gzip'ed one (the artifact's own form). */
  kind: 'tar' | 'tar.gz';
  /** The content digest the host computed at the ship, when it did. */
  content: string | null;
  /** A compose service: the image reference and the digest that passed the gate. */
  image: { ref: string; digest: string | null } | null;
  /** When the deploy passed its gate (ISO). */
  at: string;
  bytes: number;
}

export function keptDir(stateDir: string, service: string): string {
  return join(stateDir, 'releases', fileSafe(service));
}

export const keptArchive = (stateDir: string, k: Pick<KeptRelease, 'service' | 'release' | 'kind'>): string =>
  join(keptDir(stateDir, k.service), `${fileSafe(k.release)}.${k.kind}`);

/** The archive's bytes written to `file` (a directory as a tar made by the system tar). */
async function copyArtifact(artifact: Artifact, file: string): Promise<void> {
  const out = createWriteStream(file, { mode: 0o600 });
  if (artifact.kind !== 'directory') {
    await pipeline(createReadStream(artifact.path), out);
    return;
  }
  const tar = spawn('tar', ['-c', '-f', '-', '-C', artifact.path, '.'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, COPYFILE_DISABLE: '1' },
  });
  let err = '';
  tar.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exited = new Promise<number | null>((res) => tar.on('close', res).on('error', () => res(null)));
  await pipeline(tar.stdout, out);
  const code = await exited;
  if (code !== 0) throw new Error(`tar exited ${code}: ${err.trim()}`);
}

/**
 * Keeps a copy of a release that passed its gate (atomically: a temp file renamed), and prunes
 * the service's older copies beyond KEEP_PER_SERVICE. A copy that cannot be made is the caller's
 * note, never a failed deploy.
 */
export async function keepRelease(stateDir: string, record: Omit<KeptRelease, 'kind' | 'bytes'>, artifact: Artifact): Promise<KeptRelease> {
  const dir = keptDir(stateDir, record.service);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const kept: KeptRelease = { ...record, kind: artifact.kind === 'tar.gz' ? 'tar.gz' : 'tar', bytes: 0 };
  const file = keptArchive(stateDir, kept);
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    await copyArtifact(artifact, tmp);
    kept.bytes = (await stat(tmp)).size;
    await rename(tmp, file);
  } finally {
    await rm(tmp, { force: true });
  }
  // The record last, renamed into place: a record always names a whole archive.
  const meta = join(dir, `${fileSafe(kept.release)}.json`);
  await writeFile(`${meta}.${process.pid}.tmp`, `${JSON.stringify(kept, null, 2)}\n`, { mode: 0o600 });
  await rename(`${meta}.${process.pid}.tmp`, meta);
  for (const old of (await keptReleases(stateDir, record.service)).slice(KEEP_PER_SERVICE)) {
    await rm(keptArchive(stateDir, old), { force: true });
    await rm(join(dir, `${fileSafe(old.release)}.json`), { force: true });
  }
  return kept;
}

/** The service's kept releases, newest first (release ids sort by time); a damaged record is skipped. */
export async function keptReleases(stateDir: string, service: string): Promise<KeptRelease[]> {
  const dir = keptDir(stateDir, service);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const out: KeptRelease[] = [];
  for (const n of names.filter((x) => x.endsWith('.json'))) {
    try {
      const k = JSON.parse(await readFile(join(dir, n), 'utf8')) as KeptRelease;
      if (typeof k.release === 'string' && k.service === service && (k.kind === 'tar' || k.kind === 'tar.gz')) out.push(k);
    } catch {
      /* a torn or foreign file: not a kept release */
    }
  }
  return out.sort((a, b) => (a.release < b.release ? 1 : a.release > b.release ? -1 : 0));
}

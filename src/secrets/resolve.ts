/**
 * A declared secret's value, read on the operator's machine from the source the manifest names:
 * a file only its owner can read, a `pass` entry, an environment variable, or a command's stdout.
 * Values stay in this process's memory: they go to hosts on ssh's stdin (host-scripts.ts), and
 * every message that could echo one goes through redactValues (text/secrets.ts) first.
 *
 * A source that cannot give a value says why in one line that never holds the value (a missing
 * file, a mode other than 0600/0400, a locked pass key, a command that failed): the services that
 * need it are held back, the others go on.
 */
import { lstatSync, openSync, readFileSync, closeSync, fstatSync, constants } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { SecretDeclaration } from '../manifest/secrets.js';
import { describeSource } from '../manifest/secrets.js';
import { runProcess } from '../transport/spawn.js';
import { redactValues } from '../text/secrets.js';

export type Resolved = { ok: true; value: string } | { ok: false; reason: string };

/** How long a `pass` or command source may take: a prompt nobody answers must not hang a deploy. */
export const SOURCE_TIMEOUT_MS = 30_000;
/** A value larger than this is refused: a credential is small; a file this big is a mistake. */
export const MAX_SECRET_BYTES = 1 << 20;

/** One trailing newline is removed (what `echo x > file`, `pass` and most commands add). */
const chomp = (s: string) => (s.endsWith('\r\n') ? s.slice(0, -2) : s.endsWith('\n') ? s.slice(0, -1) : s);

function expandHome(path: string, env: NodeJS.ProcessEnv): string {
  return path.startsWith('~/') ? join(env['HOME'] ?? homedir(), path.slice(2)) : path;
}

function fromFile(ref: string, env: NodeJS.ProcessEnv): Resolved {
  const path = expandHome(ref, env);
  let fd: number;
  try {
    const link = lstatSync(path);
    if (link.isSymbolicLink()) return { ok: false, reason: `${ref} is a symbolic link: a secret file is read only when it is the file itself` };
    // O_NOFOLLOW: a link put there since the lstat is refused, not followed.
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { ok: false, reason: code === 'ENOENT' ? `${ref} does not exist` : `${ref} cannot be read (${code ?? 'error'})` };
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return { ok: false, reason: `${ref} is not a regular file` };
    const uid = process.getuid?.();
    if (uid !== undefined && st.uid !== uid) return { ok: false, reason: `${ref} is owned by uid ${st.uid}, not by you (uid ${uid}): refused` };
    const mode = st.mode & 0o7777;
    if (mode !== 0o600 && mode !== 0o400)
      return {
        ok: false,
        reason: `${ref} has mode ${mode.toString(8).padStart(4, '0')}: a secret file must be 0600 or 0400 (chmod 600 ${ref})`,
      };
    if (st.size > MAX_SECRET_BYTES) return { ok: false, reason: `${ref} is ${st.size} bytes: larger than a secret (at most ${MAX_SECRET_BYTES})` };
    const value = chomp(readFileSync(fd, 'utf8'));
    return value === '' ? { ok: false, reason: `${ref} is empty` } : { ok: true, value };
  } finally {
    closeSync(fd);
  }
}

async function fromProcess(label: string, file: string, args: string[], env: NodeJS.ProcessEnv, firstLine: boolean): Promise<Resolved> {
  // stdin is empty and closed: a prompt (a locked key, a login) fails at once instead of waiting.
  const r = await runProcess(file, args, { stdin: '', timeoutMs: SOURCE_TIMEOUT_MS, env });
  if (r.spawnError !== undefined) return { ok: false, reason: `${label}: ${r.spawnError}` };
  if (r.timedOut) return { ok: false, reason: `${label} did not answer within ${SOURCE_TIMEOUT_MS / 1000}s` };
  // Whatever a failing command printed may hold the value (or part of it): it is redacted by the
  // value it printed on stdout before any of it is shown.
  const said = redactValues(r.stderr.trim().split('\n').filter(Boolean).slice(-1).join(''), [r.stdout.trim()]).slice(0, 200);
  if (r.code !== 0) return { ok: false, reason: `${label} failed (exit ${r.code ?? 'signal'})${said ? `: ${said}` : ''}` };
  const value = firstLine ? (r.stdout.split('\n')[0] ?? '').replace(/\r$/, '') : chomp(r.stdout);
  if (Buffer.byteLength(value) > MAX_SECRET_BYTES) return { ok: false, reason: `${label} printed more than ${MAX_SECRET_BYTES} bytes` };
  return value === '' ? { ok: false, reason: `${label} printed nothing` } : { ok: true, value };
}

/** Resolves each distinct source once (a secret two services share is read once). */
export class SecretResolver {
  private readonly cache = new Map<string, Promise<Resolved>>();

  constructor(private readonly env: NodeJS.ProcessEnv = process.env) {}

  resolve(d: SecretDeclaration): Promise<Resolved> {
    const key = describeSource(d.source);
    let p = this.cache.get(key);
    if (p === undefined) {
      p = this.read(d);
      this.cache.set(key, p);
    }
    return p;
  }

  /** Every value resolved so far: what output is redacted by. */
  async values(): Promise<string[]> {
    const out: string[] = [];
    for (const p of this.cache.values()) {
      const r = await p;
      if (r.ok) out.push(r.value);
    }
    return out;
  }

  private async read(d: SecretDeclaration): Promise<Resolved> {
    const { kind, ref } = d.source;
    switch (kind) {
      case 'file':
        return fromFile(ref, this.env);
      case 'env': {
        const v = this.env[ref];
        return v === undefined || v === '' ? { ok: false, reason: `environment variable ${ref} is not set` } : { ok: true, value: v };
      }
      case 'pass':
        // `--` keeps an entry from being read as an option (validate refuses a leading "-" too).
        return fromProcess(`pass show ${ref}`, 'pass', ['show', '--', ref], this.env, true);
      case 'command':
        return fromProcess(`command ${JSON.stringify(ref.length > 60 ? `${ref.slice(0, 60)}…` : ref)}`, 'sh', ['-c', ref], this.env, false);
    }
  }
}

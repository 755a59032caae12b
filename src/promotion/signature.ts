/**
 * Approvals signed with OpenSSH's own signatures (docs/promotion.md#approval): the operator's
 * ssh key signs a canonical statement with `ssh-keygen -Y sign -n manage-apps-promotion`; it is
 * checked with `ssh-keygen -Y verify` against the allowed_signers file kept in the repository, at
 * the time the approval says it was made (a key later retired with `valid-before` keeps its past
 * approvals). Who approved is the key's fingerprint, as ssh-keygen reports it, and the principal
 * allowed_signers gives it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runProcess } from '../transport/spawn.js';

export const NAMESPACE = 'manage-apps-promotion';

/** What an approval is for: one release (its content, its image) of one project into one environment, at one ledger head. */
export interface ApprovalStatement {
  project: string;
  from: string;
  to: string;
  release: string;
  content: string | null;
  image_digest: string | null;
  /** The ledger's head when it was signed: the record that holds it must follow exactly that line. */
  ledger_head: string;
  time: string;
}

/** The exact bytes signed: one field a line, in this order. */
export function statementText(s: ApprovalStatement): string {
  return [
    'manage-apps promotion approval v1',
    `project: ${s.project}`,
    `from: ${s.from}`,
    `to: ${s.to}`,
    `release: ${s.release}`,
    `content: ${s.content ?? '-'}`,
    `image: ${s.image_digest ?? '-'}`,
    `ledger-head: ${s.ledger_head}`,
    `time: ${s.time}`,
    '',
  ].join('\n');
}

export class SignatureError extends Error {}

/** Signs with `key` (a private key file, or a public one whose private half is in ssh-agent). */
export async function signStatement(text: string, key: string): Promise<string> {
  const r = await runProcess('ssh-keygen', ['-q', '-Y', 'sign', '-f', key, '-n', NAMESPACE], { stdin: text, timeoutMs: 120_000 });
  if (r.spawnError !== undefined) throw new SignatureError(`cannot run ssh-keygen: ${r.spawnError}`);
  if (r.code !== 0 || !r.stdout.includes('BEGIN SSH SIGNATURE'))
    throw new SignatureError(`ssh-keygen could not sign with ${key}: ${r.stderr.trim().split('\n').slice(-2).join(' | ') || `exit ${r.code}`}`);
  return r.stdout;
}

export interface Verified {
  ok: boolean;
  principal?: string;
  fingerprint?: string;
  reason?: string;
}

/** "2026-12-06T15:00:00.000Z" → "20261206150000" (ssh-keygen's verify-time, UTC). */
const verifyTime = (iso: string) => iso.replace(/[-:T]/g, '').slice(0, 14);

export async function verifyStatement(text: string, signature: string, allowedSigners: string, at: string): Promise<Verified> {
  const dir = mkdtempSync(join(tmpdir(), 'manage-apps-sig-'));
  try {
    const sig = join(dir, 'approval.sig');
    writeFileSync(sig, signature, { mode: 0o600 });
    const time = `-Overify-time=${verifyTime(at)}Z`;
    const found = await runProcess('ssh-keygen', ['-Y', 'find-principals', '-s', sig, '-f', allowedSigners, time], { timeoutMs: 30_000 });
    const principal = found.code === 0 ? found.stdout.split('\n')[0]?.trim() : undefined;
    if (!principal) return { ok: false, reason: `signed by a key that is not in ${allowedSigners} (or not valid at ${at})` };
    const r = await runProcess('ssh-keygen', ['-Y', 'verify', '-f', allowedSigners, '-I', principal, '-n', NAMESPACE, '-s', sig, time], {
      stdin: text,
      timeoutMs: 30_000,
    });
    const m = /^Good "[^"]*" signature for (.+) with \S+ key (SHA256:[A-Za-z0-9+/=]+)/m.exec(r.stdout);
    if (r.code !== 0 || m === null)
      return {
        ok: false,
        principal,
        reason: `the signature does not match what it claims to approve (${r.stderr.trim().split('\n').pop() ?? `exit ${r.code}`})`,
      };
    return { ok: true, principal: m[1]!, fingerprint: m[2]! };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * What the ledger says (docs/promotion.md#the-ledger): which release each environment is at
 * and why, which approvals still stand, what a rollback goes back to, and whether the whole
 * file holds (the chain and every signature).
 */
import type { LedgerRecord, ReadLedger } from './ledger.js';
import { statementText, verifyStatement, type ApprovalStatement, type Verified } from './signature.js';

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** The records that put a release live in an environment (what the ledger knows it is at). */
const SETS_RELEASE = new Set(['deploy', 'promotion', 'rollback']);

export function liveRecord(records: readonly LedgerRecord[], project: string, env: string): LedgerRecord | undefined {
  for (let i = records.length - 1; i >= 0; i--) {
    const r = records[i]!;
    if (r.project === project && r.env === env && SETS_RELEASE.has(r.kind) && r['outcome'] === 'passed') return r;
  }
  return undefined;
}

/** A release's content and image digests, from the newest record that has them (a rollback record names only the release). */
export function digestsOf(records: readonly LedgerRecord[], release: string): { content: string | null; image_digest: string | null } {
  for (let i = records.length - 1; i >= 0; i--) {
    const r = records[i]!;
    if (r['release'] === release && typeof r['content'] === 'string' && r.kind !== 'approval')
      return { content: r['content'], image_digest: str(r['image_digest']) };
  }
  return { content: null, image_digest: null };
}

/** A rollback in a promoted environment goes back to the release promoted before the live one. */
export function previouslyPromoted(records: readonly LedgerRecord[], project: string, env: string, live: string | null): string | undefined {
  for (let i = records.length - 1; i >= 0; i--) {
    const r = records[i]!;
    if (r.project === project && r.env === env && r.kind === 'promotion' && r['outcome'] === 'passed' && r['release'] !== live)
      return str(r['release']) ?? undefined;
  }
  return undefined;
}

/** The rollback that took `release` out of `env`, if one did (a new promotion of it must be forced). */
export function rolledBack(records: readonly LedgerRecord[], project: string, env: string, release: string): LedgerRecord | undefined {
  return records.find((r) => r.kind === 'rollback' && r.project === project && r.env === env && r['from'] === release && r['outcome'] === 'passed');
}

/** What `releases` shows of the ledger beside a release: each record that put it live (or took it out) in this service's environment. */
export interface ReleaseLedgerEntry {
  line: number;
  time: string;
  kind: 'deploy' | 'promotion' | 'rollback' | 'revert';
  outcome: string | null;
  /** promotion: the environment it came from; rollback: the release it left. */
  from: string | null;
  /** promotion: who approved it (principal and key fingerprint), when an approval was required. */
  approved_by: { principal: string; fingerprint: string } | null;
}

const RELEASE_KINDS = new Set(['deploy', 'promotion', 'rollback', 'revert']);

/** The ledger's records per release of one service, oldest first: one pass over the records, whatever their number. */
export function releaseEntries(records: readonly LedgerRecord[], service: string): Map<string, ReleaseLedgerEntry[]> {
  const out = new Map<string, ReleaseLedgerEntry[]>();
  for (const r of records) {
    const release = str(r['release']);
    if (r['service'] !== service || release === null || !RELEASE_KINDS.has(r.kind)) continue;
    const by = r['approved_by'] as { principal?: unknown; fingerprint?: unknown } | undefined;
    const entry: ReleaseLedgerEntry = {
      line: r.seq,
      time: r.time,
      kind: r.kind as ReleaseLedgerEntry['kind'],
      outcome: str(r['outcome']),
      from: str(r['from']),
      approved_by:
        typeof by?.principal === 'string' && typeof by.fingerprint === 'string' ? { principal: by.principal, fingerprint: by.fingerprint } : null,
    };
    out.set(release, [...(out.get(release) ?? []), entry]);
  }
  return out;
}

export function approvalStatement(r: LedgerRecord): ApprovalStatement {
  return {
    project: r.project,
    from: str(r['from']) ?? '',
    to: r.env,
    release: str(r['release']) ?? '',
    content: str(r['content']),
    image_digest: str(r['image_digest']),
    ledger_head: r.prev,
    time: r.time,
  };
}

export async function verifyApproval(r: LedgerRecord, allowedSigners: string): Promise<Verified> {
  const signature = str(r['signature']);
  if (signature === null) return { ok: false, reason: 'no signature' };
  const v = await verifyStatement(statementText(approvalStatement(r)), signature, allowedSigners, r.time);
  const signer = r['signer'] as { fingerprint?: unknown } | undefined;
  if (v.ok && signer?.fingerprint !== v.fingerprint)
    return { ok: false, reason: `the record names signer ${String(signer?.fingerprint)}, the signature is by ${v.fingerprint}` };
  return v;
}

export interface ApprovalVerdict {
  ok: boolean;
  /** The approval that counts (verified, unused). */
  record?: LedgerRecord;
  verified?: Verified;
  /** Why none counts: each approval for this release that was turned down, and why. */
  reason: string;
}

/** The newest verified approval of exactly this promotion that no promotion has used yet. */
export async function findApproval(
  records: readonly LedgerRecord[],
  allowedSigners: string,
  want: { project: string; from: string; to: string; release: string; content: string | null; image_digest: string | null },
): Promise<ApprovalVerdict> {
  const used = new Set(records.filter((r) => r.kind === 'promotion').map((r) => str(r['approval'])));
  const turnedDown: string[] = [];
  for (let i = records.length - 1; i >= 0; i--) {
    const r = records[i]!;
    if (r.kind !== 'approval' || r.project !== want.project || r.env !== want.to) continue;
    const mismatch = (['from', 'release', 'content', 'image_digest'] as const).filter(
      (k) => (str(r[k]) ?? null) !== (k === 'from' ? want.from : want[k]),
    );
    if (mismatch.length > 0) {
      turnedDown.push(`line ${r.seq} approves ${str(r['release'])} (${mismatch.join(', ')} differ)`);
      continue;
    }
    if (used.has(r.hash)) {
      turnedDown.push(`line ${r.seq} was already used by a promotion (an approval counts once)`);
      continue;
    }
    const verified = await verifyApproval(r, allowedSigners);
    if (!verified.ok) {
      turnedDown.push(`line ${r.seq}: ${verified.reason}`);
      continue;
    }
    return { ok: true, record: r, verified, reason: `approved by ${verified.principal} (${verified.fingerprint}) at ${r.time}` };
  }
  return { ok: false, reason: turnedDown.length === 0 ? 'no approval recorded' : turnedDown.join('; ') };
}

export interface LedgerCheck {
  records: number;
  head: string;
  broken?: { line: number; message: string };
  signatures: { checked: number; bad: { line: number; reason: string }[] };
}

/** `ledger verify`: the chain, then every approval's signature; the first break is named by its line. */
export async function checkLedger(ledger: ReadLedger, allowedSigners: string): Promise<LedgerCheck> {
  const bad: { line: number; reason: string }[] = [];
  let checked = 0;
  for (const r of ledger.records) {
    if (r.kind !== 'approval') continue;
    checked++;
    const v = await verifyApproval(r, allowedSigners);
    if (!v.ok) bad.push({ line: r.seq, reason: v.reason ?? 'does not verify' });
  }
  const firstBad = bad[0];
  const broken =
    ledger.broken ??
    (firstBad === undefined
      ? undefined
      : { line: firstBad.line, message: `line ${firstBad.line}: the approval's signature does not verify: ${firstBad.reason}` });
  return { records: ledger.records.length, head: ledger.head, ...(broken === undefined ? {} : { broken }), signatures: { checked, bad } };
}

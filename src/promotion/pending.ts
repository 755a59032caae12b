/**
 * Promotions that may have changed a host and whose ledger record is not written yet
 * (docs/promotion.md#a-crash-between-the-host-and-the-ledger). `promote` writes an intent here
 * before it ships anything to the target, appends the promotion record (naming the intent) once
 * the target has settled, and removes the intent after. A process that dies in between leaves the
 * intent behind; the next `promote` of that project or `ledger verify --repair` settles it from
 * what the target host says it runs and its release history: the record the crash lost is
 * appended then (once: a record naming the intent makes it a no-op), or the intent is dropped
 * when the host shows that nothing switched.
 *
 * The file is `release-ledger.pending.json` beside the ledger (a JSON array, written whole to a
 * temporary file, fsync'ed and renamed; edited only under the ledger's lock).
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Outcome, ReleaseRecord } from '../runtime/release.js';
import { withLedgerLock, type LedgerRecord, type NewRecord } from './ledger.js';

export const PENDING_FILE = 'release-ledger.pending.json';

export interface PromotionIntent {
  /** Random; the promotion record names it (`intent`), which makes settling it idempotent. */
  id: string;
  /** When promote was about to ship (this machine's clock): a verdict on the host older than this is from before. */
  time: string;
  project: string;
  env: string;
  release: string;
  /** The promotion record as it would be written, without what only the target can say (outcome, content, image, previous, reason). */
  record: NewRecord;
}

const pendingPath = (root: string) => join(root, PENDING_FILE);

export function readIntents(root: string): PromotionIntent[] {
  let text: string;
  try {
    text = readFileSync(pendingPath(root), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    return Array.isArray(parsed) ? (parsed as PromotionIntent[]) : [];
  } catch {
    // A file cut short cannot be: it is renamed into place whole. Anything else is not ours to read.
    throw new Error(`${PENDING_FILE} is not a JSON array: move it aside and run \`manage-apps ledger verify --repair\``);
  }
}

function writeIntents(root: string, intents: readonly PromotionIntent[]): void {
  const path = pendingPath(root);
  if (intents.length === 0) {
    rmSync(path, { force: true });
    return;
  }
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', 0o644);
  try {
    writeSync(fd, `${JSON.stringify(intents, null, 2)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/** Records the intent before the host changes. */
export function addIntent(root: string, intent: PromotionIntent): void {
  withLedgerLock(root, () => writeIntents(root, [...readIntents(root).filter((i) => i.id !== intent.id), intent]));
}

export function removeIntent(root: string, id: string): void {
  withLedgerLock(root, () => {
    const intents = readIntents(root);
    if (intents.some((i) => i.id === id))
      writeIntents(
        root,
        intents.filter((i) => i.id !== id),
      );
  });
}

/** What the target host says about the intent's release (one read of its releases and switch). */
export interface TargetState {
  reachable: boolean;
  reason?: string;
  current: string | null;
  /** The intent's release on the host (its last verdict), when it is there. */
  release: ReleaseRecord | undefined;
  /** The host's revert is armed: a switch nobody confirmed yet, not settled. */
  armed: boolean;
  /** The live release's content digest and pinned image, computed on the host. */
  content: string | null;
  image: string | null;
}

export type Settlement =
  { action: 'append'; record: NewRecord; detail: string } | { action: 'drop'; detail: string } | { action: 'keep'; detail: string };

const LEDGER_OUTCOME: Partial<Record<Outcome, string>> = { passed: 'passed', failed: 'rolled-back', reverted: 'reverted', unconfirmed: 'reverted' };

/**
 * What becomes of a pending intent, from the ledger and the target host: its record is already
 * in the ledger (drop); the host has not settled or did not answer (keep); the release switched
 * and settled after the intent (append the record the crash lost, with the host's outcome); or
 * nothing switched (drop).
 */
export function settle(intent: PromotionIntent, records: readonly LedgerRecord[], target: TargetState): Settlement {
  if (records.some((r) => r.kind === 'promotion' && r['intent'] === intent.id)) return { action: 'drop', detail: 'its record is in the ledger' };
  if (!target.reachable) return { action: 'keep', detail: `${String(intent.record['host'])} did not answer: ${target.reason ?? ''}` };
  if (target.armed) return { action: 'keep', detail: `the host's revert is armed: the switch has not settled yet` };
  const r = target.release;
  const at = Date.parse(r?.outcomeAt ?? '');
  // The host writes its verdicts to the second: one in the intent's own second counts.
  const since = Math.floor(Date.parse(intent.time) / 1000) * 1000;
  if (r === undefined || r.outcome === null || !Number.isFinite(at) || at < since)
    return { action: 'drop', detail: `${intent.release} has no verdict on the host since ${intent.time}: nothing switched` };
  if (r.outcome === 'pending') return { action: 'keep', detail: `${intent.release} is still being gated on the host` };
  const outcome = LEDGER_OUTCOME[r.outcome];
  if (outcome === undefined) return { action: 'drop', detail: `${intent.release}: ${r.outcome}` };
  // A passed release that is no longer live was replaced since by something with its own record: claiming it live would be false.
  if (outcome === 'passed' && target.current !== intent.release)
    return { action: 'drop', detail: `${intent.release} passed on the host but ${target.current ?? 'nothing'} is live there now` };
  const record: NewRecord = {
    ...intent.record,
    release: intent.release,
    content: outcome === 'passed' ? target.content : (intent.record['content'] ?? null),
    image_digest: outcome === 'passed' ? target.image : null,
    outcome,
    intent: intent.id,
    recovered: { at: new Date().toISOString(), from: `the host's release history: ${r.outcome} at ${r.outcomeAt}${r.why ? ` (${r.why})` : ''}` },
  };
  return { action: 'append', record, detail: `${intent.release} ${r.outcome} on the host at ${r.outcomeAt}: the lost record is added` };
}

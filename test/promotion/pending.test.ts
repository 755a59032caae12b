// Pending promotions (docs/promotion.md#a-crash-between-the-host-and-the-ledger): what becomes
// of an intent a crash left behind, from the target host's answer: the lost record appended with
// the host's outcome, dropped when nothing switched or its record is already in the ledger,
// kept while the host has not settled or does not answer. The file is edited under the ledger's
// lock and removed when empty.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { appendRecords, readLedger } from '../../src/promotion/ledger.js';
import { addIntent, PENDING_FILE, readIntents, removeIntent, settle, type PromotionIntent, type TargetState } from '../../src/promotion/pending.js';

const RELEASE = '20261206T180000000Z-0a0b0c0d';
const intent: PromotionIntent = {
  id: 'abc123',
  time: '2026-12-06T18:00:10.500Z',
  project: 'shop',
  env: 'prod',
  release: RELEASE,
  record: {
    kind: 'promotion',
    project: 'shop',
    env: 'prod',
    service: 'shop',
    host: 'pd',
    from: 'preview',
    release: RELEASE,
    content: 'c'.repeat(64),
    outcome: 'unknown',
  },
};
const host = (over: Partial<TargetState>): TargetState => ({
  reachable: true,
  current: RELEASE,
  release: { id: RELEASE, activated: '2026-12-06T18:00:12Z', by: 'me', outcome: 'passed', outcomeAt: '2026-12-06T18:00:14Z', why: null },
  armed: false,
  content: 'c'.repeat(64),
  image: null,
  ...over,
});

describe('pending promotions', () => {
  const root = mkdtempSync(join(tmpdir(), 'manage-apps-pending-'));
  after(() => rmSync(root, { recursive: true, force: true }));

  test('a release that passed on the host after the intent and is live: the lost record, with the outcome and what the host says', () => {
    const s = settle(intent, [], host({}));
    assert.equal(s.action, 'append');
    if (s.action !== 'append') return;
    assert.equal(s.record['outcome'], 'passed');
    assert.equal(s.record['intent'], 'abc123');
    assert.equal(s.record['from'], 'preview');
    assert.match(JSON.stringify(s.record['recovered']), /passed at 2026-12-06T18:00:14Z/);
    // A verdict written in the intent's own second (the host writes seconds) still counts.
    assert.equal(settle(intent, [], host({ release: { ...host({}).release!, outcomeAt: '2026-12-06T18:00:10Z' } })).action, 'append');
  });

  test('switched back or reverted on the host: recorded as such', () => {
    const back = settle(intent, [], host({ current: 'other', release: { ...host({}).release!, outcome: 'failed' } }));
    assert.equal(back.action === 'append' && back.record['outcome'], 'rolled-back');
    const reverted = settle(intent, [], host({ current: 'other', release: { ...host({}).release!, outcome: 'reverted' } }));
    assert.equal(reverted.action === 'append' && reverted.record['outcome'], 'reverted');
  });

  test('nothing switched (no release, or only a verdict from before): dropped', () => {
    assert.equal(settle(intent, [], host({ release: undefined })).action, 'drop');
    assert.equal(settle(intent, [], host({ release: { ...host({}).release!, outcomeAt: '2026-12-06T17:00:00Z' } })).action, 'drop');
    // Passed, but something else is live now: claiming it live would be false.
    assert.equal(settle(intent, [], host({ current: 'other' })).action, 'drop');
  });

  test('not settled, or no answer: kept', () => {
    assert.equal(settle(intent, [], host({ armed: true })).action, 'keep');
    assert.equal(settle(intent, [], host({ release: { ...host({}).release!, outcome: 'pending' } })).action, 'keep');
    assert.equal(settle(intent, [], host({ reachable: false, reason: 'timed out' })).action, 'keep');
  });

  test('idempotent: a record naming the intent makes it a no-op', () => {
    const sealed = appendRecords(root, () => [{ ...intent.record, outcome: 'passed', intent: 'abc123' }]);
    assert.equal(settle(intent, readLedger(root).records, host({})).action, 'drop');
    assert.equal(sealed.length, 1);
  });

  test('the file: added and removed under the lock, gone when empty', () => {
    addIntent(root, intent);
    addIntent(root, { ...intent, id: 'def456' });
    assert.deepEqual(
      readIntents(root).map((i) => i.id),
      ['abc123', 'def456'],
    );
    removeIntent(root, 'abc123');
    removeIntent(root, 'def456');
    assert.deepEqual(readIntents(root), []);
    assert.equal(existsSync(join(root, PENDING_FILE)), false);
  });
});

// The release ledger (docs/promotion.md#the-ledger): a hash chain any byte change of which is
// found and named by its line; a torn last line (a write a crash cut short) claims nothing and
// is replaced by the next append; approvals signed by real `ssh-keygen -Y sign` verify only
// against allowed_signers, only as the line they were signed for (a copy appended later does
// not), and never for another release.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { checkLedger, findApproval } from '../../src/promotion/history.js';
import { appendRecords, LEDGER_FILE, parseLedger, readLedger, type NewRecord } from '../../src/promotion/ledger.js';
import { signStatement, statementText } from '../../src/promotion/signature.js';

const deployRecord = (release: string): NewRecord => ({
  kind: 'deploy',
  project: 'web',
  env: 'preview',
  release,
  content: 'c'.repeat(64),
  outcome: 'passed',
});

describe('the ledger', () => {
  let root = '';
  let allowed = '';
  let alice = '';
  let mallory = '';
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'manage-apps-ledger-'));
    alice = join(root, 'alice');
    mallory = join(root, 'mallory');
    for (const k of [alice, mallory]) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', k, '-f', k]);
    allowed = join(root, 'allowed_signers');
    writeFileSync(allowed, `alice@example ${readFileSync(`${alice}.pub`, 'utf8')}`);
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  test('chained records verify; any changed byte of an old line is named by that line', async () => {
    appendRecords(root, () => [deployRecord('20261206T100000000Z-aaaaaaaa'), deployRecord('20261206T110000000Z-bbbbbbbb')]);
    appendRecords(root, () => [deployRecord('20261206T120000000Z-cccccccc')]);
    const text = readFileSync(join(root, LEDGER_FILE), 'utf8');
    const ok = parseLedger(text);
    assert.equal(ok.broken, undefined);
    assert.deepEqual(
      ok.records.map((r) => r.seq),
      [1, 2, 3],
    );
    assert.equal(ok.records[1]!.prev, ok.records[0]!.hash);
    const lines = text.split('\n');
    // Every single byte of line 2, flipped, is found at line 2 (or, for a byte of its own hash, at line 2 too).
    let named = 0;
    const start = lines[0]!.length + 1;
    for (let i = 0; i < lines[1]!.length; i++) {
      const c = text.charCodeAt(start + i);
      const tampered = text.slice(0, start + i) + String.fromCharCode(c === 0x41 ? 0x42 : 0x41) + text.slice(start + i + 1);
      const read = parseLedger(tampered);
      if (read.broken?.line === 2) named++;
    }
    assert.equal(named, lines[1]!.length, `every changed byte of line 2 is named as line 2 (${named}/${lines[1]!.length})`);
    // A removed line breaks the chain at the line after it.
    assert.equal(parseLedger(`${lines[0]}\n${lines[2]}\n`).broken?.line, 2);
  });

  test('a torn last line claims nothing and the next append replaces it', () => {
    appendFileSync(join(root, LEDGER_FILE), '{"seq":4,"time":"2026-12-06T12:00:00Z","prev":"');
    const torn = readLedger(root);
    assert.equal(torn.torn, true);
    assert.equal(torn.records.length, 3);
    assert.match(torn.broken?.message ?? '', /line 4 is incomplete/);
    appendRecords(root, () => [deployRecord('20261206T130000000Z-dddddddd')]);
    const again = readLedger(root);
    assert.equal(again.broken, undefined);
    assert.equal(again.records.length, 4);
  });

  test('approvals: verified against allowed_signers, for one release, once as the line they were signed for', async () => {
    const want = {
      project: 'web',
      from: 'preview',
      to: 'prod',
      release: '20261206T130000000Z-dddddddd',
      content: 'c'.repeat(64),
      image_digest: null,
    };
    const sign = async (key: string, release = want.release) => {
      const head = readLedger(root).head;
      const time = new Date().toISOString();
      const signature = await signStatement(statementText({ ...want, release, ledger_head: head, time }), key);
      const fp = execFileSync('ssh-keygen', ['-l', '-f', `${key}.pub`], { encoding: 'utf8' }).split(' ')[1]!;
      return appendRecords(root, () => [
        {
          kind: 'approval',
          project: 'web',
          env: 'prod',
          from: 'preview',
          release,
          content: want.content,
          image_digest: null,
          time,
          signature,
          signer: { principal: 'alice@example', fingerprint: fp },
        },
      ])[0]!;
    };
    await sign(mallory);
    let verdict = await findApproval(readLedger(root).records, allowed, want);
    assert.equal(verdict.ok, false);
    assert.match(verdict.reason, /not in .*allowed_signers/);
    await sign(alice, '20261206T120000000Z-cccccccc');
    verdict = await findApproval(readLedger(root).records, allowed, want);
    assert.equal(verdict.ok, false);
    assert.match(verdict.reason, /approves 20261206T120000000Z-cccccccc \(release differ\)/);
    const good = await sign(alice);
    verdict = await findApproval(readLedger(root).records, allowed, want);
    assert.equal(verdict.ok, true, verdict.reason);
    assert.match(verdict.reason, /approved by alice@example \(SHA256:/);
    // The same line appended again (a replay) follows another head: its signature does not cover it.
    const { seq: _s, prev: _p, hash: _h, ...copy } = good;
    appendRecords(root, () => [copy as NewRecord]);
    const records = readLedger(root).records;
    const replayed = await findApproval([...records.slice(0, -2), records.at(-1)!], allowed, want);
    assert.equal(replayed.ok, false);
    assert.match(replayed.reason, /does not match/);
    // Once a promotion used it, it counts no more.
    appendRecords(root, () => [{ kind: 'promotion', project: 'web', env: 'prod', release: want.release, outcome: 'passed', approval: good.hash }]);
    const used = await findApproval(readLedger(root).records, allowed, want);
    assert.match(used.reason, /already used by a promotion/);
    // ledger verify: the chain holds; the outsider's signature and the replayed one do not verify (the first is named).
    const check = await checkLedger(readLedger(root), allowed);
    assert.deepEqual(
      check.signatures.bad.map((b) => b.line),
      [5, 8],
    );
    assert.equal(check.broken?.line, 5);
  });
});

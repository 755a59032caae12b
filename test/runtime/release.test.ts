// The release layout's pure parts: a script followed by data on one stdin (run by the real sh),
// the history records, and which release rollback goes back to.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { parseReleaseStates, rollbackTarget, scriptThenData, type ReleaseState } from '../../src/runtime/release.js';
import { parseRevertStates } from '../../src/runtime/revert.js';

test('a script then data on one stdin: the script gets exactly its bytes, the data reaches the script untouched', () => {
  const script = `printf 'script ran: %s\\n' "it's \\$(not expanded)"\nwc -c | tr -d ' '\n`;
  const data = Buffer.concat([Buffer.from('#!/bin/sh\nexit 1\n'), Buffer.alloc(70_000, 0xff)]);
  const { command, header } = scriptThenData(script);
  for (const shell of ['sh', 'dash', 'bash']) {
    const r = spawnSync(shell, ['-c', command.text], { input: Buffer.concat([header, data]) });
    assert.equal(r.status, 0, `${shell}: ${r.stderr}`);
    assert.equal(r.stdout.toString(), `script ran: it's $(not expanded)\n${data.length}\n`, shell);
  }
});

const rel = (id: string, outcome: string | null) =>
  `@@rel\tshop\t${id}\t2026-11-26T01:00:00Z\tops@laptop\t${outcome === null ? '' : `${outcome} 2026-11-26T01:00:05Z${outcome === 'failed' ? ' not ready: /readyz gave HTTP 503' : ''}`}`;
const A = '20261126T010000000Z-aaaaaaaa';
const B = '20261126T010100000Z-bbbbbbbb';
const C = '20261126T010200000Z-cccccccc';
const D = '20261126T010300000Z-dddddddd';

test('history records: the last verdict with its time and why; rollback goes to the newest older release that passed', () => {
  const out = ['noise from a login shell', `@@current\tshop\t${D}`, rel(C, 'unconfirmed'), rel(A, 'passed'), rel(D, 'passed'), rel(B, 'failed')].join(
    '\n',
  );
  const state = parseReleaseStates(out).get('shop')!;
  assert.equal(state.current, D);
  assert.deepEqual(
    state.releases.map((r) => r.id),
    [A, B, C, D],
  );
  assert.deepEqual(state.releases[1], {
    id: B,
    activated: '2026-11-26T01:00:00Z',
    by: 'ops@laptop',
    outcome: 'failed',
    outcomeAt: '2026-11-26T01:00:05Z',
    why: 'not ready: /readyz gave HTTP 503',
  });
  assert.equal(rollbackTarget(state), A, 'past the unconfirmed and the failed one');
  const none: ReleaseState = { current: A, releases: state.releases };
  assert.equal(rollbackTarget(none), undefined, 'nothing older passed');
  const legacy: ReleaseState = {
    current: D,
    releases: [
      { id: A, activated: null, by: null, outcome: null, outcomeAt: null, why: null },
      { id: B, activated: null, by: null, outcome: 'failed', outcomeAt: null, why: null },
    ],
  };
  assert.equal(rollbackTarget(legacy), A, 'a release from before the history counts when none passed');
});

test('the switch: armed (timer running), being reverted, lost (timer gone), fired', () => {
  const armed = (tag: string, extra: string) =>
    [`release=${D}`, `previous=${C}`, 'by=ops@laptop', 'deadline=1795000000', extra].map((l) => `@@armed\t${tag}\t${l}`).join('\n');
  const out = [
    armed('a', 'timer=active'),
    armed('b', 'claimed=yes'),
    armed('c', 'timer=inactive'),
    ...[
      `at=2026-11-26T01:00:07Z`,
      `release=${D}`,
      `previous=${C}`,
      'reason=no confirmation within 7s of the switch',
      'result=switched back: ready 200',
    ].map((l) => `@@fired\td\t${l}`),
  ].join('\n');
  const states = parseRevertStates(out);
  assert.deepEqual(states.get('a'), {
    state: 'armed',
    release: D,
    previous: C,
    by: 'ops@laptop',
    deadline: new Date(1795000000 * 1000).toISOString(),
  });
  assert.equal(states.get('b')?.state, 'reverting');
  assert.equal(states.get('c')?.state, 'lost');
  assert.deepEqual(states.get('d'), {
    state: 'fired',
    release: D,
    previous: C,
    at: '2026-11-26T01:00:07Z',
    reason: 'no confirmation within 7s of the switch',
    result: 'switched back: ready 200',
  });
});

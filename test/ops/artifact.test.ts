/** Release ids: the order rollback and pruning rely on. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { releaseId } from '../../src/ops/artifact.js';
import { RELEASE_ID, releaseList } from '../../src/runtime/release.js';

test('release ids sort in creation order even within one second (rollback takes the one before)', () => {
  const first = releaseId('ffffffff', new Date('2026-11-24T19:37:09.100Z'));
  const second = releaseId('00000000', new Date('2026-11-24T19:37:09.900Z'));
  assert.equal(first, '20261124T193709100Z-ffffffff');
  assert.ok(RELEASE_ID.test(first) && RELEASE_ID.test(second));
  assert.deepEqual(releaseList(`${second}\n${first}\n.incoming-x\nnotes\n`), [first, second]);
  // Ids written by earlier versions (to the second) are still releases.
  assert.ok(RELEASE_ID.test('20261124T141924Z-9f9e300f') && RELEASE_ID.test('20261124T141924Z-9f9e300f.1'));
});

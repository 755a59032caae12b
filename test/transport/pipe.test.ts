// A byte stream between two commands through this process (transport/pipe.ts), on this machine
// (the local transport runs the same sh): the bytes arrive unchanged, a first line written ahead
// of them is read by the consumer's `read` without eating into the stream (how a database move
// hands the app's password to pg_restore: never argv), and a producer that fails is reported.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { LocalTransport } from '../../src/transport/local.js';
import { pipeBetween } from '../../src/transport/pipe.js';
import { raw } from '../../src/transport/quote.js';

const here = new LocalTransport('here');

test('binary bytes arrive unchanged, after a first line the consumer reads with `read`', async () => {
  const r = await pipeBetween(
    here,
    raw('head -c 3000000 /dev/zero | tr "\\000" "\\377"; printf "\\000\\001\\n\\002"'),
    here,
    raw('IFS= read -r secret; printf "@@secret\\t%s\\n" "$secret"; sha256sum | cut -c1-64'),
    { timeoutMs: 60_000, head: 's3cr3t' },
  );
  assert.equal(r.from.code, 0);
  assert.equal(r.to.code, 0, r.to.stderr);
  assert.equal(r.bytes, 3_000_004);
  assert.match(r.to.stdout, /^@@secret\ts3cr3t$/m);
  const sent = Buffer.concat([Buffer.alloc(3_000_000, 0xff), Buffer.from([0, 1, 10, 2])]);
  assert.equal(r.to.stdout.split('\n')[1], createHash('sha256').update(sent).digest('hex'), 'every byte of the stream, unchanged');
});

test('a producer that fails, and a consumer that refuses the stream, are both reported', async () => {
  const failed = await pipeBetween(here, raw('echo "pg_dump: no such database" >&2; exit 3'), here, raw('cat >/dev/null; echo @@ok'), {
    timeoutMs: 30_000,
  });
  assert.equal(failed.from.code, 3);
  assert.match(failed.from.stderr, /no such database/);
  const refused = await pipeBetween(here, raw('yes | head -c 50000000'), here, raw('exit 4'), { timeoutMs: 30_000 });
  assert.equal(refused.to.code, 4);
});

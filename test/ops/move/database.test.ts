// The database move's one-round-trip scripts under a real POSIX sh (no host needed): the parts run
// in order, each one's records come back under its name, a part that fails ends the whole (the
// freeze never runs after a writer could not be stopped), and an env file's bytes survive being
// carried among other parts' records.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { envFileContent, partsScript, scriptParts } from '../../../src/ops/move/database.js';

const sh = (script: string) => spawnSync('sh', ['-s'], { input: script, encoding: 'utf8' }).stdout;

test('partsScript: every part in order, its records under its name', () => {
  const out = sh(
    partsScript([
      { name: 'stop:shop', script: "printf '@@stopped\\n'\nexit 0" },
      { name: 'freeze', script: "cat <<'EOF'\n@@cluster\tapps\n@@done\nEOF" },
      { name: 'env:shop', script: `printf '@@env\\n%s\\n' ${"'" + Buffer.from('PGUSER=shop_app\nPGPASSWORD=x y\n').toString('base64') + "'"}` },
    ]),
  );
  const parts = scriptParts(out);
  assert.deepEqual([...parts.keys()], ['stop:shop', 'freeze', 'env:shop']);
  assert.equal(parts.get('stop:shop'), '@@stopped\n');
  assert.equal(parts.get('freeze'), '@@cluster\tapps\n@@done\n');
  assert.equal(envFileContent(parts.get('env:shop')!).content?.toString('utf8'), 'PGUSER=shop_app\nPGPASSWORD=x y\n');
});

test('partsScript: a part that fails (@@error or @@fail) ends the whole; nothing after it runs', () => {
  for (const failing of ["printf '@@error\\tunit refused\\n'", "printf '@@fail\\tsql\\tno\\n'"]) {
    const out = sh(
      partsScript([
        { name: 'stop:shop', script: failing },
        { name: 'freeze', script: "printf '@@done\\n'; touch /dev/null" },
      ]),
    );
    const parts = scriptParts(out);
    assert.deepEqual([...parts.keys()], ['stop:shop'], out);
  }
});

test('envFileContent: absent, an error, a file of several base64 lines followed by other records', () => {
  assert.deepEqual(envFileContent('@@absent\n'), {});
  assert.deepEqual(envFileContent('@@error\ta link: not read\n'), { error: 'a link: not read' });
  const long = 'A='.concat('x'.repeat(300), '\n');
  const b64 = Buffer.from(long)
    .toString('base64')
    .replace(/(.{76})/g, '$1\n');
  assert.equal(envFileContent(`@@env\n${b64}\n@@part\tnext\n@@written\n`).content?.toString('utf8'), long);
  assert.deepEqual(envFileContent(''), { error: 'no answer' });
});

// Issue 21: the design notes the product grew from ("seeds") are not part of the product. No
// help text, message, hint, schema description, README or doc names them; docs describe the
// user's situation instead. The fixture directories are named for the fleets they hold
// (test/fixtures/five-hosts, legacy-exit, …); a benchmark's PRNG seed is a seed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { packageRoot } from '../src/package-root.js';

const ALLOWED = [/test\/fixtures\/seed\d+/g, /`seed\d+(-[a-z]+)?\/`/g, /--seed N/g, /seeded PRNG/g, /haskelseed/g];

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(path)));
    else if (/\.(ts|md|json|yaml|yml|css|js|html)$/.test(entry.name)) out.push(path);
  }
  return out;
}

test('no user-facing text (src, docs, README, schemas, the example fleet) speaks of "seeds"', async () => {
  const root = packageRoot();
  const files = [
    join(root, 'README.md'),
    ...(await Promise.all(['src', 'docs', 'schemas', 'examples'].map((d) => filesUnder(join(root, d))))).flat(),
  ];
  const found: string[] = [];
  for (const file of files) {
    const lines = (await readFile(file, 'utf8')).split('\n');
    lines.forEach((line, i) => {
      const rest = ALLOWED.reduce((text, allowed) => text.replace(allowed, ''), line);
      if (/seed/i.test(rest)) found.push(`${relative(root, file)}:${i + 1}: ${line.trim()}`);
    });
  }
  assert.deepEqual(found, []);
});

test("--help of deploy says what the script is: the project's own deploy script", () => {
  const run = spawnSync(process.execPath, [join(packageRoot(), 'bin/manage-apps.js'), '--help'], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout.replace(/\s+/g, ' '), /project's own deploy script/);
  assert.doesNotMatch(run.stdout, /seed/i);
});

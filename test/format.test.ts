// One formatting for every source file, checked by prettier itself (.prettierrc.json): a change
// that is not formatted fails here, not in a reviewer's eye. `npm run format` mends it.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import * as prettier from 'prettier';
import { packageRoot } from '../src/package-root.js';

const root = packageRoot();
const FORMATTED = /\.(ts|mjs|js)$/;

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : FORMATTED.test(name) ? [path] : [];
  });
}

test('every source, test, bench and script file is formatted as .prettierrc.json says', async () => {
  const unformatted: string[] = [];
  const all = ['src', 'test', 'bench', 'scripts'].flatMap((dir) => files(join(root, dir)));
  assert.ok(all.length > 100, `found only ${all.length} files: the walk is broken`);
  for (const file of all) {
    const options = await prettier.resolveConfig(file);
    assert.ok(options, `no prettier configuration applies to ${file}`);
    if (!(await prettier.check(readFileSync(file, 'utf8'), { ...options, filepath: file }))) unformatted.push(relative(root, file));
  }
  assert.deepEqual(unformatted, [], `not formatted (npm run format mends them): ${unformatted.join(', ')}`);
});

test('the check sees an unformatted file', async () => {
  const options = await prettier.resolveConfig(join(root, 'src', 'x.ts'));
  assert.equal(await prettier.check('const a = {b:1}\n', { ...options, filepath: 'x.ts' }), false);
});

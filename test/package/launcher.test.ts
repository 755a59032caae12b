// bin/manage-apps.js runs the bundle of dist/ (scripts/bundle.mjs) only when it is at least as new
// as dist/main.js: a copy of the package whose bundle entry is replaced by one that says so shows
// which one ran, fresh and stale; the real bundle of this build answers like dist/ itself.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { packageRoot } from '../../src/package-root.js';

const root = packageRoot();
let copy = '';

before(() => {
  copy = mkdtempSync(join(tmpdir(), 'manage-apps-launcher-'));
  for (const part of ['bin', 'dist', 'schemas', 'package.json']) cpSync(join(root, part), join(copy, part), { recursive: true });
  symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'));
});
after(() => {
  if (copy) rmSync(copy, { recursive: true, force: true });
});

const version = () => spawnSync(process.execPath, [join(copy, 'bin', 'manage-apps.js'), '--version'], { encoding: 'utf8' });

test('the build made a bundle, and it answers like dist/', () => {
  assert.ok(statSync(join(root, 'dist', 'bundle', 'main.js')).mtimeMs >= statSync(join(root, 'dist', 'main.js')).mtimeMs);
  const expected = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
  assert.equal(version().stdout.trim(), expected);
});

test('a bundle older than dist/main.js is not run; a newer one is', () => {
  const entry = join(copy, 'dist', 'bundle', 'main.js');
  writeFileSync(entry, "export const main = async () => { process.stdout.write('bundle\\n'); return 0; };\n");
  const distMain = statSync(join(copy, 'dist', 'main.js'));
  const older = new Date(distMain.mtimeMs - 60_000);
  utimesSync(entry, older, older);
  const stale = version();
  assert.equal(stale.status, 0, stale.stderr);
  assert.notEqual(stale.stdout.trim(), 'bundle');
  assert.match(stale.stdout.trim(), /^\d+\.\d+\.\d+/);
  // Newer (the build writes the bundle after tsc). Not "the same Date": a Date drops the
  // sub-millisecond part of dist/main.js's mtime, which would make the copy older by a hair.
  const newer = new Date(distMain.mtimeMs + 60_000);
  utimesSync(entry, newer, newer);
  assert.equal(version().stdout.trim(), 'bundle');
});

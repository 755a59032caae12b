#!/usr/bin/env node
// Compiles src + test once, then runs every compiled test file with node's own runner.
// The runner's closing summary ("ℹ pass N", "ℹ fail N") is what CI reads.
import { spawnSync } from 'node:child_process';
import { readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
rmSync(join(root, '.build-test'), { recursive: true, force: true });
// dist/ too: tests that run the real CLI (bin/manage-apps.js) need it current.
const build = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.json')], { stdio: 'inherit' });
if (build.status !== 0) {
  console.error('build failed: tests not run');
  process.exit(2);
}
const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.test.json')], { stdio: 'inherit' });
if (tsc.status !== 0) {
  console.error('type errors: tests not run');
  process.exit(2);
}

function collect(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...collect(path));
    else if (name.endsWith('.test.js')) out.push(path);
  }
  return out;
}
const filter = process.argv.slice(2);
let files = collect(join(root, '.build-test/test')).sort();
if (filter.length > 0) files = files.filter((f) => filter.some((part) => f.includes(part)));
const run = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files], { stdio: 'inherit', cwd: root });
process.exit(run.status ?? 2);

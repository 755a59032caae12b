#!/usr/bin/env node
// Builds dist/ (tests run the real CLI), compiles src + test into a per-run
// directory (so two runs on one machine never delete each other's files), then
// runs every compiled test file with node's own runner. The runner's closing
// summary ("ℹ pass N", "ℹ fail N") is what CI reads.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const tsc = join(root, 'node_modules/typescript/bin/tsc');
const runsDir = join(root, '.build-test', 'runs');
const outDir = join(runsDir, String(process.pid));

// Remove what runs that no longer exist left behind.
if (existsSync(runsDir)) {
  for (const pid of readdirSync(runsDir)) {
    let alive = false;
    try {
      process.kill(Number(pid), 0);
      alive = true;
    } catch {}
    if (!alive) rmSync(join(runsDir, pid), { recursive: true, force: true });
  }
}

const build = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], { stdio: 'inherit' });
const schemas = build.status === 0 ? spawnSync(process.execPath, [join(root, 'scripts/compile-schemas.mjs')], { stdio: 'inherit' }) : build;
// The CLI the tests run is the bundle of dist/ (bin/manage-apps.js), as an installed copy runs it.
const bundle = schemas.status === 0 ? spawnSync(process.execPath, [join(root, 'scripts/bundle.mjs')], { stdio: 'inherit' }) : schemas;
if (build.status !== 0 || schemas.status !== 0 || bundle.status !== 0) {
  console.error('build failed: tests not run');
  process.exit(2);
}
const compile = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.test.json'), '--outDir', outDir], { stdio: 'inherit' });
if (compile.status !== 0) {
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
// The files that take longest (minutes: real hosts under faults), slowest first, as measured in a
// full run (the spec reporter's top-level durations). They start first, so that none of them is
// still running alone at the end while the other lanes sit idle; the rest follow in name order.
// Only the order depends on this list: a file missing from it runs all the same, a little later.
const SLOW_FIRST = [
  'test/ops/prepare.test.js',
  'test/ops/move/move-db.test.js',
  'test/ops/move/move-compose.test.js',
  'test/ops/move/move-kinds.test.js',
  'test/ops/recover/recover.test.js',
  'test/data/backups-faults.test.js',
  'test/runtime/compose.test.js',
  'test/ops/edge-swap.test.js',
  'test/secrets/deliver-faults.test.js',
  'test/secrets/compose.test.js',
  'test/secrets/file-credentials.test.js',
  'test/ops/tunnels.test.js',
  'test/ops/jobs.test.js',
  'test/app/tenants-live.test.js',
  'test/drift/reapply-faults.test.js',
  'test/ops/install-configs.test.js',
  'test/ops/move/move.test.js',
  'test/drift/drift.test.js',
  'test/ops/promote.test.js',
  'test/ops/promote-compose.test.js',
  'test/data/provision.test.js',
  'test/runtime/launchd-release.test.js',
  'test/data/backups.test.js',
  'test/data/privileges.test.js',
];
const rank = (file) => {
  const i = SLOW_FIRST.indexOf(file.slice(outDir.length + 1));
  return i === -1 ? SLOW_FIRST.length : i;
};
const filter = process.argv.slice(2);
let files = collect(join(outDir, 'test'))
  .sort()
  .sort((a, b) => rank(a) - rank(b));
if (filter.length > 0) files = files.filter((f) => filter.some((part) => f.slice(outDir.length).includes(part)));
if (files.length === 0) {
  console.error(`no test file matches ${filter.join(' ')}`);
  process.exit(2);
}
// Tests never read or leave anything in the user's manifest cache.
const cacheDir = join(outDir, 'cache');
// Test files run side by side: most of their time is spent waiting on real hosts (ssh timeouts,
// health gates, revert windows), not on the CPU. Every file brings up its own test hosts with
// their own namespaces, addresses and storage, so files never share state.
// MANAGE_APPS_TEST_CONCURRENCY=1 runs them one at a time (to bisect a suspected interaction).
const concurrency = Number(process.env.MANAGE_APPS_TEST_CONCURRENCY ?? 4);
const run = spawnSync(process.execPath, ['--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files], {
  stdio: 'inherit',
  cwd: root,
  env: { ...process.env, MANAGE_APPS_CACHE_DIR: cacheDir },
});
rmSync(outDir, { recursive: true, force: true });
process.exit(run.status ?? 2);

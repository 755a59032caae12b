// manage-apps installed the way a fleet repository installs a CLI, outside this checkout: the
// tarball `npm pack` makes, installed with `npm install --save-dev ./manage-apps-*.tgz` into an
// empty directory and with `npm install -g` (into a throw-away prefix), then run there: `--version`
// and `validate` on a copy of the example fleet. Real npm, offline-first from the npm cache this
// machine already has (CI reaches only the npm registry; `npm ci` filled the cache).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { packageRoot } from '../../src/package-root.js';

const root = packageRoot();
const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
let work = '';
let tarball = '';

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) {
  // No npm_* variables of the test runner's own npm (they would point npm at this checkout).
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')));
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...clean, NO_COLOR: '1', ...env }, timeout: 240_000 });
  return {
    status: r.status,
    stdout: r.stdout ?? '',
    stderr: r.stderr ?? '',
    text: `${cmd} ${args.join(' ')} (exit ${r.status})\n${r.stdout}\n${r.stderr}`,
  };
}

const NPM_OFFLINE = ['--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'];

before(() => {
  work = mkdtempSync(join(tmpdir(), 'manage-apps-install-'));
  // dist/ was just built by the test runner: pack it as it is (the pack's own prepack/prepare
  // rebuild would rewrite dist/ under the test files running beside this one).
  const packed = run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], root);
  assert.equal(packed.status, 0, packed.text);
  const info = (JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[])[0]!;
  tarball = join(work, info.filename);
  assert.match(info.filename, /^manage-apps-.*\.tgz$/);
  // Only what runs: the launcher, the compiled code (no source maps), the schemas, the dashboard's assets.
  const outside = info.files
    .map((f) => f.path)
    .filter(
      (p) =>
        !/^(bin\/manage-apps\.js|dist\/.*\.js|dist\/schemas\/.*|schemas\/.*\.json|src\/dashboard\/assets\/.*|package\.json|README\.md|LICENSE)$/.test(
          p,
        ),
    );
  assert.deepEqual(outside, [], 'files outside what runs');
  assert.ok(!info.files.some((f) => f.path.startsWith('test/') || f.path.endsWith('.ts') || f.path.endsWith('.map')));
});

after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

function validateExample(bin: string, cwd: string) {
  cpSync(join(root, 'examples', 'fleet'), join(cwd, 'fleet'), { recursive: true });
  const v = run(bin, ['--version'], cwd);
  assert.equal(v.status, 0, v.text);
  assert.equal(v.stdout.trim(), version);
  const r = run(bin, ['validate', '--root', 'fleet', '--json'], cwd);
  assert.equal(r.status, 0, r.text);
  const report = JSON.parse(r.stdout) as { manifests: unknown[]; problems: unknown[] };
  assert.ok(report.manifests.length > 5, r.text);
  assert.deepEqual(report.problems, []);
  // A broken manifest is found and located by the installed copy too (its schemas ship with it).
  writeFileSync(
    join(cwd, 'fleet', 'projects', 'edge', '.infra.yaml'),
    `${readFileSync(join(cwd, 'fleet', 'projects', 'edge', '.infra.yaml'), 'utf8')}  prot: 80\n`,
  );
  const bad = run(bin, ['validate', '--root', 'fleet'], cwd);
  assert.equal(bad.status, 1, bad.text);
  assert.match(bad.stdout + bad.stderr, /projects\/edge\/\.infra\.yaml:\d+:\d+/);
}

test('npm install --save-dev ./manage-apps-*.tgz into an empty directory gives a working manage-apps (npx and node_modules/.bin)', () => {
  const dir = join(work, 'fleet-repo');
  mkdirSync(dir);
  const installed = run('npm', ['install', '--save-dev', tarball, ...NPM_OFFLINE], dir);
  assert.equal(installed.status, 0, installed.text);
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { devDependencies?: Record<string, string> };
  assert.ok(pkg.devDependencies?.['manage-apps'], JSON.stringify(pkg));
  // No devDependency of manage-apps was needed (none installed beside it).
  for (const dev of ['typescript', 'playwright-core', 'jsdom', 'mermaid', 'fast-check'])
    assert.equal(existsSync(join(dir, 'node_modules', dev)), false, `${dev} was installed`);
  validateExample(join(dir, 'node_modules', '.bin', 'manage-apps'), dir);
  const npx = run('npx', ['--no-install', 'manage-apps', '--version'], dir);
  assert.equal(npx.stdout.trim(), version, npx.text);
});

test('npm install -g from the tarball gives a manage-apps on the PATH', () => {
  const prefix = join(work, 'global');
  const installed = run('npm', ['install', '-g', '--prefix', prefix, tarball, ...NPM_OFFLINE], work);
  assert.equal(installed.status, 0, installed.text);
  const dir = join(work, 'elsewhere');
  mkdirSync(dir);
  validateExample(join(prefix, 'bin', 'manage-apps'), dir);
});

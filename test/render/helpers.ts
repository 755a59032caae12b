/**
 * Shared by the renderer tests: the fixture fleet, golden files, and the real
 * tools that read what we render (ssh, caddy, systemd-analyze, terraform, wg).
 *
 * Golden files live in test/render/golden/ and are compared byte for byte;
 * UPDATE_GOLDEN=1 npm test -- render rewrites them (review the diff before committing).
 */
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import type { TestContext } from 'node:test';
import { loadFleet, type LoadedFleet } from '../../src/load/fleet.js';
import { packageRoot } from '../../src/package-root.js';
import { locatorOf } from '../../src/load/locator.js';
import { type Locator } from '../../src/source/locator.js';

export const FIXTURE = join(packageRoot(), 'test/render/fixtures/fleet');
export const GOLDEN = join(packageRoot(), 'test/render/golden');

/** The fixture fleet (or a copy of it), loaded; it must load without errors. */
export async function loadFixture(root: string = FIXTURE): Promise<{ loaded: LoadedFleet; locator: Locator }> {
  const loaded = await loadFleet({ root });
  const errors = loaded.problems.filter((p) => p.severity === 'error');
  assert.deepEqual(errors, [], `the fixture fleet at ${root} must load cleanly`);
  return { loaded, locator: locatorOf(loaded) };
}

/** A private copy of the fixture fleet in a temp dir, optionally with files changed. */
export async function copyFixture(changes: Record<string, string> = {}): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'manage-apps-render-'));
  await cp(FIXTURE, root, { recursive: true });
  for (const [path, content] of Object.entries(changes)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), content);
  }
  return root;
}

export async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'manage-apps-out-'));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** Compares with test/render/golden/<name> byte for byte; UPDATE_GOLDEN=1 rewrites it. */
export async function expectGolden(name: string, actual: string): Promise<void> {
  const path = join(GOLDEN, name);
  if (process.env['UPDATE_GOLDEN'] === '1') {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, actual);
    return;
  }
  let expected: string;
  try {
    expected = await readFile(path, 'utf8');
  } catch {
    assert.fail(`golden file ${name} is missing: run UPDATE_GOLDEN=1 npm test -- render and review it`);
  }
  assert.equal(actual, expected, `rendering differs from golden file ${name} (UPDATE_GOLDEN=1 to accept a deliberate change)`);
}

/** Where a tool is on PATH (plus the sbin directories root has), or undefined. */
export function which(name: string): string | undefined {
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const dir of dirs) {
    if (dir !== '' && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/**
 * The real tool, or a skip when it is not installed here. Under CI a missing tool
 * fails the test (a check that silently did not run is not a check), except one
 * that no package registry here provides (`installable: false`, i.e. terraform):
 * that one is skipped with a diagnostic.
 */
export function requireTool(t: TestContext, name: string, install: string, options: { installable?: boolean } = {}): string | undefined {
  const path = which(name);
  if (path) return path;
  if (process.env['CI'] && options.installable !== false) assert.fail(`${name} is not installed (CI must install it: ${install})`);
  t.diagnostic(`${name} is not installed (${install}): this check did not run`);
  t.skip(`${name} is not installed (${install})`);
  return undefined;
}

export interface Ran {
  status: number;
  stdout: string;
  stderr: string;
}

export function run(command: string, args: string[], options: SpawnSyncOptions = {}): Ran {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: 120_000, ...options });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

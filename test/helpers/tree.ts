/** Temporary project trees for tests: files from a map, cleaned up by the caller. */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { loadFleet, type LoadedFleet } from '../../src/load/fleet.js';
import { packageRoot } from '../../src/package-root.js';
import type { Problem } from '../../src/problems.js';

export async function makeTree(files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'manage-apps-test-'));
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), content);
  }
  return root;
}

export async function removeTree(root: string): Promise<void> {
  await rm(root, { recursive: true, force: true });
}

/** Builds a tree, loads it as a fleet, removes it. */
export async function loadTree(files: Record<string, string>): Promise<LoadedFleet> {
  const root = await makeTree(files);
  try {
    return await loadFleet({ root });
  } finally {
    await removeTree(root);
  }
}

export function rulesOf(problems: readonly Problem[]): string[] {
  return problems.map((p) => p.rule);
}

export function find(problems: readonly Problem[], rule: string): Problem | undefined {
  return problems.find((p) => p.rule === rule);
}

/** A small valid inventory; tests override parts of it. */
export function inventory(overrides: Record<string, unknown> = {}): string {
  const base = {
    version: 1,
    mesh: { cidr: '10.9.0.0/24', hub: 'hub' },
    hosts: {
      hub: { provider: 'digitalocean', role: 'production', mesh_ip: '10.9.0.1' },
      core: { provider: 'bare-metal', role: 'production', mesh_ip: '10.9.0.11', address: '10.0.0.11', user: 'ops' },
      mini: { provider: 'mac', role: 'production', mesh_ip: '10.9.0.4' },
      devbox: { provider: 'bare-metal', role: 'dev', mesh_ip: '10.9.0.13' },
      laptop: { provider: 'local', role: 'workstation', local: true },
      legacy: { provider: 'bare-metal', role: 'legacy', mesh_ip: '10.9.0.30', frozen: { reason: 'draining', carries: ['identity'] } },
    },
    clusters: {
      'core-pg': { host: 'core', port: 25435, engine: 'postgres' },
    },
  };
  return `${JSON.stringify({ ...base, ...overrides }, null, 2)}\n`;
}

/** Runs the real CLI (dist must be built; scripts/run-tests.mjs does it). */
export function cli(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): { status: number; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [join(packageRoot(), 'bin/manage-apps.js'), ...args], {
    cwd: options.cwd ?? packageRoot(),
    env: { ...process.env, NO_COLOR: '1', ...options.env },
    encoding: 'utf8',
  });
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

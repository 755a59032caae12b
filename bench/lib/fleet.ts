/** The test fleet a benchmark runs on: booted, given a work directory, always torn down. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sshBaseArgs } from '../../src/transport/ssh.js';
import { TestFleet } from '../../test/harness/test-fleet.js';
import { run } from './measure.js';

type Spec = Parameters<typeof TestFleet.up>[0];
type Options = Parameters<typeof TestFleet.up>[1];

/**
 * Boots the fleet, makes a work directory (`prefix` + random), runs `body`, then — whatever
 * happened — takes the fleet down and removes the directory.
 */
export async function withBenchFleet<T>(
  spec: Spec,
  options: Options,
  prefix: string,
  body: (fleet: TestFleet, work: string) => Promise<T>,
): Promise<T> {
  const fleet = await TestFleet.up(spec, options);
  const work = mkdtempSync(join(tmpdir(), prefix));
  try {
    return await body(fleet, work);
  } finally {
    await fleet.down();
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * A fleet root of `perHost` tiny HTTP services on every host of `fleet` (ports 9001…, released
 * from an `app` directory holding `tiny-http.mjs`), each manifest followed by `extra` lines
 * (indented under `service:`). Returns the projects.
 */
export function writeTinyServicesRoot(
  root: string,
  fleet: TestFleet,
  perHost: number,
  app: string,
  extra = '',
): { host: string; project: string; port: number }[] {
  mkdirSync(root);
  writeFileSync(
    join(root, 'mesh-hosts.json'),
    JSON.stringify({
      version: 1,
      hosts: Object.fromEntries(fleet.hosts.map((h) => [h.name, { alias: h.alias, address: h.address, provider: 'bare-metal', role: 'production' }])),
    }),
  );
  const projects = fleet.hosts.flatMap((h) =>
    Array.from({ length: perHost }, (_, j) => ({ host: h.name, project: `${h.name}-app${j + 1}`, port: 9001 + j })),
  );
  for (const p of projects) {
    mkdirSync(join(root, p.project, 'app'), { recursive: true });
    writeFileSync(join(root, p.project, 'app', 'tiny-http.mjs'), app);
    writeFileSync(
      join(root, p.project, '.infra.yaml'),
      `apiVersion: infra/v2\nproject: ${p.project}\nprovider: bare-metal\nservice:\n  host: ${p.host}\n  port: ${p.port}\n  command: node tiny-http.mjs\n  artifact: app\n  health: { timeout: 30s }\n${extra}`,
    );
  }
  return projects;
}

/**
 * ssh control directories for timing cold and warm connections: `fresh()` makes a new one (0700);
 * `cold(f)` times `f` with a fresh one, then closes the masters it left, so the next cold run
 * starts with none.
 */
export function controlDirs(fleet: TestFleet, work: string) {
  const fresh = () => {
    const dir = join(work, `cm-${Math.random().toString(36).slice(2, 8)}`);
    mkdirSync(dir, { mode: 0o700 });
    return dir;
  };
  const dropMasters = (dir: string) =>
    Promise.all(
      fleet.hosts.map((h) => run('ssh', [...sshBaseArgs({ configFile: fleet.sshConfigPath, controlDir: dir }), '-O', 'exit', '--', h.alias])),
    );
  const cold = (f: (d: string) => Promise<number>) => async () => {
    const d = fresh();
    const ms = await f(d);
    await dropMasters(d);
    return ms;
  };
  return { fresh, cold };
}

/**
 * Fixtures for the data-layer tests on real test hosts: a fleet root with a PostgreSQL cluster
 * and projects whose services read their database credentials from their env files, an app
 * whose readiness is a real query with those credentials, a `ps` sampler, and the CLI with
 * its stderr lines as they come (to cut a run at a chosen step).
 */
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { packageRoot } from '../../src/package-root.js';
import type { TestFleet } from '../harness/test-fleet.js';
import type { CliRun } from '../ops/helpers.js';

export interface ProjectSpec {
  name: string;
  host: string;
  port: number;
  cluster: string;
  /** Extra service lines (YAML, indented two spaces). */
  service?: string;
  /** Extra database lines (YAML, indented two spaces). */
  database?: string;
}

/** The app: /readyz answers 200 only when `psql` with the service's own PG* variables can run a query. */
export const DB_APP = `import { createServer } from 'node:http';
import { execFile } from 'node:child_process';
const query = (sql) => new Promise((resolve) => execFile('psql', ['-XAtc', sql], { timeout: 3000 }, (err, out, errOut) => resolve(err ? { ok: false, text: String(errOut || err.message) } : { ok: true, text: String(out).trim() })));
createServer(async (req, res) => {
  if (req.url === '/livez') { res.writeHead(200); res.end('alive\\n'); return; }
  const r = await query('SELECT current_user || \\' \\' || current_database()');
  res.writeHead(r.ok ? 200 : 503); res.end(r.text + '\\n');
}).listen(Number(process.env.PORT));
`;

export async function dataRoot(
  fleet: TestFleet,
  clusters: Record<string, { host: string; port: number; engine?: string; backup?: unknown }>,
  projects: readonly ProjectSpec[],
  files: Record<string, string> = {},
): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'manage-apps-data-'));
  const inventory = {
    version: 1,
    mesh: { cidr: '10.98.0.0/16' },
    hosts: Object.fromEntries(fleet.hosts.map((h) => [h.name, { alias: h.alias, address: h.address, provider: 'bare-metal', role: 'production' }])),
    clusters: Object.fromEntries(Object.entries(clusters).map(([n, c]) => [n, { engine: 'postgres', ...c }])),
  };
  await writeFile(join(root, 'mesh-hosts.json'), JSON.stringify(inventory, null, 2));
  for (const p of projects) {
    await mkdir(join(root, p.name, 'app'), { recursive: true });
    await writeFile(join(root, p.name, 'app', 'server.mjs'), DB_APP);
    await writeFile(
      join(root, p.name, '.infra.yaml'),
      `apiVersion: infra/v2\nproject: ${p.name}\nprovider: bare-metal\ndatabase:\n  cluster: ${p.cluster}\n  name: ${p.name}_db\n  user: ${p.name}_app\n${p.database ?? ''}service:\n  host: ${p.host}\n  port: ${p.port}\n  command: node server.mjs\n  artifact: app\n  user: ${p.name}\n  env_file: /etc/${p.name}/env\n  health: { timeout: 8s }\n${p.service ?? ''}`,
    );
  }
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(root, path, '..'), { recursive: true });
    await writeFile(join(root, path), content, { mode: 0o755 });
  }
  return root;
}

/** `ps -eo args` sampled every ~20 ms on hosts and on this machine until stop() is called. */
export function sampleProcesses(fleet: TestFleet, hosts: readonly string[]): { stop: () => Promise<string> } {
  const marker = `/tmp/ma-stop-sampling-${process.pid}-${Date.now()}`;
  const remote = hosts.map((h) =>
    fleet.ssh(h, `rm -f ${marker}; while [ ! -e ${marker} ]; do ps -eo args; sleep 0.02; done; rm -f ${marker}`, { timeoutMs: 300_000 }),
  );
  const local: string[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      local.push((await promisify(execFile)('ps', ['-eo', 'args'], { maxBuffer: 1 << 24 })).stdout);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await Promise.all(hosts.map((h) => fleet.ssh(h, `touch ${marker}`)));
      const outs = await Promise.all(remote);
      await loop;
      return [...outs.map((o) => o.stdout), ...local].join('\n');
    },
  };
}

/** The CLI, with each stderr line handed to `onLine` as it comes (the test may kill it there). */
export function cliWatched(args: string[], env: NodeJS.ProcessEnv, onLine: (line: string, pid: number) => void): Promise<CliRun> {
  const t0 = Date.now();
  const child = spawn(process.execPath, [join(packageRoot(), 'bin/manage-apps.js'), ...args], {
    env: { ...process.env, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let partial = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => {
    stderr += c;
    partial += c;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) onLine(l, child.pid!);
  });
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr, ms: Date.now() - t0 })));
}

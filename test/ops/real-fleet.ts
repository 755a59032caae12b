/**
 * Fixtures for ops tests on real test hosts: a fleet root (inventory + manifests) pointing at
 * the harness's hosts, unit files for prepareHost, and HTTP app artifacts by version.
 */
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { FleetHost } from '../harness/test-fleet.js';

/** A fleet root whose inventory lists the test hosts (alias = the harness's ssh alias). */
export async function fleetRoot(hosts: readonly FleetHost[], files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'manage-apps-ops-'));
  const inventory = {
    version: 1,
    mesh: { cidr: '10.98.0.0/16' },
    hosts: Object.fromEntries(hosts.map((h) => [h.name, { alias: h.alias, provider: 'bare-metal', role: 'production' }])),
  };
  await writeFile(join(root, 'mesh-hosts.json'), JSON.stringify(inventory, null, 2));
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), content, { mode: path.endsWith('.sh') ? 0o755 : 0o644 });
  }
  return root;
}

/** A systemd unit running a node script, for prepareHost. */
export function nodeUnit(script: string, env: Record<string, string>, options: { restart?: boolean } = {}): string {
  return [
    '[Unit]',
    'Description=test service',
    '[Service]',
    ...Object.entries(env).map(([k, v]) => `Environment=${k}=${v}`),
    `ExecStart=/usr/bin/node ${script}`,
    ...(options.restart === false ? [] : ['Restart=on-failure', 'RestartSec=1s']),
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

export interface AppVersion {
  version: string;
  /** /readyz answers 503 for this long after start. */
  readyAfterMs?: number;
  /** /readyz always answers 503 with this body. */
  notReady?: string;
  /** Exits on start with this message. */
  crash?: string;
  /** /readyz answers 503 until this file exists on the host (a gate the test opens when it chooses, whatever the machine's load). */
  readyWhenFile?: string;
}

/** The release of a small HTTP app (listening on all addresses, so the test can reach it). */
export function appSource(v: AppVersion): string {
  return `import { createServer } from 'node:http';
import { existsSync } from 'node:fs';
const VERSION = ${JSON.stringify(v.version)};
${v.crash ? `console.error(${JSON.stringify(v.crash)}); process.exit(3);` : ''}
const started = Date.now();
createServer((req, res) => {
  if (req.url === '/readyz') {
    ${v.notReady ? `res.writeHead(503); res.end(${JSON.stringify(`${v.notReady}\n`)}); return;` : ''}
    const ok = Date.now() - started >= ${v.readyAfterMs ?? 0}${v.readyWhenFile ? ` && existsSync(${JSON.stringify(v.readyWhenFile)})` : ''};
    res.writeHead(ok ? 200 : 503); res.end(ok ? 'ready\\n' : 'warming up\\n'); return;
  }
  if (req.url === '/livez') { res.writeHead(200); res.end('alive\\n'); return; }
  res.writeHead(200); res.end(VERSION + '\\n');
}).listen(Number(process.env.PORT), () => console.log('app ' + VERSION + ' listening on ' + process.env.PORT));
`;
}

export async function artifactDir(base: string, v: AppVersion): Promise<string> {
  const dir = join(base, `artifact-${v.version}`);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'server.mjs'), appSource(v));
  await writeFile(join(dir, 'VERSION'), `${v.version}\n`);
  return dir;
}

// What `hosts prepare` derives from the model (src/hosts/requirements.ts), the scripts it sends
// (real POSIX sh: parsed by dash -n), and the declaration of a cluster's own server as a project
// (service.cluster): valid, no port clash, no missing backup policy; wrong ones located.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { FleetIndex } from '../../src/analysis/topology.js';
import { backupReport } from '../../src/analysis/backups.js';
import { loadFleet } from '../../src/load/fleet.js';
import { hostRequirements } from '../../src/hosts/requirements.js';
import { resolveDatabase } from '../../src/data/declared.js';
import { applyScript, aptPackage, checkScript, macInstruction } from '../../src/hosts/scripts.js';
import { defaultLocator } from '../../src/source/locator.js';
import { resolveTunnels } from '../../src/tunnels/resolve.js';

async function root(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'manage-apps-req-'));
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), content);
  }
  return dir;
}

const inventory = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    hosts: {
      edge: { address: '10.0.0.1', provider: 'bare-metal', role: 'production' },
      db: { address: '10.0.0.2', provider: 'bare-metal', role: 'production' },
      app: { address: '10.0.0.3', provider: 'bare-metal', role: 'production' },
      laptop: { address: '10.0.0.9', provider: 'mac', role: 'dev' },
    },
    clusters: {
      main: { host: 'db', port: 5432, engine: 'postgres', version: '15', backup: { rpo: '1d', rto: '1h', method: 'restic', target: 'app' } },
      cache: { host: 'db', port: 6379, engine: 'redis' },
    },
    tunnels: [{ name: 'pg', from: 'edge', to: 'db', ports: [15432] }],
    ...extra,
  });

const manifest = (project: string, service: string, database = '') =>
  `apiVersion: infra/v2\nproject: ${project}\nprovider: bare-metal\nservice:\n${service}${database}`;

const BASE = {
  'mesh-hosts.json': inventory(),
  'caddy/.infra.yaml': manifest('caddy', '  host: edge\n  kind: edge\n  port: 443\n  systemd_unit: caddy.service\n'),
  'api/.infra.yaml': manifest(
    'api',
    '  host: app\n  port: 7300\n  command: node server.js\n  user: api\n  env_file: /etc/api/env\n',
    'database:\n  cluster: main\n  name: api\n  user: api\n',
  ),
  'local/.infra.yaml': manifest(
    'local',
    '  host: db\n  port: 7301\n  command: node w.js\n  directory: /opt/local\n  env_file: /etc/local/env\n',
    'database:\n  cluster: main\n  name: local\n  user: local\n',
  ),
  'shop/.infra.yaml': manifest('shop', '  host: app\n  port: 7400\n  compose:\n    file: compose.yaml\n    service: web\n'),
  'shop/compose.yaml': 'services:\n  web:\n    image: shop:1\n    ports: ["7400:80"]\n',
  'notes/.infra.dev.yaml':
    'apiVersion: infra/v2\nproject: notes\nenvironment: dev\nprovider: mac\nservice:\n  host: laptop\n  port: 7500\n  compose:\n    file: compose.yaml\n    service: notes\n',
  'notes/compose.yaml': 'services:\n  notes:\n    image: notes:1\n    ports: ["7500:80"]\n',
};

async function derive(files: Record<string, string>) {
  const loaded = await loadFleet({ root: await root(files) });
  const tunnels = resolveTunnels(new FleetIndex(loaded.fleet), defaultLocator(loaded.fleet.inventoryFile)).tunnels;
  return { loaded, ...hostRequirements(loaded.fleet, tunnels) };
}

test('each host gets what the model declares for it, and nothing else', async () => {
  const { loaded, hosts, notes } = await derive(BASE);
  assert.deepEqual(
    loaded.problems.filter((p) => p.severity === 'error'),
    [],
  );
  const ids = (name: string) => hosts.find((h) => h.host.name === name)!.requirements.map((r) => r.id);
  assert.deepEqual(ids('edge'), ['program:caddy', 'account:ma-tunnel', 'unit:caddy.service']);
  assert.deepEqual(ids('db'), ['program:postgresql', 'account:ma-tunnel-open', 'directory:/opt/local', 'cluster:main']);
  assert.deepEqual(ids('app'), [
    'program:compose',
    'program:docker',
    'program:postgresql',
    'program:restic',
    'account:api',
    'directory:/srv/api',
    'directory:/srv/shop',
    'unit:docker.service',
  ]);
  assert.deepEqual(
    notes.map((n) => n.message),
    ['cluster cache is redis: only PostgreSQL clusters are prepared'],
  );
  // The cluster listens on loopback and on the address the API on another host dials; the co-located service adds nothing.
  const cluster = hosts.find((h) => h.host.name === 'db')!.requirements.find((r) => r.id === 'cluster:main')!;
  assert.deepEqual(cluster.need, { kind: 'cluster', cluster: 'main', version: '15', port: 5432, listen: ['localhost', '10.0.0.2'] });
  assert.deepEqual(cluster.why, ['cluster main']);
  // The backup target's drills restore with the cluster's version.
  const pg = hosts.find((h) => h.host.name === 'app')!.requirements.find((r) => r.id === 'program:postgresql')!;
  assert.equal(aptPackage('postgresql', (pg.need as { version?: string }).version), 'postgresql-15');
  assert.deepEqual(pg.why, ['restore drills of cluster main']);
  // A Mac is told, never installed; it has no systemd units to check.
  const mac = hosts.find((h) => h.host.name === 'laptop')!;
  assert.equal(mac.platform, 'mac');
  assert.deepEqual(
    mac.requirements.map((r) => r.id),
    ['program:compose', 'program:docker', 'directory:/srv/notes'],
  );
  assert.match(macInstruction(mac.requirements[1]!.need), /Docker Desktop/);
  assert.match(macInstruction({ kind: 'account', user: 'notes', home: '/var/lib/notes', homeOwner: 'self' }), /sysadminctl -addUser notes/);
  assert.match(macInstruction({ kind: 'program', capability: 'postgresql', version: '15' }), /^brew install postgresql@15$/);
});

test('a cluster only its own host uses listens on loopback alone', async () => {
  const { hosts } = await derive({ ...BASE, 'api/.infra.yaml': manifest('api', '  host: app\n  port: 7300\n  command: node server.js\n') });
  const cluster = hosts.find((h) => h.host.name === 'db')!.requirements.find((r) => r.id === 'cluster:main')!;
  assert.deepEqual((cluster.need as { listen: string[] }).listen, ['localhost']);
});

test('the check and apply scripts are POSIX sh (dash parses them) and quote what the model names', async () => {
  const { hosts } = await derive(BASE);
  for (const h of hosts) {
    for (const script of [
      checkScript(h),
      applyScript(
        h,
        new Map([
          ['program:postgresql', 'postgresql-15'],
          ['program:restic', 'restic'],
        ]),
      ),
    ]) {
      const r = spawnSync('dash', ['-n'], { input: script, encoding: 'utf8' });
      assert.equal(r.status, 0, `${h.host.name}: ${r.stderr}`);
    }
  }
  // The body runs as root through one quoted `sh -c` word: nothing in it reaches the outer shell unquoted.
  const db = hosts.find((h) => h.host.name === 'db')!;
  assert.match(checkScript(db), /^if \[ "\$\(id -u\)" = 0 \]; then sh -c '/);
});

test("a cluster's own server declared as a project is valid: no port clash, its backups are the cluster's", async () => {
  const files = {
    ...BASE,
    'pg/.infra.yaml': manifest('pg', '  host: db\n  cluster: main\n  port: 5432\n  systemd_unit: postgresql@15-main.service\n  stateful: true\n'),
  };
  const { loaded, hosts } = await derive(files);
  assert.deepEqual(
    loaded.problems.filter((p) => p.severity === 'error').map((p) => `${p.rule}: ${p.message}`),
    [],
  );
  const report = backupReport(new FleetIndex(loaded.fleet));
  assert.deepEqual(
    report.missing.filter((m) => m.name === 'pg'),
    [],
  );
  // No release directory for it: the cluster's directories are PostgreSQL's.
  assert.ok(!hosts.find((h) => h.host.name === 'db')!.requirements.some((r) => r.id === 'directory:/srv/pg'));
});

test('service.cluster naming no cluster, another host or another port is a located cluster_service error', async () => {
  const bad = async (service: string) => {
    const { loaded } = await derive({ ...BASE, 'pg/.infra.yaml': manifest('pg', service) });
    return loaded.problems.filter((p) => p.rule === 'cluster_service').map((p) => `${p.file}:${p.line} ${p.message}`);
  };
  assert.deepEqual(await bad('  host: db\n  cluster: mian\n'), ['pg/.infra.yaml:6 pg supervises cluster "mian", which is not in mesh-hosts.json']);
  assert.deepEqual(await bad('  host: app\n  cluster: main\n'), [
    'pg/.infra.yaml:5 pg supervises cluster "main", which the inventory puts on "db", not "app"',
  ]);
  assert.deepEqual(await bad('  host: db\n  cluster: main\n  port: 5433\n'), [
    'pg/.infra.yaml:7 pg supervises cluster "main" on port 5433, but the cluster listens on 5432',
  ]);
});

test('a fleet on a LAN without a mesh: the database is reached over the LAN (cluster listens there, pg_hba admits the service host)', async () => {
  const lanOnly = JSON.stringify({
    hosts: {
      db: { lan: '192.168.5.2', provider: 'bare-metal', role: 'production' },
      app: { lan: '192.168.5.3', provider: 'bare-metal', role: 'production' },
    },
    clusters: { main: { host: 'db', port: 5433, engine: 'postgres', version: '15' } },
  });
  const dir = await root({ 'mesh-hosts.json': lanOnly, 'api/.infra.yaml': BASE['api/.infra.yaml'] });
  const { fleet } = await loadFleet({ root: dir });
  const [declared] = fleet.databases.map((d) => resolveDatabase(fleet, d));
  assert.ok(declared && 'clusterHost' in declared);
  assert.equal(declared.undeliverable, undefined, 'the credentials can be delivered');
  assert.equal(declared.connectHost, '192.168.5.2', "DATABASE_URL names the cluster host's LAN address");
  assert.equal(declared.clientCidr, '192.168.5.3/32', "pg_hba.conf admits the service host's LAN address");
  const tunnels = resolveTunnels(new FleetIndex(fleet), defaultLocator(fleet.inventoryFile)).tunnels;
  const db = hostRequirements(fleet, tunnels).hosts.find((h) => h.host.name === 'db')!;
  const cluster = db.requirements.find((r) => r.id === 'cluster:main')!.need;
  assert.deepEqual(cluster.kind === 'cluster' ? cluster.listen : [], ['localhost', '192.168.5.2']);
});

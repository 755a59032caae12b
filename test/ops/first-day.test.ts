// A first day on fresh hosts, end to end (issue 28): three test hosts with nothing beside the base
// image — Caddy, PostgreSQL and Docker not installed (test/harness/fresh-hosts.ts: purged; apt reads
// a local repository) — and a small team's fleet: an API with its own database on a PostgreSQL
// cluster, behind a Caddy edge, on a LAN without a WireGuard mesh. `hosts prepare --apply` installs
// what the model declares; then the flow the README and docs describe: `db provision`, `deploy`,
// `net caddy --apply`; `status` exits 0, the API answers through the edge over TLS, and a second
// `hosts prepare --apply` changes nothing.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freshHostsSkipReason } from '../harness/fresh-hosts.js';
import { realHostsSkipReason, TestFleet } from '../harness/test-fleet.js';
import { eventually, json, runCli } from './helpers.js';
import { appSource, fleetRoot } from './real-fleet.js';

const EDGE = 'edge1';
const API = 'app1';
const DB = 'db1';
const SITE = 'api.internal';
const PG_PORT = 5433;

interface PrepareDoc {
  ok: boolean;
  changed: number;
  missing: number;
  hosts: { host: string; items: { id: string; state: string; detail: string }[] }[];
}

function httpsGet(address: string, site: string): Promise<string> {
  return new Promise((resolve) => {
    const req = request(
      { host: address, port: 443, path: '/', servername: site, headers: { host: site }, rejectUnauthorized: false, timeout: 5000 },
      (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve(`${res.statusCode} ${body.trim()}`));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve(e.message));
    req.end();
  });
}

describe(
  'a first day on fresh hosts: prepare, provision, deploy, apply the edge, status',
  { skip: realHostsSkipReason() ?? (process.env.CI === 'true' ? undefined : freshHostsSkipReason()), timeout: 1_200_000 },
  () => {
    let fleet: TestFleet;
    let root = '';
    let control = '';
    const args = (...a: string[]) => [...a, '--root', root, '--ssh-config', fleet.sshConfigPath, '--connect-timeout', '3'];
    const cli = (...a: string[]) => runCli(args(...a), { MANAGE_APPS_CONTROL_DIR: control });
    const inHost = async (h: string, script: string) => (await fleet.ssh(h, script, { timeoutMs: 60_000 })).stdout.trim();
    const items = (doc: PrepareDoc, host: string, state: string) =>
      doc.hosts
        .find((h) => h.host === host)!
        .items.filter((i) => i.state === state)
        .map((i) => i.id)
        .sort();

    before(async () => {
      const t0 = Date.now();
      fleet = await TestFleet.up({ names: [EDGE, API, DB] }, { fresh: true });
      console.log(`# three fresh hosts up (Caddy, PostgreSQL, Docker purged) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      control = mkdtempSync(join(tmpdir(), 'manage-apps-first-day-cm-'));
      root = await fleetRoot(fleet.hosts, {
        // As docs/inventory.md and the example fleet declare an edge.
        'edge/.infra.yaml': `apiVersion: infra/v2\nproject: edge\nprovider: bare-metal\nservice:\n  host: ${EDGE}\n  port: 443\n  kind: edge\n  systemd_unit: caddy.service\n`,
        'api/.infra.yaml': `apiVersion: infra/v2\nproject: api\nprovider: bare-metal\nservice:\n  host: ${API}\n  port: 7300\n  command: node server.mjs\n  artifact: dist\n  user: api\n  env_file: /etc/api/env\n  domains: [${SITE}]\ndatabase:\n  cluster: apps\n  name: api\n  user: api\n`,
        'api/dist/server.mjs': appSource({ version: 'v1' }),
        'mesh-hosts.json': JSON.stringify({
          version: 1,
          // A LAN, no mesh: each host's address on it.
          hosts: Object.fromEntries(fleet.hosts.map((h) => [h.name, { alias: h.alias, lan: h.address, provider: 'bare-metal', role: 'production' }])),
          clusters: { apps: { host: DB, port: PG_PORT, engine: 'postgres', version: '15' } },
        }),
      });
      const valid = await runCli(['validate', '--root', root]);
      assert.equal(valid.status, 0, valid.stdout + valid.stderr);
    });

    after(async () => {
      await fleet?.down();
      for (const d of [root, control]) if (d) rmSync(d, { recursive: true, force: true });
    });

    test('on fresh hosts the programs are missing, and hosts prepare --apply installs them; a second run changes nothing', async () => {
      assert.equal(await inHost(EDGE, 'command -v caddy || echo none'), 'none');
      assert.equal(await inHost(DB, 'command -v pg_createcluster || echo none'), 'none');
      assert.equal(await inHost(API, 'command -v dockerd || echo none'), 'none');
      const check = json<PrepareDoc>(await cli('hosts', 'prepare', '--json'));
      assert.deepEqual(items(check, EDGE, 'missing'), ['program:caddy', 'unit:caddy.service']);
      assert.ok(items(check, DB, 'missing').includes('program:postgresql'), JSON.stringify(check.hosts));
      assert.ok(items(check, DB, 'missing').includes('cluster:apps'));

      const t0 = Date.now();
      const applied = await cli('hosts', 'prepare', '--apply', '--json');
      const doc = json<PrepareDoc>(applied);
      console.log(`# hosts prepare --apply on three fresh hosts: ${doc.changed} items installed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      assert.equal(applied.status, 0, JSON.stringify(doc.hosts, null, 1) + applied.stderr);
      assert.ok(items(doc, EDGE, 'installed').includes('program:caddy'));
      assert.ok(items(doc, DB, 'installed').includes('program:postgresql'));
      assert.ok(items(doc, DB, 'installed').includes('cluster:apps'));
      assert.ok(items(doc, API, 'installed').includes('account:api'));
      assert.equal(await inHost(EDGE, 'systemctl is-active caddy.service'), 'active');
      assert.match(await inHost(DB, `pg_lsclusters -h 15 apps`), new RegExp(`^15 +apps +${PG_PORT} +online`));

      const again = await cli('hosts', 'prepare', '--apply', '--json');
      assert.equal(again.status, 0, again.stdout);
      assert.equal(json<PrepareDoc>(again).changed, 0, 'a second run changes nothing');
    });

    test('the flow the README describes: db provision, deploy, net caddy --apply; status exits 0 and the API answers through the edge', async () => {
      const provisioned = await cli('db', 'provision');
      assert.equal(provisioned.status, 0, provisioned.stdout + provisioned.stderr);
      const deployed = await cli('deploy', 'api');
      assert.equal(deployed.status, 0, deployed.stdout + deployed.stderr);
      // The API's settings reach it: its env file, owned by its account, has the database's.
      const env = await fleet.ssh(API, 'stat -c %U /etc/api/env; grep -c "^DATABASE_URL=" /etc/api/env');
      assert.match(env.stdout.trim(), /^api\n1$/, `${env.stderr}\n--- db provision:\n${provisioned.stdout}${provisioned.stderr}`);
      const edge = await cli('net', 'caddy', '--apply');
      assert.equal(edge.status, 0, edge.stdout + edge.stderr);
      assert.match(edge.stdout, /edge1: \/etc\/caddy\/Caddyfile installed, reloaded gracefully/);
      const address = fleet.host(EDGE).address;
      await eventually('the API answers through the edge over TLS', 30_000, async () => (await httpsGet(address, SITE)) === '200 v1');
      const status = await cli('status');
      assert.equal(status.status, 0, status.stdout + status.stderr);
      const db = await cli('db', 'status');
      assert.equal(db.status, 0, db.stdout + db.stderr);
    });
  },
);

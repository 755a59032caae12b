// A first fleet as the docs declare it, on real test hosts with a real Caddy: an edge of kind
// `edge` on port 443 (`caddy.service`) serving a non-public name with Caddy's internal CA, routing
// to an app on another host over the LAN they share — no WireGuard mesh, no mesh_ip: the
// inventory declares each host's `lan` address only. `status` must probe the edge the way it serves (TLS with a name it serves) and exit 0
// once everything runs; the same probe over plain HTTP (what status did before) gets Caddy's 400.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { realHostsSkipReason, TestFleet } from '../harness/test-fleet.js';
import { eventually, json, runCli } from './helpers.js';
import { artifactDir, fleetRoot } from './real-fleet.js';

const EDGE = 'e1';
const APP = 'a1';
const SITE = 'shop.internal';

describe(
  'a first fleet behind a real Caddy edge on 443',
  {
    skip: realHostsSkipReason() ?? (existsSync('/usr/bin/caddy') || process.env.CI === 'true' ? undefined : 'caddy is not installed'),
    timeout: 300_000,
  },
  () => {
    let fleet: TestFleet;
    let root = '';
    let work = '';
    let controlDir = '';
    const env = () => ({ MANAGE_APPS_CONTROL_DIR: controlDir });
    const args = (...a: string[]) => [...a, '--root', root, '--ssh-config', fleet.sshConfigPath, '--connect-timeout', '2'];
    const cli = (...a: string[]) => runCli(args(...a), env());
    const inHost = async (h: string, script: string) => (await fleet.exec(h, ['sh', '-c', script])).stdout.trim();

    before(async () => {
      fleet = await TestFleet.up({ names: [EDGE, APP] });
      work = mkdtempSync(join(tmpdir(), 'manage-apps-first-'));
      controlDir = mkdtempSync(join(tmpdir(), 'manage-apps-cm-'));
      root = await fleetRoot(fleet.hosts, {
        // As docs/inventory.md and the example fleet declare an edge.
        'edge/.infra.yaml': `apiVersion: infra/v2\nproject: edge\nprovider: bare-metal\nservice:\n  host: ${EDGE}\n  port: 443\n  kind: edge\n  systemd_unit: caddy.service\n`,
        'shop/.infra.yaml': `apiVersion: infra/v2\nproject: shop\nprovider: bare-metal\nservice:\n  host: ${APP}\n  port: 8081\n  command: node server.mjs\n  domains: [${SITE}]\n  health: { timeout: 5s }\n`,
      });
      // No mesh: each host's LAN address (the test network is one /24).
      const inventory = {
        version: 1,
        hosts: Object.fromEntries(fleet.hosts.map((h) => [h.name, { alias: h.alias, provider: 'bare-metal', role: 'production', lan: h.address }])),
      };
      writeFileSync(join(root, 'mesh-hosts.json'), JSON.stringify(inventory, null, 2));
      const r = await runCli(['net', 'caddy', '--json', '--root', root]);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      const file = json<{ files: { path: string; content: string }[] }>(r).files.find((x) => x.path === `${EDGE}.Caddyfile`)!;
      assert.match(file.content, /tls internal/);
      assert.match(
        file.content,
        new RegExp(`reverse_proxy ${fleet.host(APP).address.replace(/\./g, '\\.')}:8081`),
        'the edge dials the app over the LAN',
      );
      const text = Buffer.from(file.content).toString('base64');
      const out = await fleet.exec(EDGE, ['sh', '-c', `echo ${text} | base64 -d > /etc/caddy/Caddyfile && systemctl restart caddy.service`]);
      assert.equal(out.exitCode, 0, out.stderr);
      const deployed = await cli('deploy', 'shop', '--artifact', await artifactDir(work, { version: 'v1' }));
      assert.equal(deployed.status, 0, deployed.stdout + deployed.stderr);
      await eventually(
        'caddy serves the site over TLS',
        30_000,
        async () => (await inHost(EDGE, `curl -sk --max-time 2 --resolve ${SITE}:443:127.0.0.1 https://${SITE}/`)) === 'v1',
      );
    });

    after(async () => {
      await fleet?.down();
      for (const d of [root, work, controlDir]) if (d) rmSync(d, { recursive: true, force: true });
    });

    test('a LAN-only fleet routes through its edge: requests to the site through the edge reach the app on the other host', async () => {
      const address = fleet.host(EDGE).address;
      let ok = 0;
      for (let i = 0; i < 20; i++) {
        const r = spawnSync('curl', ['-sk', '--max-time', '3', '--resolve', `${SITE}:443:${address}`, `https://${SITE}/`], { encoding: 'utf8' });
        if (r.status === 0 && r.stdout.trim() === 'v1') ok++;
      }
      console.log(`LAN-only fleet: ${ok}/20 requests through the edge answered by the app on ${APP}`);
      assert.equal(ok, 20);
      // No mesh declared: net wireguard says so and writes nothing.
      const wg = await runCli(['net', 'wireguard', '--json', '--root', root]);
      assert.equal(wg.status, 1, wg.stdout + wg.stderr);
      const out = json<{ files: unknown[]; problems: { message: string }[] }>(wg);
      assert.deepEqual(out.files, []);
      assert.match(out.problems[0]!.message, /no "mesh" section: there is no WireGuard mesh to render/);
      // impact: no "no route" between hosts that share the LAN; losing the edge darkens the site.
      const impact = json<{ notes: string[]; domains: { domain: string; reason: string }[] }>(
        await runCli(['impact', EDGE, '--json', '--root', root]),
      );
      assert.deepEqual(impact.notes, []);
      assert.deepEqual(
        impact.domains.map((d) => [d.domain, d.reason]),
        [[SITE, 'edge-offline']],
      );
    });

    test('status probes the edge over TLS with the name it serves and exits 0', async () => {
      // What the edge answers a plain-HTTP probe on its TLS port: the reason status used to say "unhealthy".
      assert.equal(await inHost(EDGE, `curl -s -o /dev/null -w '%{http_code}' --max-time 2 http://127.0.0.1:443/readyz`), '400');
      const r = await cli('status', '--json');
      assert.equal(r.status, 0, r.stdout + r.stderr);
      const edge = json<{ services: { id: string; verdict: string; port: number; health: { readiness: { status: number } } }[] }>(r).services.find(
        (s) => s.id === 'edge',
      )!;
      assert.equal(edge.verdict, 'healthy');
      assert.equal(edge.port, 443, 'the edge keeps its port (and its place in the port registry)');
      assert.equal(edge.health.readiness.status, 200, 'the site answered through the edge over TLS');
      console.log(`edge probed over TLS as ${SITE}: ${JSON.stringify(edge.health)}`);
      // The edge stopped: the probe has no answer and status says so.
      await inHost(EDGE, 'systemctl stop caddy.service');
      try {
        const down = await cli('status', '--json');
        assert.equal(down.status, 1);
        assert.notEqual(json<{ services: { id: string; verdict: string }[] }>(down).services.find((s) => s.id === 'edge')!.verdict, 'healthy');
      } finally {
        await inHost(EDGE, 'systemctl start caddy.service');
      }
    });
  },
);

// Zero-downtime swaps behind an edge, on real test hosts: a real Caddy on an edge host routes
// over the test network to an app host whose service declares `swap: { ports: [8081, 8082] }`.
// A request loop through the edge (20 requests/s) runs during a good deploy, a bad deploy
// (/readyz 503: rolled back), a crashing deploy (rolled back), a rollback and a deploy whose CLI
// is killed during the gate (the host's own revert restores the old instance): 0 failed requests
// (non-2xx or connection errors), counted and printed.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { realHostsSkipReason, TestFleet } from '../harness/test-fleet.js';
import { eventually, runCli, sleep, startCli } from './helpers.js';
import { artifactDir, fleetRoot } from './real-fleet.js';

const EDGE = 'e1';
const APP = 'a1';
const PORTS = [8081, 8082] as const;
const DIR = '/srv/shop';
const WINDOW = ['--ready-timeout', '3', '--revert-margin', '2'];

interface Loop {
  stop: () => Promise<{ sent: number; failed: number; failures: string[]; versions: Map<string, number> }>;
}

describe('zero-downtime swaps behind a real Caddy edge', { skip: realHostsSkipReason() ?? (existsSync('/usr/bin/caddy') || process.env.CI === 'true' ? undefined : 'caddy is not installed'), timeout: 300_000 }, () => {
  let fleet: TestFleet;
  let root = '';
  let work = '';
  let controlDir = '';
  const art: Record<string, string> = {};
  const env = () => ({ MANAGE_APPS_CONTROL_DIR: controlDir });
  const args = (...a: string[]) => [...a, '--root', root, '--ssh-config', fleet.sshConfigPath, '--connect-timeout', '2'];
  const cli = (...a: string[]) => runCli(args(...a), env());
  const deploy = (version: string) => cli('deploy', 'shop', '--artifact', art[version]!, ...WINDOW);
  const inHost = async (h: string, script: string) => (await fleet.exec(h, ['sh', '-c', script])).stdout.trim();

  /** One GET through the edge: the answered body, or why it failed. */
  const get = () =>
    new Promise<{ ok: boolean; text: string }>((resolve) => {
      const req = request({ host: fleet.host(EDGE).address, port: 80, path: '/', headers: { host: 'shop.example.test', connection: 'close' }, timeout: 5000 }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ ok: (res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300, text: `${res.statusCode} ${body.trim()}` }));
        res.on('error', (e) => resolve({ ok: false, text: e.message }));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (e) => resolve({ ok: false, text: e.message }));
      req.end();
    });

  /** 20 requests/s through the edge until stopped. */
  function loop(): Loop {
    let running = true;
    let sent = 0;
    const failures: string[] = [];
    const versions = new Map<string, number>();
    const pending: Promise<void>[] = [];
    const ticker = (async () => {
      while (running) {
        sent++;
        pending.push(
          get().then((r) => {
            if (!r.ok) failures.push(r.text);
            else versions.set(r.text, (versions.get(r.text) ?? 0) + 1);
          }),
        );
        await sleep(50);
      }
    })();
    return {
      stop: async () => {
        running = false;
        await ticker;
        await Promise.all(pending);
        return { sent, failed: failures.length, failures, versions };
      },
    };
  }

  /** Runs `what` under the request loop; asserts 0 failed requests and prints the count. */
  async function underLoad(label: string, what: () => Promise<void>): Promise<void> {
    const l = loop();
    await sleep(300);
    await what();
    await sleep(300);
    const r = await l.stop();
    const seen = [...r.versions].map(([v, n]) => `${v.replace(/^200 /, '')}×${n}`).join(', ');
    console.log(`edge swap, ${label}: ${r.sent} requests through the edge, ${r.failed} failed (answers: ${seen})`);
    assert.equal(r.failed, 0, `${label}: ${r.failed} of ${r.sent} requests failed: ${r.failures.slice(0, 5).join(' | ')}`);
    assert.ok(r.sent >= 20, `${label}: the loop ran (${r.sent} requests)`);
  }

  /** The edge's upstream port, the live port on the app host, the active instances, what the edge answers. */
  async function state() {
    const cfg = await inHost(EDGE, 'curl -fsS http://127.0.0.1:2019/config/');
    const dial = /"dial":"[0-9.]+:(\d+)"/.exec(cfg)?.[1];
    const live = await inHost(APP, `cat ${DIR}/.swap/live`);
    const active = (await Promise.all(PORTS.map(async (p) => ((await inHost(APP, `systemctl is-active shop@${p}.service || true`)) === 'active' ? p : null)))).filter((p) => p !== null);
    const current = await inHost(APP, `cat ${DIR}/current/VERSION`);
    const served = (await get()).text;
    return { dial, live, active, current, served };
  }

  async function assertConsistent(version: string) {
    const s = await state();
    assert.equal(s.dial, s.live, `the edge dials the live port: ${JSON.stringify(s)}`);
    assert.deepEqual(s.active, [Number(s.live)], `only the live instance runs: ${JSON.stringify(s)}`);
    assert.equal(s.current, version, JSON.stringify(s));
    assert.equal(s.served, `200 ${version}`, JSON.stringify(s));
  }

  before(async () => {
    fleet = await TestFleet.up({ names: [EDGE, APP] });
    work = mkdtempSync(join(tmpdir(), 'manage-apps-swap-'));
    controlDir = mkdtempSync(join(tmpdir(), 'manage-apps-cm-'));
    for (const v of [{ version: 'v1' }, { version: 'v2' }, { version: 'v3', readyAfterMs: 1000 }, { version: 'notready', notReady: 'database not reachable' }, { version: 'crash', crash: 'cannot open config' }]) {
      art[v.version] = await artifactDir(work, v);
    }
    root = await fleetRoot(fleet.hosts, {
      'shop/.infra.yaml': `apiVersion: infra/v2\nproject: shop\nprovider: bare-metal\nservice:\n  host: ${APP}\n  port: ${PORTS[0]}\n  swap: { ports: [${PORTS[0]}, ${PORTS[1]}] }\n  command: node server.mjs\n  domains: [shop.example.test]\n  health: { timeout: 3s }\n`,
      'edge/.infra.yaml': `apiVersion: infra/v2\nproject: edge\nprovider: bare-metal\nservice:\n  host: ${EDGE}\n  port: 80\n  kind: edge\n  systemd_unit: caddy.service\n`,
    });
    // The edge reaches the app host over the mesh: its mesh_ip is its test-network address.
    const inventory = {
      version: 1,
      mesh: { cidr: '10.98.0.0/16' },
      hosts: Object.fromEntries(fleet.hosts.map((h) => [h.name, { alias: h.alias, provider: 'bare-metal', role: 'production', mesh_ip: h.address }])),
    };
    writeFileSync(join(root, 'mesh-hosts.json'), JSON.stringify(inventory, null, 2));
    // A real Caddy on the edge host, admin API on its loopback, routing like `net caddy` renders it.
    const caddyfile = `{\n\tadmin 127.0.0.1:2019\n\tauto_https off\n}\n\nhttp://shop.example.test {\n\treverse_proxy ${fleet.host(APP).address}:${PORTS[0]}\n}\n`;
    // The Debian package's own caddy.service (its unit runs `caddy run --config /etc/caddy/Caddyfile`).
    await inHost(EDGE, `printf '%s' '${caddyfile}' > /etc/caddy/Caddyfile && systemctl restart caddy.service`);
    await eventually('caddy routes shop.example.test', 20_000, async () => (await inHost(EDGE, 'curl -fsS http://127.0.0.1:2019/config/ || true')).includes(`"dial":"${fleet.host(APP).address}:${PORTS[0]}"`));
    const first = await deploy('v1');
    assert.equal(first.status, 0, first.stdout + first.stderr);
    await assertConsistent('v1');
  });

  after(async () => {
    await fleet?.down();
    for (const d of [root, work, controlDir]) if (d) rmSync(d, { recursive: true, force: true });
  });

  test('a good deploy swaps with 0 failed requests', async () => {
    const before = (await state()).live;
    await underLoad('good deploy', async () => {
      const r = await deploy('v3');
      assert.equal(r.status, 0, r.stdout + r.stderr);
    });
    await assertConsistent('v3');
    assert.notEqual((await state()).live, before, 'the new release runs on the other port');
  });

  test('a never-ready deploy and a crashing deploy roll back with 0 failed requests', async () => {
    for (const bad of ['notready', 'crash']) {
      await underLoad(`${bad} deploy (rolled back)`, async () => {
        const r = await deploy(bad);
        assert.equal(r.status, 1, r.stdout + r.stderr);
      });
      await assertConsistent('v3');
    }
  });

  test('a rollback swaps back with 0 failed requests', async () => {
    await underLoad('rollback', async () => {
      const r = await cli('rollback', 'shop', ...WINDOW);
      assert.equal(r.status, 0, r.stdout + r.stderr);
    });
    await assertConsistent('v1');
  });

  test('a deploy killed during its gate: the host restores the old instance, 0 failed requests', async () => {
    await underLoad('killed deploy (host revert)', async () => {
      const doomed = startCli(args('deploy', 'shop', '--artifact', art['notready']!, ...WINDOW), env());
      await eventually('the new instance started', 20_000, async () => (await inHost(APP, `cat ${DIR}/current/VERSION`)) === 'notready');
      process.kill(doomed.pid, 'SIGKILL');
      await doomed.done;
      await eventually('the host reverted', 20_000, async () => (await inHost(APP, `test -e ${DIR}/.revert/fired && ! test -e ${DIR}/.revert/armed && echo done`)) === 'done');
    });
    await assertConsistent('v1');
  });
});

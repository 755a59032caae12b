// `move` on real test hosts: a real Caddy on an edge host (configured from `manage-apps net
// caddy`) routes a stateless service's domain to a source host; `move --to` ships the release
// live there to a target host, starts it beside the old one, gates, switches the edge (Caddy's
// admin API, graceful), stops the old one and edits the manifest. A request loop through the edge
// (20 requests/s) runs during the move: 0 failed requests. The repository's manifest names the
// target with its comments kept, the env file arrived 0600 with the same bytes, `status` is clean.
//
// Then the fault matrix: the CLI killed, or the target, the source or the edge cut off the
// network, at each step of a move (reading the release, deploying on the target, switching the
// edge, stopping the old instance); then `move` again (it continues from the journal) or
// `--abort` (back to the source). Each case must end in one consistent placement: exactly one
// host runs the service, the edge routes there (running config and Caddyfile), the manifest says
// so, the journal is finished, and the edge answers.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { realHostsSkipReason, TestFleet } from '../../harness/test-fleet.js';
import { getThrough, requestLoop } from '../edge-requests.js';
import { eventually, json, runCli, sleep } from '../helpers.js';
import { artifactDir, fleetRoot } from '../real-fleet.js';
import { faultMatrix, moveCase } from './fault-points.js';

const EDGE = 'e1';
const SOURCE = 's1';
const TARGET = 't1';
const PROJECT = 'shop';
const SITE = 'shop.example.test';
const PORT = 8081;
const ENV_FILE = '/etc/shop/env';
const WINDOW = ['--ready-timeout', '5', '--revert-margin', '2'];
const READ_CONFIG = "curl -fsS --max-time 5 --unix-socket /var/lib/caddy/admin.sock -H 'Host: ' http://caddy/config/ || true";

/** The rendered Caddyfile as the test's edge runs it: plain HTTP (routing and admin socket unchanged). */
function plainHttp(caddyfile: string): string {
  return caddyfile.replace(/^(\tadmin unix\/\S+)\n\}$/m, '$1\n\tauto_https off\n}').replace(/^([a-z0-9.-]+\.example\.test) \{$/gm, 'http://$1 {');
}

describe('move: a stateless service to another host behind a real Caddy edge', { skip: realHostsSkipReason(), timeout: 1_200_000 }, () => {
  let fleet: TestFleet;
  let root = '';
  let work = '';
  let controlDir = '';
  let artifact = '';
  const env = () => ({ MANAGE_APPS_CONTROL_DIR: controlDir });
  const args = (...a: string[]) => [...a, '--root', root, '--ssh-config', fleet.sshConfigPath, '--connect-timeout', '2'];
  const cli = (...a: string[]) => runCli(args(...a), env());
  const manifest = () => join(root, PROJECT, '.infra.yaml');
  const inHost = async (h: string, script: string) => (await fleet.exec(h, ['sh', '-c', script])).stdout.trim();
  const hostOfManifest = () => /^ {2}host: (\S+) # where it runs$/m.exec(readFileSync(manifest(), 'utf8'))?.[1];

  /** Where the service runs, as every party sees it; a problem when they disagree. */
  async function placement(): Promise<{ host?: string; problem?: string }> {
    const problems: string[] = [];
    const active: string[] = [];
    for (const h of [SOURCE, TARGET]) if ((await inHost(h, `systemctl is-active ${PROJECT}.service || true`)) === 'active') active.push(h);
    if (active.length !== 1) problems.push(`the service runs on ${JSON.stringify(active)}`);
    const declared = hostOfManifest();
    const host = active[0] ?? declared;
    if (declared !== host) problems.push(`the manifest names ${declared}, it runs on ${host}`);
    const address = fleet.host(host!).address;
    const cfg = await inHost(EDGE, READ_CONFIG);
    const dials = [...cfg.matchAll(/"dial":"([0-9.]+):(\d+)"/g)].map((m) => m[1]);
    if (dials.join() !== address) problems.push(`the edge dials ${JSON.stringify(dials)}, the service is on ${address}`);
    const file = await inHost(EDGE, 'cat /etc/caddy/Caddyfile');
    if (!file.includes(`reverse_proxy ${address}:${PORT}`)) problems.push(`the Caddyfile on the edge does not route to ${address}:${PORT}`);
    const served = (await getThrough(fleet.host(EDGE).address, SITE)).text;
    if (served !== '200 v1') problems.push(`the edge answers ${JSON.stringify(served)}`);
    for (const h of [SOURCE, TARGET]) {
      const path = join(root, '.state', 'moves', `${h}.json`);
      if (existsSync(path) && (JSON.parse(readFileSync(path, 'utf8')) as { finished: string | null }).finished === null)
        problems.push(`the move to ${h} is not finished (its journal)`);
    }
    return problems.length > 0 ? { host: host!, problem: problems.join('; ') } : { host: host! };
  }

  before(async () => {
    fleet = await TestFleet.up({ names: [EDGE, SOURCE, TARGET] });
    work = mkdtempSync(join(tmpdir(), 'manage-apps-move-'));
    controlDir = mkdtempSync(join(tmpdir(), 'manage-apps-cm-'));
    artifact = await artifactDir(work, { version: 'v1' });
    root = await fleetRoot(fleet.hosts, {
      'edge/.infra.yaml': `apiVersion: infra/v2\nproject: edge\nprovider: bare-metal\nservice:\n  host: ${EDGE}\n  port: 80\n  kind: edge\n  systemd_unit: caddy.service\n`,
      [`${PROJECT}/.infra.yaml`]: `apiVersion: infra/v2\n# the shop's storefront\nproject: ${PROJECT}\nprovider: bare-metal\nservice:\n  host: ${SOURCE} # where it runs\n  port: ${PORT}\n  command: node server.mjs\n  domains: [${SITE}]\n  env_file: ${ENV_FILE}\n  health: { timeout: 5s }\n`,
    });
    const inventory = {
      version: 1,
      mesh: { cidr: '10.98.0.0/16' },
      hosts: Object.fromEntries(fleet.hosts.map((h) => [h.name, { alias: h.alias, provider: 'bare-metal', role: 'production', mesh_ip: h.address }])),
    };
    writeFileSync(join(root, 'mesh-hosts.json'), JSON.stringify(inventory, null, 2));
    const rendered = await runCli(['net', 'caddy', '--json', '--root', root]);
    assert.equal(rendered.status, 0, rendered.stdout + rendered.stderr);
    const file = json<{ files: { path: string; content: string }[] }>(rendered).files.find((x) => x.path === `${EDGE}.Caddyfile`)!;
    const text = Buffer.from(plainHttp(file.content)).toString('base64');
    assert.equal(
      (await fleet.exec(EDGE, ['sh', '-c', `echo ${text} | base64 -d > /etc/caddy/Caddyfile && systemctl restart caddy.service`])).exitCode,
      0,
    );
    await eventually('caddy routes the site', 20_000, async () =>
      (await inHost(EDGE, READ_CONFIG)).includes(`"dial":"${fleet.host(SOURCE).address}:${PORT}"`),
    );
    // The env file holds a secret: it must arrive intact, and never in argv, output or the journal.
    await fleet.exec(SOURCE, [
      'sh',
      '-c',
      `mkdir -p /etc/shop && printf 'SHOP_TOKEN=s3cr3t-token-value\\nPORT=${PORT}\\n' > ${ENV_FILE} && chmod 600 ${ENV_FILE}`,
    ]);
    const d = await cli('deploy', PROJECT, '--artifact', artifact, ...WINDOW);
    assert.equal(d.status, 0, d.stdout + d.stderr);
    assert.equal((await getThrough(fleet.host(EDGE).address, SITE)).text, '200 v1');
  });

  after(async () => {
    await fleet?.down();
    for (const dir of [root, work, controlDir]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('--dry-run prints the whole plan and the edit, and touches nothing', async () => {
    const r = await cli('move', PROJECT, '--to', TARGET, '--dry-run', '--json');
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const d = json<{
      action: string;
      waves: { items: { name: string; steps: string[]; edges: string[] }[] }[];
      edits: { file: string; line: number; before: string; after: string }[];
    }>(r);
    assert.equal(d.action, 'plan');
    assert.deepEqual(d.waves[0]!.items[0]!.edges, [EDGE]);
    assert.deepEqual(d.edits, [
      {
        file: `${PROJECT}/.infra.yaml`,
        field: 'service.host',
        from: SOURCE,
        to: TARGET,
        line: 6,
        before: `  host: ${SOURCE} # where it runs`,
        after: `  host: ${TARGET} # where it runs`,
      },
    ]);
    assert.equal(hostOfManifest(), SOURCE);
    assert.equal(existsSync(join(root, '.state', 'moves', `${TARGET}.json`)), false);
  });

  test('the move: 0 failed requests through the edge; the manifest names the target; status is clean', async () => {
    const loop = requestLoop(fleet.host(EDGE).address, SITE);
    await sleep(300);
    const r = await cli('move', PROJECT, '--to', TARGET, ...WINDOW);
    await sleep(300);
    const l = await loop.stop();
    console.log(
      `move ${SOURCE} → ${TARGET}: ${l.sent} requests through the edge, ${l.failures.length} failed; the move took ${(r.ms / 1000).toFixed(1)}s`,
    );
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(
      l.failures.length,
      0,
      l.failures
        .slice(0, 5)
        .map((f) => f.text)
        .join(' | '),
    );
    assert.ok(l.sent >= 20);
    assert.equal(hostOfManifest(), TARGET);
    assert.match(readFileSync(manifest(), 'utf8'), /^# the shop's storefront$/m, 'comments kept');
    assert.equal(await inHost(SOURCE, `systemctl is-active ${PROJECT}.service || true`), 'inactive');
    // Its unit file set aside on the source: systemd no longer knows it (an abort would put it back).
    assert.equal(await inHost(SOURCE, `systemctl is-enabled ${PROJECT}.service 2>/dev/null || true`), '');
    assert.equal(await inHost(SOURCE, `test -f /etc/systemd/system/${PROJECT}.service.moved && echo kept`), 'kept');
    assert.equal(await inHost(TARGET, `stat -c %a ${ENV_FILE} && cat ${ENV_FILE}`), `600\nSHOP_TOKEN=s3cr3t-token-value\nPORT=${PORT}`);
    const journal = readFileSync(join(root, '.state', 'moves', `${TARGET}.json`), 'utf8');
    assert.doesNotMatch(journal + r.stdout + r.stderr, /s3cr3t/);
    const status = await cli('status', PROJECT);
    assert.equal(status.status, 0, status.stdout + status.stderr);
    assert.match(status.stdout, new RegExp(TARGET));
  });

  test('a gate that fails on the target stops the move with the source serving; --abort returns it', async () => {
    const from = (await placement()).host!;
    const to = from === SOURCE ? TARGET : SOURCE;
    // The port is taken on the target: the release cannot start there.
    await fleet.exec(to, ['sh', '-c', `systemd-run --unit=squatter --quiet python3 -m http.server ${PORT}`]);
    try {
      const loop = requestLoop(fleet.host(EDGE).address, SITE);
      const r = await cli('move', PROJECT, '--to', to, '--json', ...WINDOW);
      const l = await loop.stop();
      assert.equal(r.status, 1, r.stdout + r.stderr);
      const item = json<{ waves: { items: { state: string; reason: string | null; done: string[] }[] }[] }>(r).waves[0]!.items[0]!;
      assert.equal(item.state, 'failed');
      assert.match(item.reason ?? '', new RegExp(`did not pass its gate on ${to} \\(${from} still serves\\)`));
      assert.deepEqual(item.done, ['ship']);
      assert.equal(l.failures.length, 0, `the source kept serving: ${l.failures.length} of ${l.sent} failed`);
      assert.equal(hostOfManifest(), from);
      const abort = await cli('move', PROJECT, '--to', to, '--abort', ...WINDOW);
      assert.equal(abort.status, 0, abort.stdout + abort.stderr);
    } finally {
      await fleet.exec(to, ['sh', '-c', 'systemctl stop squatter.service || true']);
    }
    const p = await placement();
    assert.equal(p.problem, undefined);
    assert.equal(p.host, from);
  });

  test('fault matrix: killed or cut at each step, then continued or aborted: one consistent placement', async () => {
    type Fault = 'kill' | 'cut target' | 'cut source' | 'cut edge';
    const points: { at: RegExp; name: string; faults: Fault[] }[] = [
      { at: /reading the live release/, name: 'reading the release', faults: ['kill', 'cut source'] },
      { at: /deploying release/, name: 'deploying on the target', faults: ['kill', 'cut target'] },
      { at: /now routes to/, name: 'switching the edge', faults: ['kill', 'cut edge'] },
      { at: /stopping it on/, name: 'stopping the old instance', faults: ['kill', 'cut source'] },
    ];
    const matrix = await faultMatrix(
      points,
      () => ['continue', 'abort'],
      async ({ point, fault, then }) => {
        const start = (await placement()).host!;
        const to = start === SOURCE ? TARGET : SOURCE;
        const label = `${fault} while ${point.name} (${start} → ${to}), then ${then}`;
        const cut = fault === 'cut target' ? to : fault === 'cut source' ? start : fault === 'cut edge' ? EDGE : undefined;
        return moveCase({
          fleet,
          args,
          cli,
          env: env(),
          project: PROJECT,
          from: start,
          to,
          window: WINDOW,
          at: point.at,
          interrupt: cut === undefined ? 'kill cli' : { cut },
          then,
          placement,
          tag: 'move fault',
          label,
        });
      },
    );
    console.log(`move: ${matrix.summary}`);
    assert.deepEqual(matrix.failures, []);
  });

  describe('a tunnel carrying the service follows it', () => {
    const TUNNEL = 'shop-back';
    const TUNNEL_UNIT = `manage-apps-tunnel-${TUNNEL}.service`;
    const LISTEN = 18081;
    const inventoryFile = () => join(root, 'mesh-hosts.json');
    const tunnelEnd = () => (JSON.parse(readFileSync(inventoryFile(), 'utf8')) as { tunnels: { to: string }[] }).tunnels[0]!.to;
    /** A request through the tunnel, from the edge's end (its loopback port reaches the service's host). */
    const throughTunnel = async () => inHost(EDGE, `curl -s -o /dev/null -w '%{http_code}' --max-time 3 http://127.0.0.1:${LISTEN}/ || true`);

    /** The service's placement, and the tunnel opened from there only, the inventory saying so, a request through it answered. */
    async function withTunnel(): Promise<{ host?: string; problem?: string }> {
      const p = await placement();
      const problems = p.problem === undefined ? [] : [p.problem];
      const opened: string[] = [];
      for (const h of [SOURCE, TARGET]) if ((await inHost(h, `systemctl is-active ${TUNNEL_UNIT} || true`)) === 'active') opened.push(h);
      if (opened.join() !== p.host) problems.push(`the tunnel is opened from ${JSON.stringify(opened)}, the service runs on ${p.host}`);
      if (tunnelEnd() !== p.host) problems.push(`the inventory's tunnel ends on ${tunnelEnd()}, the service runs on ${p.host}`);
      const other = p.host === SOURCE ? TARGET : SOURCE;
      if ((await inHost(other, `test -e /etc/manage-apps/tunnels/${TUNNEL} && echo left || true`)) === 'left')
        problems.push(`its key and config are still on ${other}`);
      const keys = await inHost(EDGE, `grep -c 'manage-apps-tunnel:${TUNNEL}@' /var/lib/ma-tunnel-listen/.ssh/authorized_keys || true`);
      if (keys !== '1') problems.push(`${keys} keys of the tunnel on ${EDGE}`);
      // The unit reconnects on its own within its restart delay.
      const deadline = Date.now() + 20_000;
      let code = await throughTunnel();
      while (code !== '200' && Date.now() < deadline) {
        await sleep(500);
        code = await throughTunnel();
      }
      if (code !== '200') problems.push(`a request through the tunnel on ${EDGE} answers ${JSON.stringify(code)}`);
      return problems.length > 0 ? { host: p.host!, problem: problems.join('; ') } : { host: p.host! };
    }

    before(async () => {
      const start = (await placement()).host!;
      const inventory = JSON.parse(readFileSync(inventoryFile(), 'utf8')) as Record<string, unknown>;
      // A reverse tunnel: opened from the service's host, listening on the edge's loopback.
      inventory.tunnels = [
        { name: TUNNEL, from: EDGE, to: start, direction: 'reverse', forwards: [{ listen: LISTEN, target_port: PORT }], carries: PROJECT },
      ];
      writeFileSync(inventoryFile(), JSON.stringify(inventory, null, 2));
      const up = await cli('tunnels', 'up');
      assert.equal(up.status, 0, up.stdout + up.stderr);
      const p = await withTunnel();
      assert.equal(p.problem, undefined);
    });

    test('--dry-run shows the tunnel re-pointed after its wave, with its steps and the inventory edit', async () => {
      const start = (await placement()).host!;
      const to = start === SOURCE ? TARGET : SOURCE;
      const r = await cli('move', PROJECT, '--to', to, '--dry-run', '--json');
      assert.equal(r.status, 0, r.stdout + r.stderr);
      const d = json<{
        tunnels: { name: string; after: { from: string; to: string } | null; wave: number; steps: string[]; state: string }[];
        edits: { field: string; from: string; to: string }[];
      }>(r);
      assert.deepEqual(
        d.tunnels.map((t) => [t.name, t.after, t.wave, t.state]),
        [[TUNNEL, { from: EDGE, to }, 1, 'pending']],
      );
      assert.match(d.tunnels[0]!.steps.join('\n'), new RegExp(`^down: on ${start} only, the end it leaves: its unit stopped and removed`));
      assert.deepEqual(
        d.edits.map((e) => [e.field, e.from, e.to]),
        [
          ['service.host', start, to],
          ['tunnels.0.to', start, to],
        ],
      );
      assert.equal(tunnelEnd(), start);
    });

    test('the move: the tunnel opened from the target, a request through it answered; status and drift clean', async () => {
      const start = (await placement()).host!;
      const to = start === SOURCE ? TARGET : SOURCE;
      const before = readFileSync(inventoryFile(), 'utf8');
      const r = await cli('move', PROJECT, '--to', to, '--json', ...WINDOW);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.deepEqual(
        json<{ tunnels: { state: string; done: string[] }[] }>(r).tunnels.map((t) => [t.state, t.done]),
        [['moved', ['down', 'up', 'edit']]],
      );
      const p = await withTunnel();
      assert.equal(p.problem, undefined);
      assert.equal(p.host, to);
      // The inventory: one value changed, every other byte kept.
      assert.equal(
        readFileSync(inventoryFile(), 'utf8'),
        before.replace(`"to": "${start}",\n      "direction"`, `"to": "${to}",\n      "direction"`),
      );
      const status = await cli('status');
      assert.equal(status.status, 0, status.stdout + status.stderr);
      // Every host: nothing the move left behind on the source, nothing missing on the target or the edge.
      // (The base image's own Caddy listens on 80 on every host and nothing here declares it but the edge: drift rightly
      // calls that extra. The edge runs the rendered Caddyfile in plain HTTP, so drift rightly finds it and Caddy's live
      // config differ from the rendering: instead,
      // the Caddyfile the move left there is exactly what `net caddy` renders now, in plain HTTP.)
      const drift = await cli('drift', '--json');
      const findings = json<{ findings: { id: string; kind: string; host: string; detail: string }[] }>(drift).findings;
      assert.deepEqual(
        findings.filter(
          (f) =>
            !(f.kind === 'port' && f.host !== EDGE && /caddy\.service/.test(f.detail)) &&
            f.id !== `${EDGE}/caddy//etc/caddy/Caddyfile` &&
            f.id !== `${EDGE}/caddy/live config`,
        ),
        [],
        drift.stdout + drift.stderr,
      );
      const rendered = json<{ files: { path: string; content: string }[] }>(await runCli(['net', 'caddy', '--json', '--root', root])).files;
      const caddyfile = plainHttp(rendered.find((x) => x.path === `${EDGE}.Caddyfile`)!.content);
      assert.equal(`${await inHost(EDGE, 'cat /etc/caddy/Caddyfile')}\n`, caddyfile);
    });

    test('fault matrix: killed or cut while the tunnel is re-pointed, then continued or aborted: one consistent placement', async () => {
      type Fault = 'kill' | 'cut source' | 'cut target' | 'cut edge';
      const points: { at: RegExp; name: string; faults: Fault[] }[] = [
        { at: /tunnel shop-back: taking it off/, name: 'taking the tunnel off the old end', faults: ['kill', 'cut source'] },
        { at: /tunnel shop-back: opening it as/, name: 'opening the tunnel from the new end', faults: ['kill', 'cut edge', 'cut target'] },
      ];
      const matrix = await faultMatrix(
        points,
        () => ['continue', 'abort'],
        async ({ point, fault, then }) => {
          const start = (await placement()).host!;
          const to = start === SOURCE ? TARGET : SOURCE;
          const label = `${fault} while ${point.name} (${start} → ${to}), then ${then}`;
          const cut = fault === 'cut target' ? to : fault === 'cut source' ? start : fault === 'cut edge' ? EDGE : undefined;
          return moveCase({
            fleet,
            args,
            cli,
            env: env(),
            project: PROJECT,
            from: start,
            to,
            window: WINDOW,
            at: point.at,
            interrupt: cut === undefined ? 'kill cli' : { cut },
            then,
            placement: withTunnel,
            tag: 'move tunnel fault',
            label,
            mustReach: true,
          });
        },
      );
      console.log(`move tunnels: ${matrix.summary}`);
      assert.deepEqual(matrix.failures, []);
    });
  });
});

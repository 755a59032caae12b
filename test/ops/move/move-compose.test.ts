// `move` and `recover` of a Compose service on real test hosts (one fleet for the file: a
// registry host with a real registry, a source and a target running dockerd, an edge running a
// real Caddy configured from `manage-apps net caddy`):
//
// - the target cannot reach the registry (its name does not resolve there): the move stops at the
//   start with the line saying so and the source serving (0 failed requests through the edge);
//   the registry back, `move` again continues: 0 failed requests, the target runs the same image
//   digest as the source ran (pulled by digest), the source's container stopped, the manifest
//   names the target;
// - the fault points: the CLI killed or the target or the edge cut at the deploy on the target and
//   at the edge switch, then continued or aborted: one consistent placement;
// - `recover`: the host running it is powered off for good; the release kept on this machine is
//   deployed on the other with the digest recorded with it: the edge serves it from there.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { composeFleet } from '../../harness/compose-fleet.js';
import { dockerSkipReason, type ImageSpec } from '../../harness/docker.js';
import { realHostsSkipReason, type TestFleet } from '../../harness/test-fleet.js';
import { getThrough, requestLoop } from '../edge-requests.js';
import { eventually, json, runCli, sleep } from '../helpers.js';
import { faultMatrix, moveCase } from './fault-points.js';
import { fleetRoot } from '../real-fleet.js';

const REG = 'creg';
const EDGE = 'ce1';
const SOURCE = 'cs1';
const TARGET = 'ct1';
const PROJECT = 'shop';
const SITE = 'shop.example.test';
const PORT = 8086;
const WINDOW = ['--ready-timeout', '8', '--revert-margin', '2'];
const READ_CONFIG = "curl -fsS --max-time 5 --unix-socket /var/lib/caddy/admin.sock -H 'Host: ' http://caddy/config/ || true";

/** busybox httpd answering "/" with its version (as the edge-request helpers expect: "200 v1"). */
const APP: ImageSpec = {
  www: { 'index.html': 'v1\n', readyz: 'ready\n', livez: 'alive\n' },
  cmd: ['/bin/busybox', 'sh', '-c', 'echo "app v1 starting"; exec /bin/busybox httpd -f -v -p 80 -h /www'],
};

function plainHttp(caddyfile: string): string {
  return caddyfile.replace(/^(\tadmin unix\/\S+)\n\}$/m, '$1\n\tauto_https off\n}').replace(/^([a-z0-9.-]+\.example\.test) \{$/gm, 'http://$1 {');
}

const skip = realHostsSkipReason() ?? (process.env['CI'] === 'true' ? undefined : dockerSkipReason());

describe('move and recover: a compose service, the same image digest', { skip, timeout: 1_500_000 }, () => {
  let fleet: TestFleet;
  let root = '';
  let controlDir = '';
  let digest = '';
  const env = () => ({ MANAGE_APPS_CONTROL_DIR: controlDir });
  const args = (...a: string[]) => [...a, '--root', root, '--ssh-config', fleet.sshConfigPath, '--connect-timeout', '2'];
  const cli = (...a: string[]) => runCli(args(...a), env());
  const inHost = async (h: string, script: string) => (await fleet.exec(h, ['sh', '-c', script])).stdout.trim();
  const declared = () => /^ {2}host: (\S+)$/m.exec(readFileSync(join(root, PROJECT, '.infra.yaml'), 'utf8'))?.[1];
  const running = (h: string) => inHost(h, `docker inspect --format '{{.State.Running}}' ${PROJECT}_app_1 2>/dev/null || echo false`);

  /** Where it runs, as every party sees it; a problem when they disagree. */
  async function placement(): Promise<{ host?: string; problem?: string }> {
    const problems: string[] = [];
    const active: string[] = [];
    for (const h of [SOURCE, TARGET]) if ((await running(h)) === 'true') active.push(h);
    if (active.length !== 1) problems.push(`its container runs on ${JSON.stringify(active)}`);
    const host = active[0] ?? declared();
    if (declared() !== host) problems.push(`the manifest names ${declared()}, it runs on ${host}`);
    const pinned = await inHost(host!, `cat /srv/${PROJECT}/current/.manage-apps/image 2>/dev/null`);
    if (pinned !== digest) problems.push(`${host} runs ${pinned || 'no pinned image'}, not ${digest}`);
    const address = fleet.host(host!).address;
    const cfg = await inHost(EDGE, READ_CONFIG);
    const dials = [...cfg.matchAll(/"dial":"([0-9.]+):(\d+)"/g)].map((m) => m[1]);
    if (dials.join() !== address) problems.push(`the edge dials ${JSON.stringify(dials)}, the service is on ${address}`);
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
    const up = await composeFleet({
      registry: REG,
      docker: [SOURCE, TARGET],
      plain: [EDGE],
      images: { app: APP },
      refOf: (registry) => `${registry}/shop:v1`,
    });
    fleet = up.fleet;
    digest = `${up.registry}/shop@${up.digests['app']}`;
    controlDir = mkdtempSync(join(tmpdir(), 'manage-apps-cm-'));
    root = await fleetRoot(fleet.hosts, {
      'edge/.infra.yaml': `apiVersion: infra/v2\nproject: edge\nprovider: bare-metal\nservice:\n  host: ${EDGE}\n  port: 80\n  kind: edge\n  systemd_unit: caddy.service\n`,
      [`${PROJECT}/.infra.yaml`]:
        `apiVersion: infra/v2\nproject: ${PROJECT}\nprovider: bare-metal\nservice:\n  host: ${SOURCE}\n  port: ${PORT}\n  domains: [${SITE}]\n` +
        `  health: { readiness: /readyz, liveness: /livez, timeout: 8s }\n  compose:\n    file: compose.yml\n    service: app\n    image: ${up.registry}/shop\n    tag: v1\n`,
      [`${PROJECT}/compose.yml`]: `services:\n  app:\n    image: ${up.registry}/shop:v1\n    ports: ["${PORT}:80"]\n    restart: unless-stopped\n    init: true\n`,
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
    const d = await cli('deploy', PROJECT, ...WINDOW);
    assert.equal(d.status, 0, d.stdout + d.stderr);
    await eventually(
      'the edge serves the shop from the source',
      20_000,
      async () => (await getThrough(fleet.host(EDGE).address, SITE)).text === '200 v1',
    );
  });

  after(async () => {
    await fleet?.down();
    for (const dir of [root, controlDir]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('the target cannot reach the registry: the move stops with the source serving; the registry back, it continues: the same digest, 0 failed requests', async () => {
    const plan = await cli('move', PROJECT, '--to', TARGET, '--dry-run', '--json');
    assert.equal(plan.status, 0, plan.stdout + plan.stderr);
    const item = json<{ waves: { items: { how: string; blocked: string | null; steps: string[] }[] }[] }>(plan).waves[0]!.items[0]!;
    assert.deepEqual([item.how, item.blocked], ['compose', null]);
    assert.match(item.steps.join('\n'), /pulled there by that digest/);
    // The registry's name does not resolve on the target.
    // dockerd (Go's resolver) reads /etc/hosts again at most every 5 s: each change is waited out.
    await inHost(TARGET, `cp /etc/hosts /root/hosts.saved && sed -i '/[[:space:]]${REG}$/d' /etc/hosts`);
    await sleep(6000);
    const loop = requestLoop(fleet.host(EDGE).address, SITE);
    const failed = await cli('move', PROJECT, '--to', TARGET, '--json', ...WINDOW);
    await inHost(TARGET, 'cp /root/hosts.saved /etc/hosts');
    await sleep(6000);
    assert.equal(failed.status, 1, failed.stdout + failed.stderr);
    const reason = json<{ waves: { items: { state: string; reason: string | null }[] }[] }>(failed).waves[0]!.items[0]!;
    assert.equal(reason.state, 'failed');
    assert.match(reason.reason ?? '', new RegExp(`${TARGET} cannot pull ${digest.replace(/[.]/g, '\\.')} \\(the registry is unreachable from it`));
    assert.equal(declared(), SOURCE);
    const r = await cli('move', PROJECT, '--to', TARGET, ...WINDOW);
    await sleep(300);
    const l = await loop.stop();
    console.log(
      `move of a compose service ${SOURCE} → ${TARGET} (one failed start, then continued): ${l.sent} requests through the edge, ${l.failures.length} failed`,
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
    const p = await placement();
    assert.equal(p.problem, undefined);
    assert.equal(p.host, TARGET);
    assert.equal(
      await inHost(TARGET, `docker inspect --format '{{index .RepoDigests 0}}' $(docker inspect --format '{{.Image}}' ${PROJECT}_app_1)`),
      digest,
    );
    assert.equal(await running(SOURCE), 'false');
  });

  test('fault points: killed or cut at the deploy on the target and at the edge switch, then continued or aborted: one consistent placement', async () => {
    type Fault = 'kill' | 'cut target' | 'cut edge';
    const points: { at: RegExp; name: string; faults: Fault[] }[] = [
      { at: /deploying release/, name: 'the deploy on the target', faults: ['kill', 'cut target'] },
      { at: /now routes to/, name: 'the edge switch', faults: ['cut edge'] },
    ];
    const matrix = await faultMatrix(
      points,
      () => ['continue', 'abort'],
      async ({ point, fault, then }) => {
        const start = (await placement()).host!;
        const to = start === SOURCE ? TARGET : SOURCE;
        const label = `${fault} during ${point.name} (${start} → ${to}), then ${then}`;
        const cut = fault === 'cut target' ? to : fault === 'cut edge' ? EDGE : undefined;
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
          interrupt: cut === undefined ? 'kill' : { cut },
          then,
          placement,
          tag: 'move-compose fault',
          label,
        });
      },
    );
    console.log(`move-compose: ${matrix.summary}`);
    assert.deepEqual(matrix.failures, []);
  });

  test('recover: the host running it is lost; the kept release comes back on the other with the recorded digest', async () => {
    const lost = (await placement()).host!;
    const to = lost === SOURCE ? TARGET : SOURCE;
    await fleet.ssh(lost, `docker stop ${PROJECT}_app_1`);
    await fleet.cutNetwork(lost);
    const plan = await cli('recover', lost, '--to', to, '--dry-run', '--json');
    assert.equal(plan.status, 0, plan.stdout + plan.stderr);
    const item = json<{ waves: { items: { how: string; blocked: string | null; source: { kind: string; image?: string } }[] }[] }>(plan).waves[0]!
      .items[0]!;
    assert.deepEqual([item.how, item.blocked, item.source.kind, item.source.image], ['compose', null, 'kept-release', digest]);
    const r = await cli('recover', lost, '--to', to, ...WINDOW);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(declared(), to);
    assert.equal(await running(to), 'true');
    assert.equal(await inHost(to, `cat /srv/${PROJECT}/current/.manage-apps/image`), digest);
    const cfg = await inHost(EDGE, READ_CONFIG);
    assert.deepEqual(
      [...cfg.matchAll(/"dial":"([0-9.]+):(\d+)"/g)].map((m) => m[1]),
      [fleet.host(to).address],
    );
    assert.equal((await getThrough(fleet.host(EDGE).address, SITE)).text, '200 v1');
  });
});

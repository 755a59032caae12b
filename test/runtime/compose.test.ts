// Docker Compose services on real test hosts: a real dockerd per host (its own data-root on a
// tmpfs), Debian's docker-compose (v1), a real registry with htpasswd auth on another host, and
// images built there from files this test writes (busybox httpd serving /readyz, /livez,
// /version). deploy pins, pulls while the old container serves, recreates only its service,
// gates and reverts; rollback returns to the digest even after the tag moved; the edge's
// container is never touched; status of a host with a unit and containers is one round trip.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadFleet } from '../../src/load/fleet.js';
import { Ops } from '../../src/ops/context.js';
import { selectServices } from '../../src/ops/selection.js';
import { DEFAULT_SETTINGS } from '../../src/ops/settings.js';
import { collectStatus } from '../../src/ops/service-status.js';
import { packageRoot } from '../../src/package-root.js';
import type { Transport } from '../../src/transport/types.js';
import type { DeployResult } from '../../src/ops/deploy.js';
import { composeFleet } from '../harness/compose-fleet.js';
import { dockerSkipReason, REGISTRY_PORT, type ImageSpec } from '../harness/docker.js';
import { cutUntil, killWithChildren } from '../harness/faults.js';
import { ensureUpperDir, realHostsSkipReason, writeUpperFile, type HostPreparation, type TestFleet } from '../harness/test-fleet.js';
import { eventually, json, runCli, sleep, startCli, type CliRun } from '../ops/helpers.js';
import { parseOwner, staleness } from '../../src/ops/lock-owner.js';
import { fleetRoot, nodeUnit } from '../ops/real-fleet.js';

const REG = 'reg';
const WEB = 'web1';
const REGISTRY = `${REG}:${REGISTRY_PORT}`;

/** An app image: busybox httpd on port 80 serving these files; says which version starts. */
const app = (version: string, www: Record<string, string> = { readyz: 'ready\n', livez: 'alive\n' }): ImageSpec => ({
  www: { ...www, version: `${version}\n` },
  cmd: ['/bin/busybox', 'sh', '-c', `echo "app ${version} starting"; exec /bin/busybox httpd -f -v -p 80 -h /www`],
});
const IMAGES: Record<string, ImageSpec> = {
  v1: app('v1'),
  v2: app('v2'),
  v3: app('v3'),
  notready: app('notready', { livez: 'alive\n' }),
  // Never ready, and deaf to SIGTERM (ignored before the exec): only SIGKILL stops it.
  stubborn: {
    www: { livez: 'alive\n', version: 'stubborn\n' },
    cmd: ['/bin/busybox', 'sh', '-c', 'trap "" TERM; echo "app stubborn starting"; exec /bin/busybox httpd -f -v -p 80 -h /www'],
  },
  // Ready 2 s after it starts: a gate that lasts (the fault test strikes during it).
  slow: {
    www: { readyz: 'ready\n', livez: 'alive\n', version: 'slow\n' },
    // A read-only root (the hardening of every compose service): the image writes its files in its /tmp tmpfs.
    cmd: [
      '/bin/busybox',
      'sh',
      '-c',
      'echo "app slow starting"; /bin/busybox mkdir -p /tmp/w; /bin/busybox cp /www/livez /www/version /tmp/w/; (/bin/busybox sleep 2; /bin/busybox cp /www/readyz /tmp/w/) & exec /bin/busybox httpd -f -v -p 80 -h /tmp/w',
    ],
  },
  crash: { www: {}, cmd: ['/bin/busybox', 'sh', '-c', 'echo "boom: DATABASE_URL is not set"; exit 3'] },
  edge: app('edge'),
};

const COMPOSE_SHOP = `services:
  app:
    image: ${REGISTRY}/shop:latest
    ports: ["8080:80"]
    restart: unless-stopped
    init: true
  sidecar:
    image: ${REGISTRY}/edge:1
    ports: ["8081:80"]
`;
const COMPOSE_EDGE = `services:
  caddy:
    image: ${REGISTRY}/edge:1
    ports: ["8443:80"]
    restart: unless-stopped
    init: true
`;

type Deploy = Pick<DeployResult, 'id' | 'outcome' | 'ok' | 'release' | 'previous' | 'reason' | 'image' | 'compose' | 'diagnosis' | 'rollback'>;

/** A systemd unit beside the containers on the app host: status covers both in one round trip. */
function prepareApiUnit(h: HostPreparation): void {
  if (h.name !== WEB) return;
  writeUpperFile(h.upperDir, 'opt/apps/tiny-http.mjs', readFileSync(join(packageRoot(), 'examples/fleet/apps/tiny-http.mjs'), 'utf8'));
  writeUpperFile(h.upperDir, 'etc/systemd/system/api.service', nodeUnit('/opt/apps/tiny-http.mjs', { PORT: '8090', NAME: 'api' }));
  symlinkSync('/etc/systemd/system/api.service', `${ensureUpperDir(h.upperDir, 'etc/systemd/system/multi-user.target.wants')}/api.service`);
}

const skip = realHostsSkipReason() ?? (process.env['CI'] === 'true' ? undefined : dockerSkipReason());

describe('compose services on real hosts (dockerd, docker-compose, a registry)', { skip, timeout: 900_000 }, () => {
  let fleet: TestFleet;
  let root = '';
  let controlDir = '';
  const digests: Record<string, string> = {};
  const env = () => ({ MANAGE_APPS_CONTROL_DIR: controlDir });
  const cliArgs = (...a: string[]) => [...a, '--root', root, '--ssh-config', fleet.sshConfigPath];
  const cli = (...a: string[]) => runCli(cliArgs(...a), env());
  const deploy = (...a: string[]) => cli('deploy', ...a, '--json');
  const deploysOf = (run: CliRun) => json<{ deploys: Deploy[] }>(run).deploys;
  const served = async (port = 8080) => {
    const res = await fetch(`http://${fleet.host(WEB).address}:${port}/version`, { signal: AbortSignal.timeout(5000) });
    return (await res.text()).trim();
  };
  const onWeb = async (cmd: string) => {
    const r = await fleet.ssh(WEB, cmd, { timeoutMs: 60_000 });
    assert.equal(r.exitCode, 0, `${cmd}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const container = (name: string) => onWeb(`docker inspect --format '{{.Id}} {{.State.StartedAt}}' ${name}`);

  before(async () => {
    const up = await composeFleet({
      registry: REG,
      docker: [WEB],
      images: IMAGES,
      refOf: (registry, name) => (name === 'edge' ? `${registry}/edge:1` : `${registry}/shop:prod-${name}`),
      prepareHost: prepareApiUnit,
    });
    fleet = up.fleet;
    Object.assign(digests, up.digests);
    controlDir = mkdtempSync(join(tmpdir(), 'manage-apps-cm-'));
    root = await fleetRoot(fleet.hosts, {
      'shop/.infra.yaml': `apiVersion: infra/v2\nproject: shop\nprovider: bare-metal\nservice:\n  host: ${WEB}\n  port: 8080\n  health: { readiness: /readyz, liveness: /livez, timeout: 6s }\n  keep_releases: 4\n  compose:\n    file: deploy/compose.yml\n    service: app\n    image: ${REGISTRY}/shop\n    tag: "{env}-{short_sha}"\n`,
      'shop/deploy/compose.yml': COMPOSE_SHOP,
      'edge/.infra.yaml': `apiVersion: infra/v2\nproject: edge\nprovider: bare-metal\nservice:\n  host: ${WEB}\n  port: 8443\n  kind: edge\n  health: { readiness: /readyz, liveness: /livez }\n  compose:\n    file: compose.yml\n    service: caddy\n`,
      'edge/compose.yml': COMPOSE_EDGE,
      'api/.infra.yaml': `apiVersion: infra/v2\nproject: api\nprovider: bare-metal\nservice:\n  host: ${WEB}\n  port: 8090\n  systemd_unit: api.service\n`,
    });
    // The project is a git checkout: {short_sha} in the tag template is its HEAD.
    execFileSync('sh', ['-c', 'git init -q && git add -A && git -c user.email=t@t -c user.name=t commit -qm init'], { cwd: join(root, 'shop') });
  });

  after(async () => {
    await fleet?.down();
    for (const dir of [root, controlDir]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('validate reads the compose files; ports sees what they publish', async () => {
    const v = await runCli(['validate', '--root', root]);
    assert.equal(v.status, 0, v.stdout + v.stderr);
    const ports = json<{ ports: { host: string; port: number; owner: string }[] }>(await runCli(['ports', '--root', root, '--json']));
    assert.deepEqual(
      ports.ports.filter((e) => e.host === WEB).map((e) => [e.port, e.owner]),
      [
        [8080, 'shop'],
        [8090, 'api'],
        [8443, 'edge'],
      ],
    );
  });

  test('--dry-run shows the exact remote commands and touches nothing', async () => {
    const run = await deploy('shop', '--tag', 'prod-v1', '--dry-run');
    assert.equal(run.status, 0, run.stdout + run.stderr);
    const [plan] = json<{ plan: { strategy: string; image: string; steps: string[] }[] }>(run).plan;
    assert.equal(plan?.strategy, 'compose');
    assert.equal(plan?.image, `${REGISTRY}/shop:prod-v1`);
    const steps = plan?.steps.join('\n') ?? '';
    assert.match(steps, /docker pull reg:5000\/shop:prod-v1 +\(the old container keeps running; before the host's revert is armed\)/);
    assert.match(
      steps,
      /<compose> -p shop --project-directory \/srv\/shop\/current -f \S+\/compose\.yml -f \S+\/\.manage-apps\/compose\.override\.yml up -d --no-deps --no-build app/,
    );
    assert.match(steps, /up -d --no-deps --no-build app/);
    assert.doesNotMatch(steps, /(<compose>|docker-compose|docker compose)[^\n]* down\b/);
    assert.equal(await onWeb('test -e /srv/shop && echo exists || echo absent'), 'absent');
    // Without --tag, the manifest's template: {env}-{short_sha} of the project's git HEAD.
    const sha = execFileSync('git', ['rev-parse', '--short=7', 'HEAD'], { cwd: join(root, 'shop'), encoding: 'utf8' }).trim();
    const templated = json<{ plan: { image: string }[] }>(await deploy('shop', '--dry-run')).plan[0];
    assert.equal(templated?.image, `${REGISTRY}/shop:prod-${sha}`);
  });

  let edgeBefore = '';
  let sidecarBefore = '';
  test('the edge deploys when named; a good image deploys and serves, pinned to its digest', async () => {
    const edge = await deploy('edge');
    assert.equal(edge.status, 0, edge.stdout + edge.stderr);
    assert.equal(deploysOf(edge)[0]?.image?.digest, `${REGISTRY}/edge@${digests['edge']}`);
    edgeBefore = await container('edge_caddy_1');
    // Another service of the app's compose project, started by hand: a deploy of app never touches it.
    await onWeb(
      `mkdir -p /opt/side && cat > /opt/side/compose.yml <<'EOF'\n${COMPOSE_SHOP}EOF\ncd /opt/side && docker-compose -p shop up -d --no-deps sidecar 2>&1`,
    );
    sidecarBefore = await container('shop_sidecar_1');

    const run = await deploy('shop', '--tag', 'prod-v1');
    assert.equal(run.status, 0, run.stdout + run.stderr);
    const [d] = deploysOf(run);
    assert.equal(d?.outcome, 'deployed');
    assert.equal(d?.compose, 'docker-compose (v1)', 'Debian 12 ships compose v1; the deploy says which it used');
    assert.deepEqual(d?.image, { ref: `${REGISTRY}/shop:prod-v1`, digest: `${REGISTRY}/shop@${digests['v1']}` });
    assert.equal(await served(), 'v1');
    assert.equal(await onWeb(`cat /srv/shop/releases/${d?.release}/.manage-apps/image`), `${REGISTRY}/shop@${digests['v1']}`);
    assert.equal(await onWeb(`docker inspect --format '{{.Config.Image}}' shop_app_1`), `${REGISTRY}/shop@${digests['v1']}`);
    // The hardening of the override (render/compose-hardening.ts) reached the container, and it serves under it.
    assert.equal(
      await onWeb(
        `docker inspect --format '{{.HostConfig.ReadonlyRootfs}} {{.HostConfig.CapDrop}} {{.HostConfig.SecurityOpt}} {{.Config.User}} {{.HostConfig.Tmpfs}}' shop_app_1`,
      ),
      'true [ALL] [no-new-privileges:true] 65534:65534 map[/tmp:]',
    );

    const v2 = await deploy('shop', '--tag', 'prod-v2');
    assert.equal(v2.status, 0, v2.stdout + v2.stderr);
    assert.equal(deploysOf(v2)[0]?.previous, d?.release);
    assert.equal(await served(), 'v2');
  });

  test('an image that never gets ready is reverted: the old container serves, exit 1, the diagnosis names the cause', async () => {
    // Where the time goes (a figure, never asserted): the deploy's own timings, and what the switch back adds.
    const run = await deploy('shop', '--tag', 'prod-notready');
    const t = json<{ deploys: { timings: Record<string, number | null> }[] }>(run).deploys[0]?.timings ?? {};
    const ms = (k: string) => (t[k] ?? 0) / 1000;
    const back = ms('totalMs') - ms('lockMs') - ms('shipMs') - ms('activateMs');
    console.log(
      `# a never-ready compose deploy (readiness timeout 6 s): ${(run.ms / 1000).toFixed(1)} s in all; the ship ${ms('shipMs').toFixed(1)} s, the switch and the gate ${ms('activateMs').toFixed(1)} s (restart and readiness wait ${ms('gateMs').toFixed(1)} s), the diagnosis and the switch back ${back.toFixed(1)} s`,
    );
    const [d] = deploysOf(run);
    assert.equal(d?.outcome, 'rolled-back');
    assert.match(d?.reason ?? '', /\/readyz on port 8080 gave HTTP 404 for 6s/);
    assert.match(d?.diagnosis?.readiness ?? '', /404/);
    assert.match(d?.diagnosis?.status ?? '', /container \/shop_app_1/);
    assert.equal(d?.rollback?.ok, true, d?.rollback?.detail);
    assert.equal(d?.image?.digest, null, 'no digest is recorded for an image that did not pass');
    assert.equal(await served(), 'v2');
    assert.equal(await onWeb(`docker inspect --format '{{.Config.Image}}' shop_app_1`), `${REGISTRY}/shop@${digests['v2']}`);
  });

  test('a never-ready image that ignores SIGTERM is replaced at once by the switch back (1 s to stop, not 10)', async () => {
    const run = await deploy('shop', '--tag', 'prod-stubborn');
    const [d] = deploysOf(run);
    assert.equal(run.status, 1, run.stdout);
    assert.equal(d?.outcome, 'rolled-back');
    assert.equal(d?.rollback?.ok, true, d?.rollback?.detail);
    assert.equal(await served(), 'v2');
    const t = json<{ deploys: { timings: Record<string, number | null> }[] }>(run).deploys[0]?.timings ?? {};
    const back = ((t['totalMs'] ?? 0) - (t['lockMs'] ?? 0) - (t['shipMs'] ?? 0) - (t['activateMs'] ?? 0)) / 1000;
    console.log(
      `# a never-ready compose deploy deaf to SIGTERM (readiness timeout 6 s): ${(run.ms / 1000).toFixed(1)} s in all, the diagnosis and the switch back ${back.toFixed(1)} s (timings: ${JSON.stringify(t)})`,
    );
  });

  test('a crashing image is reverted with its output in the diagnosis', async () => {
    const run = await deploy('shop', '--tag', 'prod-crash');
    assert.equal(run.status, 1, run.stdout);
    const [d] = deploysOf(run);
    assert.equal(d?.outcome, 'rolled-back');
    assert.match(d?.reason ?? '', /crashed on start: the container exited/);
    assert.match(d?.diagnosis?.journal.join('\n') ?? '', /boom: DATABASE_URL is not set/);
    assert.equal(d?.rollback?.ok, true, d?.rollback?.detail);
    assert.equal(await served(), 'v2');
  });

  test('rollback returns to the digest that passed, even after its tag was moved in the registry', async () => {
    // prod-v1 now names the v3 image in the registry, and web1 no longer has the v1 image.
    const r = await fleet.ssh(REG, `docker tag ${REGISTRY}/shop:prod-v3 ${REGISTRY}/shop:prod-v1 && docker push ${REGISTRY}/shop:prod-v1`, {
      timeoutMs: 60_000,
    });
    assert.equal(r.exitCode, 0, r.stderr);
    await onWeb(`docker rmi -f $(docker image inspect --format '{{.Id}}' ${REGISTRY}/shop@${digests['v1']}) >/dev/null`);
    const run = await cli('rollback', 'shop', '--json');
    assert.equal(run.status, 0, run.stdout + run.stderr);
    const [rb] = json<{ rollbacks: { ok: boolean; digest?: string; compose?: string }[] }>(run).rollbacks;
    assert.equal(rb?.digest, `${REGISTRY}/shop@${digests['v1']}`);
    assert.equal(await served(), 'v1', 'the digest came back, not what the tag names now (v3)');
  });

  test("the edge's container and the project's other service kept their id and start time through every deploy", async () => {
    assert.equal(await container('edge_caddy_1'), edgeBefore);
    assert.equal(await container('shop_sidecar_1'), sidecarBefore);
  });

  test('status of a host with a unit and containers: one round trip, container state, health, restarts and digest', async () => {
    const loaded = await loadFleet({ root });
    const ops = new Ops(loaded.fleet, { ...DEFAULT_SETTINGS, sshConfig: fleet.sshConfigPath, controlDir });
    let calls = 0;
    const real = ops.transport.bind(ops);
    ops.transport = (host) => {
      const t = real(host);
      const counted: Transport = Object.create(t) as Transport;
      counted.script = (script, options) => (calls++, t.script(script, options));
      counted.command = (command, options) => (calls++, t.command(command, options));
      return counted;
    };
    const report = await collectStatus(ops, selectServices(loaded.fleet, { targets: [WEB] }).services);
    assert.equal(calls, 1);
    assert.deepEqual(report.summary, { services: 3, healthy: 3, unhealthy: 0, unreachable: 0 });
    const shop = report.services.find((s) => s.id === 'shop')!;
    assert.equal(shop.supervisor, 'compose');
    assert.equal(shop.state?.active, 'active');
    assert.equal(shop.state?.restarts, 0);
    assert.equal(shop.container?.digest, digests['v1']);
    assert.equal(shop.container?.name, 'shop_app_1');
    assert.deepEqual([shop.health?.readiness.status, shop.health?.liveness.status], [200, 200]);
    assert.equal(report.services.find((s) => s.id === 'api')?.state?.sub, 'running');
    const human = await cli('status', WEB);
    assert.equal(human.status, 0, human.stdout);
    assert.match(human.stdout, /web1 +shop +container shop_app_1 sha256:\S+ +active \(running\)/);
  });

  test('stop, start and logs: the edge is never stopped by a bulk stop; logs come from docker', async () => {
    const stop = await cli('stop', '--host', WEB, '--json');
    assert.equal(stop.status, 0, stop.stdout + stop.stderr);
    const outcomes = Object.fromEntries(json<{ results: { id: string; outcome: string }[] }>(stop).results.map((r) => [r.id, r.outcome]));
    assert.deepEqual(outcomes, { api: 'stopped', edge: 'skipped', shop: 'stopped' });
    assert.equal(await onWeb(`docker inspect --format '{{.State.Status}}' shop_app_1`), 'exited');
    assert.equal(await container('edge_caddy_1'), edgeBefore);
    const start = await cli('start', '--host', WEB, '--json');
    assert.equal(start.status, 0, start.stdout + start.stderr);
    assert.equal(await served(), 'v1');
    const logs = await cli('logs', 'shop', '-n', '20');
    assert.equal(logs.status, 0, logs.stderr);
    assert.match(logs.stdout, /app v1 starting/);
    // A container that stops while its logs are followed ends `docker logs -f` with exit 0: said,
    // and exit 1, not a quiet end that looks like a quiet service (whether the stop comes before
    // or after the follower starts, it ends by itself).
    const follow = startCli(cliArgs('logs', 'shop', '-f', '-n', '5'), env());
    await sleep(2_000);
    await onWeb('docker stop shop_app_1');
    const followed = await follow.done;
    assert.equal(followed.status, 1, followed.stdout + followed.stderr);
    assert.match(followed.stdout + followed.stderr, /✖ shop: the .* stopped being followed on web1: its follower ended by itself/);
    const again = await cli('start', 'shop');
    assert.equal(again.status, 0, again.stdout + again.stderr);
    assert.equal(await served(), 'v1');
  });
  test('kill the CLI and cut the network at every step of a compose deploy: each ends in one consistent state', async () => {
    const versionOf = new Map(Object.entries(digests).map(([v, d]) => [`${REGISTRY}/shop@${d}`, v]));
    // The host reverts an unconfirmed switch 3 + 2 s after arming it (the pull comes before).
    const WINDOW = ['--ready-timeout', '3', '--revert-margin', '2'];
    const D = '/srv/shop';
    const newest = `n=$(ls -1 ${D}/releases | grep -v '^\\.' | sort | tail -n 1)`;
    type Point = 'after the ship' | 'after the pull and pin' | 'right after the switch' | 'during the gate' | 'during a rollback';
    // A condition on the host that says the deploy got there ($before: the newest release before it; $cur: current before it).
    const conditions: Record<Point, string | undefined> = {
      'after the ship': undefined,
      'after the pull and pin': `${newest}; [ "$n" != "$before" ] && test -f ${D}/releases/$n/.manage-apps/image`,
      'right after the switch': `[ "$(readlink ${D}/current)" != "$cur" ]`,
      'during the gate': `[ "$(docker inspect --format '{{.Id}}' shop_app_1 2>/dev/null)" != "$cid" ]`,
      'during a rollback': `[ "$(docker inspect --format '{{.Id}}' shop_app_1 2>/dev/null)" != "$cid" ]`,
    };
    const outcomes: string[] = [];
    let survived = 0;
    let slowRelease = '';

    /** Until nothing is armed and no deploy script runs on the host (the revert window has passed). */
    const settle = (what: string) =>
      eventually(`${what}: the host settled`, 60_000, async () => {
        const r = await fleet.ssh(
          WEB,
          `p=$(cat ${D}/.deploy.lock/script.pid 2>/dev/null); if test -e ${D}/.revert/armed; then echo armed; elif [ -n "$p" ] && ps -o comm= -p "$p" | grep -qx sh; then echo busy; else echo clear; fi`,
          { timeoutMs: 10_000 },
        );
        return r.stdout.trim() === 'clear';
      }).catch(async (error: Error) => {
        const dump = await fleet.ssh(
          WEB,
          `ls -la ${D}/.revert; cat ${D}/.revert/armed ${D}/.revert/fired; systemctl list-timers --all 'manage-apps-revert-*' --no-pager; journalctl -u 'manage-apps-revert-*' --no-pager -n 40; tail -n 20 ${D}/deploys.log`,
          { timeoutMs: 20_000 },
        );
        throw new Error(`${error.message}\n${dump.stdout}${dump.stderr}`);
      });

    /** One consistent state, or what is wrong: current, the container's digest and /version agree; the lock is free or provably stale. */
    async function inconsistency(before: string, newRelease: () => Promise<string>): Promise<string | undefined> {
      const problems: string[] = [];
      const cur = await onWeb(`c=$(readlink ${D}/current); echo "\${c#releases/}"`);
      const pinned = await onWeb(`cat ${D}/releases/${cur}/.manage-apps/image 2>/dev/null || true`);
      const running = await onWeb(`docker inspect --format '{{.Config.Image}} {{.State.Status}}' shop_app_1 2>/dev/null || true`);
      if (running !== `${pinned} running`) problems.push(`current (${cur}) pins ${pinned || 'nothing'}, the container runs ${running || 'nothing'}`);
      const answer = await served().catch((e: Error) => `no answer (${e.message})`);
      if (answer !== versionOf.get(pinned)) problems.push(`serves ${answer}, current pins ${versionOf.get(pinned) ?? pinned}`);
      const rel = await newRelease();
      const confirmed = rel !== before && (await onWeb(`grep '^outcome=' ${D}/.history/${rel} 2>/dev/null | tail -n 1`)).startsWith('outcome=passed');
      if (!confirmed && cur !== before) problems.push(`${cur} is live, never confirmed (before: ${before})`);
      const lock = await onWeb(`cat ${D}/.deploy.lock/owner 2>/dev/null || true`);
      if (lock !== '' && !staleness(parseOwner(lock)).stale) problems.push(`the lock is held and not provably stale: ${lock.replace(/\n/g, ' ')}`);
      if ((await container('edge_caddy_1')) !== edgeBefore) problems.push('the edge container changed');
      return problems.length === 0 ? undefined : problems.join('; ');
    }

    async function faultCase(fault: 'kill' | 'cut', point: Point): Promise<void> {
      const label = `${fault === 'kill' ? 'SIGKILL (CLI and its ssh)' : 'network cut'} ${point}`;
      if (point === 'during a rollback' && slowRelease === '') {
        // A slow release to roll back to (--to: so the rollback's gate lasts), then a newer one.
        for (const tag of ['prod-slow', 'prod-v2']) {
          const d = await deploy('shop', '--tag', tag);
          assert.equal(d.status, 0, `${label}: deploy ${tag}: ${d.stdout}`);
          if (tag === 'prod-slow') slowRelease = deploysOf(d)[0]?.release ?? '';
        }
      }
      const t0 = Date.now();
      const cur = await onWeb(`readlink ${D}/current`);
      const before = cur.replace(/^releases\//, '');
      const newestBefore = await onWeb(`ls -1 ${D}/releases | grep -v '^\\.' | sort | tail -n 1`);
      const [cid, image] = (await onWeb(`docker inspect --format '{{.Id}} {{.Config.Image}}' shop_app_1`)).split(' ');
      // A tag whose image is not the one running, so the container really is recreated.
      const tag = point === 'during the gate' ? 'prod-slow' : image === `${REGISTRY}/shop@${digests['v3']}` ? 'prod-v2' : 'prod-v3';
      const condition = conditions[point];
      const watch =
        condition === undefined
          ? undefined
          : fleet.ssh(
              WEB,
              `before='${newestBefore}'; cur='${cur}'; cid='${cid}'; for i in $(seq 1 3000); do if ${condition}; then echo hit; exit 0; fi; sleep 0.01; done; exit 1`,
              { timeoutMs: 60_000 },
            );
      let shipped = false;
      const args = point === 'during a rollback' ? ['rollback', 'shop', '--to', slowRelease] : ['deploy', 'shop', '--tag', tag];
      const doomed = startCli([...args, ...WINDOW, '--root', root, '--ssh-config', fleet.sshConfigPath, '--connect-timeout', '2'], env(), (chunk) => {
        if (/switching to /.test(chunk)) shipped = true;
      });
      if (watch === undefined) await eventually(`${label}: shipped`, 60_000, async () => shipped);
      else assert.equal((await watch).stdout.trim(), 'hit', `${label}: the deploy never got there`);
      if (point === 'during the gate' || point === 'during a rollback') await sleep(1000);
      let run: CliRun;
      if (fault === 'kill') {
        // The machine dies: the CLI and every ssh it started.
        killWithChildren(doomed.pid);
        run = await doomed.done;
      } else run = await cutUntil(fleet, WEB, doomed.done);
      await settle(label);
      const problem = await inconsistency(before, async () =>
        point === 'during a rollback' ? slowRelease : onWeb(`ls -1 ${D}/releases | grep -v '^\\.' | sort | tail -n 1`),
      );
      const live = await onWeb(`c=$(readlink ${D}/current); echo "\${c#releases/}"`);
      const problems = problem ?? '';
      outcomes.push(
        `  ${problems ? '✖' : '✔'} ${label}: ${problems || 'consistent'} (CLI exit ${run.status ?? 'signal'}; settled and checked ${((Date.now() - t0) / 1000).toFixed(0)} s after the start; then ${live === before ? 'the release from before' : `the new release ${live}`} served)`,
      );
      if (!problems) survived++;
    }

    const points: Point[] = ['after the ship', 'after the pull and pin', 'right after the switch', 'during the gate', 'during a rollback'];
    for (const point of points) {
      await faultCase('kill', point);
      await faultCase('cut', point);
    }
    // Every case began with a deploy that took the lock the one before it left (free or stale); so does this one.
    const next = await deploy('shop', '--tag', 'prod-v2');
    assert.equal(next.status, 0, `the deploy after the last fault: ${next.stdout}${next.stderr}`);
    assert.equal(await served(), 'v2');
    for (const line of outcomes) process.stdout.write(`# ${line}\n`);
    process.stdout.write(`# ${survived}/${outcomes.length} fault points survived (compose deploy: CLI killed, network cut)\n`);
    assert.equal(survived, outcomes.length, outcomes.filter((o) => o.includes('✖')).join('\n'));
  });

  test('a release whose pull failed keeps the reference it was shipped for: rollback --to it pulls that, once the registry has it', async () => {
    const failed = await deploy('shop', '--tag', 'prod-later');
    assert.equal(failed.status, 1, failed.stdout);
    const [d] = deploysOf(failed);
    assert.match(d?.reason ?? '', /pulling \S+shop:prod-later failed/);
    assert.equal(await served(), 'v2', 'nothing switched');
    assert.equal(await onWeb(`cat /srv/shop/releases/${d?.release}/.manage-apps/ref`), `${REGISTRY}/shop:prod-later`);
    const r = await fleet.ssh(REG, `docker tag ${REGISTRY}/shop:prod-v3 ${REGISTRY}/shop:prod-later && docker push ${REGISTRY}/shop:prod-later`, {
      timeoutMs: 60_000,
    });
    assert.equal(r.exitCode, 0, r.stderr);
    const back = await cli('rollback', 'shop', '--to', d!.release!, '--json');
    assert.equal(back.status, 0, back.stdout + back.stderr);
    assert.equal(await served(), 'v3');
  });
});

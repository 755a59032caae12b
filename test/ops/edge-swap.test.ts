// Zero-downtime swaps behind an edge, on real test hosts: a real Caddy on an edge host, configured
// from `manage-apps net caddy` (each swap service routed to both its ports, lb_policy first,
// health checks), routes over the test network to app hosts whose services declare
// `swap: { ports: [8081, 8082] }`. A request loop through the edge (20 requests/s) runs during a
// good deploy, a bad deploy (/readyz 503: rolled back), a crashing deploy (rolled back), a
// rollback and a reload of the rendered Caddyfile after a swap: 0 failed requests (non-2xx or
// connection errors), counted and printed.
//
// Then the fault points: the CLI killed, the app host's network cut, the edge host's network cut —
// after the ship, right after the new instance started, during the gate, right after the edge
// switched, while the old instance drains, during a rollback. Once healed and the host's revert
// window has passed, each case must be one consistent state (`current`, the one running
// instance, the port the edge routes to and the answered version agree; the lock free or
// provably stale) with 0 failed requests through the edge outside the cut itself.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseOwner, staleness } from '../../src/ops/lock-owner.js';
import { realHostsSkipReason, TestFleet } from '../harness/test-fleet.js';
import { describeVersions, getThrough, requestLoop, type LoopResult } from './edge-requests.js';
import { applyFault } from './faults.js';
import { eventually, json, runCli, sleep, startCli } from './helpers.js';
import { artifactDir, fleetRoot } from './real-fleet.js';

const EDGE = 'e1';
const APPS = ['a1', 'a2', 'a3'] as const;
type App = (typeof APPS)[number];
const PORTS = [8081, 8082] as const;
// Readiness timeout 3 s + a 2 s margin: the host reverts 5 s after an unconfirmed switch.
const WINDOW = ['--ready-timeout', '3', '--revert-margin', '2'];
// After a cut heals, Caddy may still count an upstream down for its fail_duration (2 s) and until
// the next active health check (1 s): failures that began before then belong to the cut.
const AFTER_HEAL_MS = 3500;

const project = (h: App) => `shop-${h}`;
const dir = (h: App) => `/srv/${project(h)}`;
const site = (h: App) => `${project(h)}.example.test`;

/** The rendered Caddyfile as the test's edge runs it: plain HTTP (the sites' routing and its admin socket unchanged). */
function plainHttp(caddyfile: string): string {
  assert.match(caddyfile, /^\{\n\tadmin unix\/\/var\/lib\/caddy\/admin\.sock\n\}$/m, 'the rendered global options put the admin API on its socket');
  return caddyfile.replace(/^(\tadmin unix\/\S+)\n\}$/m, '$1\n\tauto_https off\n}').replace(/^([a-z0-9.-]+\.example\.test) \{$/gm, 'http://$1 {');
}
/** Caddy's running config, read as root through its admin socket. */
const READ_CONFIG = "curl -fsS --max-time 5 --unix-socket /var/lib/caddy/admin.sock -H 'Host: ' http://caddy/config/ || true";

describe(
  'zero-downtime swaps behind a real Caddy edge',
  {
    skip: realHostsSkipReason() ?? (existsSync('/usr/bin/caddy') || process.env.CI === 'true' ? undefined : 'caddy is not installed'),
    timeout: 600_000,
  },
  () => {
    let fleet: TestFleet;
    let root = '';
    let work = '';
    let controlDir = '';
    const art: Record<string, string> = {};
    const env = () => ({ MANAGE_APPS_CONTROL_DIR: controlDir });
    const args = (...a: string[]) => [...a, '--root', root, '--ssh-config', fleet.sshConfigPath, '--connect-timeout', '2'];
    const cli = (...a: string[]) => runCli(args(...a), env());
    const deploy = (h: App, version: string) => cli('deploy', project(h), '--artifact', art[version]!, ...WINDOW);
    const inHost = async (h: string, script: string) => (await fleet.exec(h, ['sh', '-c', script])).stdout.trim();
    const edgeAddress = () => fleet.host(EDGE).address;

    /** Runs `what` under the request loop; asserts 0 failed requests and prints the count. */
    async function underLoad(h: App, label: string, what: () => Promise<void>): Promise<void> {
      const l = requestLoop(edgeAddress(), site(h));
      await sleep(300);
      await what();
      await sleep(300);
      const r = await l.stop();
      console.log(`edge swap, ${label}: ${r.sent} requests through the edge, ${r.failures.length} failed (answers: ${describeVersions(r.versions)})`);
      assert.equal(
        r.failures.length,
        0,
        `${label}: ${r.failures.length} of ${r.sent} requests failed: ${r.failures
          .slice(0, 5)
          .map((f) => f.text)
          .join(' | ')}`,
      );
      assert.ok(r.sent >= 20, `${label}: the loop ran (${r.sent} requests)`);
    }

    /** What the edge and the app host say about a service. */
    async function facts(h: App) {
      const address = fleet.host(h).address;
      const cfg = await inHost(EDGE, READ_CONFIG);
      const dials = [...cfg.matchAll(/"dial":"([0-9.]+):(\d+)"/g)].filter((m) => m[1] === address).map((m) => Number(m[2]));
      const raw = await inHost(
        h,
        `d=${dir(h)}; c=$(readlink $d/current); c=\${c#releases/}; echo "current=$c"; echo "version=$(cat $d/releases/$c/VERSION 2>/dev/null)"; echo "live=$(cat $d/.swap/live 2>/dev/null)"; ` +
          `for p in ${PORTS.join(' ')}; do echo "active$p=$(systemctl is-active ${project(h)}@$p.service)"; echo "pinned$p=$(readlink $d/.swap/$p 2>/dev/null)"; echo "answer$p=$(curl -s --max-time 2 http://127.0.0.1:$p/)"; done; ` +
          `echo "inplace=$(systemctl is-active ${project(h)}.service)"; echo "lock=$(tr '\\n' ' ' < $d/.deploy.lock/owner 2>/dev/null)"; echo "armed=$(test -e $d/.revert/armed && echo yes)"; echo "next=$(cat $d/.swap/next 2>/dev/null)"`,
      );
      const f = new Map(raw.split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const));
      const running = PORTS.filter((p) => f.get(`active${p}`) === 'active');
      const preferred = dials[0];
      // lb_policy first: the first upstream whose instance is up, else the next one.
      const routesTo = dials.find((p) => running.includes(p as 8081 | 8082));
      return { f, dials, running, preferred, routesTo, served: (await getThrough(edgeAddress(), site(h))).text };
    }

    /** One consistent state: what is wrong, or undefined. */
    async function inconsistency(h: App): Promise<{ problem?: string; note: string }> {
      const { f, dials, running, preferred, routesTo, served } = await facts(h);
      const live = Number(f.get('live'));
      const version = f.get('version') ?? '';
      const problems: string[] = [];
      if (!f.get('current')) problems.push('no current release');
      if (running.length !== 1 || running[0] !== live) problems.push(`running instances ${JSON.stringify(running)}, live port ${live}`);
      if (f.get('inplace') === 'active') problems.push('the in-place unit runs too');
      if (f.get(`pinned${live}`) !== `../releases/${f.get('current')}`)
        problems.push(`the live instance runs ${f.get(`pinned${live}`)}, current is ${f.get('current')}`);
      if (f.get(`answer${live}`) !== version)
        problems.push(`the live instance answers ${JSON.stringify(f.get(`answer${live}`))}, current is ${version}`);
      if ([...dials].sort().join() !== [...PORTS].join()) problems.push(`the edge dials ${JSON.stringify(dials)}, not both swap ports`);
      if (routesTo !== live) problems.push(`the edge routes to ${routesTo}, the live port is ${live}`);
      if (served !== `200 ${version}`) problems.push(`the edge answers ${JSON.stringify(served)}, current is ${version}`);
      if (f.get('armed') === 'yes' || f.get('next')) problems.push('an activation is still unresolved');
      const lock = f.get('lock') ?? '';
      if (lock !== '' && !staleness(parseOwner(lock.replace(/ /g, '\n'))).stale) problems.push(`the lock is held and not provably stale: ${lock}`);
      const note = `${version} on port ${live}${preferred !== live ? ` (the edge still prefers ${preferred}, whose instance is stopped: it routes to ${routesTo})` : ''}`;
      return problems.length > 0 ? { problem: problems.join('; '), note } : { note };
    }

    async function assertConsistent(h: App, version: string) {
      const r = await inconsistency(h);
      assert.equal(r.problem, undefined, r.note);
      assert.match(r.note, new RegExp(`^${version} `));
    }

    /** Renders the edge's Caddyfile with `net caddy` and (re)loads it (restart: the first time). */
    async function loadRenderedCaddyfile(how: 'restart' | 'reload'): Promise<void> {
      const r = await runCli(['net', 'caddy', '--json', '--root', root]);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      const file = json<{ files: { path: string; content: string }[] }>(r).files.find((x) => x.path === `${EDGE}.Caddyfile`);
      assert.ok(file, r.stdout);
      for (const h of APPS)
        assert.match(
          file.content,
          new RegExp(
            `reverse_proxy ${fleet.host(h).address.replace(/\./g, '\\.')}:8081 ${fleet.host(h).address.replace(/\./g, '\\.')}:8082 \\{\\n\\t\\tlb_policy first`,
          ),
        );
      const text = Buffer.from(plainHttp(file.content)).toString('base64');
      const out = await fleet.exec(EDGE, ['sh', '-c', `echo ${text} | base64 -d > /etc/caddy/Caddyfile && systemctl ${how} caddy.service`]);
      assert.equal(out.exitCode, 0, out.stderr);
    }

    before(async () => {
      fleet = await TestFleet.up({ names: [EDGE, ...APPS] });
      work = mkdtempSync(join(tmpdir(), 'manage-apps-swap-'));
      controlDir = mkdtempSync(join(tmpdir(), 'manage-apps-cm-'));
      for (const v of [
        { version: 'v1' },
        { version: 'v2' },
        { version: 'v3', readyAfterMs: 1000 },
        { version: 'slow', readyAfterMs: 1500 },
        { version: 'slow-b', readyAfterMs: 1500 },
        { version: 'slower', readyAfterMs: 8000 },
        { version: 'notready', notReady: 'database not reachable' },
        { version: 'crash', crash: 'cannot open config' },
      ]) {
        art[v.version] = await artifactDir(work, v);
      }
      const files: Record<string, string> = {
        'edge/.infra.yaml': `apiVersion: infra/v2\nproject: edge\nprovider: bare-metal\nservice:\n  host: ${EDGE}\n  port: 80\n  kind: edge\n  systemd_unit: caddy.service\n`,
      };
      for (const h of APPS)
        files[`${project(h)}/.infra.yaml`] =
          `apiVersion: infra/v2\nproject: ${project(h)}\nprovider: bare-metal\nservice:\n  host: ${h}\n  port: ${PORTS[0]}\n  swap: { ports: [${PORTS[0]}, ${PORTS[1]}] }\n  command: node server.mjs\n  domains: [${site(h)}]\n  health: { timeout: 3s }\n  keep_releases: 4\n`;
      root = await fleetRoot(fleet.hosts, files);
      // The edge reaches the app hosts over the mesh: their mesh_ip is their test-network address.
      const inventory = {
        version: 1,
        mesh: { cidr: '10.98.0.0/16' },
        hosts: Object.fromEntries(
          fleet.hosts.map((h) => [h.name, { alias: h.alias, provider: 'bare-metal', role: 'production', mesh_ip: h.address }]),
        ),
      };
      writeFileSync(join(root, 'mesh-hosts.json'), JSON.stringify(inventory, null, 2));
      // A real Caddy on the edge host (the Debian package's caddy.service), admin API on its unix socket.
      await loadRenderedCaddyfile('restart');
      await eventually('caddy routes the sites', 20_000, async () =>
        (await inHost(EDGE, READ_CONFIG)).includes(`"dial":"${fleet.host('a1').address}:8081"`),
      );
      const first = await Promise.all(APPS.map((h) => deploy(h, 'v1')));
      first.forEach((r) => assert.equal(r.status, 0, r.stdout + r.stderr));
      for (const h of APPS) await assertConsistent(h, 'v1');
    });

    after(async () => {
      await fleet?.down();
      for (const d of [root, work, controlDir]) if (d) rmSync(d, { recursive: true, force: true });
    });

    test('a good deploy swaps with 0 failed requests; the instance runs the release pinned for its port', async () => {
      const before = (await facts('a1')).f.get('live');
      await underLoad('a1', 'good deploy', async () => {
        const r = await deploy('a1', 'v3');
        assert.equal(r.status, 0, r.stdout + r.stderr);
      });
      await assertConsistent('a1', 'v3');
      const after = await facts('a1');
      assert.notEqual(after.f.get('live'), before, 'the new release runs on the other port');
      assert.equal(after.preferred, Number(after.f.get('live')), 'the edge prefers the new port');
      // The templated unit runs the release pinned for its port, not `current`: a restart by systemd keeps it.
      assert.match(
        await inHost('a1', `systemctl cat ${project('a1')}@.service`),
        new RegExp(`WorkingDirectory=${dir('a1')}/\\.swap/%i\\n[\\s\\S]*Environment=PORT=%i`),
      );
    });

    test('a never-ready deploy and a crashing deploy roll back with 0 failed requests', async () => {
      for (const bad of ['notready', 'crash']) {
        const live = Number((await facts('a1')).f.get('live'));
        const gated = PORTS.find((p) => p !== live);
        await underLoad('a1', `${bad} deploy (rolled back)`, async () => {
          const r = await deploy('a1', bad);
          assert.equal(r.status, 1, r.stdout + r.stderr);
          // The failure names the instance that was gated (the port that is not live), never the healthy live one.
          if (bad === 'notready')
            assert.match(r.stdout, new RegExp(`not ready: /readyz on port ${gated} gave HTTP 503 for 3s \\(took [\\d.]+s`), r.stdout);
        });
        await assertConsistent('a1', 'v3');
      }
    });

    test('a rollback swaps back with 0 failed requests', async () => {
      await underLoad('a1', 'rollback', async () => {
        const r = await cli('rollback', project('a1'), ...WINDOW);
        assert.equal(r.status, 0, r.stdout + r.stderr);
      });
      await assertConsistent('a1', 'v1');
    });

    test('the old instance restarted by systemd during a swap comes back on its own release', async () => {
      const live = (await facts('a1')).f.get('live');
      const run = startCli(args('deploy', project('a1'), '--artifact', art['slower']!, '--ready-timeout', '12', '--revert-margin', '2'), env());
      await eventually('the new instance started', 20_000, async () => (await inHost('a1', `cat ${dir('a1')}/.swap/next 2>/dev/null`)) !== '');
      // The old instance dies and systemd restarts it (Restart=on-failure) while `current` already names the new release.
      await fleet.killUnit('a1', `${project('a1')}@${live}.service`);
      await eventually(
        'systemd restarted the old instance',
        20_000,
        async () => (await inHost('a1', `curl -s --max-time 1 http://127.0.0.1:${live}/`)) !== '',
      );
      assert.equal(await inHost('a1', `curl -s --max-time 1 http://127.0.0.1:${live}/`), 'v1', 'the old instance runs the old release');
      const done = await run.done;
      assert.equal(done.status, 0, done.stdout + done.stderr);
      await assertConsistent('a1', 'slower');
    });

    test('a reload of the rendered Caddyfile after a swap keeps serving (both ports are upstreams): 0 failed requests', async () => {
      const r = await deploy('a1', 'v2');
      assert.equal(r.status, 0, r.stdout + r.stderr);
      const live = Number((await facts('a1')).f.get('live'));
      await underLoad('a1', `reload of the rendered Caddyfile (service.port ${PORTS[0]} first, the live instance on ${live})`, async () => {
        await loadRenderedCaddyfile('reload');
        await sleep(1500);
      });
      await assertConsistent('a1', 'v2');
      // The next swap goes to the port the rendered file prefers: the edge already does.
      await underLoad('a1', 'the swap after the reload', async () => {
        const next = await deploy('a1', 'v1');
        assert.equal(next.status, 0, next.stdout + next.stderr);
      });
      await assertConsistent('a1', 'v1');
    });

    test("a local process on the edge host (not root, not Caddy) cannot reach Caddy's admin API", async () => {
      // Another account of the edge host, as an application's service account would be.
      const asNobody = (cmd: string) => inHost(EDGE, `runuser -u nobody -- sh -c ${JSON.stringify(cmd)} 2>&1; echo "rc=$?"`);
      const hijack = `{"apps":{"http":{"servers":{"x":{"listen":[":80"],"routes":[{"handle":[{"handler":"static_response","body":"hijacked"}]}]}}}}}`;
      const attacks: [string, string][] = [
        ['read the config over TCP (the default 127.0.0.1:2019)', 'curl -fsS --max-time 3 http://127.0.0.1:2019/config/'],
        ['load a config over TCP', `curl -fsS --max-time 3 -X POST -H 'Content-Type: application/json' -d '${hijack}' http://127.0.0.1:2019/load`],
        [
          'load a config over TCP with a spoofed Host',
          `curl -fsS --max-time 3 -X POST -H 'Host: localhost:2019' -H 'Content-Type: application/json' -d '${hijack}' http://localhost:2019/load`,
        ],
        [
          'read the config through the admin socket',
          "curl -fsS --max-time 3 --unix-socket /var/lib/caddy/admin.sock -H 'Host: ' http://caddy/config/",
        ],
        [
          'load a config through the admin socket',
          `curl -fsS --max-time 3 --unix-socket /var/lib/caddy/admin.sock -H 'Host: ' -X POST -H 'Content-Type: application/json' -d '${hijack}' http://caddy/load`,
        ],
      ];
      let refused = 0;
      for (const [name, cmd] of attacks) {
        const out = await asNobody(cmd);
        if (!out.endsWith('rc=0') && !out.includes('"apps"')) refused++;
        else console.log(`not refused: ${name}: ${out.slice(0, 300)}`);
      }
      console.log(`attacks refused: ${refused}/${attacks.length}`);
      assert.equal(refused, attacks.length);
      // Still routing, and still what the rendered file says.
      assert.match(await inHost(EDGE, READ_CONFIG), new RegExp(`"dial":"${fleet.host('a1').address}:80`));
    });

    test('status, logs, restart, stop and start drive the live instance of a swap service', async () => {
      const h: App = 'a2';
      assert.equal((await deploy(h, 'v2')).status, 0);
      const live = Number((await facts(h)).f.get('live'));
      const unit = `${project(h)}@${live}.service`;
      const row = json<{ services: { unit: string; port: number; verdict: string }[] }>(await cli('status', project(h), '--json')).services[0];
      assert.deepEqual([row?.unit, row?.port, row?.verdict], [unit, live, 'healthy']);
      const logs = await cli('logs', project(h), '-n', '20');
      assert.equal(logs.status, 0, logs.stderr);
      assert.match(logs.stdout, new RegExp(`app v2 listening on ${live}`));
      const pid = () => inHost(h, `systemctl show -p MainPID --value ${unit}`);
      const before = await pid();
      const restarted = await cli('restart', project(h));
      assert.equal(restarted.status, 0, restarted.stdout + restarted.stderr);
      assert.notEqual(await pid(), before, 'the live instance was restarted');
      assert.equal(await inHost(h, `systemctl is-active ${project(h)}.service || true`), 'inactive', 'not the in-place unit');
      assert.equal((await cli('stop', project(h))).status, 0);
      assert.deepEqual((await facts(h)).running, []);
      assert.equal((await cli('start', project(h))).status, 0);
      await assertConsistent(h, 'v2');
    });

    test('kill the CLI, cut the app host, cut the edge at every step of a swap: one consistent state each, 0 failed requests outside the cut', async () => {
      type Point =
        | 'after the ship'
        | 'right after the new instance started'
        | 'during the gate'
        | 'right after the edge switched'
        | 'while the old instance drains'
        | 'during a rollback';
      type Fault = 'kill' | 'cut app host' | 'cut edge';
      const points: Record<App, Point[]> = {
        a1: ['after the ship', 'right after the edge switched'],
        a2: ['right after the new instance started', 'while the old instance drains'],
        a3: ['during the gate', 'during a rollback'],
      };
      interface Outcome {
        host: App;
        fault: Fault;
        point: Point;
        problem?: string;
        note: string;
        loop: LoopResult;
        outsideCut: number;
      }
      const outcomes: Outcome[] = [];

      async function faultCase(h: App, fault: Fault, point: Point): Promise<void> {
        if (point === 'during a rollback') {
          // A slow release to roll back to (so the rollback's gate lasts), then a newer one.
          for (const v of ['slow-b', 'v2']) assert.equal((await deploy(h, v)).status, 0);
        }
        const loop = requestLoop(edgeAddress(), site(h));
        await sleep(300);
        let said = '';
        const cmd =
          point === 'during a rollback'
            ? ['rollback', project(h), ...WINDOW]
            : [
                'deploy',
                project(h),
                '--artifact',
                art[point === 'right after the edge switched' || point === 'while the old instance drains' ? 'v2' : 'slow']!,
                ...WINDOW,
              ];
        const run = startCli(args(...cmd), env(), (chunk) => (said += chunk));
        const started = async () =>
          (await inHost(
            h,
            `n=$(cat ${dir(h)}/.swap/next 2>/dev/null) && [ -n "$n" ] && systemctl is-active --quiet ${project(h)}@$n.service && echo up`,
          )) === 'up';
        switch (point) {
          case 'after the ship':
            await eventually('shipped', 20_000, async () => /switching to /.test(said));
            break;
          case 'right after the new instance started':
            await eventually('the new instance started', 20_000, started);
            break;
          case 'during the gate':
          case 'during a rollback':
            await eventually('the new instance started', 20_000, started);
            await sleep(600);
            break;
          case 'right after the edge switched':
            await eventually('the edge switch began', 20_000, async () => new RegExp(`switching ${EDGE} from port`).test(said));
            break;
          case 'while the old instance drains':
            await eventually('confirming', 20_000, async () => /confirming/.test(said));
            await sleep(300);
            break;
        }
        const {
          result,
          at: cutAt,
          backAt,
        } = await applyFault(fleet, run, fault === 'kill' ? { kind: 'kill' } : { kind: 'cut', host: fault === 'cut edge' ? EDGE : h });
        const exitS = ((Date.now() - cutAt) / 1000).toFixed(1);
        // The revert window has passed and nothing is left half done.
        // Twice, a revert window apart: a script the dead CLI's ssh was still delivering may arm late.
        const settled = async () =>
          (await inHost(h, `test -e ${dir(h)}/.revert/armed || test -s ${dir(h)}/.swap/next || echo settled`)) === 'settled';
        await eventually(`${h}: settled`, 40_000, settled);
        await sleep(6000);
        await eventually(`${h}: settled`, 40_000, settled);
        const l = await loop.stop();
        const outsideCut = l.failures.filter((f) => fault === 'kill' || f.doneAt < cutAt || f.sentAt > backAt + AFTER_HEAL_MS).length;
        const r = await inconsistency(h);
        if (r.problem)
          r.problem += ` [host: ${(await inHost(h, `tail -n 12 ${dir(h)}/deploys.log | tr '\\n' '|'; for p in ${PORTS.join(' ')}; do systemctl show -p ActiveState,ActiveEnterTimestamp,NRestarts,UnitFileState ${project(h)}@$p.service | tr '\\n' ' '; done`)).slice(0, 1500)}]`;
        outcomes.push({
          host: h,
          fault,
          point,
          ...(r.problem ? { problem: r.problem } : {}),
          note: `CLI exit ${result.status ?? 'signal'} ${exitS}s after the fault; then ${r.note}`,
          loop: l,
          outsideCut,
        });
      }

      // Kill and app-host cuts: the three app hosts in parallel (each its own service and loop).
      await Promise.all(
        APPS.map(async (h) => {
          for (const point of points[h]) for (const fault of ['kill', 'cut app host'] as const) await faultCase(h, fault, point);
        }),
      );
      // Edge cuts: one at a time (the edge serves every loop).
      for (const h of APPS) for (const point of points[h]) await faultCase(h, 'cut edge', point);

      for (const o of outcomes) {
        const cut = o.loop.failures.length - o.outsideCut;
        console.log(
          `  ${o.problem || o.outsideCut > 0 ? '✖' : '✔'} ${o.fault === 'kill' ? 'SIGKILL' : o.fault} ${o.point} (${o.host}): ${o.problem ?? 'consistent'} — ${o.note}; through the edge: ${o.loop.sent} requests, ${o.outsideCut} failed${o.fault === 'kill' ? '' : ` outside the cut (${cut} during it)`}`,
        );
      }
      const survived = outcomes.filter((o) => !o.problem && o.outsideCut === 0).length;
      console.log(`${survived}/${outcomes.length} fault points survived`);
      assert.equal(outcomes.length, 18);
      assert.equal(
        survived,
        outcomes.length,
        outcomes
          .filter((o) => o.problem || o.outsideCut > 0)
          .map(
            (o) =>
              `${o.fault} ${o.point}: ${o.problem ?? ''} ${o.loop.failures
                .slice(0, 3)
                .map((f) => f.text)
                .join(' | ')}`,
          )
          .join('\n'),
      );
    });
  },
);

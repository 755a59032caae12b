// `move` of the kinds of service that are not a plain unit, on real test hosts (one fleet for the
// file: an edge running a real Caddy configured from `manage-apps net caddy`, a source, a target):
//
// - a swap service (service.swap) behind the edge: a request loop through the edge (20 requests/s)
//   during the move: 0 failed requests; the edge dials both instances on the target, the
//   target's live one preferred; every unit on the source stopped and disabled;
// - a scheduled job (service.schedule) with a run in progress when the move comes: the move waits
//   for it, the timer then fires on the target only (its runs and the source's never overlap, no
//   run on the source after the move), enabled there, disabled on the source.
//
// Then the fault points: the CLI killed, or the target or the edge cut off the network, at the
// new steps (the job's pause and its deploy on the target; the swap's deploy beside and its edge
// switch); then `move` again (it continues from the journal) or `--abort` (back to the source).
// Each case must end in one consistent placement.
//
// Last, `recover`: the host running both is powered off for good; both come back on the other
// from the releases kept on this machine (the swap's live instance preferred by the edge, the
// job's timer enabled and firing).
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { realHostsSkipReason, TestFleet } from '../../harness/test-fleet.js';
import { getThrough, requestLoop } from '../edge-requests.js';
import { eventually, json, runCli, sleep } from '../helpers.js';
import { faultMatrix, moveCase } from './fault-points.js';
import { artifactDir, fleetRoot } from '../real-fleet.js';

const EDGE = 'e1';
const SOURCE = 's1';
const TARGET = 't1';
const SWAP = 'shop';
const SITE = 'shop.example.test';
const PORTS = [8081, 8082] as const;
const JOB = 'sweeper';
const PERIOD_S = 5;
const WINDOW = ['--ready-timeout', '5', '--revert-margin', '2'];
const READ_CONFIG = "curl -fsS --max-time 5 --unix-socket /var/lib/caddy/admin.sock -H 'Host: ' http://caddy/config/ || true";

/** The job: logs its start and end (epoch ms, the host) and sleeps as /etc/jobctl/sleep says. */
const JOB_SCRIPT = `#!/bin/sh
echo "run start $(date +%s%3N) $(hostname)"
sleep "$(cat /etc/jobctl/sleep 2>/dev/null || echo 1)"
echo "run end $(date +%s%3N) $(hostname)"
`;

/** The rendered Caddyfile as the test's edge runs it: plain HTTP (routing and admin socket unchanged). */
function plainHttp(caddyfile: string): string {
  return caddyfile.replace(/^(\tadmin unix\/\S+)\n\}$/m, '$1\n\tauto_https off\n}').replace(/^([a-z0-9.-]+\.example\.test) \{$/gm, 'http://$1 {');
}

interface Run {
  host: string;
  start: number;
  end: number | null;
}

describe('move: a swap service and a scheduled job to another host', { skip: realHostsSkipReason(), timeout: 1_500_000 }, () => {
  let fleet: TestFleet;
  let root = '';
  let work = '';
  let controlDir = '';
  const env = () => ({ MANAGE_APPS_CONTROL_DIR: controlDir });
  const args = (...a: string[]) => [...a, '--root', root, '--ssh-config', fleet.sshConfigPath, '--connect-timeout', '2'];
  const cli = (...a: string[]) => runCli(args(...a), env());
  const inHost = async (h: string, script: string) => (await fleet.exec(h, ['sh', '-c', script])).stdout.trim();
  const declared = (project: string) => /^ {2}host: (\S+)$/m.exec(readFileSync(join(root, project, '.infra.yaml'), 'utf8'))?.[1];

  function journalProblems(): string[] {
    const problems: string[] = [];
    for (const h of [SOURCE, TARGET]) {
      const path = join(root, '.state', 'moves', `${h}.json`);
      if (existsSync(path) && (JSON.parse(readFileSync(path, 'utf8')) as { finished: string | null }).finished === null)
        problems.push(`the move to ${h} is not finished (its journal)`);
    }
    return problems;
  }

  /** The job's runs on both hosts, from their journals. */
  async function runs(): Promise<Run[]> {
    const out: Run[] = [];
    for (const h of [SOURCE, TARGET]) {
      const lines = (await inHost(h, `journalctl -u ${JOB}.service -o cat --no-pager | grep -E '^run ' || true`)).split('\n').filter(Boolean);
      for (const l of lines) {
        const [, what, at] = l.split(' ');
        if (what === 'start') out.push({ host: h, start: Number(at), end: null });
        else if (what === 'end') {
          const open = out.filter((r) => r.host === h && r.end === null).at(-1);
          if (open) open.end = Number(at);
        }
      }
    }
    return out.sort((a, b) => a.start - b.start);
  }

  /** Two runs on different hosts at once. */
  function overlaps(all: readonly Run[]): string[] {
    const problems: string[] = [];
    for (const a of all)
      for (const b of all)
        if (a.host < b.host && a.start < (b.end ?? Infinity) && b.start < (a.end ?? Infinity))
          problems.push(`runs overlap: ${a.host} ${a.start}–${a.end}, ${b.host} ${b.start}–${b.end}`);
    return problems;
  }

  /** Where the job runs, as every party sees it; a problem when they disagree. */
  async function jobPlacement(): Promise<{ host?: string; problem?: string }> {
    const problems: string[] = [];
    const scheduled: string[] = [];
    for (const h of [SOURCE, TARGET]) {
      const [active, enabled] = (await inHost(h, `systemctl is-active ${JOB}.timer; systemctl is-enabled ${JOB}.timer 2>/dev/null || true`)).split(
        '\n',
      );
      if (active === 'active') scheduled.push(h);
      if ((active === 'active') !== (enabled === 'enabled')) problems.push(`on ${h} its timer is ${active} and ${enabled ?? 'not installed'}`);
    }
    if (scheduled.length !== 1) problems.push(`its timer is active on ${JSON.stringify(scheduled)}`);
    const host = scheduled[0] ?? declared(JOB);
    if (declared(JOB) !== host) problems.push(`the manifest names ${declared(JOB)}, its timer runs on ${host}`);
    problems.push(...overlaps(await runs()), ...journalProblems());
    return problems.length > 0 ? { host: host!, problem: problems.join('; ') } : { host: host! };
  }

  /** Where the swap service runs, as every party sees it; a problem when they disagree. */
  async function swapPlacement(): Promise<{ host?: string; problem?: string }> {
    const problems: string[] = [];
    const running: { host: string; ports: number[]; live: number }[] = [];
    for (const h of [SOURCE, TARGET]) {
      const raw = await inHost(
        h,
        `for p in ${PORTS.join(' ')}; do echo "$p $(systemctl is-active ${SWAP}@$p.service) $(systemctl is-enabled ${SWAP}@$p.service 2>/dev/null)"; done; echo "inplace $(systemctl is-active ${SWAP}.service)"; echo "live $(cat /srv/${SWAP}/.swap/live 2>/dev/null)"`,
      );
      const lines = raw.split('\n').map((l) => l.split(' '));
      const ports = lines.filter((l) => l[1] === 'active' && /^\d+$/.test(l[0]!)).map((l) => Number(l[0]));
      if (lines.find((l) => l[0] === 'inplace')?.[1] === 'active') problems.push(`the in-place unit runs on ${h}`);
      const live = Number(lines.find((l) => l[0] === 'live')?.[1]);
      for (const l of lines)
        if (/^\d+$/.test(l[0]!) && (l[1] === 'active') !== (l[2] === 'enabled')) problems.push(`on ${h} ${SWAP}@${l[0]} is ${l[1]} and ${l[2]}`);
      if (ports.length > 0) running.push({ host: h, ports, live });
    }
    if (running.length !== 1) problems.push(`it runs on ${JSON.stringify(running.map((r) => r.host))}`);
    const where = running[0];
    const host = where?.host ?? declared(SWAP);
    if (where !== undefined && (where.ports.length !== 1 || where.ports[0] !== where.live))
      problems.push(`on ${host} the instances on ${JSON.stringify(where.ports)} run, the live one is ${where.live}`);
    if (declared(SWAP) !== host) problems.push(`the manifest names ${declared(SWAP)}, it runs on ${host}`);
    const address = fleet.host(host!).address;
    const cfg = await inHost(EDGE, READ_CONFIG);
    const dials = [...cfg.matchAll(/"dial":"([0-9.]+):(\d+)"/g)].map((m) => `${m[1]}:${m[2]}`);
    if ([...dials].sort().join() !== PORTS.map((p) => `${address}:${p}`).join()) problems.push(`the edge dials ${JSON.stringify(dials)}`);
    else if (where !== undefined && dials[0] !== `${address}:${where.live}`)
      problems.push(`the edge prefers ${dials[0]}, the live instance is on ${where.live}`);
    const file = await inHost(EDGE, 'cat /etc/caddy/Caddyfile');
    if (!file.includes(`reverse_proxy ${address}:${PORTS[0]} ${address}:${PORTS[1]}`))
      problems.push(`the Caddyfile on the edge does not route to ${address}`);
    const served = (await getThrough(fleet.host(EDGE).address, SITE)).text;
    if (served !== '200 v1') problems.push(`the edge answers ${JSON.stringify(served)}`);
    problems.push(...journalProblems());
    return problems.length > 0 ? { host: host!, problem: problems.join('; ') } : { host: host! };
  }

  before(async () => {
    fleet = await TestFleet.up({ names: [EDGE, SOURCE, TARGET] });
    work = mkdtempSync(join(tmpdir(), 'manage-apps-move-kinds-'));
    controlDir = mkdtempSync(join(tmpdir(), 'manage-apps-cm-'));
    const app = await artifactDir(work, { version: 'v1' });
    const job = join(work, 'job');
    mkdirSync(job, { recursive: true });
    writeFileSync(join(job, 'job.sh'), JOB_SCRIPT, { mode: 0o755 });
    root = await fleetRoot(fleet.hosts, {
      'edge/.infra.yaml': `apiVersion: infra/v2\nproject: edge\nprovider: bare-metal\nservice:\n  host: ${EDGE}\n  port: 80\n  kind: edge\n  systemd_unit: caddy.service\n`,
      [`${SWAP}/.infra.yaml`]: `apiVersion: infra/v2\nproject: ${SWAP}\nprovider: bare-metal\nservice:\n  host: ${SOURCE}\n  port: ${PORTS[0]}\n  swap: { ports: [${PORTS[0]}, ${PORTS[1]}] }\n  command: node server.mjs\n  domains: [${SITE}]\n  health: { timeout: 5s }\n`,
      [`${JOB}/.infra.yaml`]: `apiVersion: infra/v2\nproject: ${JOB}\nprovider: bare-metal\nservice:\n  host: ${SOURCE}\n  kind: worker\n  command: ./job.sh\n  schedule:\n    calendar: every ${PERIOD_S}s\n    timeout: 30\n`,
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
      (await inHost(EDGE, READ_CONFIG)).includes(`"dial":"${fleet.host(SOURCE).address}:${PORTS[0]}"`),
    );
    for (const h of [SOURCE, TARGET]) await inHost(h, 'mkdir -p /etc/jobctl && echo 1 > /etc/jobctl/sleep && chmod 644 /etc/jobctl/sleep');
    const [d1, d2] = await Promise.all([cli('deploy', SWAP, '--artifact', app, ...WINDOW), cli('deploy', JOB, '--artifact', job, ...WINDOW)]);
    assert.equal(d1!.status, 0, d1!.stdout + d1!.stderr);
    assert.equal(d2!.status, 0, d2!.stdout + d2!.stderr);
    assert.equal((await getThrough(fleet.host(EDGE).address, SITE)).text, '200 v1');
  });

  after(async () => {
    await fleet?.down();
    for (const dir of [root, work, controlDir]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('--dry-run: both move, each with its own steps; nothing is touched', async () => {
    const r = await cli('move', SWAP, JOB, '--to', TARGET, '--dry-run', '--json');
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const d = json<{ waves: { items: { name: string; how: string; blocked: string | null; steps: string[] }[] }[] }>(r);
    const items = d.waves.flatMap((w) => w.items);
    const swap = items.find((i) => i.name === SWAP)!;
    const job = items.find((i) => i.name === JOB)!;
    assert.equal(swap.how, 'swap');
    assert.equal(swap.blocked, null);
    assert.ok(swap.steps.some((s) => /^edges: e1 dials both instances on t1/.test(s)));
    assert.equal(job.how, 'job');
    assert.equal(job.blocked, null);
    assert.ok(job.steps.some((s) => /^pause: stop sweeper\.timer on s1/.test(s)));
    assert.equal(declared(SWAP), SOURCE);
    assert.equal(existsSync(join(root, '.state', 'moves', `${TARGET}.json`)), false);
  });

  test('the swap service moves with 0 failed requests through the edge', async () => {
    const loop = requestLoop(fleet.host(EDGE).address, SITE);
    await sleep(300);
    const r = await cli('move', SWAP, '--to', TARGET, ...WINDOW);
    await sleep(300);
    const l = await loop.stop();
    console.log(
      `move of a swap service ${SOURCE} → ${TARGET}: ${l.sent} requests through the edge, ${l.failures.length} failed; the move took ${(r.ms / 1000).toFixed(1)}s`,
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
    const p = await swapPlacement();
    assert.equal(p.problem, undefined);
    assert.equal(p.host, TARGET);
    assert.equal(
      await inHost(SOURCE, `systemctl is-active ${SWAP}@${PORTS[0]}.service ${SWAP}@${PORTS[1]}.service ${SWAP}.service | sort -u`),
      'inactive',
    );
  });

  test('the job moves: a run in progress is waited for, then its timer fires on the target only', async () => {
    // A run of 15 s started by hand: the move comes during it. A run the timer started before
    // the 15 was written reads the short sleep and may end before the move looks (seen once in a
    // fresh-clone CI: the move found nothing to wait for); it is let end first. 15 s, not 6: in a
    // fresh-clone CI with four lanes, the polls that see the run going and the CLI's own start
    // took most of 6 s, and the move found the run already ended.
    await inHost(SOURCE, 'echo 15 > /etc/jobctl/sleep');
    await eventually(
      'no run started before the 6 s sleep is going',
      20_000,
      async () => (await inHost(SOURCE, `systemctl is-active ${JOB}.service || true`)) !== 'activating',
    );
    await inHost(SOURCE, `systemctl start --no-block ${JOB}.service`);
    await eventually('the run is going', 10_000, async () => (await inHost(SOURCE, `systemctl is-active ${JOB}.service || true`)) === 'activating');
    const r = await cli('move', JOB, '--to', TARGET, ...WINDOW);
    const moved = Date.now();
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stderr + r.stdout, /waited \d+s for the run in progress on s1/);
    await inHost(SOURCE, 'echo 1 > /etc/jobctl/sleep');
    // Two periods: it fires on the target, never on the source.
    await sleep(2 * PERIOD_S * 1000 + 2000);
    const all = await runs();
    const after = all.filter((x) => x.start > moved);
    assert.ok(
      after.some((x) => x.host === TARGET),
      `no run on ${TARGET} after the move: ${JSON.stringify(all)}`,
    );
    assert.deepEqual(
      after.filter((x) => x.host === SOURCE),
      [],
    );
    assert.deepEqual(overlaps(all), []);
    const p = await jobPlacement();
    assert.equal(p.problem, undefined);
    assert.equal(p.host, TARGET);
    assert.equal(await inHost(SOURCE, `systemctl is-enabled ${JOB}.timer || true`), 'disabled');
  });

  test('fault points: killed or cut at each new step, then continued or aborted: one consistent placement', async () => {
    type Fault = 'kill' | 'cut target' | 'cut edge';
    const points: { project: string; at: RegExp; name: string; faults: Fault[] }[] = [
      { project: JOB, at: /stopping its timer on .* \(a run in progress/, name: "the job's pause", faults: ['kill'] },
      { project: JOB, at: /deploying release/, name: "the job's deploy on the target", faults: ['kill', 'cut target'] },
      { project: SWAP, at: /deploying release/, name: "the swap's deploy beside", faults: ['cut target'] },
      { project: SWAP, at: /now routes to/, name: "the swap's edge switch", faults: ['kill', 'cut edge'] },
    ];
    const matrix = await faultMatrix(
      points,
      () => ['continue', 'abort'],
      async ({ point, fault, then }) => {
        const placement = point.project === JOB ? jobPlacement : swapPlacement;
        const start = (await placement()).host!;
        const to = start === SOURCE ? TARGET : SOURCE;
        const label = `${fault} during ${point.name} (${start} → ${to}), then ${then}`;
        const cut = fault === 'cut target' ? to : fault === 'cut edge' ? EDGE : undefined;
        return moveCase({
          fleet,
          args,
          cli,
          env: env(),
          project: point.project,
          from: start,
          to,
          window: WINDOW,
          at: point.at,
          interrupt: cut === undefined ? 'kill' : { cut },
          then,
          placement,
          tag: 'move-kinds fault',
          label,
        });
      },
    );
    console.log(`move-kinds: ${matrix.summary}`);
    assert.deepEqual(matrix.failures, []);
  });

  test('recover: the host running both is lost; both come back on the other from the releases kept here', async () => {
    const both = await cli('move', SWAP, JOB, '--to', TARGET, ...WINDOW);
    assert.equal(both.status, 0, both.stdout + both.stderr);
    // Powered off for good: its units stopped, its network cut (never healed).
    await fleet.ssh(TARGET, `systemctl stop ${JOB}.timer ${JOB}.service ${SWAP}@${PORTS[0]}.service ${SWAP}@${PORTS[1]}.service`);
    const lostAt = Date.now();
    await fleet.cutNetwork(TARGET);
    const plan = await cli('recover', TARGET, '--to', SOURCE, '--dry-run', '--json');
    assert.equal(plan.status, 0, plan.stdout + plan.stderr);
    const items = json<{ waves: { items: { name: string; how: string; blocked: string | null }[] }[] }>(plan).waves.flatMap((w) => w.items);
    assert.deepEqual(items.map((i) => [i.name, i.how, i.blocked]).sort(), [
      [SWAP, 'swap', null],
      [JOB, 'job', null],
    ]);
    const r = await cli('recover', TARGET, '--to', SOURCE, ...WINDOW);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(declared(SWAP), SOURCE);
    assert.equal(declared(JOB), SOURCE);
    // The swap service: served through the edge from the source, its live instance the edge's preferred upstream.
    const address = fleet.host(SOURCE).address;
    const live = Number(await inHost(SOURCE, `cat /srv/${SWAP}/.swap/live`));
    const cfg = await inHost(EDGE, READ_CONFIG);
    const dials = [...cfg.matchAll(/"dial":"([0-9.]+):(\d+)"/g)].map((m) => `${m[1]}:${m[2]}`);
    assert.deepEqual(dials, [`${address}:${live}`, `${address}:${live === PORTS[0] ? PORTS[1] : PORTS[0]}`]);
    assert.equal((await getThrough(fleet.host(EDGE).address, SITE)).text, '200 v1');
    assert.equal(await inHost(SOURCE, `systemctl is-enabled ${SWAP}@${live}.service`), 'enabled');
    // The job: its timer enabled and active on the source, and it fires there.
    assert.equal(await inHost(SOURCE, `systemctl is-active ${JOB}.timer; systemctl is-enabled ${JOB}.timer`), 'active\nenabled');
    await eventually('the job runs on the source', 3 * PERIOD_S * 1000, async () =>
      (await runs()).some((x) => x.host === SOURCE && x.start > lostAt),
    );
  });
});

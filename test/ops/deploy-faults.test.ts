// The host guards its own activation, on real test hosts: a deploy whose CLI dies (SIGKILL) or
// whose network is cut after the ship, right after the switch, during the gate, or during a
// rollback ends — once the host's revert window has passed — with one consistent, healthy
// release serving (`current`, the unit and the answered version agree) and the deploy lock free
// or provably stale. Also: status and `releases` show an armed and a fired revert; rollback
// goes back to the newest release that passed its gate.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseOwner, staleness } from '../../src/ops/lock-owner.js';
import { realHostsSkipReason, TestFleet } from '../harness/test-fleet.js';
import { applyFault } from './faults.js';
import { eventually, json, runCli, sleep, startCli } from './helpers.js';
import { artifactDir, fleetRoot } from './real-fleet.js';

const HOSTS = ['f1', 'f2', 'f3', 'f4'] as const;
type HostName = (typeof HOSTS)[number];
const PORT = 8080;
// Readiness timeout 5 s + a 2 s margin: the host reverts 7 s after an unconfirmed switch.
const WINDOW = ['--ready-timeout', '5', '--revert-margin', '2'];

interface ReleaseRow {
  id: string;
  outcome: string | null;
  why: string | null;
  current: boolean;
  by: string | null;
}
interface Revert {
  state: string;
  release: string | null;
  previous: string | null;
  reason?: string;
}

describe('deploy faults on real hosts: the dead-man switch', { skip: realHostsSkipReason(), timeout: 600_000 }, () => {
  let fleet: TestFleet;
  let root = '';
  let work = '';
  let controlDir = '';
  const art: Record<string, string> = {};
  const env = () => ({ MANAGE_APPS_CONTROL_DIR: controlDir });
  const project = (h: HostName) => `shop-${h}`;
  const dir = (h: HostName) => `/srv/${project(h)}`;
  const args = (...a: string[]) => [...a, '--root', root, '--ssh-config', fleet.sshConfigPath, '--connect-timeout', '2'];
  const cli = (...a: string[]) => runCli(args(...a), env());
  const deploy = (h: HostName, version: string, ...extra: string[]) =>
    cli('deploy', project(h), '--artifact', art[version]!, '--json', ...WINDOW, ...extra);
  const inHost = async (h: HostName, script: string) => (await fleet.exec(h, ['sh', '-c', script])).stdout.trim();
  const served = async (h: HostName) => {
    try {
      const res = await fetch(`http://${fleet.host(h).address}:${PORT}/`, { signal: AbortSignal.timeout(3000) });
      return (await res.text()).trim();
    } catch (error) {
      return `no answer (${(error as Error).message})`;
    }
  };
  const current = (h: HostName) => inHost(h, `c=$(readlink ${dir(h)}/current); echo "\${c#releases/}"`);

  /** Waits until nothing is armed or being reverted (the revert window has passed). */
  const settle = (h: HostName) =>
    eventually(
      `${h}: the revert settled`,
      40_000,
      async () => (await inHost(h, `test -e ${dir(h)}/.revert/armed && echo armed || echo clear`)) === 'clear',
    );

  /** One consistent, healthy release: what is wrong, or undefined. */
  async function inconsistency(h: HostName): Promise<string | undefined> {
    const facts = new Map(
      (
        await inHost(
          h,
          `d=${dir(h)}; c=$(readlink $d/current); c=\${c#releases/}; echo "current=$c"; echo "version=$(cat $d/releases/$c/VERSION 2>/dev/null)"; echo "active=$(systemctl is-active ${project(h)}.service)"; ` +
            `cmp -s /etc/systemd/system/${project(h)}.service $d/.units/$c.service && echo unit=same || echo unit=differs; echo "lock=$(tr '\\n' ' ' < $d/.deploy.lock/owner 2>/dev/null)"`,
        )
      )
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const),
    );
    const answer = await served(h);
    const problems: string[] = [];
    if (!facts.get('current')) problems.push('no current release');
    if (facts.get('active') !== 'active') problems.push(`unit ${facts.get('active')}`);
    if (facts.get('unit') !== 'same') problems.push('the installed unit is not the current release’s');
    if (answer !== facts.get('version')) problems.push(`serves ${JSON.stringify(answer)}, current is ${JSON.stringify(facts.get('version'))}`);
    const lock = facts.get('lock') ?? '';
    if (lock !== '') {
      const owner = parseOwner(lock.replace(/ /g, '\n'));
      if (!staleness(owner).stale) problems.push(`the lock is held and not provably stale: ${lock}`);
    }
    if (problems.length > 0) problems.push(`(the last revert: ${await inHost(h, `tr '\\n' ' ' < ${dir(h)}/.revert/fired 2>/dev/null`)})`);
    return problems.length > 0 ? problems.join('; ') : undefined;
  }

  before(async () => {
    fleet = await TestFleet.up({ names: [...HOSTS] });
    work = mkdtempSync(join(tmpdir(), 'manage-apps-faults-'));
    controlDir = mkdtempSync(join(tmpdir(), 'manage-apps-cm-'));
    for (const v of [
      { version: 'v1' },
      { version: 'v2' },
      { version: 'slow', readyAfterMs: 2500 },
      { version: 'slow-b', readyAfterMs: 2500 },
      { version: 'notready', notReady: 'database not reachable' },
    ]) {
      art[v.version] = await artifactDir(work, v);
    }
    const files: Record<string, string> = {};
    for (const h of HOSTS)
      files[`${project(h)}/.infra.yaml`] =
        `apiVersion: infra/v2\nproject: ${project(h)}\nprovider: bare-metal\nservice:\n  host: ${h}\n  port: ${PORT}\n  command: node server.mjs\n  health: { timeout: 5s }\n  keep_releases: 4\n`;
    root = await fleetRoot(fleet.hosts, files);
    const first = await Promise.all(HOSTS.map((h) => deploy(h, 'v1')));
    first.forEach((r) => assert.equal(r.status, 0, r.stdout + r.stderr));
  });

  after(async () => {
    await fleet?.down();
    for (const d of [root, work, controlDir]) if (d) rmSync(d, { recursive: true, force: true });
  });

  test('a killed deploy: status and releases show the armed revert; the host reverts by itself, records why, frees the lock', async () => {
    const h: HostName = 'f1';
    const v1 = await current(h);
    const doomed = startCli(args('deploy', project(h), '--artifact', art['notready']!, ...WINDOW), env());
    await eventually('switched', 20_000, async () => (await current(h)) !== v1);
    process.kill(doomed.pid, 'SIGKILL');
    await doomed.done;
    const bad = await current(h);

    const status = await cli('status', project(h), '--json');
    const row = json<{ services: { revert?: Revert }[] }>(status).services[0];
    assert.equal(row?.revert?.state, 'armed', status.stdout);
    assert.equal(row?.revert?.release, bad);
    assert.equal(row?.revert?.previous, v1);
    const listed = json<{ services: { current: string; releases: ReleaseRow[]; revert: Revert | null }[] }>(
      await cli('releases', project(h), '--json'),
    ).services[0];
    assert.equal(listed?.current, bad);
    assert.equal(listed?.releases.find((r) => r.id === bad)?.outcome, 'pending');
    assert.equal(listed?.revert?.state, 'armed');

    await settle(h);
    assert.equal(await current(h), v1, 'switched back to the release that was live');
    assert.equal(await served(h), 'v1');
    assert.equal(await inconsistency(h), undefined);
    assert.equal(await inHost(h, `test -d ${dir(h)}/.deploy.lock && echo held || echo free`), 'free', 'the revert released the dead deploy’s lock');
    const after = json<{ services: { releases: ReleaseRow[]; revert: Revert | null }[] }>(await cli('releases', project(h), '--json')).services[0];
    const record = after?.releases.find((r) => r.id === bad);
    assert.equal(record?.outcome, 'unconfirmed');
    assert.match(record?.why ?? '', /no confirmation within 7s of the switch/);
    assert.equal(after?.revert?.state, 'fired');
    assert.match(after?.revert?.reason ?? '', /no confirmation/);
    const human = await cli('status', project(h));
    assert.match(
      human.stdout,
      new RegExp(`revert fired at \\S+: ${bad} \\(no confirmation within 7s of the switch\\); switched back to ${v1}: ready 200`),
    );
    const table = await cli('releases', project(h));
    assert.equal(table.status, 0, table.stderr);
    assert.match(table.stdout, new RegExp(`▸ +${v1} .*passed`));
    assert.match(table.stdout, new RegExp(`  +${bad} .*unconfirmed: no confirmation`));
  });

  test('rollback goes back to the newest release that passed, past failed and unconfirmed ones', async () => {
    const h: HostName = 'f1';
    const v1 = await current(h);
    const good = await deploy(h, 'v2');
    assert.equal(good.status, 0, good.stdout + good.stderr);
    const failed = await deploy(h, 'notready');
    assert.equal(failed.status, 1);
    const dry = json<{ rollbacks: { to: string; ok: boolean }[] }>(await cli('rollback', project(h), '--dry-run', '--json')).rollbacks[0];
    assert.equal(dry?.to, v1, 'not the unconfirmed release between v1 and v2');
    const run = await cli('rollback', project(h), '--json', ...WINDOW);
    assert.equal(run.status, 0, run.stdout + run.stderr);
    assert.equal(await served(h), 'v1');
    const rows = json<{ services: { releases: ReleaseRow[] }[] }>(await cli('releases', project(h), '--json')).services[0]!.releases;
    const v2 = json<{ deploys: { release: string }[] }>(good).deploys[0]!.release;
    assert.equal(rows.find((r) => r.id === v2)?.outcome, 'reverted');
    assert.equal(rows.find((r) => r.id === v1)?.outcome, 'passed');
    assert.ok(rows.find((r) => r.id === v1)?.current);
    // Nothing older passed: a second rollback refuses rather than picking a release that never did.
    const again = await cli('rollback', project(h), '--json', ...WINDOW);
    assert.equal(again.status, 1);
    assert.match(json<{ rollbacks: { reason: string }[] }>(again).rollbacks[0]?.reason ?? '', /no release before \S+ passed its gate/);
  });

  test('kill the CLI and cut the network at every step: each ends with one consistent, healthy release', async () => {
    type Point = 'after the ship' | 'right after the switch' | 'during the gate' | 'during a rollback';
    const plan: Record<Exclude<HostName, 'f1'> | 'f1', Point> = {
      f1: 'after the ship',
      f2: 'right after the switch',
      f3: 'during the gate',
      f4: 'during a rollback',
    };
    const outcomes: { host: HostName; fault: string; point: Point; problem?: string; note: string }[] = [];

    async function faultCase(h: HostName, fault: 'kill' | 'cut', point: Point): Promise<void> {
      if (point === 'during a rollback') {
        // A slow release to roll back to (so the rollback's gate lasts), then a newer one.
        for (const v of ['slow-b', 'v2']) assert.equal((await deploy(h, v)).status, 0);
      }
      const before = await current(h);
      let sawShip = false;
      const cmd = point === 'during a rollback' ? ['rollback', project(h), ...WINDOW] : ['deploy', project(h), '--artifact', art['slow']!, ...WINDOW];
      const run = startCli(args(...cmd), env(), (chunk) => {
        if (/switching to /.test(chunk)) sawShip = true;
      });
      if (point === 'after the ship') await eventually('shipped', 20_000, async () => sawShip);
      else {
        await eventually('switched', 20_000, async () => (await current(h)) !== before);
        if (point === 'during the gate') await sleep(1200);
        if (point === 'during a rollback') await sleep(1000);
      }
      const { result, at: t0 } = await applyFault(fleet, run, fault === 'kill' ? { kind: 'kill' } : { kind: 'cut', host: h });
      const exitS = ((Date.now() - t0) / 1000).toFixed(1);
      await settle(h);
      const problem = await inconsistency(h);
      const live = await current(h);
      // The lock is free or provably stale: the next deploy goes through.
      const next = await deploy(h, 'v1');
      const nextProblem = next.status === 0 ? undefined : `the next deploy failed: ${next.stdout}`;
      outcomes.push({
        host: h,
        fault,
        point,
        ...((problem ?? nextProblem) ? { problem: [problem, nextProblem].filter(Boolean).join('; ') } : {}),
        note: `CLI exit ${result.status ?? 'signal'} ${exitS}s after the fault; then ${live === before ? 'the release from before' : 'the new release'} (${live}) served`,
      });
    }

    await Promise.all(
      (Object.entries(plan) as [HostName, Point][]).map(async ([h, point]) => {
        await faultCase(h, 'kill', point);
        await faultCase(h, 'cut', point);
      }),
    );
    for (const o of outcomes)
      console.log(
        `  ${o.problem ? '✖' : '✔'} ${o.fault === 'kill' ? 'SIGKILL' : 'network cut'} ${o.point} (${o.host}): ${o.problem ?? 'consistent'} — ${o.note}`,
      );
    const survived = outcomes.filter((o) => !o.problem).length;
    console.log(`${survived}/${outcomes.length} fault points survived`);
    assert.equal(outcomes.length, 8);
    assert.equal(
      survived,
      outcomes.length,
      outcomes
        .filter((o) => o.problem)
        .map((o) => `${o.fault} ${o.point}: ${o.problem}`)
        .join('\n'),
    );
  });
});

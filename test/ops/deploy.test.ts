// deploy and rollback on a real test host: releases shipped over ssh, the unit rendered and
// installed, `current` switched, readiness gated, automatic rollback with a diagnosis, the
// deploy lock (waiting, refusing, stale after a killed deploy), a network cut mid-deploy, the
// seed-style script strategy, and an edge that a deploy of another service never touches.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { packageRoot } from '../../src/package-root.js';
import { cutUntil } from '../harness/faults.js';
import { ensureUpperDir, realHostsSkipReason, TestFleet, writeUpperFile, type HostPreparation } from '../harness/test-fleet.js';
import { eventually, json, runCli, startCli, type CliRun } from './helpers.js';
import { appSource, artifactDir, fleetRoot, nodeUnit } from './real-fleet.js';

const HOST = 'web1';
const PORT = 8080;
/** The `held` release is ready once this file exists: its deploy holds the lock until the test creates it. */
const HELD_READY = '/srv/held.ready';

interface Deploy {
  id: string;
  outcome: string;
  ok: boolean;
  release: string | null;
  previous: string | null;
  reason?: string;
  diagnosis?: { status: string; journal: string[]; readiness: string | null };
  rollback?: { release: string | null; ok: boolean; detail: string };
  lock?: { waitedMs: number; broke?: string };
  script?: { exitCode: number | null; lastLines: string[] };
  timings: { totalMs: number; gateMs: number | null; overheadMs: number | null };
  roundTrips: number;
  revert?: { state: string; windowS: number; detail?: string };
}
const deploysOf = (run: CliRun) => json<{ deploys: Deploy[] }>(run).deploys;

function prepare({ upperDir }: HostPreparation): void {
  writeUpperFile(upperDir, 'opt/apps/tiny-http.mjs', readFileSync(join(packageRoot(), 'examples/fleet/apps/tiny-http.mjs'), 'utf8'));
  writeUpperFile(upperDir, 'etc/systemd/system/edge.service', nodeUnit('/opt/apps/tiny-http.mjs', { PORT: '8443', NAME: 'edge' }));
  symlinkSync('/etc/systemd/system/edge.service', `${ensureUpperDir(upperDir, 'etc/systemd/system/multi-user.target.wants')}/edge.service`);
}

describe('deploy on a real host', { skip: realHostsSkipReason(), timeout: 600_000 }, () => {
  let fleet: TestFleet;
  let root = '';
  let work = '';
  let controlDir = '';
  const art: Record<string, string> = {};
  const env = () => ({ MANAGE_APPS_CONTROL_DIR: controlDir });
  const args = (...a: string[]) => [...a, '--root', root, '--ssh-config', fleet.sshConfigPath];
  const cli = (...a: string[]) => runCli(args(...a), env());
  const deploy = (version: string, ...extra: string[]) => cli('deploy', 'shop', '--artifact', art[version]!, '--json', ...extra);
  const served = async (port = PORT) => {
    const res = await fetch(`http://${fleet.host(HOST).address}:${port}/`, { signal: AbortSignal.timeout(5000) });
    return (await res.text()).trim();
  };
  const onHost = async (cmd: string) => (await fleet.ssh(HOST, cmd)).stdout.trim();

  before(async () => {
    fleet = await TestFleet.up({ names: [HOST] }, { prepareHost: prepare });
    work = mkdtempSync(join(tmpdir(), 'manage-apps-deploy-'));
    controlDir = mkdtempSync(join(tmpdir(), 'manage-apps-cm-'));
    for (const v of [
      { version: 'v1' },
      { version: 'v2' },
      { version: 'v3' },
      { version: 'v4' },
      { version: 'slow', readyAfterMs: 4000 },
      { version: 'slow2', readyAfterMs: 4000 },
      { version: 'held', readyWhenFile: HELD_READY },
      { version: 'notready', notReady: 'database not reachable' },
      { version: 'crash', crash: 'boom: DATABASE_URL is not set' },
    ]) {
      art[v.version] = await artifactDir(work, v);
    }
    const legacyUnit = nodeUnit('/opt/legacy/server.mjs', { PORT: '8090' });
    root = await fleetRoot(fleet.hosts, {
      'shop/.infra.yaml': `apiVersion: infra/v2\nproject: shop\nprovider: bare-metal\nservice:\n  host: ${HOST}\n  port: ${PORT}\n  command: node server.mjs\n  health: { timeout: 6s }\n  keep_releases: 3\n`,
      // A long gate, for a deploy that holds the lock for as long as a test needs (see HELD_READY).
      'held/.infra.yaml': `apiVersion: infra/v2\nproject: held\nprovider: bare-metal\nservice:\n  host: ${HOST}\n  port: 8081\n  command: node server.mjs\n  health: { timeout: 120s }\n`,
      'edge/.infra.yaml': `apiVersion: infra/v2\nproject: edge\nprovider: bare-metal\nservice:\n  host: ${HOST}\n  port: 8443\n  kind: edge\n  systemd_unit: edge.service\n`,
      // Seed style (infra/v1): the project's own deploy script ships and installs; manage-apps restarts and gates.
      'legacy/.infra.yaml': `apiVersion: infra/v1\nproject: legacy\nprovider: bare-metal\nservice:\n  host: ${HOST}\n  port: 8090\n  systemd_unit: legacy.service\n  deploy: deploy.sh\n`,
      'legacy/server.mjs': appSource({ version: 'legacy-1' }),
      'legacy/legacy.service': legacyUnit,
      'legacy/deploy.sh': [
        '#!/bin/sh',
        'set -eu',
        'eval "set -- $MANAGE_APPS_SSH_OPTIONS"',
        'echo "deploying $MANAGE_APPS_SERVICE to $MANAGE_APPS_HOST ($MANAGE_APPS_DIRECTORY)"',
        'ssh "$@" "$MANAGE_APPS_SSH_HOST" "mkdir -p /opt/legacy && cat > /opt/legacy/server.mjs" < server.mjs',
        'ssh "$@" "$MANAGE_APPS_SSH_HOST" "cat > /etc/systemd/system/$MANAGE_APPS_UNIT && systemctl daemon-reload" < legacy.service',
        'echo installed',
        '',
      ].join('\n'),
      'legacy-bad/.infra.yaml': `apiVersion: infra/v1\nproject: legacy-bad\nprovider: bare-metal\nservice:\n  host: ${HOST}\n  port: 8091\n  systemd_unit: legacy-bad.service\n  deploy: deploy.sh\n`,
      'legacy-bad/deploy.sh': '#!/bin/sh\necho "building…"\necho "rsync: connection refused by the build box" >&2\nexit 1\n',
    });
  });

  after(async () => {
    await fleet?.down();
    for (const dir of [root, work, controlDir]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('--dry-run prints the plan (host, steps, order, the unit) and touches nothing', async () => {
    const run = await deploy('v1', '--dry-run');
    assert.equal(run.status, 0, run.stdout + run.stderr);
    const doc = json<{
      dry_run: boolean;
      levels: string[][];
      plan: { id: string; host: string; strategy: string; steps: string[]; unit_file: string }[];
    }>(run);
    assert.equal(doc.dry_run, true);
    assert.deepEqual(doc.levels, [['shop']]);
    const [plan] = doc.plan;
    assert.equal(plan?.host, HOST);
    assert.equal(plan?.strategy, 'release');
    assert.match(
      plan?.steps.join('\n') ?? '',
      /ship .*artifact-v1.*\narm the host's own revert.* after 26s .*\n.*install \/etc\/systemd\/system\/shop\.service[\s\S]*switch \/srv\/shop\/current[\s\S]*wait up to 6s/,
    );
    assert.match(plan?.unit_file ?? '', /WorkingDirectory=\/srv\/shop\/current\n[\s\S]*Restart=on-failure/);
    assert.equal(await onHost('test -e /srv/shop && echo exists || echo absent'), 'absent');
    assert.equal(await onHost('test -e /etc/systemd/system/shop.service && echo exists || echo absent'), 'absent');
  });

  test('a good release deploys, and the new version serves (checked over HTTP)', async () => {
    const edgeBefore = await onHost('systemctl show -p ActiveEnterTimestampMonotonic,NRestarts edge.service');
    const first = await deploy('v1');
    assert.equal(first.status, 0, first.stdout + first.stderr);
    assert.equal(await served(), 'v1');
    const run = await deploy('v2');
    assert.equal(run.status, 0, run.stdout + run.stderr);
    const [d] = deploysOf(run);
    assert.equal(d?.outcome, 'deployed');
    assert.equal(d?.previous, deploysOf(first)[0]?.release);
    assert.equal(await served(), 'v2');
    assert.equal(await onHost('readlink /srv/shop/current'), `releases/${d?.release}`);
    // The unit deploy installed is exactly what renderUnit gives (manage-apps units shows the same).
    assert.equal(await onHost('cat /etc/systemd/system/shop.service'), await onHost(`cat /srv/shop/.units/${d?.release}.service`));
    assert.match(await onHost('systemctl is-enabled shop.service'), /enabled/);
    assert.ok(d!.timings.gateMs !== null && d!.timings.overheadMs !== null);
    assert.equal(d?.roundTrips, 3, 'lock + ship, activate, confirm');
    assert.match(
      await onHost(`cat /srv/shop/.history/${d?.release}`),
      /^content=[0-9a-f]{64}\nactivated=\S+Z\nby=\S+@\S+\noutcome=pending \S+Z\noutcome=passed \S+Z$/,
    );
    assert.equal(await onHost('systemctl show -p ActiveEnterTimestampMonotonic,NRestarts edge.service'), edgeBefore, 'the edge was never restarted');
  });

  test('a release that fails its readiness check is rolled back: the previous version serves, exit 1, the diagnosis names the cause', async () => {
    const run = await deploy('notready');
    assert.equal(run.status, 1);
    const [d] = deploysOf(run);
    assert.equal(d?.outcome, 'rolled-back');
    assert.match(d?.reason ?? '', /\/readyz on port 8080 gave HTTP 503 for 6s/);
    assert.match(d?.diagnosis?.readiness ?? '', /503[\s\S]*database not reachable/);
    assert.match(d?.diagnosis?.status ?? '', /shop\.service/);
    assert.ok(d?.diagnosis?.journal.some((l) => /app notready listening/.test(l)));
    assert.equal(d?.rollback?.ok, true);
    assert.equal(await served(), 'v2');
    // Kept for a look, recorded as failed (so rollback never picks it), and pruned first.
    assert.equal(await onHost(`test -e /srv/shop/releases/${d?.release} && echo kept || echo removed`), 'kept');
    assert.match(await onHost(`tail -n 1 /srv/shop/.history/${d?.release}`), /^outcome=failed \S+Z not ready: \/readyz on port 8080 gave HTTP 503/);
    assert.equal(d?.revert?.state, 'disarmed');
    assert.equal(await onHost('test -e /srv/shop/.revert/armed && echo armed || echo clear'), 'clear');
  });

  test('a release that crashes on start is rolled back fast, and the journal shows why', async () => {
    const run = await deploy('crash');
    assert.equal(run.status, 1);
    const [d] = deploysOf(run);
    assert.equal(d?.outcome, 'rolled-back');
    assert.match(d?.reason ?? '', /crashed on start: .*exit status 3/);
    assert.ok(
      d?.diagnosis?.journal.some((l) => /boom: DATABASE_URL is not set/.test(l)),
      JSON.stringify(d?.diagnosis),
    );
    assert.equal(d?.rollback?.ok, true);
    assert.ok((d?.timings.totalMs ?? 0) < 6000, 'did not wait for the whole readiness timeout');
    assert.equal(await served(), 'v2');
    const human = await cli('deploy', 'shop', '--artifact', art['crash']!);
    assert.equal(human.status, 1);
    assert.match(human.stdout, /rolled-back: crashed on start[\s\S]*rollback: \S+ is live and ready again[\s\S]*last log lines:[\s\S]*boom/);
  });

  test('rollback switches to the previous release on demand', async () => {
    const dry = await cli('rollback', 'shop', '--dry-run', '--json');
    assert.equal(dry.status, 0, dry.stdout);
    assert.equal(await served(), 'v2', 'dry run changed nothing');
    const run = await cli('rollback', 'shop', '--json');
    assert.equal(run.status, 0, run.stdout + run.stderr);
    assert.equal(await served(), 'v1');
    assert.equal((await deploy('v2')).status, 0);
    assert.equal(await served(), 'v2');
    assert.equal(await onHost('ls /srv/shop/releases | wc -l'), '3', 'keep_releases: 3');
  });

  test('two concurrent deploys of one service never interleave (the second waits for the lock)', async () => {
    const logLines = Number(await onHost('wc -l < /srv/shop/deploys.log'));
    // b starts once a holds the lock. a ships a release that is ready only after 4 s, so its lock
    // (taken in its first round trip, released in its last) lasts that long, and the lock is read
    // inside the host (nsenter, no ssh handshake): a ready-at-once release held it for well under
    // a second, less than one probe over a fresh ssh connection took on a loaded machine.
    const a = startCli(args('deploy', 'shop', '--artifact', art['slow']!, '--wait', '--json'), env());
    await eventually('the first deploy holds the lock', 20_000, async () =>
      (await fleet.exec(HOST, ['sh', '-c', 'cat /srv/shop/.deploy.lock/owner 2>/dev/null'])).stdout.includes(`pid=${a.pid}\n`),
    );
    const b = startCli(args('deploy', 'shop', '--artifact', art['v4']!, '--wait', '--json'), env());
    const [ra, rb] = await Promise.all([a.done, b.done]);
    assert.equal(ra.status, 0, ra.stdout + ra.stderr);
    assert.equal(rb.status, 0, rb.stdout + rb.stderr);
    assert.ok((deploysOf(rb)[0]?.lock?.waitedMs ?? 0) > 0, 'the second one waited');
    // The host's audit trail: every lock is released before the next one is taken.
    const events = (await onHost(`tail -n +${logLines + 1} /srv/shop/deploys.log`))
      .split('\n')
      .map((l) => l.split(' '))
      .filter((f) => f[1] === 'lock' || f[1] === 'unlock');
    assert.equal(events.length, 4, 'two locks, two unlocks');
    let held: string | undefined;
    for (const [, what, token] of events) {
      if (what === 'lock') {
        assert.equal(held, undefined, `lock ${token} taken while ${held} held it`);
        held = token;
      } else {
        assert.equal(token, held);
        held = undefined;
      }
    }
    assert.equal(await served(), 'v4');
  });

  test('without --wait, a deploy of a locked service fails naming who holds the lock', async () => {
    // The first deploy's release is ready only once HELD_READY exists, so it holds the lock for
    // as long as the second one takes to start and ask, however loaded the machine is.
    await onHost(`rm -f ${HELD_READY}`);
    const first = startCli(args('deploy', 'held', '--artifact', art['held']!, '--json'), env());
    await eventually('the first deploy holds the lock', 20_000, async () =>
      (await onHost('cat /srv/held/.deploy.lock/owner 2>/dev/null')).includes(`pid=${first.pid}`),
    );
    const second = await cli('deploy', 'held', '--artifact', art['v1']!, '--json');
    await onHost(`touch ${HELD_READY}`);
    assert.equal(second.status, 1, second.stdout + second.stderr);
    const [d] = deploysOf(second);
    assert.equal(d?.outcome, 'locked');
    assert.match(d?.reason ?? '', new RegExp(`held by \\S+@${hostname()} \\(pid ${first.pid}, since `));
    const done = await first.done;
    assert.equal(done.status, 0, done.stdout + done.stderr);
    assert.equal(await served(8081), 'held');
  });

  test('the stale lock of a killed deploy is detected and broken; the next deploy succeeds', async () => {
    const doomed = startCli(args('deploy', 'shop', '--artifact', art['slow2']!, '--json'), env());
    await eventually('the deploy is switching', 20_000, async () => (await onHost('cat /srv/shop/.deploy.lock/script.pid 2>/dev/null')) !== '');
    process.kill(doomed.pid, 'SIGKILL');
    await doomed.done;
    assert.match(await onHost('cat /srv/shop/.deploy.lock/owner'), new RegExp(`pid=${doomed.pid}`), 'the killed deploy left its lock');
    const run = await deploy('v2');
    assert.equal(run.status, 0, run.stdout + run.stderr);
    const [d] = deploysOf(run);
    assert.ok(d?.lock?.broke, 'the stale lock was broken');
    assert.match(await onHost('cat /srv/shop/deploys.log'), /broke stale lock/);
    assert.equal(await served(), 'v2');
  });

  test('a network cut during a deploy fails it cleanly; after healing a new deploy succeeds', async () => {
    // The cut comes once `current` has switched, while the gate waits the 4 s the slow release
    // takes: what this checks is a host lost during the switch. (Cut as soon as a host script ran,
    // it once landed in the ship on a loaded machine: "lost the connection", a correct answer for
    // another step.)
    const before = await onHost('readlink /srv/shop/current');
    const cut = startCli(args('deploy', 'shop', '--artifact', art['slow']!, '--json', '--connect-timeout', '2'), env());
    await eventually('the deploy has switched and waits for the gate', 20_000, async () => {
      const now = await onHost('readlink /srv/shop/current 2>/dev/null');
      return now !== '' && now !== before;
    });
    // Healed, and answering ssh again before the next deploy (a link just brought back can
    // still say "No route to host" for a moment).
    const run = await cutUntil(fleet, HOST, cut.done);
    assert.equal(run.status, 1);
    assert.ok(run.ms < 60_000, `failed after ${run.ms} ms`);
    const [d] = deploysOf(run);
    assert.equal(d?.outcome, 'unreachable');
    assert.match(d?.reason ?? '', /stopped answering/);
    const again = await deploy('v3', '--connect-timeout', '5');
    assert.equal(again.status, 0, again.stdout + again.stderr);
    assert.equal(await served(), 'v3');
  });

  test('seed-style deploy script: run locally with the service details, then restart and gate', async () => {
    const run = await cli('deploy', 'legacy', '--json');
    assert.equal(run.status, 0, run.stdout + run.stderr);
    const [d] = deploysOf(run);
    assert.equal(d?.outcome, 'deployed');
    assert.deepEqual(d?.script?.lastLines, [`deploying legacy to ${HOST} (/srv/legacy)`, 'installed']);
    assert.equal(await served(8090), 'legacy-1');

    const bad = await cli('deploy', 'legacy-bad', '--json');
    assert.equal(bad.status, 1);
    const [b] = deploysOf(bad);
    assert.equal(b?.outcome, 'failed');
    assert.match(b?.reason ?? '', /deploy\.sh failed \(exit 1\)/);
    assert.ok(b?.script?.lastLines.includes('rsync: connection refused by the build box'));
    assert.ok(b?.diagnosis, 'the same diagnosis as a failed gate');
    assert.equal(await onHost('test -d /srv/legacy-bad/.deploy.lock && echo locked || echo free'), 'free', 'the lock was released');
  });
});

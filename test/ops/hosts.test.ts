// status, start, stop, restart and logs on real test hosts (systemd as PID 1, sshd, ssh with the
// harness's config): dependency order across hosts, an edge that survives a bulk stop, one round
// trip per host for status, and a host whose network is cut reported unreachable in time.
import assert from 'node:assert/strict';
import { readFileSync, rmSync, symlinkSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadFleet } from '../../src/load/fleet.js';
import { packageRoot } from '../../src/package-root.js';
import { Ops } from '../../src/ops/context.js';
import { DEFAULT_SETTINGS } from '../../src/ops/settings.js';
import { selectServices } from '../../src/ops/selection.js';
import { collectStatus } from '../../src/ops/service-status.js';
import type { Transport } from '../../src/transport/types.js';
import { ensureUpperDir, realHostsSkipReason, TestFleet, writeUpperFile, type HostPreparation } from '../harness/test-fleet.js';
import { eventually, json, runCli } from './helpers.js';
import { spawn } from 'node:child_process';
import { fleetRoot, nodeUnit } from './real-fleet.js';

const APP = '/opt/apps/tiny-http.mjs';
const READY_AFTER_MS = 400;

/** db (alpha) ← api (bravo) ← web (charlie) ← edge (alpha); cache: a worker on bravo; broken ← needs-broken on charlie. */
const UNITS: Record<string, Record<string, string>> = {
  alpha: {
    'db.service': nodeUnit(APP, { PORT: '7001', READY_AFTER_MS: String(READY_AFTER_MS), NAME: 'db' }),
    'edge.service': nodeUnit(APP, { PORT: '7443', NAME: 'edge' }),
  },
  bravo: {
    'api.service': nodeUnit(APP, { PORT: '7002', READY_AFTER_MS: String(READY_AFTER_MS), NAME: 'api' }),
    'cache.service': nodeUnit('-e "setInterval(() => {}, 1000)"', {}),
  },
  charlie: {
    'web.service': nodeUnit(APP, { PORT: '7003', READY_AFTER_MS: String(READY_AFTER_MS), NAME: 'web' }),
    'broken.service': nodeUnit('-e "console.error(\'boom: no config\'); process.exit(2)"', {}),
    'needs-broken.service': nodeUnit(APP, { PORT: '7005' }),
  },
};

function prepare({ name, upperDir }: HostPreparation): void {
  writeUpperFile(upperDir, APP.slice(1), readFileSync(join(packageRoot(), 'examples/fleet/apps/tiny-http.mjs'), 'utf8'));
  for (const [unit, text] of Object.entries(UNITS[name] ?? {})) writeUpperFile(upperDir, `etc/systemd/system/${unit}`, text);
  // The edge is up from boot, as an edge is.
  if (name === 'alpha')
    symlinkSync('/etc/systemd/system/edge.service', `${ensureUpperDir(upperDir, 'etc/systemd/system/multi-user.target.wants')}/edge.service`);
}

const manifest = (project: string, host: string, extra: string) =>
  `apiVersion: infra/v2\nproject: ${project}\nprovider: bare-metal\nservice:\n  host: ${host}\n  systemd_unit: ${project}.service\n${extra}`;

describe('ops on real hosts: status, start, stop, logs', { skip: realHostsSkipReason(), timeout: 300_000 }, () => {
  let fleet: TestFleet;
  let root = '';
  let controlDir = '';
  const cli = (...args: string[]) => runCli([...args, '--root', root, '--ssh-config', fleet.sshConfigPath], { MANAGE_APPS_CONTROL_DIR: controlDir });
  const show = async (host: string, unit: string, prop: string) => (await fleet.ssh(host, `systemctl show -p ${prop} --value ${unit}`)).stdout.trim();

  before(async () => {
    fleet = await TestFleet.up({ names: ['alpha', 'bravo', 'charlie'] }, { prepareHost: prepare });
    controlDir = mkdtempSync(join(tmpdir(), 'manage-apps-cm-'));
    root = await fleetRoot(fleet.hosts, {
      'db/.infra.yaml': manifest('db', 'alpha', '  port: 7001\n  health: { timeout: 10s }\n'),
      'api/.infra.yaml': manifest('api', 'bravo', '  port: 7002\n  depends_on: [db]\n  health: { timeout: 10s }\n'),
      'web/.infra.yaml': manifest('web', 'charlie', '  port: 7003\n  depends_on: [api]\n  health: { timeout: 10s }\n'),
      'edge/.infra.yaml': manifest('edge', 'alpha', '  port: 7443\n  kind: edge\n  depends_on: [web]\n'),
      'cache/.infra.yaml': manifest('cache', 'bravo', '  kind: worker\n'),
      'broken/.infra.yaml': manifest('broken', 'charlie', '  kind: worker\n  health: { timeout: 10s }\n'),
      'needs-broken/.infra.yaml': manifest('needs-broken', 'charlie', '  port: 7005\n  depends_on: [broken]\n'),
    });
  });

  after(async () => {
    await fleet?.down();
    if (root) rmSync(root, { recursive: true, force: true });
    if (controlDir) rmSync(controlDir, { recursive: true, force: true });
  });

  test('start brings services up in dependency order across hosts, each level ready before the next', async () => {
    const run = await cli('start', 'db', 'api', 'web', 'edge', 'cache', '--json');
    assert.equal(run.status, 0, run.stdout + run.stderr);
    const doc = json<{ levels: string[][]; results: { id: string; outcome: string }[] }>(run);
    assert.deepEqual(doc.levels, [['cache', 'db'], ['api'], ['web'], ['edge']]);
    assert.deepEqual(Object.fromEntries(doc.results.map((r) => [r.id, r.outcome])), {
      cache: 'started',
      db: 'started',
      api: 'started',
      web: 'started',
      edge: 'running',
    });
    // Monotonic clocks are shared by the hosts (one kernel): the start times are comparable.
    const t = async (host: string, unit: string) => Number(await show(host, unit, 'ActiveEnterTimestampMonotonic'));
    const [db, api, web] = [await t('alpha', 'db.service'), await t('bravo', 'api.service'), await t('charlie', 'web.service')];
    assert.ok(api - db >= READY_AFTER_MS * 1000, `api started ${(api - db) / 1000} ms after db: after db was ready`);
    assert.ok(web - api >= READY_AFTER_MS * 1000, `web started ${(web - api) / 1000} ms after api`);
  });

  test('status: unit state and health of every service, one round trip per host', async () => {
    const loaded = await loadFleet({ root });
    const ops = new Ops(loaded.fleet, { ...DEFAULT_SETTINGS, sshConfig: fleet.sshConfigPath, controlDir });
    const calls = new Map<string, number>();
    const real = ops.transport.bind(ops);
    ops.transport = (host) => {
      const t = real(host);
      const counted: Transport = Object.create(t) as Transport;
      counted.script = (script, options) => {
        calls.set(host.name, (calls.get(host.name) ?? 0) + 1);
        return t.script(script, options);
      };
      counted.command = (command, options) => {
        calls.set(host.name, (calls.get(host.name) ?? 0) + 1);
        return t.command(command, options);
      };
      return counted;
    };
    const selection = selectServices(loaded.fleet, { targets: ['db', 'api', 'web', 'edge', 'cache'] });
    const report = await collectStatus(ops, selection.services);
    assert.deepEqual(Object.fromEntries(calls), { alpha: 1, bravo: 1, charlie: 1 });
    assert.deepEqual(report.summary, { services: 5, healthy: 5, unhealthy: 0, unreachable: 0 });
    // Each host names itself (the kernel's hostname, read without a fork): the answer came from that host.
    assert.deepEqual(
      report.hosts.map((h) => [h.host, h.hostname]),
      fleet.hosts.map((h) => [h.name, h.name]),
    );
    const api = report.services.find((s) => s.id === 'api')!;
    assert.equal(api.state?.active, 'active');
    assert.equal(api.state?.sub, 'running');
    assert.equal(api.state?.restarts, 0);
    assert.ok(api.state?.since && Date.now() - Date.parse(api.state.since) < 120_000);
    assert.deepEqual([api.health?.readiness.status, api.health?.liveness.status], [200, 200]);
    assert.equal(report.services.find((s) => s.id === 'cache')?.health, null, 'a worker has no probes');

    const human = await cli('status', 'db', 'api', 'web', 'edge', 'cache');
    assert.equal(human.status, 0, human.stdout);
    assert.match(human.stdout, /^bravo +api +api\.service +active \(running\) +\d+s ago +0 +200 +200 +healthy$/m);

    // Whole hosts as targets: their ssh sessions open before the manifests are loaded
    // (src/ops/prewarm.ts) and carry the script once it is known. Same answers.
    const byHost = await cli('status', 'alpha', 'bravo', '--json');
    assert.equal(byHost.status, 0, byHost.stdout);
    const doc = json<{ hosts: { host: string; hostname?: string }[]; services: { id: string; verdict: string }[] }>(byHost);
    assert.deepEqual(
      doc.hosts.map((h) => [h.host, h.hostname]),
      [
        ['alpha', 'alpha'],
        ['bravo', 'bravo'],
      ],
    );
    assert.deepEqual(Object.fromEntries(doc.services.map((s) => [s.id, s.verdict])), {
      api: 'healthy',
      cache: 'healthy',
      db: 'healthy',
      edge: 'healthy',
    });
  });

  test('a host whose network is cut is reported unreachable within the timeout; the others answer', async () => {
    await fleet.cutNetwork('bravo');
    try {
      const run = await cli('status', 'db', 'api', 'web', 'edge', 'cache', '--json', '--timeout', '4', '--connect-timeout', '2');
      assert.equal(run.status, 1);
      // A hang guard, not a speed check: without the timeouts reaching ssh, a cut host holds status for
      // the kernel's SYN retries (about two minutes); five times the timeout tells the two apart on any load.
      assert.ok(run.ms < 20_000, `status did not return within its timeouts: ${run.ms} ms`);
      const doc = json<{
        hosts: { host: string; reachable: boolean; reason?: string }[];
        services: { id: string; verdict: string; reason?: string }[];
      }>(run);
      assert.deepEqual(
        doc.hosts.map((h) => [h.host, h.reachable]),
        [
          ['alpha', true],
          ['bravo', false],
          ['charlie', true],
        ],
      );
      assert.match(doc.hosts[1]?.reason ?? '', /bravo|timed out|no answer/);
      assert.deepEqual(Object.fromEntries(doc.services.map((s) => [s.id, s.verdict])), {
        api: 'unreachable',
        cache: 'unreachable',
        db: 'healthy',
        edge: 'healthy',
        web: 'healthy',
      });
    } finally {
      await fleet.healNetwork('bravo');
    }
    const healed = await cli('status', 'api', '--json', '--timeout', '10');
    assert.equal(healed.status, 0, healed.stdout);
  });

  test('logs: the unit journal from the host', async () => {
    const run = await cli('logs', 'api', '-n', '20');
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /api listening on http:\/\/127\.0\.0\.1:7002/);
  });

  test('releases says what a service that ships no releases is, instead of "no releases"', async () => {
    const run = await cli('releases', 'api');
    assert.equal(run.status, 0, run.stdout + run.stderr);
    assert.match(
      run.stdout,
      /no releases: it does not ship any \(api\.service is installed outside manage-apps: no service\.artifact, service\.command or service\.deploy\)/,
    );
  });

  test('logs -f: Ctrl-C (SIGINT to the process group, or to manage-apps alone) is a clean exit 0 with no error line', async () => {
    for (const group of [true, false]) {
      const child = spawn(
        process.execPath,
        [join(packageRoot(), 'bin/manage-apps.js'), 'logs', 'api', '-f', '-n', '5', '--root', root, '--ssh-config', fleet.sshConfigPath],
        {
          env: { ...process.env, NO_COLOR: '1', MANAGE_APPS_CONTROL_DIR: controlDir },
          stdio: ['ignore', 'pipe', 'pipe'],
          detached: group,
        },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
      child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
      const done = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      await eventually('the journal lines arrive', 20_000, async () => /api listening/.test(stdout));
      // A logs -f that ended by itself before Ctrl-C (seen once in a full CI run as ESRCH for the
      // group) is the failure, reported with its exit and what it printed.
      try {
        if (group) process.kill(-child.pid!, 'SIGINT');
        else child.kill('SIGINT');
      } catch (error) {
        const code = await done;
        assert.fail(`logs -f ended by itself (exit ${code}) before Ctrl-C (${String(error)}):\n${stdout}\n${stderr}`);
      }
      const code = await done;
      assert.equal(code, 0, `${group ? 'Ctrl-C' : 'SIGINT'}: exit ${code}\n${stderr}`);
      assert.doesNotMatch(stderr + stdout, /lost the connection|✖/);
    }
  });

  test('a bulk stop walks the levels backwards and leaves the edge running; the edge stops only when named, with --force', async () => {
    const edgeSince = await show('alpha', 'edge.service', 'ActiveEnterTimestampMonotonic');
    const run = await cli('stop', '--json');
    assert.equal(run.status, 0, run.stdout + run.stderr);
    const doc = json<{ levels: string[][]; results: { id: string; outcome: string; detail?: string }[] }>(run);
    assert.deepEqual(doc.levels, [['web'], ['api', 'needs-broken'], ['broken', 'cache', 'db']]);
    assert.match(doc.results.find((r) => r.id === 'edge')?.detail ?? '', /never stopped by a bulk stop/);
    // A stopped unit may be unloaded (its timestamps with it): the app's own "SIGTERM" journal line tells when it stopped.
    const t = async (host: string, unit: string) => {
      const line = (await fleet.ssh(host, `journalctl -u ${unit} -o short-monotonic --no-pager | grep SIGTERM | tail -n 1`)).stdout;
      return Number(/^\[\s*([\d.]+)\]/.exec(line)?.[1] ?? 'NaN');
    };
    const [web, api, db] = [await t('charlie', 'web.service'), await t('bravo', 'api.service'), await t('alpha', 'db.service')];
    assert.ok(web < api && api < db, `stopped web, then api, then db: ${web} ${api} ${db}`);
    assert.equal(await show('alpha', 'edge.service', 'ActiveState'), 'active');
    assert.equal(await show('alpha', 'edge.service', 'ActiveEnterTimestampMonotonic'), edgeSince, 'the edge was not even restarted');

    const refused = await cli('stop', 'edge');
    assert.equal(refused.status, 2);
    assert.match(refused.stderr, /edge is an edge.*\n.*--force/);
    const forced = await cli('stop', 'edge', '--force', '--json');
    assert.equal(forced.status, 0, forced.stdout);
    assert.equal(await show('alpha', 'edge.service', 'ActiveState'), 'inactive');
  });

  test('a service that crashes on start fails with a diagnosis, and what depends on it is not started', async () => {
    const run = await cli('start', 'broken', 'needs-broken', '--json');
    assert.equal(run.status, 1);
    const doc = json<{ results: { id: string; outcome: string; detail?: string; diagnosis?: { journal: string[]; status: string } }[] }>(run);
    const broken = doc.results.find((r) => r.id === 'broken')!;
    assert.equal(broken.outcome, 'failed');
    assert.match(broken.detail ?? '', /crashed on start/);
    assert.ok(
      broken.diagnosis?.journal.some((l) => /boom: no config/.test(l)),
      JSON.stringify(broken.diagnosis),
    );
    const dependent = doc.results.find((r) => r.id === 'needs-broken')!;
    assert.equal(dependent.outcome, 'skipped');
    assert.match(dependent.detail ?? '', /broken did not come up/);
    assert.equal(await show('charlie', 'needs-broken.service', 'ActiveState'), 'inactive');
  });
});

// `hosts prepare` on real test hosts (issue 28): what the model declares is checked in one round
// trip per host and reported missing (exit 1); --dry-run changes nothing; --apply creates the
// PostgreSQL cluster on its port listening on loopback and the address the remote service dials
// (nothing wider), unmasks and starts its unit and Docker's, creates the service and tunnel
// accounts (system, no login shell) and the service directories; a second --apply changes
// nothing. Then --apply killed, or its host cut off, at each of its steps: the next --apply
// converges and the hosts are in one consistent state (N/N fault points survived).
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { prepareDockerHost } from '../harness/docker.js';
import { killWithChildren } from '../harness/faults.js';
import { postgresSkipReason } from '../harness/postgres.js';
import { realHostsSkipReason, TestFleet } from '../harness/test-fleet.js';
import { json, runCli, startCli } from './helpers.js';
import { applyFault } from './faults.js';
import { appSource } from './real-fleet.js';

const DB = 'db';
const APP = 'app';
const PG_PORT = 25433;

interface Item {
  id: string;
  state: string;
  detail: string;
  steps?: string[];
}
interface Report {
  ok: boolean;
  missing: number;
  changed: number;
  mode: string;
  hosts: { host: string; reachable: boolean; error?: string; items: Item[] }[];
}

describe('hosts prepare on real hosts', { skip: realHostsSkipReason() ?? postgresSkipReason(), timeout: 2_700_000 }, () => {
  let fleet: TestFleet;
  let root = '';
  let control = '';
  const freshControl = () => mkdtempSync(join(tmpdir(), 'manage-apps-prep-cm-'));
  const args = (...a: string[]) => [...a, '--root', root, '--ssh-config', fleet.sshConfigPath, '--connect-timeout', '3'];
  const cli = (...a: string[]) => runCli(args(...a), { MANAGE_APPS_CONTROL_DIR: control });
  const prepare = async (...a: string[]) => prepareWith(control, ...a);
  const prepareWith = async (ctl: string, ...a: string[]) => {
    const run = await runCli(args('hosts', 'prepare', '--json', ...a), { MANAGE_APPS_CONTROL_DIR: ctl });
    return { run, doc: json<Report>(run) };
  };
  const out = async (host: string, cmd: string) => (await fleet.ssh(host, cmd, { timeoutMs: 60_000 })).stdout.trim();

  /** Back to a host nobody prepared: no cluster, no accounts, no directories, units masked (waits for a killed run's script first). */
  const reset = async (only?: string) => {
    const lock = 'exec 9>/run/manage-apps-prepare.lock; flock -w 120 9;';
    await Promise.all([
      only === APP
        ? undefined
        : out(
            DB,
            `${lock} systemctl stop postgresql@15-apps.service 2>/dev/null; pg_dropcluster 15 apps 2>/dev/null; rm -rf /etc/postgresql/15/apps /var/lib/postgresql/15/apps /var/lib/manage-apps/prepare; systemctl disable postgresql@15-apps.service 2>/dev/null; systemctl mask postgresql@.service >/dev/null 2>&1; userdel ma-tunnel-open 2>/dev/null; rm -rf /var/lib/ma-tunnel-open; systemctl daemon-reload`,
          ),
      only === DB
        ? undefined
        : out(
            APP,
            `${lock} userdel api 2>/dev/null; rm -rf /var/lib/api /srv/api /srv/shop; userdel ma-tunnel 2>/dev/null; rm -rf /var/lib/ma-tunnel; systemctl disable --now docker.service docker.socket containerd.service >/dev/null 2>&1; systemctl mask docker.service docker.socket containerd.service >/dev/null 2>&1; systemctl daemon-reload`,
          ),
    ]);
  };

  /** What one consistent, prepared pair of hosts looks like; undefined when it is so. */
  const consistent = async (only?: string): Promise<string | undefined> => {
    const problem = only === APP ? undefined : await dbConsistent();
    return problem ?? (only === DB ? undefined : await appConsistent());
  };
  const dbConsistent = async (): Promise<string | undefined> => {
    const dbState = await out(
      DB,
      `pg_lsclusters -h 15 apps; ss -ltnH "sport = :${PG_PORT}" | awk '{print $4}' | sort | tr '\\n' ' '; echo; systemctl is-enabled postgresql@15-apps.service; ls /var/lib/manage-apps/prepare; getent passwd ma-tunnel-open | cut -d: -f7`,
    );
    const lines = dbState.split('\n');
    if (!/^15 +apps +25433 +online/.test(lines[0] ?? '')) return `cluster not online on ${PG_PORT}: ${dbState}`;
    const listening = (lines[1] ?? '').trim().split(' ').sort();
    const wanted = ['127.0.0.1:25433', '[::1]:25433', `${fleet.host(DB).address}:${PG_PORT}`].sort();
    if (JSON.stringify(listening) !== JSON.stringify(wanted)) return `cluster listens on ${listening.join(' ')}, not ${wanted.join(' ')}`;
    if (lines[2] !== 'enabled') return `postgresql@15-apps.service is ${lines[2]}`;
    if (lines.length !== 4 || lines[3] !== '/usr/sbin/nologin')
      return `db: a creation marker is left, or ma-tunnel-open is not a nologin account: ${dbState}`;
    return undefined;
  };
  const appConsistent = async (): Promise<string | undefined> => {
    const appState = await out(
      APP,
      'getent passwd api | cut -d: -f3,6,7; stat -c %U /var/lib/api; getent passwd ma-tunnel | cut -d: -f7; stat -c %U /var/lib/ma-tunnel; stat -c "%U %a" /srv/api /srv/shop; systemctl is-active docker.service; docker info --format "{{.ServerVersion}}" >/dev/null && echo docker-answers',
    );
    const a = appState.split('\n');
    const [uid, home, shell] = (a[0] ?? '').split(':');
    if (!(Number(uid) < 1000 && home === '/var/lib/api' && shell === '/usr/sbin/nologin'))
      return `api is not a system account without a shell: ${a[0]}`;
    if (a[1] !== 'api' || a[2] !== '/usr/sbin/nologin' || a[3] !== 'root') return `account homes: ${appState}`;
    if (a[4] !== 'root 755' || a[5] !== 'root 755') return `service directories: ${appState}`;
    if (a[6] !== 'active' || a[7] !== 'docker-answers') return `docker: ${appState}`;
    return undefined;
  };

  before(async () => {
    fleet = await TestFleet.up(
      { names: [DB, APP] },
      { prepareHost: ({ name, upperDir }) => (name === APP ? prepareDockerHost(upperDir, { leaveMasked: true }) : undefined) },
    );
    control = freshControl();
    root = await mkdtemp(join(tmpdir(), 'manage-apps-prepare-'));
    const files: Record<string, string> = {
      'mesh-hosts.json': JSON.stringify({
        version: 1,
        hosts: Object.fromEntries(
          fleet.hosts.map((h) => [h.name, { alias: h.alias, address: h.address, provider: 'bare-metal', role: 'production' }]),
        ),
        clusters: {
          apps: { host: DB, port: PG_PORT, engine: 'postgres', version: '15', backup: { rpo: '1d', rto: '1h', method: 'restic', target: APP } },
        },
        tunnels: [{ name: 'pg', from: APP, to: DB, ports: [PG_PORT + 1] }],
      }),
      // The edge on the database host, the API (a database client, its own account) and a compose shop on the app host.
      'edge/.infra.yaml': `apiVersion: infra/v2\nproject: edge\nprovider: bare-metal\nservice:\n  host: ${DB}\n  kind: edge\n  systemd_unit: caddy.service\n`,
      'api/.infra.yaml': `apiVersion: infra/v2\nproject: api\nprovider: bare-metal\nservice:\n  host: ${APP}\n  port: 7300\n  command: node server.mjs\n  artifact: dist\n  user: api\n  env_file: /etc/api/env\ndatabase:\n  cluster: apps\n  name: api\n  user: api\n`,
      'api/dist/server.mjs': appSource({ version: '1' }),
      'shop/.infra.yaml': `apiVersion: infra/v2\nproject: shop\nprovider: bare-metal\nservice:\n  host: ${APP}\n  port: 7400\n  compose:\n    file: compose.yaml\n    service: web\n`,
      'shop/compose.yaml': 'services:\n  web:\n    image: shop:1\n    ports: ["7400:80"]\n',
      // The database server declared as a project of its own: it supervises the cluster.
      'pg/.infra.yaml': `apiVersion: infra/v2\nproject: pg\nprovider: bare-metal\nservice:\n  host: ${DB}\n  cluster: apps\n  port: ${PG_PORT}\n  systemd_unit: postgresql@15-apps.service\n  stateful: true\n`,
    };
    for (const [path, content] of Object.entries(files)) {
      await mkdir(dirname(join(root, path)), { recursive: true });
      await writeFile(join(root, path), content);
    }
    const valid = await runCli(['validate', '--root', root]);
    assert.equal(valid.status, 0, `the fleet is valid (a cluster's own server declared as a project too):\n${valid.stdout}${valid.stderr}`);
  });
  after(() => fleet?.down());

  test('deploy refuses a service.user the host does not have, before anything switches, and names hosts prepare', async () => {
    await reset();
    const r = await cli('deploy', 'api', '--json');
    assert.equal(r.status, 1, r.stdout + r.stderr);
    const doc = json<{ deploys: { reason?: string; outcome: string }[] }>(r);
    const reason = doc.deploys[0]?.reason ?? '';
    assert.match(reason, /service\.user api does not exist on app: nothing was shipped or switched/);
    assert.match(reason, /manage-apps hosts prepare app --apply/);
    assert.equal(
      await out(APP, 'ls /srv/api/releases | wc -l; ls /srv/api/current 2>&1 | grep -c "No such"'),
      '0\n1',
      'nothing shipped, nothing current',
    );
  });

  test('check, dry-run, apply, and a second apply that changes nothing', async () => {
    await reset();
    const check = await prepare();
    assert.equal(check.run.status, 1, check.run.stderr);
    const missing = (host: string) =>
      check.doc.hosts
        .find((h) => h.host === host)!
        .items.filter((i) => i.state === 'missing')
        .map((i) => i.id)
        .sort();
    assert.deepEqual(missing(DB), ['account:ma-tunnel-open', 'cluster:apps']);
    assert.deepEqual(missing(APP), ['account:api', 'account:ma-tunnel', 'directory:/srv/api', 'directory:/srv/shop', 'unit:docker.service']);
    const present = check.doc.hosts.flatMap((h) => h.items.filter((i) => i.state === 'present').map((i) => `${h.host} ${i.id}`)).sort();
    assert.deepEqual(present, [
      `${APP} program:compose`,
      `${APP} program:docker`,
      `${APP} program:postgresql`,
      `${APP} program:restic`,
      `${DB} program:caddy`,
      `${DB} program:postgresql`,
      `${DB} unit:caddy.service`,
    ]);

    const dry = await prepare('--dry-run');
    assert.equal(dry.run.status, 1);
    const cluster = dry.doc.hosts.find((h) => h.host === DB)!.items.find((i) => i.id === 'cluster:apps')!;
    assert.ok(
      cluster.steps?.some((s) => s.startsWith(`pg_createcluster 15 apps --port ${PG_PORT}`)),
      JSON.stringify(cluster),
    );
    assert.ok(
      cluster.steps?.some((s) => s.includes(`listen_addresses = 'localhost,${fleet.host(DB).address}'`)),
      JSON.stringify(cluster),
    );
    assert.equal(await out(DB, 'pg_lsclusters -h 15 apps | wc -l'), '0', '--dry-run created nothing');
    assert.equal(await out(APP, 'getent passwd api || echo none'), 'none');

    const apply = await cli('hosts', 'prepare', '--apply');
    assert.equal(apply.status, 0, apply.stdout + apply.stderr);
    assert.match(apply.stdout, /7 items installed/);
    assert.match(apply.stderr, /db: pg_createcluster 15 apps --port 25433/, 'progress per host, step by step');
    assert.equal(await consistent(), undefined);
    // The remote service reaches the cluster on the address prepare made it listen on.
    assert.equal(await out(APP, `pg_isready -q -h ${fleet.host(DB).address} -p ${PG_PORT} && echo ready`), 'ready');

    const again = await prepare('--apply');
    assert.equal(again.run.status, 0);
    assert.equal(again.doc.changed, 0, JSON.stringify(again.doc));
    const human = await cli('hosts', 'prepare', '--apply');
    assert.match(human.stdout, /already had what the fleet declares: nothing changed/);
    const check2 = await prepare();
    assert.equal(check2.run.status, 0);
    assert.equal(check2.doc.missing, 0);
  });

  test('an unreachable host is reported and the other is still prepared', async () => {
    await reset();
    await fleet.cutNetwork(APP);
    try {
      const r = await prepare('--apply');
      assert.equal(r.run.status, 1);
      const app = r.doc.hosts.find((h) => h.host === APP)!;
      assert.equal(app.reachable, false);
      assert.ok(app.error);
      assert.equal(r.doc.hosts.find((h) => h.host === DB)!.items.find((i) => i.id === 'cluster:apps')!.state, 'installed');
    } finally {
      await fleet.healNetwork(APP);
    }
  });

  test('--apply killed or cut off at each step converges on the next run', async () => {
    // The steps of a whole run, from a clean one: each is a fault point, for a kill and for a cut.
    // Each fault point prepares (and resets, and checks) only the host whose step it is.
    await reset();
    const reference = await cli('hosts', 'prepare', '--apply');
    assert.equal(reference.status, 0, reference.stderr);
    const steps = reference.stderr
      .split('\n')
      .filter((l) => /^(db|app): /.test(l) && !/: (preparing|ready)/.test(l))
      .map((l) => ({ host: l.split(':')[0]!, line: l }));
    assert.ok(steps.length >= 8, `steps: ${steps.map((s) => s.line).join(' | ')}`);
    const faults = steps.flatMap((s) => [
      { ...s, kind: 'kill' as const },
      { ...s, kind: 'cut' as const },
    ]);
    const failures: string[] = [];
    let survived = 0;
    // The two hosts' fault points run side by side: each point resets, prepares and checks only its
    // own host, with its own ssh control directory, so one lane never sees the other's faults.
    const lane = async (host: string) => {
      for (const f of faults.filter((x) => x.host === host)) {
        const label = `${f.kind} at "${f.line}"`;
        const t0 = Date.now();
        await reset(f.host);
        let ctl = freshControl();
        let fired = false;
        let fire: () => void = () => {};
        const firedAt = new Promise<void>((resolve) => (fire = resolve));
        const run = startCli(args('hosts', 'prepare', f.host, '--apply'), { MANAGE_APPS_CONTROL_DIR: ctl }, (chunk) => {
          if (!fired && chunk.split('\n').includes(f.line)) {
            fired = true;
            fire();
          }
        });
        const outcome = await Promise.race([firedAt.then(() => 'fired' as const), run.done.then(() => 'ended' as const)]);
        if (outcome !== 'fired') {
          failures.push(`${label}: the step never showed (${(await run.done).stderr})`);
          continue;
        }
        if (f.kind === 'kill') {
          killWithChildren(run.pid);
          await run.done;
        } else await applyFault(fleet, run, { kind: 'cut', host: f.host });
        ctl = freshControl();
        const rerun = await prepareWith(ctl, f.host, '--apply');
        const third = await prepareWith(ctl, f.host, '--apply');
        const problem = !rerun.doc.ok
          ? `the rerun did not converge: ${JSON.stringify(rerun.doc.hosts.map((h) => h.items.filter((i) => i.state !== 'present' && i.state !== 'installed')))}`
          : third.doc.changed !== 0
            ? `a third run still changed ${third.doc.changed}`
            : await consistent(f.host);
        console.log(`# ${label}: ${problem ?? 'converged'} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
        if (problem === undefined) survived++;
        else failures.push(`${label}: ${problem}`);
      }
    };
    await Promise.all([lane(DB), lane(APP)]);
    console.log(`# ${survived}/${faults.length} fault points survived`);
    assert.deepEqual(failures, []);
  });
});

/**
 * Benchmark (not a test): `manage-apps move` and `manage-apps recover` of a service with its
 * PostgreSQL database beside it, on real test hosts, each against the floor of the same steps
 * done by hand with bare commands, in one run.
 *
 *   npm run build && npx tsc -p tsconfig.test.json && node .build-test/bench/move-db.js [--reps 3] [--size 64]
 *
 * Three hosts: two with a PostgreSQL 15 cluster each (src1, dst1) and one that keeps the
 * backups (bk1, restic). The database: one table of --size MiB (rows of 1 KiB), written by the
 * app's own role.
 *   - move: `move shop --to <other>` (freeze: the writer stopped, its role NOLOGIN, its env
 *     file read, in one round trip; the env file written and the target's stale copy dropped in
 *     one; role, database and pg_hba provisioned there; pg_dump | pg_restore through this
 *     machine as the app's role, every table counted on the frozen source while it streams and
 *     on the target at the stream's end, compared; the release read and deployed on the target,
 *     gated on a real query; the manifest and the inventory edited), alternately in each
 *     direction. Its floor: `ssh source pg_dump -Fc -Z0 | ssh target pg_restore` into a fresh
 *     database (as the postgres account), `ssh source tar -c <release> | ssh target tar -x`, a
 *     unit written by hand, `systemctl start`, a curl loop until it answers, `systemctl stop` on
 *     the source, over the same warm ssh connections. No freeze, no counts, no gate on the database.
 *   - recover: a backup taken (`backups install`, `backups run`), the host the service runs on
 *     powered off for good (its units stopped, its network cut), then `recover <lost> --to
 *     <other>` (the newest backup chosen on bk1; roles, database and pg_hba provisioned; the dump
 *     streamed from bk1 through this machine into pg_restore, its sha256 and every table's count
 *     compared with the catalog; the release kept on this machine deployed and gated; the
 *     manifest and the inventory edited), reset between runs (the files put back, the service
 *     and the database removed on the target). Its floor: `ssh bk1 restic dump <snapshot> <dump> |
 *     ssh target pg_restore` into a fresh database as the postgres account, `ssh target tar -x`
 *     of the kept release from this machine, a unit written by hand, `systemctl start`, a curl
 *     loop until it answers. No catalog check, no counts, no gate on the database.
 * Target: each ≤ 1.3× its floor. Timings never fail the process.
 */
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, openSync, readdirSync, rmSync, statSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { packageRoot } from '../src/package-root.js';
import { sshBaseArgs } from '../src/transport/ssh.js';
import { dataRoot } from '../test/data/fixtures.js';
import { psqlAsAdmin, startPostgres } from '../test/harness/postgres.js';
import { prerequisites } from '../test/harness/test-fleet.js';
import { withBenchFleet } from './lib/fleet.js';
import { fmt, median, run, runMain } from './lib/measure.js';

const { values } = parseArgs({ options: { reps: { type: 'string', default: '3' }, size: { type: 'string', default: '64' } } });
const REPS = Number(values.reps);
const SIZE_MB = Number(values.size);
const repo = packageRoot();
const bin = join(repo, 'bin', 'manage-apps.js');

async function main(): Promise<number> {
  const pre = prerequisites();
  if (!pre.ok) {
    console.error(`bench/move-db: real test hosts unavailable: ${pre.reason}`);
    return 2;
  }
  return withBenchFleet({ names: ['src1', 'dst1', 'bk1'] }, { connectTimeoutSec: 5 }, 'manage-apps-bench-move-db-', async (fleet, work) => {
    const [a, b] = fleet.hosts as [(typeof fleet.hosts)[0], (typeof fleet.hosts)[0]];
    const started = Date.now();
    for (const h of fleet.hosts) await fleet.waitForSystemState(h);
    const pg = await Promise.all([a, b].map((h) => startPostgres(fleet, h.name, { name: 'apps', port: 5433 })));
    await Promise.all([a, b].map((h) => fleet.ssh(h.name, 'useradd -r shop')));
    const backup = { rpo: '1h', rto: '30m', method: 'pg_dump to a restic repository', target: 'bk1' };
    const root = await dataRoot(fleet, { apps: { host: a.name, port: 5433, backup } }, [{ name: 'shop', host: a.name, port: 8081, cluster: 'apps' }]);
    const env = { MANAGE_APPS_CONTROL_DIR: join(work, 'cm') };
    const cli = (...args: string[]) => run(process.execPath, [bin, ...args, '--root', root, '--ssh-config', fleet.sshConfigPath], env);
    for (const step of [
      ['db', 'provision'],
      ['deploy', 'shop'],
    ]) {
      const r = await cli(...step);
      if (r.status !== 0) throw new Error(`${step.join(' ')} failed: ${r.stdout} ${r.stderr}`);
    }
    const rows = SIZE_MB * 1024;
    const fill = await fleet.ssh(
      a.name,
      `set -a; . /etc/shop/env; set +a; psql -XAtq -v ON_ERROR_STOP=1 -c "CREATE TABLE items (id int primary key, payload text); INSERT INTO items SELECT g, repeat(md5(g::text), 31) FROM generate_series(1, ${rows}) g"`,
      { timeoutMs: 3600_000 },
    );
    if (fill.exitCode !== 0) throw new Error(`filling the database failed: ${fill.stderr}`);

    const ssh = (alias: string, remote: string) =>
      ['/usr/bin/ssh', [...sshBaseArgs({ configFile: fleet.sshConfigPath, controlDir: env.MANAGE_APPS_CONTROL_DIR }), '--', alias, remote]] as const;
    const pipe = (from: string, read: string, to: string, write: string) =>
      new Promise<void>((resolve, reject) => {
        const [cmd, readArgs] = ssh(from, read);
        const [, writeArgs] = ssh(to, write);
        const reader = spawn(cmd, readArgs, { stdio: ['ignore', 'pipe', 'inherit'] });
        const writer = spawn(cmd, writeArgs, { stdio: ['pipe', 'ignore', 'inherit'] });
        reader.stdout.pipe(writer.stdin);
        writer.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${write}: exit ${code}`))));
      });
    /** A file on this machine into a command on a host. */
    const pipeFile = (file: string, to: string, write: string) =>
      new Promise<void>((resolve, reject) => {
        const [cmd, writeArgs] = ssh(to, write);
        const writer = spawn(cmd, writeArgs, { stdio: [openSync(file, 'r'), 'ignore', 'inherit'] });
        writer.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${write}: exit ${code}`))));
      });
    let backupRef: { id: string; snapshot: string } | undefined;
    const once = (alias: string, remote: string) =>
      new Promise<void>((resolve) => {
        const [cmd, args] = ssh(alias, remote);
        spawn(cmd, args, { stdio: 'ignore' }).on('close', () => resolve());
      });
    /** The floor: the same move by hand, from one host to the other. */
    const byHand = async (from: typeof a, to: typeof a) => {
      const t0 = process.hrtime.bigint();
      const pg = 'cd / && runuser -u postgres --';
      await once(to.alias, `${pg} dropdb -p 5433 --if-exists shop_hand; ${pg} createdb -p 5433 shop_hand`);
      await pipe(from.alias, `${pg} pg_dump -Fc -Z0 -p 5433 -d shop_db`, to.alias, `${pg} pg_restore -p 5433 -d shop_hand --no-owner --no-acl`);
      const unit = '[Service]\\nEnvironment=PORT=8090\\nWorkingDirectory=/srv/shop-hand\\nExecStart=/usr/bin/node server.mjs\\n';
      await pipe(
        from.alias,
        'tar -C /srv/shop/current/ -cf - .',
        to.alias,
        `rm -rf /srv/shop-hand && mkdir -p /srv/shop-hand && tar -C /srv/shop-hand -xf - && printf '${unit}' > /etc/systemd/system/shop-hand.service && systemctl daemon-reload && systemctl start shop-hand.service && until curl -fs http://127.0.0.1:8090/livez >/dev/null; do sleep 0.05; done`,
      );
      await once(from.alias, 'systemctl stop shop-hand.service 2>/dev/null; true');
      return Number(process.hrtime.bigint() - t0) / 1e6;
    };
    const moves: number[] = [];
    const floors: number[] = [];
    let here = a;
    for (let i = 0; i <= REPS; i++) {
      const there = here === a ? b : a;
      const m = await cli('move', 'shop', '--to', there.name);
      if (m.status !== 0) throw new Error(`move failed: ${m.stdout} ${m.stderr}`);
      if (process.env['BENCH_VERBOSE']) console.error(`${m.stderr}  (the whole run: ${fmt(m.ms)})`);
      const f = await byHand(here, there);
      here = there;
      if (i === 0) continue; // the first opens the master connections and installs the unit on the target
      moves.push(m.ms);
      floors.push(f);
    }
    const moveRatio = median(moves) / median(floors);
    const moveSeconds = (Date.now() - started) / 1000;
    console.log(`move: ${fmt(median(moves))} against ${fmt(median(floors))} by hand (${moveRatio.toFixed(2)}×); recover follows`);

    // Recover: a backup of the database where it now runs, then that host lost for good.
    for (const step of [
      ['backups', 'install'],
      ['backups', 'run', '--json'],
    ]) {
      const r = await cli(...step);
      if (r.status !== 0) throw new Error(`${step.join(' ')} failed: ${r.stdout} ${r.stderr}`);
      if (step[1] === 'run') {
        const run = JSON.parse(r.stdout) as { runs: { backup: { id: string; databases: { name: string; restic_snapshot: string }[] } }[] };
        const taken = run.runs[0]!.backup;
        const snap = taken.databases.find((d) => d.name === 'shop_db')!.restic_snapshot;
        backupRef = { id: taken.id, snapshot: snap };
      }
    }
    const lost = here;
    const target = here === a ? b : a;
    const targetPg = pg[target === a ? 0 : 1]!;
    await fleet.ssh(lost.name, 'systemctl stop shop.service shop-hand.service pg-apps.service 2>/dev/null; true');
    await fleet.cutNetwork(lost.name);
    const pristine = mkdtempSync(join(tmpdir(), 'manage-apps-bench-recover-'));
    const files = ['mesh-hosts.json', 'shop/.infra.yaml'];
    for (const f of files) cpSync(join(root, f), join(pristine, f));
    const kept = join(root, '.state', 'releases', 'shop');
    /** The newest release kept on this machine (a recovery keeps the copy it deployed under a new id). */
    const newestKept = () =>
      readdirSync(kept)
        .filter((f) => f.endsWith('.tar') || f.endsWith('.tar.gz'))
        .sort((x, y) => statSync(join(kept, y)).mtimeMs - statSync(join(kept, x)).mtimeMs)[0]!;
    /** Back to "the host is lost, nothing recovered yet" on the target. */
    const reset = async () => {
      for (const f of files) cpSync(join(pristine, f), join(root, f));
      rmSync(join(root, '.state', 'recover', `${lost.name}.json`), { force: true });
      await fleet.ssh(target.name, 'systemctl disable --now shop.service shop-hand.service 2>/dev/null; rm -f /etc/shop/env; true');
      await psqlAsAdmin(fleet, targetPg, 'DROP DATABASE IF EXISTS shop_db WITH (FORCE)');
    };
    /** The floor: the same recovery by hand, from the backup host and this machine's kept release. */
    const recoverByHand = async () => {
      const t0 = process.hrtime.bigint();
      const pg = 'cd / && runuser -u postgres --';
      await once(target.alias, `${pg} dropdb -p 5433 --if-exists shop_hand; ${pg} createdb -p 5433 shop_hand`);
      const repo = '/var/backups/manage-apps/apps';
      await pipe(
        fleet.host('bk1').alias,
        `RESTIC_REPOSITORY=${repo}/restic RESTIC_PASSWORD_FILE=${repo}/restic.pass RESTIC_CACHE_DIR=${repo}/.cache restic dump --quiet ${backupRef!.snapshot} /${backupRef!.id}-shop_db.dump`,
        target.alias,
        `${pg} pg_restore -p 5433 -d shop_hand --no-owner --no-acl`,
      );
      const unit = '[Service]\\nEnvironment=PORT=8090\\nWorkingDirectory=/srv/shop-hand\\nExecStart=/usr/bin/node server.mjs\\n';
      const release = newestKept();
      await pipeFile(
        join(kept, release),
        target.alias,
        `rm -rf /srv/shop-hand && mkdir -p /srv/shop-hand && tar -C /srv/shop-hand -x${release.endsWith('.gz') ? 'z' : ''}f - && printf '${unit}' > /etc/systemd/system/shop-hand.service && systemctl daemon-reload && systemctl start shop-hand.service && until curl -fs http://127.0.0.1:8090/livez >/dev/null; do sleep 0.05; done`,
      );
      return Number(process.hrtime.bigint() - t0) / 1e6;
    };
    const recovers: number[] = [];
    const recoverFloors: number[] = [];
    const rtos: number[] = [];
    for (let i = 0; i <= REPS; i++) {
      await reset();
      // Human output: its step lines (BENCH_VERBOSE) and the report's achieved RTO.
      const r = await cli('recover', lost.name, '--to', target.name);
      if (r.status !== 0) throw new Error(`recover failed: ${r.stdout} ${r.stderr}`);
      if (process.env['BENCH_VERBOSE']) console.error(`${r.stderr}  (the whole run: ${fmt(r.ms)})`);
      const f = await recoverByHand();
      await once(target.alias, 'systemctl stop shop-hand.service 2>/dev/null; true');
      if (i === 0) continue; // the first opens the master connections and warms the restic cache
      recovers.push(r.ms);
      recoverFloors.push(f);
      const rto = /RTO: ([0-9.]+)s achieved/.exec(r.stdout)?.[1];
      if (rto !== undefined) rtos.push(Number(rto));
    }
    rmSync(pristine, { recursive: true, force: true });
    const recoverRatio = median(recovers) / median(recoverFloors);
    const verdict = (x: number) => `${x.toFixed(2)}×   target ≤ 1.3×: ${x <= 1.3 ? 'PASS' : 'MISS'}`;
    console.log(
      [
        `manage-apps move and recover of a service with its ${SIZE_MB} MiB PostgreSQL database on 3 test hosts, median of ${REPS} (machine: ${cpus().length} CPUs, load average ${loadavg()[0]!.toFixed(1)}; the whole run ${((Date.now() - started) / 1000).toFixed(0)} s)`,
        `  manage-apps move (the whole CLI run)   ${fmt(median(moves))}`,
        `  by hand: pg_dump | pg_restore, tar | tar, unit, systemctl start, answer, stop   ${fmt(median(floors))}`,
        `  ratio                                  ${verdict(moveRatio)}`,
        `  manage-apps recover (the whole CLI run)   ${fmt(median(recovers))}${rtos.length > 0 ? ` (achieved RTO ${median(rtos)} s)` : ''}`,
        `  by hand: restic dump | pg_restore, tar of the kept release, unit, systemctl start, answer   ${fmt(median(recoverFloors))}`,
        `  ratio                                  ${verdict(recoverRatio)}`,
      ].join('\n'),
    );
    console.log(
      JSON.stringify({
        reps: REPS,
        size_mb: SIZE_MB,
        medians_ms: { move: median(moves), floor: median(floors), recover: median(recovers), recover_floor: median(recoverFloors) },
        ratio: moveRatio,
        recover_ratio: recoverRatio,
        load_average: loadavg()[0],
        move_phase_s: Math.round(moveSeconds),
        run_s: Math.round((Date.now() - started) / 1000),
      }),
    );
    return 0;
  });
}

runMain(main);

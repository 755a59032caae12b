/**
 * Benchmark (not a test): `manage-apps move` of a service with its PostgreSQL database beside
 * it, between two real test hosts, against the floor of the same move done by hand with bare
 * commands, in one run.
 *
 *   npm run build && npx tsc -p tsconfig.test.json && node .build-test/bench/move-db.js [--reps 3] [--size 64]
 *
 * The database: one table of --size MiB (rows of 1 KiB), written by the app's own role.
 *   - manage-apps: `move shop --to <other>` (freeze: the writer stopped, its role NOLOGIN;
 *     the env file carried; role, database and pg_hba provisioned on the target; every table
 *     counted on the source; pg_dump | pg_restore through this machine as the app's role;
 *     every table counted on the target and compared; the release read and deployed on the
 *     target, gated on a real query; the manifest and the inventory edited), alternately in
 *     each direction;
 *   - the floor: `ssh source pg_dump -Fc -Z0 | ssh target pg_restore` into a fresh database (as
 *     the postgres account), `ssh source tar -c <release> | ssh target tar -x`, a unit written by
 *     hand, `systemctl start`, a curl loop until it answers, `systemctl stop` on the source —
 *     over the same warm ssh connections. No freeze, no counts, no gate on the database.
 * Target: move ≤ 1.3× the floor. Timings never fail the process.
 */
import { spawn } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { packageRoot } from '../src/package-root.js';
import { sshBaseArgs } from '../src/transport/ssh.js';
import { dataRoot } from '../test/data/fixtures.js';
import { startPostgres } from '../test/harness/postgres.js';
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
  return withBenchFleet({ names: ['src1', 'dst1'] }, { connectTimeoutSec: 5 }, 'manage-apps-bench-move-db-', async (fleet, work) => {
    const [a, b] = fleet.hosts as [(typeof fleet.hosts)[0], (typeof fleet.hosts)[0]];
    for (const h of fleet.hosts) await fleet.waitForSystemState(h);
    await Promise.all(fleet.hosts.map((h) => startPostgres(fleet, h.name, { name: 'apps', port: 5433 })));
    await Promise.all(fleet.hosts.map((h) => fleet.ssh(h.name, 'useradd -r shop')));
    const root = await dataRoot(fleet, { apps: { host: a.name, port: 5433 } }, [{ name: 'shop', host: a.name, port: 8081, cluster: 'apps' }]);
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
    const ratio = median(moves) / median(floors);
    console.log(
      [
        `manage-apps move of a service with its ${SIZE_MB} MiB PostgreSQL database between 2 test hosts, median of ${REPS} (machine: ${cpus().length} CPUs, load average ${loadavg()[0]!.toFixed(1)})`,
        `  manage-apps move (the whole CLI run)   ${fmt(median(moves))}`,
        `  by hand: pg_dump | pg_restore, tar | tar, unit, systemctl start, answer, stop   ${fmt(median(floors))}`,
        `  ratio                                  ${ratio.toFixed(2)}×   target ≤ 1.3×: ${ratio <= 1.3 ? 'PASS' : 'MISS'}`,
      ].join('\n'),
    );
    console.log(
      JSON.stringify({ reps: REPS, size_mb: SIZE_MB, medians_ms: { move: median(moves), floor: median(floors) }, ratio, load_average: loadavg()[0] }),
    );
    return 0;
  });
}

runMain(main);

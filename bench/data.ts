/**
 * Benchmark (not a test): `backups run` + `backups drill` of a generated ~1 GB PostgreSQL
 * database on real test hosts (cluster on `db`, restic repository and drill on `bk`), against
 * the floor: a bare `pg_dump -Fc | pg_restore` of the same database between the same hosts,
 * into the same kind of throw-away cluster (initdb, fsync off, removed after). Target: within
 * 1.25× of the floor.
 *
 *   npm run build && npx tsc -p tsconfig.test.json && node .build-test/bench/data.js [--rows 10000000]
 *
 * Needs what the real test hosts need (Linux, root) plus postgresql and restic. Prints the
 * figures and one JSON line; timings never fail the process.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { run } from './lib/measure.js';
import { packageRoot } from '../src/package-root.js';
import { psqlAsAdmin, startPostgres } from '../test/harness/postgres.js';
import { TestFleet } from '../test/harness/test-fleet.js';

const { values } = parseArgs({ options: { rows: { type: 'string', default: '10000000' } } });
const ROWS = Number(values.rows);
const bin = join(packageRoot(), 'bin', 'manage-apps.js');

/** ssh A | ssh B, the two processes piped by this one (nothing buffered: a plain pipe). */
function pipe(a: string[], b: string[]): Promise<{ ms: number; status: number | null; stderr: string }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const left = spawn('ssh', a, { stdio: ['ignore', 'pipe', 'pipe'] });
    const right = spawn('ssh', b, { stdio: ['pipe', 'ignore', 'pipe'] });
    left.stdout.pipe(right.stdin);
    let stderr = '';
    left.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    right.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    let leftStatus: number | null = null;
    left.on('close', (s) => (leftStatus = s));
    right.on('close', (s) => resolve({ ms: Date.now() - t0, status: leftStatus === 0 ? s : leftStatus, stderr }));
  });
}

const fleet = await TestFleet.up({ names: ['db', 'bk'] });
try {
  const pg = await startPostgres(fleet, 'db', { name: 'apps', port: 5433 });
  const root = await mkdtemp(join(tmpdir(), 'manage-apps-bench-data-'));
  const inventory = {
    version: 1,
    mesh: { cidr: '10.98.0.0/16' },
    hosts: Object.fromEntries(fleet.hosts.map((h) => [h.name, { alias: h.alias, address: h.address, provider: 'bare-metal', role: 'production' }])),
    clusters: { apps: { host: 'db', port: 5433, engine: 'postgres', backup: { rpo: '1h', rto: '1h', method: 'pg_dump to restic', target: 'bk' } } },
  };
  await writeFile(join(root, 'mesh-hosts.json'), JSON.stringify(inventory));
  await mkdir(join(root, 'big'));
  await writeFile(
    join(root, 'big', '.infra.yaml'),
    'apiVersion: infra/v2\nproject: big\nprovider: bare-metal\ndatabase: { cluster: apps, name: big_db, user: big_app }\n',
  );
  const env = { MANAGE_APPS_SSH_CONFIG: fleet.sshConfigPath, MANAGE_APPS_CONTROL_DIR: await mkdtemp(join(tmpdir(), 'manage-apps-cm-')) };
  const prov = await run(process.execPath, [bin, 'db', 'provision', '--root', root], env);
  if (prov.status !== 0) throw new Error(prov.stdout + prov.stderr);
  const t0 = Date.now();
  await psqlAsAdmin(
    fleet,
    pg,
    `CREATE TABLE events (id bigint PRIMARY KEY, kind int, payload text); INSERT INTO events SELECT g, g % 17, md5(g::text) || md5((g + 1)::text) FROM generate_series(1, ${ROWS}) g; CREATE INDEX ON events (kind); ANALYZE events;`,
    'big_db',
    30 * 60_000,
  );
  const size = await psqlAsAdmin(fleet, pg, "SELECT pg_database_size('big_db')");
  console.log(`generated big_db: ${(Number(size) / 2 ** 30).toFixed(2)} GiB in ${((Date.now() - t0) / 1000).toFixed(0)} s`);

  // The floor: pg_dump on db piped into pg_restore on bk, into a throw-away cluster made the same way the drill makes one.
  const cfg = fleet.sshConfigPath;
  const restoreSide = `set -e; bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1); d=$(mktemp -d /tmp/floor.XXXXXX); chown postgres: "$d"; cd /
runuser -u postgres -- "$bin/initdb" -D "$d/data" -A trust -U postgres --no-sync >/dev/null
runuser -u postgres -- "$bin/pg_ctl" -D "$d/data" -o "-k $d -c listen_addresses= -c fsync=off -c full_page_writes=off" -w start >/dev/null
runuser -u postgres -- "$bin/createdb" -h "$d" floor
runuser -u postgres -- "$bin/pg_restore" -h "$d" -d floor --no-owner --no-acl --exit-on-error
runuser -u postgres -- "$bin/pg_ctl" -D "$d/data" -m immediate stop >/dev/null; rm -rf "$d"`;
  const load = [loadavg()[0]!];
  const floor = await pipe(['-F', cfg, 'db', 'cd / && runuser -u postgres -- pg_dump -Fc -p 5433 -d big_db'], ['-F', cfg, 'bk', restoreSide]);
  if (floor.status !== 0) throw new Error(`floor failed: ${floor.stderr}`);
  load.push(loadavg()[0]!);
  const backup = await run(process.execPath, [bin, 'backups', 'run', '--root', root, '--json'], env);
  if (backup.status !== 0) throw new Error(`backups run failed: ${backup.stdout}${backup.stderr}`);
  const drill = await run(process.execPath, [bin, 'backups', 'drill', '--root', root, '--json'], env);
  if (drill.status !== 0) throw new Error(`backups drill failed: ${drill.stdout}${drill.stderr}`);
  load.push(loadavg()[0]!);
  const d = (JSON.parse(drill.stdout) as { drills: { achieved: { rto_s: number } }[] }).drills[0]!;
  const bytes = (JSON.parse(backup.stdout) as { runs: { backup: { databases: { bytes: number }[] } }[] }).runs[0]!.backup.databases[0]!.bytes;
  const ours = backup.ms + drill.ms;
  const ratio = ours / floor.ms;
  console.log(`dump stream: ${(bytes / 2 ** 20).toFixed(0)} MiB (pg_dump -Fc -Z0; restic compresses it)`);
  console.log(`floor  pg_dump -Fc | pg_restore (throw-away cluster)   ${(floor.ms / 1000).toFixed(1)} s`);
  console.log(`manage-apps backups run                               ${(backup.ms / 1000).toFixed(1)} s`);
  console.log(`manage-apps backups drill (achieved RTO ${d.achieved.rto_s} s)      ${(drill.ms / 1000).toFixed(1)} s`);
  console.log(
    `backup + drill                                        ${(ours / 1000).toFixed(1)} s = ${ratio.toFixed(2)}× the floor (target ≤ 1.25×: ${ratio <= 1.25 ? 'PASS' : 'MISS'})`,
  );
  console.log(`load average (1 min) before the floor, the backup, after the drill: ${load.map((l) => l.toFixed(2)).join(', ')} (2 CPUs)`);
  console.log(
    JSON.stringify({
      bench: 'data',
      load_average: load,
      db_bytes: Number(size),
      dump_bytes: bytes,
      floor_ms: floor.ms,
      backup_ms: backup.ms,
      drill_ms: drill.ms,
      rto_s: d.achieved.rto_s,
      ratio: Number(ratio.toFixed(3)),
    }),
  );
} finally {
  await fleet.down();
}

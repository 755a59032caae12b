// backups install/run/drill on real test hosts: a real PostgreSQL 15 cluster on `db` backed up
// with real pg_dump into a real restic repository on `bk`, restored by a drill into a throw-away
// cluster on `bk`. A run killed halfway leaves the previous backup restorable and the catalog
// consistent; a corrupted repository makes the drill fail with the reason; `backups` judges
// declared against achieved from the evidence file.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { postgresSkipReason, psqlAsAdmin, startPostgres, type PostgresCluster } from '../harness/postgres.js';
import { realHostsSkipReason, TestFleet } from '../harness/test-fleet.js';
import { json, runCli, sleep, startCli } from '../ops/helpers.js';
import { sampleProcesses } from './fixtures.js';

const skip =
  realHostsSkipReason() ??
  postgresSkipReason() ??
  (process.env.CI !== 'true' &&
  !(() => {
    try {
      return readFileSync('/usr/bin/restic').length > 0;
    } catch {
      return false;
    }
  })()
    ? 'restic not installed (apt-get install restic)'
    : undefined);

const SHOP_CHECK = 'SELECT count(*) > 0 FROM items WHERE name IS NOT NULL';
interface Drill {
  ok: boolean;
  reason?: string;
  backup_id: string;
  databases: {
    name: string;
    ok: boolean;
    checksum_ok: boolean;
    tables_ok: boolean;
    tables: { name: string; backed_up: number | null; restored: number | null }[];
    reason?: string;
    check: { query: string; ok: boolean; rows: number; value: string | null; reason?: string } | null;
  }[];
  achieved: { rpo_s: number; rto_s: number };
  met: { rpo: boolean; rto: boolean };
}
interface Run {
  ok: boolean;
  reason?: string;
  backup: { id: string; databases: { name: string; tables: Record<string, number>; sha256: string; bytes: number }[] } | null;
}

describe('backups on real hosts: PostgreSQL to restic, drills into a throw-away cluster', { skip, timeout: 600_000 }, () => {
  let fleet: TestFleet;
  let pg: PostgresCluster;
  let root = '';
  let controlDir = '';
  const cli = (...a: string[]) => runCli([...a, '--root', root, '--ssh-config', fleet.sshConfigPath], { MANAGE_APPS_CONTROL_DIR: controlDir });
  const report = () => runCli(['backups', '--json', '--root', root]);
  const catalog = async () =>
    (await fleet.ssh('bk', 'cat /var/backups/manage-apps/apps/catalog.jsonl')).stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { id: string });

  before(async () => {
    fleet = await TestFleet.up({ names: ['db', 'bk'] });
    controlDir = mkdtempSync(join(tmpdir(), 'manage-apps-cm-'));
    pg = await startPostgres(fleet, 'db', { name: 'apps', port: 5433 });
    const { dataRoot } = await import('./fixtures.js');
    root = await dataRoot(
      fleet,
      { apps: { host: 'db', port: 5433, backup: { rpo: '15m', rto: '1h', method: 'pg_dump to a restic repository', target: 'bk', drill: '7d' } } },
      [],
    );
    const { writeFile, mkdir } = await import('node:fs/promises');
    for (const p of ['shop', 'blog']) {
      await mkdir(join(root, p));
      await writeFile(
        join(root, p, '.infra.yaml'),
        `apiVersion: infra/v2\nproject: ${p}\nprovider: bare-metal\ndatabase: { cluster: apps, name: ${p}_db, user: ${p}_app${p === 'shop' ? `, check: "${SHOP_CHECK}"` : ''} }\n`,
      );
    }
    // A service on the cluster host, so that `status` has something to ask it (sshd: always up).
    await mkdir(join(root, 'sshd'));
    await writeFile(
      join(root, 'sshd', '.infra.yaml'),
      'apiVersion: infra/v2\nproject: sshd\nprovider: bare-metal\nservice: { host: db, systemd_unit: ssh.service }\n',
    );
    const prov = await cli('db', 'provision', '--json');
    assert.equal(prov.status, 0, prov.stdout + prov.stderr);
    await psqlAsAdmin(
      fleet,
      pg,
      'CREATE TABLE items (id int primary key, name text); INSERT INTO items SELECT g, md5(g::text) FROM generate_series(1, 5000) g; CREATE TABLE orders (id serial primary key, item int); INSERT INTO orders (item) SELECT g % 100 FROM generate_series(1, 1234) g;',
      'shop_db',
    );
    await psqlAsAdmin(
      fleet,
      pg,
      "CREATE TABLE posts (id int, body text); INSERT INTO posts SELECT g, repeat('x', 100) FROM generate_series(1, 42) g;",
      'blog_db',
    );
  });
  after(() => fleet?.down());

  test('before any drill, `backups` exits 1: the policy asks for a drill every 7d', async () => {
    const run = await report();
    assert.equal(run.status, 1, run.stdout);
    assert.equal(json<{ drills: { cluster: string; verdict: string }[] }>(run).drills.find((d) => d.cluster === 'apps')?.verdict, 'never');
  });

  test('backups install: a timer on the cluster host whose period is the declared RPO', async () => {
    const dry = await cli('backups', 'install', '--dry-run', '--json');
    assert.equal(dry.status, 0, dry.stdout + dry.stderr);
    assert.equal(json<{ installs: { timer: { period_s: number } }[] }>(dry).installs[0]!.timer.period_s, 900);
    assert.equal((await fleet.ssh('db', 'test -e /etc/systemd/system/manage-apps-backup@apps.timer')).exitCode, 1);
    const run = await cli('backups', 'install');
    assert.equal(run.status, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /installed manage-apps-backup@apps\.timer, every 900s/);
    assert.equal((await fleet.ssh('db', 'systemctl is-active manage-apps-backup@apps.timer')).stdout.trim(), 'active');
    assert.match((await fleet.ssh('db', 'systemctl cat manage-apps-backup@apps.timer')).stdout, /OnUnitActiveSec=900s/);
    // The cluster host's key may do one thing on the target: the receiver, for its own cluster.
    const denied = await fleet.ssh(
      'db',
      'runuser -u postgres -- ssh -i /var/lib/manage-apps/backup/ssh/apps -o IdentitiesOnly=yes -o UserKnownHostsFile=/var/lib/manage-apps/backup/ssh/apps.known_hosts -o BatchMode=yes root@' +
        fleet.host('bk').address +
        ' cat /etc/shadow 2>&1',
    );
    assert.match(denied.stdout, /unknown request/);
  });

  test('backups run: consistent dumps on the target host in restic, with a catalog entry', async () => {
    const run = await cli('backups', 'run', '--json');
    assert.equal(run.status, 0, run.stdout + run.stderr);
    const r = json<{ runs: Run[] }>(run).runs[0]!;
    assert.equal(r.ok, true, r.reason);
    const shop = r.backup!.databases.find((d) => d.name === 'shop_db')!;
    assert.deepEqual(shop.tables, { 'public.items': 5000, 'public.orders': 1234 });
    assert.match(shop.sha256, /^[0-9a-f]{64}$/);
    assert.equal((await catalog()).at(-1)!.id, r.backup!.id);
    const snapshots = await fleet.ssh(
      'bk',
      'RESTIC_REPOSITORY=/var/backups/manage-apps/apps/restic RESTIC_PASSWORD_FILE=/var/backups/manage-apps/apps/restic.pass restic snapshots --json --quiet',
    );
    assert.equal((JSON.parse(snapshots.stdout) as unknown[]).length, 2);
    assert.equal((await fleet.ssh('db', 'ls /var/backups 2>/dev/null | grep -c manage-apps; true')).stdout.trim(), '0');
  });

  test('backups drill: restores the newest backup, row counts and checksums match; `backups` is satisfied; no secret in ps', async () => {
    const restic = (await fleet.ssh('bk', 'cat /var/backups/manage-apps/apps/restic.pass')).stdout.trim();
    const sampler = sampleProcesses(fleet, ['db', 'bk']);
    const run = await cli('backups', 'drill', '--json');
    const samples = await sampler.stop();
    assert.equal(run.status, 0, run.stdout + run.stderr);
    const d = json<{ drills: Drill[]; evidence_file: string }>(run).drills[0]!;
    assert.equal(d.ok, true, d.reason);
    assert.ok(d.databases.every((x) => x.ok && x.checksum_ok && x.tables_ok));
    // What was verified is in the record, table by table, so the evidence can be audited without the catalog.
    assert.deepEqual(d.databases.find((x) => x.name === 'shop_db')!.tables, [
      { name: 'public.items', backed_up: 5000, restored: 5000 },
      { name: 'public.orders', backed_up: 1234, restored: 1234 },
    ]);
    // The declared check query ran on the restored copy and held.
    assert.deepEqual(d.databases.find((x) => x.name === 'shop_db')!.check, { query: SHOP_CHECK, ok: true, rows: 1, value: 't' });
    assert.equal(d.databases.find((x) => x.name === 'blog_db')!.check, null);
    assert.equal(d.met.rpo, true);
    assert.equal(d.met.rto, true);
    assert.ok(restic.length > 20 && !samples.includes(restic), 'the restic password appeared in a process list');
    const evidence = readFileSync(join(root, 'backup-evidence.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind: string });
    assert.deepEqual(
      evidence.map((e) => e.kind),
      ['backup', 'drill'],
    );
    assert.deepEqual(
      (evidence[1] as unknown as Drill).databases.find((x) => x.name === 'shop_db')!.tables.map((t) => t.restored),
      [5000, 1234],
    );
    // The readable output says what was compared and what the check query answered.
    const human = await cli('backups', 'drill');
    assert.equal(human.status, 0, human.stdout + human.stderr);
    assert.match(human.stdout, /shop_db: \d+ bytes, checksum matches, 2 tables with 6234 rows match the catalog/);
    assert.match(human.stdout, /check "SELECT count\(\*\) > 0 [^"]*": returned "t" \(1 row\)/);
    const judged = await report();
    assert.equal(judged.status, 0, judged.stdout);
    assert.equal(json<{ drills: { verdict: string }[] }>(judged).drills[0]!.verdict, 'ok');
    // Scratch clusters are gone; the source was never touched.
    assert.equal((await fleet.ssh('bk', 'ls /tmp | grep -c manage-apps-drill; true')).stdout.trim(), '0');
    assert.equal(await psqlAsAdmin(fleet, pg, "SELECT count(*) FROM pg_database WHERE datname LIKE 'drill%'"), '0');
  });

  test("the timer's runs are visible: `status` and `backups --live` show the last run, its size and outcome, and a failed one with its reason", async () => {
    interface Runs {
      cluster: string;
      verdict: string;
      message: string;
      timer: { installed: boolean; period_s: number };
      last_run: { outcome: string; reason?: string; bytes: number | null } | null;
      last_ok: { id: string; bytes: number } | null;
    }
    // What the timer does when it fires: start the unit, with the operator's CLI nowhere.
    const started = await fleet.ssh('db', 'systemctl start manage-apps-backup@apps.service', { timeoutMs: 120_000 });
    assert.equal(started.exitCode, 0, started.stderr);
    const st = await cli('status', '--json');
    assert.equal(st.status, 0, st.stdout + st.stderr);
    const row = json<{ backups: Runs[] }>(st).backups.find((b) => b.cluster === 'apps')!;
    assert.equal(row.verdict, 'ok', row.message);
    assert.equal(row.timer.installed, true);
    assert.equal(row.timer.period_s, 900);
    assert.equal(row.last_run?.outcome, 'ok');
    assert.ok((row.last_run?.bytes ?? 0) > 1000);
    const newest = (await catalog()).at(-1)!.id;
    assert.equal(row.last_ok?.id, newest, "the last good run is the catalog's newest entry");
    const live = await cli('backups', '--live', '--json');
    assert.equal(live.status, 0, live.stdout + live.stderr);
    assert.equal(json<{ backup_runs: Runs[] }>(live).backup_runs[0]!.verdict, 'ok');
    // The target out of reach: the timer's run fails, and both commands say so, with the reason.
    await fleet.cutNetwork('bk');
    const failed = await fleet.ssh('db', 'systemctl start manage-apps-backup@apps.service', { timeoutMs: 120_000 });
    await fleet.healNetwork('bk');
    assert.notEqual(failed.exitCode, 0);
    const st2 = await cli('status');
    assert.equal(st2.status, 1, st2.stdout);
    assert.match(st2.stdout, /apps: the last run \(\S+\) failed: the target \S+ did not accept the backup \(init\); the newest good backup is \S+/);
    const live2 = await cli('backups', '--live', '--json');
    assert.equal(live2.status, 1, live2.stdout);
    const r2 = json<{ backup_runs: Runs[] }>(live2).backup_runs[0]!;
    assert.equal(r2.verdict, 'failed');
    assert.equal(r2.last_run?.outcome, 'failed');
    assert.equal(r2.last_ok?.id, newest);
    assert.deepEqual((await catalog()).at(-1)!.id, newest, 'a failed run adds nothing to the catalog');
  });

  test('a declared check query that returns false, no rows, or tries to write fails the drill with the reason; the source is untouched', async () => {
    const { writeFile } = await import('node:fs/promises');
    const manifest = join(root, 'shop', '.infra.yaml');
    const original = readFileSync(manifest, 'utf8');
    const cases: [string, RegExp][] = [
      ['SELECT count(*) FROM items WHERE id < 0', /shop_db: the check query returned "0"/],
      ['SELECT id FROM items WHERE false', /shop_db: the check query returned no rows/],
      ['DELETE FROM items RETURNING 1', /shop_db: the check query failed: .*(read-only transaction|permission denied)/],
      ['SELECT pg_sleep(0.1) IS NULL AND no_such_column = 1 FROM items', /shop_db: the check query failed: .*no_such_column/],
    ];
    try {
      for (const [query, reason] of cases) {
        await writeFile(manifest, original.replace(SHOP_CHECK, query));
        const run = await cli('backups', 'drill', '--json');
        assert.equal(run.status, 1, `${query}: ${run.stdout}`);
        const d = json<{ drills: Drill[] }>(run).drills[0]!;
        assert.equal(d.ok, false);
        // A failed drill proves no objective: declared ones are not met, never `true`.
        assert.deepEqual(d.met, { rpo: false, rto: false });
        assert.match(d.reason ?? '', reason);
        assert.equal(d.databases.find((x) => x.name === 'shop_db')!.check?.ok, false);
      }
    } finally {
      await writeFile(manifest, original);
    }
    assert.equal(await psqlAsAdmin(fleet, pg, 'SELECT count(*) FROM items', 'shop_db'), '5000');
  });

  test('a backup killed halfway leaves the previous one restorable and the catalog consistent', async () => {
    await psqlAsAdmin(
      fleet,
      pg,
      'CREATE TABLE big AS SELECT g AS id, md5(g::text) || md5((g * 7)::text) AS payload FROM generate_series(1, 700000) g;',
      'shop_db',
    );
    const before = await catalog();
    const running = startCli(['backups', 'run', '--json', '--root', root, '--ssh-config', fleet.sshConfigPath], {
      MANAGE_APPS_CONTROL_DIR: controlDir,
    });
    let killed = false;
    for (let i = 0; i < 300 && !killed; i++) {
      const r = await fleet.ssh('db', 'pgrep -x pg_dump >/dev/null && systemctl kill -s KILL manage-apps-backup@apps.service && echo killed');
      killed = r.stdout.includes('killed');
      if (!killed) await sleep(50);
    }
    assert.ok(killed, 'the backup was not caught running');
    const run = await running.done;
    assert.equal(run.status, 1, run.stdout);
    assert.deepEqual(
      (await catalog()).map((e) => e.id),
      before.map((e) => e.id),
    );
    const drill = await cli('backups', 'drill', '--json');
    assert.equal(drill.status, 0, drill.stdout + drill.stderr);
    assert.equal(json<{ drills: Drill[] }>(drill).drills[0]!.backup_id, before.at(-1)!.id);
  });

  test('a corrupted repository makes the drill fail with the reason, and `backups` exit 1', async () => {
    // Bytes flipped in the middle of every pack file: what a bad disk does.
    await fleet.ssh(
      'bk',
      'for f in $(find /var/backups/manage-apps/apps/restic/data -type f); do printf "corrupted" | dd of="$f" bs=1 seek=$(( $(stat -c %s "$f") / 2 )) conv=notrunc status=none; done',
    );
    const run = await cli('backups', 'drill');
    assert.equal(run.status, 1, run.stdout);
    assert.match(
      run.stdout,
      /drill FAILED on backup \S+: \w+: (reading the backup failed|the stored dump differs)[^\n]*(ciphertext verification failed|sha256)/,
    );
    const judged = await report();
    assert.equal(judged.status, 1);
    assert.equal(json<{ drills: { verdict: string }[] }>(judged).drills[0]!.verdict, 'failed');
  });
});

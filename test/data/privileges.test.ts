// The data layer's privilege boundaries, played as an attacker who controls one application:
// its database role (which owns its database and that database's public schema), its service
// account (which owns the env file's directory) and the cluster host's `postgres` account, on
// real test hosts with a real PostgreSQL 15 cluster (`db`) and a real backup target (`bk`).
// Whatever the app plants before `backups run`, `backups drill`, `backups install` and
// `db provision`, no role gains a right, no program runs from the superuser's SQL, no file of
// root's changes, and provision refuses what validate refuses. Each test prints its attack count.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { inspectScript } from '../../src/data/postgres.js';
import { postgresSkipReason, psqlAsAdmin, startPostgres, type PostgresCluster } from '../harness/postgres.js';
import { realHostsSkipReason, TestFleet } from '../harness/test-fleet.js';
import { json, runCli } from '../ops/helpers.js';

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

interface DbResult {
  id: string;
  ok: boolean;
  changes: string[];
  reason?: string;
}
interface Provision {
  databases: DbResult[];
  summary: { failed: number };
}
interface Problem {
  file: string;
  line: number;
  column: number;
  rule: string;
  message: string;
}

/** Where a program the superuser's SQL ran would leave its mark (the postgres account can write there). */
const MARK_DIR = '/var/lib/postgresql';
const CHECK_VALUE = 'SELECT count(*) > 0 FROM items';

/**
 * The app's weapons, created as its own role inside its own database: a function that, run by a
 * superuser, starts a program (COPY … TO PROGRAM) and makes the app's role a superuser, and
 * better-matching overloads and operators that call it, for every name the count query used.
 */
const ATTACK_SQL = (role: string) => `SET ROLE ${role};
CREATE FUNCTION public.ma_evil(tag text) RETURNS void LANGUAGE plpgsql AS $f$
BEGIN
  BEGIN EXECUTE pg_catalog.format('COPY (SELECT 1) TO PROGRAM %L', 'touch ${MARK_DIR}/pwned-' OPERATOR(pg_catalog.||) tag); EXCEPTION WHEN OTHERS THEN NULL; END;
  BEGIN EXECUTE 'ALTER ROLE ${role} SUPERUSER'; EXCEPTION WHEN OTHERS THEN NULL; END;
END $f$;
CREATE FUNCTION public.format(text, name, name) RETURNS text LANGUAGE plpgsql AS $f$ BEGIN PERFORM public.ma_evil('format'); RETURN pg_catalog.format($1, $2, $3); END $f$;
CREATE FUNCTION public.ma_cat(name, text) RETURNS text LANGUAGE plpgsql AS $f$ BEGIN PERFORM public.ma_evil('concat'); RETURN $1::text OPERATOR(pg_catalog.||) $2; END $f$;
CREATE OPERATOR public.|| (LEFTARG = name, RIGHTARG = text, FUNCTION = public.ma_cat);
CREATE FUNCTION public.xpath(text, xml) RETURNS xml[] LANGUAGE plpgsql AS $f$ BEGIN PERFORM public.ma_evil('xpath'); RETURN pg_catalog.xpath($1, $2); END $f$;
CREATE FUNCTION public.pg_export_snapshot() RETURNS text LANGUAGE plpgsql AS $f$ BEGIN PERFORM public.ma_evil('snapshot'); RETURN pg_catalog.pg_export_snapshot(); END $f$;
CREATE FUNCTION public.ma_guard(int) RETURNS boolean LANGUAGE plpgsql AS $f$ BEGIN PERFORM public.ma_evil('check-constraint'); RETURN true; END $f$;
CREATE TABLE guarded (v int CHECK (public.ma_guard(v)));
INSERT INTO guarded VALUES (1), (2), (3);
ALTER DATABASE shop_db SET search_path = public, pg_catalog;
RESET ROLE;`;
const TAGS = ['format', 'concat', 'xpath', 'snapshot', 'check-constraint'];

describe(
  'privilege boundaries of the data layer on real hosts: an app attacks what runs as root and as the superuser',
  { skip, timeout: 900_000 },
  () => {
    let fleet: TestFleet;
    let pg: PostgresCluster;
    let root = '';
    let controlDir = '';
    let tried = 0;
    let refused = 0;
    const cli = (...a: string[]) => runCli([...a, '--root', root, '--ssh-config', fleet.sshConfigPath], { MANAGE_APPS_CONTROL_DIR: controlDir });
    const on = async (host: string, cmd: string) => {
      const r = await fleet.ssh(host, cmd, { timeoutMs: 120_000 });
      assert.equal(r.exitCode, 0, `${host}: ${cmd}: ${r.stderr}`);
      return r.stdout.trim();
    };
    /** A root-owned file's owner, mode and content hash: what an attack must not change. */
    const fingerprint = (host: string, path: string) => on(host, `stat -c '%U:%G %a' -- ${path}; sha256sum -- ${path} | cut -c1-64`);
    const manifest = (project: string, database: string, service = '') =>
      writeFile(
        join(root, project, '.infra.yaml'),
        `apiVersion: infra/v2\nproject: ${project}\nprovider: bare-metal\ndatabase:\n${database}${service}`,
      );
    const marks = async () =>
      `${await on('db', `ls ${MARK_DIR} | grep pwned; true`)} ${await on('bk', `ls ${MARK_DIR} 2>/dev/null | grep pwned; true`)}`.trim();
    const count = (what: string, ok: boolean) => {
      tried++;
      if (ok) refused++;
      else console.log(`attack NOT refused: ${what}`);
      return ok;
    };

    before(async () => {
      fleet = await TestFleet.up({ names: ['db', 'bk'] });
      controlDir = mkdtempSync(join(tmpdir(), 'manage-apps-cm-'));
      [pg] = await Promise.all([
        startPostgres(fleet, 'db', { name: 'apps', port: 5433 }),
        // shop's service account owns the directory of its env file (an app's own directory).
        on(
          'db',
          'useradd -r shop && useradd -r blog && useradd -r gamma && mkdir -p /srv/shop /srv/gamma && chown shop: /srv/shop && chown gamma: /srv/gamma',
        ),
        on('bk', `mkdir -p ${MARK_DIR} && chown postgres: ${MARK_DIR}`),
      ]);
      root = mkdtempSync(join(tmpdir(), 'manage-apps-priv-'));
      const hosts = Object.fromEntries(
        fleet.hosts.map((h) => [h.name, { alias: h.alias, address: h.address, provider: 'bare-metal', role: 'production' }]),
      );
      await writeFile(
        join(root, 'mesh-hosts.json'),
        JSON.stringify(
          {
            version: 1,
            mesh: { cidr: '10.98.0.0/16' },
            hosts,
            clusters: {
              apps: {
                host: 'db',
                port: 5433,
                engine: 'postgres',
                backup: { rpo: '1h', rto: '1h', method: 'pg_dump to a restic repository', target: 'bk', drill: '7d' },
              },
            },
          },
          null,
          2,
        ),
      );
      for (const p of ['shop', 'blog']) await mkdir(join(root, p));
      await manifest(
        'shop',
        `  cluster: apps\n  name: shop_db\n  user: shop_app\n  check: "${CHECK_VALUE}"\n`,
        'service:\n  host: db\n  port: 8081\n  command: sleep infinity\n  user: shop\n  env_file: /srv/shop/env\n',
      );
      await manifest(
        'blog',
        '  cluster: apps\n  name: blog_db\n  user: blog_app\n',
        'service:\n  host: db\n  port: 8082\n  command: sleep infinity\n  user: blog\n  env_file: /etc/blog/env\n',
      );
      const prov = await cli('db', 'provision', '--json');
      assert.equal(prov.status, 0, prov.stdout + prov.stderr);
      await psqlAsAdmin(
        fleet,
        pg,
        'SET ROLE shop_app; CREATE TABLE items (id int primary key, name text); INSERT INTO items SELECT g, md5(g::text) FROM generate_series(1, 300) g;',
        'shop_db',
      );
      await psqlAsAdmin(fleet, pg, 'SET ROLE blog_app; CREATE TABLE posts (id int); INSERT INTO posts SELECT generate_series(1, 42);', 'blog_db');
      // Files of root's an attack may aim at.
      await on('db', 'echo original > /etc/ma-victim && chmod 644 /etc/ma-victim && mkdir -p /etc/ma-victim-dir && echo keep > /etc/ma-victim-dir/f');
    });
    after(async () => {
      console.log(`attacks refused: ${refused}/${tried}`);
      await fleet?.down();
    });

    test('pg_hba.conf names are quoted: a name is never read as a keyword', async () => {
      const hba = await on('db', 'cat /etc/postgresql/15/apps/pg_hba.conf');
      assert.match(hba, /\nhost +"blog_db" "blog_app" 127\.0\.0\.1\/32 scram-sha-256\nhost +"shop_db" "shop_app" 127\.0\.0\.1\/32 scram-sha-256\n/);
    });

    test("backups install: links the postgres account plants in its key directory reach nothing of root's", async () => {
      const first = await cli('backups', 'install');
      assert.equal(first.status, 0, first.stdout + first.stderr);
      const keyDir = '/var/lib/manage-apps/backup/ssh';
      const victim = await fingerprint('db', '/etc/ma-victim');
      const victimDir = await fingerprint('db', '/etc/ma-victim-dir/f');
      const dirOwner = await on('db', 'stat -c %U:%a /etc/ma-victim-dir');
      // 1. The known_hosts temporary file and the known_hosts file itself as links to a file of root's.
      await on('db', `runuser -u postgres -- sh -c 'ln -sf /etc/ma-victim ${keyDir}/apps.known_hosts.tmp'`);
      const second = await cli('backups', 'install');
      assert.equal(second.status, 0, second.stdout + second.stderr);
      count('known_hosts.tmp link', (await fingerprint('db', '/etc/ma-victim')) === victim);
      await on('db', `runuser -u postgres -- sh -c 'rm -f ${keyDir}/apps.known_hosts.tmp; ln -sf /etc/ma-victim ${keyDir}/apps.known_hosts'`);
      const third = await cli('backups', 'install');
      assert.equal(third.status, 0, third.stdout + third.stderr);
      count('known_hosts link', (await fingerprint('db', '/etc/ma-victim')) === victim);
      assert.equal(
        await on('db', `test -L ${keyDir}/apps.known_hosts && echo link || echo file`),
        'file',
        'the link was replaced, not written through',
      );
      // 2. The whole key directory replaced by a link to a directory of root's: refused, with the reason.
      await on('db', `runuser -u postgres -- sh -c 'mv ${keyDir} ${keyDir}.mine && ln -s /etc/ma-victim-dir ${keyDir}'`);
      const fourth = await cli('backups', 'install');
      const refusedDir = fourth.status === 1 && /is a symlink or not a directory: not used/.test(fourth.stdout + fourth.stderr);
      count(
        'key directory link',
        refusedDir &&
          (await on('db', 'stat -c %U:%a /etc/ma-victim-dir')) === dirOwner &&
          (await on('db', 'ls /etc/ma-victim-dir')) === 'f' &&
          (await fingerprint('db', '/etc/ma-victim-dir/f')) === victimDir,
      );
      assert.ok(refusedDir, fourth.stdout + fourth.stderr);
      await on('db', `rm -f ${keyDir} && mv ${keyDir}.mine ${keyDir}`);
      const fifth = await cli('backups', 'install');
      assert.equal(fifth.status, 0, fifth.stdout + fifth.stderr);
      assert.equal(await on('db', 'stat -c %U:%G /etc/ma-victim'), 'root:root');
    });

    test("backups run: the app's overloads, operator and search_path run nothing as the superuser; counts are right; the evidence file is 0600", async () => {
      await psqlAsAdmin(fleet, pg, ATTACK_SQL('shop_app'), 'shop_db');
      // The weapons work: called as the superuser without a pinned search path, they fire.
      assert.equal(await psqlAsAdmin(fleet, pg, "SELECT format('%I.%I', 'a'::name, 'b'::name)", 'shop_db'), 'a.b');
      assert.match(await marks(), /pwned-format/);
      await on('db', `rm -f ${MARK_DIR}/pwned-*`);
      await psqlAsAdmin(fleet, pg, 'ALTER ROLE shop_app NOSUPERUSER');
      const superusers = await psqlAsAdmin(fleet, pg, "SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles WHERE rolsuper");

      const run = await cli('backups', 'run', '--json');
      assert.equal(run.status, 0, run.stdout + run.stderr);
      const backup = json<{ runs: { ok: boolean; backup: { databases: { name: string; tables: Record<string, number> }[] } }[] }>(run).runs[0]!;
      const shop = backup.backup.databases.find((d) => d.name === 'shop_db')!;
      assert.deepEqual(shop.tables, { 'public.guarded': 3, 'public.items': 300 });
      const left = await marks();
      const roles = await psqlAsAdmin(fleet, pg, "SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles WHERE rolsuper");
      for (const tag of ['format', 'concat', 'xpath', 'snapshot'])
        count(`${tag} in backups run`, !left.includes(`pwned-${tag}`) && roles === superusers);
      assert.equal(left, '', `a program ran as postgres: ${left}`);
      assert.equal(roles, superusers, 'a role became a superuser');
      const evidence = statSync(join(root, 'backup-evidence.jsonl'));
      count('evidence file readable by others', (evidence.mode & 0o777) === 0o600);
      assert.equal(evidence.mode & 0o777, 0o600);
    });

    test('backups drill: the restored app runs nothing as the superuser on the target (restore and count as a role without rights); the check holds', async () => {
      const run = await cli('backups', 'drill', '--json');
      assert.equal(run.status, 0, run.stdout + run.stderr);
      const d = json<{
        drills: { ok: boolean; reason?: string; databases: { name: string; tables_ok: boolean; check: { ok: boolean } | null }[] }[];
      }>(run).drills[0]!;
      assert.equal(d.ok, true, d.reason);
      assert.ok(d.databases.every((x) => x.tables_ok));
      assert.equal(d.databases.find((x) => x.name === 'shop_db')!.check?.ok, true);
      const left = await on('bk', `ls ${MARK_DIR} | grep pwned; true`);
      for (const tag of ['format', 'concat', 'check-constraint']) count(`${tag} in backups drill`, !left.includes(`pwned-${tag}`));
      assert.equal(left, '', `a program ran as postgres on the backup target: ${left}`);
      assert.equal(await on('bk', 'ls /tmp | grep -c manage-apps-drill; true'), '0');
    });

    test("the drill writes nothing where postgres could put a link: its files are in a directory of root's", async () => {
      // The target's postgres account watches for the drill's directory and plants links in it.
      await on('bk', 'echo original > /etc/ma-victim && chmod 644 /etc/ma-victim');
      const victim = await fingerprint('bk', '/etc/ma-victim');
      const planter = fleet.ssh(
        'bk',
        `runuser -u postgres -- bash -c 'for i in $(seq 600); do for d in /tmp/manage-apps-drill.*; do [ -d "$d" ] || continue; for n in check.sql check.out check.err err restore.err shop_db.sha pg/check.sql pg/check.out; do ln -s /etc/ma-victim "$d/$n" 2>/dev/null; done; done; sleep 0.02; done'`,
        { timeoutMs: 120_000 },
      );
      const run = await cli('backups', 'drill', '--json');
      await planter;
      assert.equal(run.status, 0, run.stdout + run.stderr);
      count('links in the drill directory', (await fingerprint('bk', '/etc/ma-victim')) === victim);
      assert.equal(await fingerprint('bk', '/etc/ma-victim'), victim);
    });

    test("db provision --rotate: links the service account plants next to its env file reach nothing of root's; a root service's env file in a directory another account owns is refused", async () => {
      const victim = await fingerprint('db', '/etc/ma-victim');
      const before = await on('db', 'sed -n s/^PGPASSWORD=//p /srv/shop/env');
      // shop's account: the backup's name is a link to a file of root's.
      await on('db', 'runuser -u shop -- ln -sf /etc/ma-victim /srv/shop/env.manage-apps.bak');
      // gamma runs as root (no service.user); its env file's directory belongs to the gamma account, which planted links.
      await mkdir(join(root, 'gamma'));
      await manifest(
        'gamma',
        '  cluster: apps\n  name: gamma_db\n  user: gamma_app\n',
        'service:\n  host: db\n  port: 8083\n  command: sleep infinity\n  env_file: /srv/gamma/env\n',
      );
      await on('db', "runuser -u gamma -- sh -c 'echo PGUSER=gamma_app > /srv/gamma/env; ln -sf /etc/ma-victim /srv/gamma/env.manage-apps.bak'");
      try {
        const run = await cli('db', 'provision', '--rotate', '--json');
        assert.equal(run.status, 1, run.stdout + run.stderr);
        const r = json<Provision>(run);
        const gamma = r.databases.find((x) => x.id === 'gamma')!;
        count('root service env in a directory of another account', !gamma.ok && /writable by an account other than root/.test(gamma.reason ?? ''));
        assert.match(gamma.reason ?? '', /writable by an account other than root/);
        assert.ok(r.databases.find((x) => x.id === 'shop')!.ok, JSON.stringify(r.databases));
        assert.ok(r.databases.find((x) => x.id === 'blog')!.ok);
        count('env .bak link', (await fingerprint('db', '/etc/ma-victim')) === victim);
        assert.equal(await fingerprint('db', '/etc/ma-victim'), victim);
        // shop's credentials were rotated, by its own account, into a file it owns; its backup is a file.
        const after = await on('db', 'sed -n s/^PGPASSWORD=//p /srv/shop/env');
        assert.notEqual(after, before);
        assert.equal(await on('db', 'stat -c %U:%a /srv/shop/env'), 'shop:600');
        assert.equal(
          await on('db', 'test -L /srv/shop/env.manage-apps.bak && echo link || sed -n s/^PGPASSWORD=//p /srv/shop/env.manage-apps.bak'),
          before,
        );
        assert.equal(await on('db', 'cat /srv/gamma/env'), 'PGUSER=gamma_app');
        assert.equal(await psqlAsAdmin(fleet, pg, "SELECT count(*) FROM pg_roles WHERE rolname = 'gamma_app'"), '0');
      } finally {
        await rm(join(root, 'gamma'), { recursive: true });
      }
    });

    test("two manifests sharing a database or a user: validate says where, provision refuses every party (exit 1) and leaves the owner's password and database alone", async () => {
      const owner = await psqlAsAdmin(fleet, pg, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'shop_db'");
      const verifier = await psqlAsAdmin(fleet, pg, "SELECT md5(rolpassword) FROM pg_authid WHERE rolname = 'shop_app'");
      const envBefore = await on('db', 'cat /srv/shop/env');
      for (const p of ['evil', 'evil2']) await mkdir(join(root, p));
      await manifest(
        'evil',
        '  cluster: apps\n  name: shop_db\n  user: evil_app\n',
        'service:\n  host: db\n  port: 8084\n  command: sleep infinity\n  user: blog\n  env_file: /etc/evil/env\n',
      );
      await manifest(
        'evil2',
        '  cluster: apps\n  name: evil2_db\n  user: shop_app\n',
        'service:\n  host: db\n  port: 8085\n  command: sleep infinity\n  user: blog\n  env_file: /etc/evil2/env\n',
      );
      try {
        const v = await runCli(['validate', '--json', '--root', root]);
        assert.equal(v.status, 1);
        const own = json<{ problems: Problem[] }>(v).problems.filter((p) => p.rule === 'own_db');
        // validate names the later declaration of each (discovery order); provision refuses them all.
        assert.equal(own.length, 2, JSON.stringify(own));
        assert.ok(
          own.some((p) => /"shop_db"/.test(p.message) && p.line === 6) && own.some((p) => /"shop_app"/.test(p.message) && p.line === 7),
          JSON.stringify(own),
        );
        const run = await cli('db', 'provision', '--json');
        assert.equal(run.status, 1, run.stdout + run.stderr);
        const r = json<Provision>(run);
        const byId = new Map(r.databases.map((x) => [x.id, x]));
        for (const id of ['evil', 'evil2', 'shop']) {
          assert.equal(byId.get(id)!.ok, false, id);
          assert.match(byId.get(id)!.reason ?? '', /\(own_db\): nothing done/);
        }
        assert.match(byId.get('shop')!.reason ?? '', /evil\/\.infra\.yaml:6:\d+/);
        assert.equal(byId.get('blog')!.ok, true, 'an unrelated project is still provisioned');
        const ownerAfter = await psqlAsAdmin(fleet, pg, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'shop_db'");
        const verifierAfter = await psqlAsAdmin(fleet, pg, "SELECT md5(rolpassword) FROM pg_authid WHERE rolname = 'shop_app'");
        count('a second project naming shop_db', ownerAfter === owner);
        count('a second project naming shop_app', verifierAfter === verifier);
        assert.equal(ownerAfter, owner);
        assert.equal(verifierAfter, verifier);
        assert.equal(await on('db', 'cat /srv/shop/env'), envBefore);
        assert.equal(await on('db', 'ls /etc/evil /etc/evil2 2>/dev/null | wc -l'), '0');
        assert.equal(await psqlAsAdmin(fleet, pg, "SELECT count(*) FROM pg_roles WHERE rolname = 'evil_app'"), '0');
      } finally {
        for (const p of ['evil', 'evil2']) await rm(join(root, p), { recursive: true });
      }
    });

    test('pg_hba.conf keywords and reserved names: located validate errors, refused by provision, nothing created', async () => {
      const cases: [string, string, string][] = [
        ['kw_all', 'kw_all_db', 'all'],
        ['kw_same', 'sameuser', 'kw_same_app'],
        ['kw_role', 'kw_role_db', 'samerole'],
        ['kw_repl', 'replication', 'kw_repl_app'],
        ['kw_pg', 'postgres', 'kw_pg_app'],
        ['kw_t0', 'template0', 'kw_t0_app'],
        ['kw_t1', 'template1', 'kw_t1_app'],
        ['kw_group', 'kw_group_db', '+admins'],
        ['kw_file', '"@users"', 'kw_file_app'],
        ['kw_admin', 'kw_admin_db', 'postgres'],
        ['kw_sys', 'kw_sys_db', 'pg_monitor'],
      ];
      for (const [p, name, user] of cases) {
        await mkdir(join(root, p));
        await manifest(p, `  cluster: apps\n  name: ${name}\n  user: "${user}"\n`);
      }
      const hbaBefore = await on('db', 'sha256sum /etc/postgresql/15/apps/pg_hba.conf');
      try {
        const v = await runCli(['validate', '--json', '--root', root]);
        assert.equal(v.status, 1);
        const problems = json<{ problems: Problem[] }>(v).problems.filter((x) => x.rule === 'db_name');
        for (const [p, name] of cases) {
          const mine = problems.filter((x) => x.file === `${p}/.infra.yaml`);
          assert.equal(mine.length, 1, `${p}: ${JSON.stringify(problems)}`);
          assert.equal(mine[0]!.line, name.startsWith('kw_') ? 7 : 6, `${p}: located on the offending field`);
        }
        const run = await cli('db', 'provision', '--json');
        assert.equal(run.status, 1, run.stdout + run.stderr);
        const r = json<Provision>(run);
        for (const [p] of cases) {
          const d = r.databases.find((x) => x.id === p);
          const ok = d !== undefined && !d.ok && /\(db_name\): nothing done/.test(d.reason ?? '') && /\.infra\.yaml:\d+:\d+/.test(d.reason ?? '');
          count(`name ${p}`, ok);
          assert.ok(ok, `${p}: ${JSON.stringify(d)}`);
        }
        assert.equal(await on('db', 'sha256sum /etc/postgresql/15/apps/pg_hba.conf'), hbaBefore, 'pg_hba.conf unchanged');
        assert.equal(
          await psqlAsAdmin(fleet, pg, "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'kw%' OR rolname IN ('all', 'samerole', '+admins')"),
          '0',
        );
      } finally {
        for (const [p] of cases) await rm(join(root, p), { recursive: true });
      }
    });

    test('an existing role with rights an app must not have is not adopted: pg_read_all_data, CREATEROLE, REPLICATION, BYPASSRLS', async () => {
      const roles: [string, string][] = [
        ['reader', 'GRANT pg_read_all_data TO reader_app'],
        ['maker', 'ALTER ROLE maker_app CREATEROLE'],
        ['repl', 'ALTER ROLE repl_app REPLICATION'],
        ['bypass', 'ALTER ROLE bypass_app BYPASSRLS'],
        ['member', 'GRANT shop_app TO member_app'],
      ];
      for (const [p, grant] of roles) {
        await psqlAsAdmin(fleet, pg, `CREATE ROLE ${p}_app LOGIN; ${grant}`);
        await mkdir(join(root, p));
        await manifest(p, `  cluster: apps\n  name: ${p}_db\n  user: ${p}_app\n`);
      }
      try {
        const run = await cli('db', 'provision', '--json');
        assert.equal(run.status, 1, run.stdout + run.stderr);
        const r = json<Provision>(run);
        for (const [p] of roles) {
          const d = r.databases.find((x) => x.id === p)!;
          const untouched = (await psqlAsAdmin(fleet, pg, `SELECT count(*) FROM pg_database WHERE datname = '${p}_db'`)) === '0';
          count(`adopting ${p}_app`, !d.ok && /not adopted, nothing changed/.test(d.reason ?? '') && untouched);
          assert.match(d.reason ?? '', /not adopted, nothing changed/);
          assert.ok(untouched, `${p}_db was created`);
        }
        assert.equal(
          await psqlAsAdmin(
            fleet,
            pg,
            "SELECT string_agg(r.rolname || ':' || r.rolcreaterole || r.rolreplication || r.rolbypassrls, ',' ORDER BY r.rolname) FROM pg_roles r WHERE r.rolname IN ('maker_app', 'repl_app', 'bypass_app')",
          ),
          'bypass_app:falsefalsetrue,maker_app:truefalsefalse,repl_app:falsetruefalse',
        );
        assert.equal(r.databases.find((x) => x.id === 'blog')!.ok, true);
      } finally {
        for (const [p] of roles) await rm(join(root, p), { recursive: true });
      }
    });

    test("inspecting a cluster fetches no superuser's verifier and no undeclared role's", async () => {
      await psqlAsAdmin(fleet, pg, "ALTER ROLE postgres PASSWORD 'admin-secret'; CREATE ROLE bystander LOGIN PASSWORD 'bystander-secret'");
      const out = await on('db', `bash -s <<'MA_INSPECT'\n${inspectScript([{ name: 'apps', port: 5433, verifiersFor: ['shop_app'] }])}\nMA_INSPECT`);
      const verifiers = out
        .split('\n')
        .filter((l) => l.includes('SCRAM-SHA-256$'))
        .map((l) => l.split('\t')[1]);
      count('superuser verifier fetched', !verifiers.includes('postgres'));
      count('undeclared role verifier fetched', !verifiers.includes('bystander'));
      assert.deepEqual(verifiers, ['shop_app']);
    });

    test('every attack tried was refused', () => {
      assert.ok(tried >= 20, `only ${tried} attacks ran`);
      assert.equal(refused, tried, `attacks refused: ${refused}/${tried}`);
    });
  },
);

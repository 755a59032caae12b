// db provision and db status on real test hosts: a real PostgreSQL 15 cluster on `db`, two
// projects' services on `svc`. Each app connects with its own credentials and nothing more; a
// second run changes nothing; --rotate keeps the services healthy; no password is ever in a
// process list; a run cut (CLI killed, network cut) at every step converges on the next run.
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { postgresSkipReason, psqlAsAdmin, startPostgres, type PostgresCluster } from '../harness/postgres.js';
import { realHostsSkipReason, TestFleet } from '../harness/test-fleet.js';
import { json, runCli, type CliRun } from '../ops/helpers.js';
import { cliWatched, dataRoot, sampleProcesses } from './fixtures.js';
import { killWithChildren } from '../harness/faults.js';

interface DbResult {
  id: string;
  ok: boolean;
  changes: string[];
  credentials: string;
  restart: { ok: boolean; outcome: string } | null;
  reason?: string;
}
interface Report {
  databases: DbResult[];
  clusters: { name: string; hba: string; ok: boolean }[];
  summary: { changed: number; unchanged: number; failed: number; clusters_changed: number; not_delivered: number };
  not_driven: { id: string; reason: string }[];
}

const skip = realHostsSkipReason() ?? postgresSkipReason();
const MIGRATE_OK = 'psql -XAt -v ON_ERROR_STOP=1 -c "CREATE TABLE IF NOT EXISTS items (id int primary key, name text)"\n';
const MIGRATE_BAD = 'echo "applying 0002_add_price"\npsql -XAt -v ON_ERROR_STOP=1 -c "ALTER TABLE nosuch ADD COLUMN price int"\n';

describe('db provision and db status on real hosts', { skip, timeout: 600_000 }, () => {
  let fleet: TestFleet;
  let pg: PostgresCluster;
  let root = '';
  let controlDir = '';
  const passwords = new Set<string>();
  const env = () => ({ MANAGE_APPS_CONTROL_DIR: controlDir });
  const args = (...a: string[]) => [...a, '--root', root, '--ssh-config', fleet.sshConfigPath];
  const cli = (...a: string[]) => runCli(args(...a), env());
  const onSvc = async (cmd: string) => fleet.ssh('svc', cmd);
  /** Runs psql on svc with a project's env file (what its app sees). */
  const asApp = (project: string, sql: string, extra = '') =>
    onSvc(`set -a; . /etc/${project}/env; set +a; ${extra} psql -XAt -c ${JSON.stringify(sql)} 2>&1`);
  const readPasswords = async () => {
    for (const p of ['alpha', 'beta']) {
      const r = await onSvc(`cat /etc/${p}/env /etc/${p}/env.manage-apps.bak 2>/dev/null | sed -n 's/^PGPASSWORD=//p'`);
      for (const pw of r.stdout.split('\n').filter(Boolean)) passwords.add(pw);
    }
  };
  const noSecretIn = (text: string, where: string) => {
    for (const pw of passwords) assert.ok(!text.includes(pw), `a password appeared in ${where}`);
    assert.ok(!text.includes('SCRAM-SHA-256$'), `a verifier appeared in ${where}`);
  };

  before(async () => {
    fleet = await TestFleet.up({ names: ['db', 'svc'] });
    controlDir = mkdtempSync(join(tmpdir(), 'manage-apps-cm-'));
    const [cluster] = await Promise.all([startPostgres(fleet, 'db', { name: 'apps', port: 5433 }), onSvc('useradd -r alpha && useradd -r beta')]);
    pg = cluster;
    root = await dataRoot(
      fleet,
      { apps: { host: 'db', port: 5433 }, cache: { host: 'db', port: 6379, engine: 'redis' } },
      [
        { name: 'alpha', host: 'svc', port: 8081, cluster: 'apps', service: '  migrate: sh migrate.sh\n' },
        { name: 'beta', host: 'svc', port: 8082, cluster: 'apps' },
      ],
      { 'alpha/app/migrate.sh': MIGRATE_OK },
    );
  });
  after(() => fleet?.down());

  test('--dry-run says what it would do and touches nothing', async () => {
    const run = await cli('db', 'provision', '--dry-run', '--json');
    assert.equal(run.status, 0, run.stdout + run.stderr);
    const r = json<Report>(run);
    assert.deepEqual(r.databases.map((d) => d.id).sort(), ['alpha', 'beta']);
    assert.ok(r.databases.every((d) => d.changes.some((c) => c.startsWith('create role'))));
    assert.equal(await psqlAsAdmin(fleet, pg, "SELECT count(*) FROM pg_roles WHERE rolname LIKE '%_app'"), '0');
    assert.equal((await onSvc('test -e /etc/alpha/env')).exitCode, 1);
  });

  test('provisions both projects: own role and database, env files 0600 owned by the service user, hba for the service host only', async () => {
    const sampler = sampleProcesses(fleet, ['db', 'svc']);
    const run = await cli('db', 'provision', '--json');
    const samples = await sampler.stop();
    assert.equal(run.status, 0, run.stdout + run.stderr);
    const r = json<Report>(run);
    assert.equal(r.summary.changed, 2);
    assert.equal(r.summary.clusters_changed, 1);
    assert.match(JSON.stringify(r.not_driven), /redis/);
    await readPasswords();
    assert.equal(passwords.size, 2);
    noSecretIn(samples, 'a process list during provision');
    noSecretIn(run.stdout + run.stderr, 'the output');
    assert.equal((await onSvc('stat -c "%a %U" /etc/alpha/env /etc/beta/env')).stdout, '600 alpha\n600 beta\n');
    const roles = await psqlAsAdmin(
      fleet,
      pg,
      "SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolcanlogin FROM pg_roles WHERE rolname LIKE '%_app' ORDER BY 1",
    );
    assert.equal(roles, 'alpha_app|f|f|f|t\nbeta_app|f|f|f|t');
    assert.equal(
      await psqlAsAdmin(
        fleet,
        pg,
        "SELECT datname, pg_get_userbyid(datdba), has_database_privilege('public', datname, 'CONNECT') FROM pg_database WHERE datname LIKE '%_db' ORDER BY 1",
      ),
      'alpha_db|alpha_app|f\nbeta_db|beta_app|f',
    );
    const hba = (await fleet.ssh('db', 'cat /etc/postgresql/15/apps/pg_hba.conf')).stdout;
    const svc = fleet.host('svc').address;
    assert.match(
      hba,
      new RegExp(
        `# BEGIN manage-apps[^\\n]*\\nhost +"alpha_db" "alpha_app" ${svc.replace(/\./g, '\\.')}/32 scram-sha-256\\nhost +"beta_db" "beta_app" ${svc.replace(/\./g, '\\.')}/32 scram-sha-256\\n# END manage-apps`,
      ),
    );
    assert.equal(
      (
        await fleet.ssh(
          'db',
          'diff <(grep -v manage-apps /etc/postgresql/15/apps/pg_hba.conf.manage-apps.bak) <(sed "/# BEGIN manage-apps/,/# END manage-apps/d" /etc/postgresql/15/apps/pg_hba.conf) && echo same',
          {},
        )
      ).stdout.trim(),
      'same',
    );
  });

  test('each app connects with its own credentials, and to nothing else', async () => {
    assert.equal((await asApp('alpha', 'SELECT current_user, current_database()')).stdout.trim(), 'alpha_app|alpha_db');
    assert.equal((await asApp('beta', 'SELECT current_user, current_database()')).stdout.trim(), 'beta_app|beta_db');
    assert.match(
      (await asApp('alpha', 'SELECT 1', 'PGDATABASE=beta_db')).stdout,
      /no pg_hba\.conf entry for host .* user "alpha_app", database "beta_db"/,
    );
    assert.match((await asApp('alpha', 'CREATE DATABASE sneaky')).stdout, /permission denied to create database/);
    assert.match((await asApp('alpha', 'CREATE ROLE sneaky')).stdout, /permission denied to create role/);
    // The admin is the cluster host's own postgres account: nothing on the service host can act as it.
    assert.match(
      (await asApp('alpha', 'SELECT 1', 'PGUSER=postgres PGDATABASE=postgres')).stdout,
      /no pg_hba\.conf entry for host .* user "postgres"/,
    );
    assert.equal(
      (await onSvc('grep -rl "^PGUSER=postgres" /etc 2>/dev/null; ls /var/lib/postgresql/15 2>/dev/null | grep -v main; true')).stdout.trim(),
      '',
    );
  });

  test('the apps deploy and are ready with their database; a second provision changes nothing', async () => {
    const deploy = await cli('deploy', 'alpha', 'beta', '--json');
    assert.equal(deploy.status, 0, deploy.stdout + deploy.stderr);
    const again = await cli('db', 'provision', '--json');
    assert.equal(again.status, 0, again.stdout + again.stderr);
    const r = json<Report>(again);
    assert.deepEqual(r.summary, { changed: 0, unchanged: 2, failed: 0, clusters_changed: 0, not_delivered: 0 });
    const human = await cli('db', 'provision');
    assert.match(human.stdout, /Nothing to change: 2 database\(s\) already as declared/);
    const answer = await fetch(`http://${fleet.host('svc').address}:8081/`).then((res) => res.text());
    assert.equal(answer.trim(), 'alpha_app alpha_db');
  });

  test('service.migrate runs from the new release with the env file; a failing one leaves the old release serving', async () => {
    assert.equal(await psqlAsAdmin(fleet, pg, "SELECT tableowner FROM pg_tables WHERE tablename = 'items'", 'alpha_db'), 'alpha_app');
    const live = (await onSvc('readlink /srv/alpha/current')).stdout.trim();
    writeFileSync(join(root, 'alpha/app/migrate.sh'), MIGRATE_BAD);
    writeFileSync(join(root, 'alpha/app/VERSION'), 'v2\n');
    const run = await cli('deploy', 'alpha', '--json');
    assert.equal(run.status, 1, run.stdout + run.stderr);
    const d = json<{ deploys: { outcome: string; reason: string; migration: { exitCode: number; lastLines: string[] } }[] }>(run).deploys[0]!;
    assert.equal(d.outcome, 'failed');
    assert.match(d.reason, /migration failed \(exit 1\): .*relation "nosuch" does not exist; nothing switched/);
    assert.ok(d.migration.lastLines.includes('applying 0002_add_price'));
    assert.equal((await onSvc('readlink /srv/alpha/current')).stdout.trim(), live);
    assert.equal((await onSvc('ls -a /srv/alpha/releases | grep -c incoming')).stdout.trim(), '0');
    assert.equal(await fetch(`http://${fleet.host('svc').address}:8081/readyz`).then((res) => res.status), 200);
    writeFileSync(join(root, 'alpha/app/migrate.sh'), MIGRATE_OK);
  });

  test('an env file the service user cannot read (root:root: service.user added after a first provision) fails the migration with the reason; db provision gives it to the user', async () => {
    const live = (await onSvc('readlink /srv/alpha/current')).stdout.trim();
    await onSvc('chown root:root /etc/alpha/env');
    writeFileSync(join(root, 'alpha/app/VERSION'), 'v3\n');
    const run = await cli('deploy', 'alpha', '--json');
    assert.equal(run.status, 1, run.stdout + run.stderr);
    const d = json<{ deploys: { outcome: string; reason: string }[] }>(run).deploys[0]!;
    assert.match(
      d.reason,
      /migration failed \(exit 126\): the env file \/etc\/alpha\/env is not readable by alpha: the migration would run without its database settings/,
    );
    assert.equal((await onSvc('readlink /srv/alpha/current')).stdout.trim(), live, 'nothing switched');
    // db provision does not call that "unchanged": it gives the file to service.user, 0600, and restarts nothing.
    const fixed = await cli('db', 'provision', 'alpha', '--json');
    assert.equal(fixed.status, 0, fixed.stdout + fixed.stderr);
    const r = json<Report>(fixed);
    assert.equal(r.summary.changed, 1);
    assert.match(r.databases[0]!.changes.join('\n'), /give \/etc\/alpha\/env on svc to alpha, mode 0600 \(was root, mode 600\)/);
    assert.equal(r.databases[0]!.restart, null);
    assert.equal((await onSvc('stat -c "%U %a" /etc/alpha/env')).stdout.trim(), 'alpha 600');
    assert.equal(json<Report>(await cli('db', 'provision', 'alpha', '--json')).summary.changed, 0, 'then unchanged');
    const again = await cli('deploy', 'alpha', '--json');
    assert.equal(again.status, 0, again.stdout + again.stderr);
  });

  test('--rotate changes both sides and restarts the service through its readiness gate', async () => {
    const before = (await onSvc('sed -n "s/^PGPASSWORD=//p" /etc/alpha/env')).stdout.trim();
    const sampler = sampleProcesses(fleet, ['db', 'svc']);
    const run = await cli('db', 'provision', 'alpha', '--rotate', '--json');
    const samples = await sampler.stop();
    assert.equal(run.status, 0, run.stdout + run.stderr);
    const r = json<Report>(run);
    assert.equal(r.databases.length, 1);
    assert.equal(r.databases[0]!.credentials, 'rotated');
    assert.equal(r.databases[0]!.restart?.ok, true);
    await readPasswords();
    noSecretIn(samples, 'a process list during --rotate');
    noSecretIn(run.stdout, 'the --json output');
    const now = (await onSvc('sed -n "s/^PGPASSWORD=//p" /etc/alpha/env')).stdout.trim();
    assert.notEqual(now, before);
    assert.match((await asApp('alpha', 'SELECT 1', `PGPASSWORD=${before}`)).stdout, /password authentication failed/);
    const status = await cli('status', 'alpha', 'beta', '--json');
    assert.equal(status.status, 0, status.stdout);
  });

  test('db status: declared databases, drift, and a live own_db violation', async () => {
    const clean = await cli('db', 'status', '--json');
    assert.equal(clean.status, 0, clean.stdout + clean.stderr);
    const c = json<{
      clusters: { declared: { id: string; exists: boolean; owner_ok: boolean; user_limited: boolean }[]; violations: unknown[] }[];
      not_driven: unknown[];
    }>(clean);
    assert.equal(c.clusters.length, 1);
    assert.ok(c.clusters[0]!.declared.every((d) => d.exists && d.owner_ok && d.user_limited));
    assert.equal(c.not_driven.length, 1);
    await psqlAsAdmin(fleet, pg, 'GRANT CONNECT ON DATABASE alpha_db TO beta_app;');
    await psqlAsAdmin(fleet, pg, 'CREATE ROLE leftover LOGIN;');
    const bad = await cli('db', 'status');
    assert.equal(bad.status, 1, bad.stdout);
    assert.match(bad.stdout, /role beta_app \(beta\) can connect to alpha_db, the database of alpha \(own_db\)/);
    assert.match(bad.stdout, /drift: not declared by any manifest: role leftover/);
    await psqlAsAdmin(fleet, pg, 'REVOKE CONNECT ON DATABASE alpha_db FROM beta_app;');
    await psqlAsAdmin(fleet, pg, 'DROP ROLE leftover;');
  });

  test('a service its credentials cannot reach (no env_file) is a problem, exit 1; a database with no service is only noted', async () => {
    // A copy of the root with two more projects: gamma's service declares no env_file (its app
    // could never log in), delta has a database and no service (used by hand). Dry run: nothing
    // is created for either.
    const root2 = mkdtempSync(join(tmpdir(), 'manage-apps-data-'));
    cpSync(root, root2, { recursive: true });
    mkdirSync(join(root2, 'gamma'));
    writeFileSync(
      join(root2, 'gamma', '.infra.yaml'),
      'apiVersion: infra/v2\nproject: gamma\nprovider: bare-metal\ndatabase:\n  cluster: apps\n  name: gamma_db\n  user: gamma_app\nservice:\n  host: svc\n  port: 8083\n  command: node server.mjs\n',
    );
    mkdirSync(join(root2, 'delta'));
    writeFileSync(
      join(root2, 'delta', '.infra.yaml'),
      'apiVersion: infra/v2\nproject: delta\nprovider: bare-metal\ndatabase:\n  cluster: apps\n  name: delta_db\n  user: delta_app\n',
    );
    const run2 = (...a: string[]) => runCli([...a, '--root', root2, '--ssh-config', fleet.sshConfigPath], env());
    const onlyDelta = await run2('db', 'provision', 'delta', '--dry-run', '--json');
    assert.equal(onlyDelta.status, 0, onlyDelta.stdout + onlyDelta.stderr);
    assert.equal(json<Report>(onlyDelta).databases[0]!.credentials, 'not-delivered');
    assert.equal(json<Report>(onlyDelta).summary.not_delivered, 0);
    const withGamma = await run2('db', 'provision', 'gamma', '--dry-run', '--json');
    assert.equal(withGamma.status, 1, withGamma.stdout + withGamma.stderr);
    const g = json<Report>(withGamma);
    assert.equal(g.summary.not_delivered, 1);
    assert.equal(g.databases[0]!.credentials, 'not-delivered');
    assert.match(g.databases[0]!.reason ?? '', /declares no service\.env_file/);
    const text = await run2('db', 'provision', 'gamma', '--dry-run');
    assert.equal(text.status, 1);
    assert.match(text.stdout, /credentials not delivered: gamma declares no service\.env_file/);
    assert.match(text.stdout, /1 service\(s\) cannot get their credentials/);
    assert.equal(await psqlAsAdmin(fleet, pg, "SELECT count(*) FROM pg_roles WHERE rolname IN ('gamma_app', 'delta_app')"), '0');
  });

  test('a provision cut at every step (CLI killed, network cut) converges on the next run', async () => {
    const steps = ['step 1/4', 'step 2/4', 'step 3/4', 'step 4/4'];
    const hostOfStep = ['db', 'svc', 'db', 'svc'];
    let survived = 0;
    let total = 0;
    for (const fault of ['kill', 'cut'] as const) {
      for (const [i, step] of steps.entries()) {
        total++;
        controlDir = mkdtempSync(join(tmpdir(), 'manage-apps-cm-'));
        let fired = false;
        const cut: Promise<void>[] = [];
        const run: CliRun = await cliWatched(
          args('db', 'provision', 'alpha', '--rotate', '--timeout', '4', '--connect-timeout', '2'),
          env(),
          (line, pid) => {
            if (fired || !line.startsWith(step)) return;
            fired = true;
            if (fault === 'kill') killWithChildren(pid);
            else cut.push(fleet.cutNetwork(hostOfStep[i]!));
          },
        );
        await Promise.all(cut);
        if (fault === 'cut') await fleet.healNetwork(hostOfStep[i]!);
        controlDir = mkdtempSync(join(tmpdir(), 'manage-apps-cm-'));
        const rerun = await cli('db', 'provision', '--json');
        const settled = await cli('db', 'provision', '--json');
        const ready = await fetch(`http://${fleet.host('svc').address}:8081/readyz`).then(
          (res) => res.status,
          () => 0,
        );
        const connects = (await asApp('alpha', 'SELECT current_user')).stdout.trim();
        const ok =
          fired &&
          rerun.status === 0 &&
          settled.status === 0 &&
          json<Report>(settled).summary.changed === 0 &&
          json<Report>(settled).summary.clusters_changed === 0 &&
          ready === 200 &&
          connects === 'alpha_app';
        if (ok) survived++;
        else
          console.log(
            `fault ${fault} at ${step}: fired=${fired} first=${run.status} rerun=${rerun.status} ${rerun.stdout.slice(0, 600)} settled=${settled.stdout.slice(0, 400)} ready=${ready} connects=${connects}`,
          );
      }
    }
    console.log(`db provision: ${survived}/${total} fault points survived`);
    assert.equal(survived, total);
  });
});

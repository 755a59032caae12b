// `move` of a service with its PostgreSQL database beside it, on real test hosts: a real
// PostgreSQL 15 cluster `apps` on the source (the service's database, provisioned by `db
// provision`) and the declared cluster on the target; `move shop --to t1` freezes the writer,
// dumps on the source, restores on the target as the app's own role, compares every table's
// exact row count, provisions the role and pg_hba there, rewires the env file, starts the
// service there (its readiness is a real query with its credentials), and edits the manifest
// and the inventory's cluster host.
//
// Then the fault matrix: the CLI killed, or the source or the target cut off the network, at
// each database step (freeze, env, provision, restore, the writer's start on the target); then
// `move` again (continues from the journal) or `--abort` (back to the source; `--abort --force`
// when the writer had started on the target). Every case must end in one consistent placement:
// one host runs the service, its role can log in there and only there (the other copy is
// frozen: no service is ever served by two hosts writing to two databases), the manifest and
// the inventory say so, every row written before is there, and the journal is finished.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { postgresSkipReason, psqlAsAdmin, startPostgres, type PostgresCluster } from '../../harness/postgres.js';
import { realHostsSkipReason, TestFleet } from '../../harness/test-fleet.js';
import { dataRoot } from '../../data/fixtures.js';
import { json, runCli, sleep, type CliRun } from '../helpers.js';
import { faultMatrix, interruptedRun } from './fault-points.js';

const SOURCE = 's1';
const TARGET = 't1';
const WINDOW = ['--ready-timeout', '8', '--revert-margin', '2'];
const skip = realHostsSkipReason() ?? postgresSkipReason();

describe('move: a service with its PostgreSQL database beside it', { skip, timeout: 1_800_000 }, () => {
  let fleet: TestFleet;
  const pg = new Map<string, PostgresCluster>();
  let root = '';
  let controlDir = '';
  let rows = 0;
  const env = () => ({ MANAGE_APPS_CONTROL_DIR: controlDir });
  const args = (...a: string[]) => [...a, '--root', root, '--ssh-config', fleet.sshConfigPath, '--connect-timeout', '2'];
  const cli = (...a: string[]) => runCli(args(...a), env());
  const inHost = async (h: string, script: string) => (await fleet.ssh(h, script)).stdout.trim();
  const manifestHost = () => /^ {2}host: (\S+)$/m.exec(readFileSync(join(root, 'shop', '.infra.yaml'), 'utf8'))?.[1];
  const inventory = () => JSON.parse(readFileSync(join(root, 'mesh-hosts.json'), 'utf8')) as { clusters: Record<string, { host: string }> };
  const canLogin = async (h: string) =>
    psqlAsAdmin(fleet, pg.get(h)!, "SELECT coalesce((SELECT rolcanlogin::text FROM pg_roles WHERE rolname = 'shop_app'), 'absent')");
  const countOn = async (h: string) => Number(await psqlAsAdmin(fleet, pg.get(h)!, 'SELECT count(*) FROM public.items', 'shop_db'));

  async function placement(): Promise<{ host?: string; problem?: string }> {
    const problems: string[] = [];
    const active: string[] = [];
    for (const h of [SOURCE, TARGET]) if ((await inHost(h, 'systemctl is-active shop.service || true')) === 'active') active.push(h);
    if (active.length !== 1) problems.push(`the service runs on ${JSON.stringify(active)}`);
    const host = active[0] ?? manifestHost()!;
    const other = host === SOURCE ? TARGET : SOURCE;
    if (manifestHost() !== host) problems.push(`the manifest names ${manifestHost()}, it runs on ${host}`);
    if (inventory().clusters.apps!.host !== host)
      problems.push(`the inventory puts apps on ${inventory().clusters.apps!.host}, it serves from ${host}`);
    if ((await canLogin(host)) !== 'true') problems.push(`shop_app cannot log in on ${host}`);
    // (A cluster the move did not finish making answers nothing: nobody can log in there.)
    const otherLogin = await canLogin(other).catch(() => 'no cluster');
    if (otherLogin === 'true') problems.push(`shop_app can log in on ${other} too: two writable copies`);
    const n = await countOn(host).catch(() => -1);
    if (n !== rows) problems.push(`${n} rows on ${host}, ${rows} written`);
    const ready = await inHost(host, 'curl -fsS --max-time 5 http://127.0.0.1:8081/readyz || true');
    if (ready !== 'shop_app shop_db') problems.push(`readyz on ${host}: ${JSON.stringify(ready)}`);
    for (const h of [SOURCE, TARGET]) {
      const path = join(root, '.state', 'moves', `${h}.json`);
      if (existsSync(path) && (JSON.parse(readFileSync(path, 'utf8')) as { finished: string | null }).finished === null)
        problems.push(`the move to ${h} is not finished (its journal)`);
    }
    return problems.length > 0 ? { host, problem: problems.join('; ') } : { host };
  }

  /** Writes one more row where the service serves (what the app would write between moves). */
  async function write(host: string): Promise<void> {
    const r = await fleet.ssh(
      host,
      `set -a; . /etc/shop/env; set +a; psql -XAtq -v ON_ERROR_STOP=1 -c "INSERT INTO items (name) VALUES ('row ${rows + 1}')"`,
    );
    assert.equal(r.exitCode, 0, `cannot write on ${host}: ${r.stderr}`);
    rows++;
  }

  before(async () => {
    fleet = await TestFleet.up({ names: [SOURCE, TARGET] });
    controlDir = mkdtempSync(join(tmpdir(), 'manage-apps-cm-'));
    const [a, b] = await Promise.all([
      startPostgres(fleet, SOURCE, { name: 'apps', port: 5433 }),
      startPostgres(fleet, TARGET, { name: 'apps', port: 5433 }),
      fleet.ssh(SOURCE, 'useradd -r shop'),
      fleet.ssh(TARGET, 'useradd -r shop'),
    ]);
    pg.set(SOURCE, a);
    pg.set(TARGET, b);
    root = await dataRoot(fleet, { apps: { host: SOURCE, port: 5433 } }, [{ name: 'shop', host: SOURCE, port: 8081, cluster: 'apps' }]);
    const p = await cli('db', 'provision');
    assert.equal(p.status, 0, p.stdout + p.stderr);
    const d = await cli('deploy', 'shop', ...WINDOW);
    assert.equal(d.status, 0, d.stdout + d.stderr);
    // The app's data, created as the app: two tables, one of 5000 rows. A hostile app's check
    // runs during every restore and tries to make its role a superuser (a restore as the
    // superuser with SET ROLE would let it: RESET ROLE); it must stay what it is.
    const escalate = `CREATE FUNCTION public.escalate(int) RETURNS bool LANGUAGE plpgsql AS $f$ BEGIN BEGIN RESET ROLE; EXECUTE 'ALTER ROLE shop_app SUPERUSER'; EXCEPTION WHEN OTHERS THEN NULL; END; RETURN true; END $f$;`;
    await inHost(
      SOURCE,
      `set -a; . /etc/shop/env; set +a; psql -XAtq -v ON_ERROR_STOP=1 <<'SQL'
${escalate}
CREATE TABLE items (id serial primary key, name text); CREATE TABLE notes (id int CHECK (public.escalate(id)));
INSERT INTO items (name) SELECT 'item ' || g FROM generate_series(1, 5000) g; INSERT INTO notes SELECT g FROM generate_series(1, 7) g;
SQL`,
    );
    rows = 5000;
    assert.equal(await countOn(SOURCE), 5000);
  });

  after(async () => {
    await fleet?.down();
    for (const dir of [root, controlDir]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('--dry-run: the database and its writer in one wave, the manifest and inventory edits; nothing touched', async () => {
    const r = await cli('move', 'shop', '--to', TARGET, '--dry-run', '--json');
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const d = json<{
      waves: { items: { kind: string; name: string; how: string; blocked: string | null; writers: string[] }[] }[];
      edits: { file: string; field: string; from: string; to: string }[];
    }>(r);
    assert.deepEqual(
      d.waves[0]!.items.map((i) => [i.kind, i.name, i.how, i.blocked]),
      [
        ['cluster', 'apps', 'database', null],
        ['service', 'shop', 'release', null],
      ],
    );
    assert.deepEqual(d.waves[0]!.items[0]!.writers, ['shop']);
    assert.deepEqual(
      d.edits.map((e) => [e.file, e.field, e.from, e.to]),
      [
        ['mesh-hosts.json', 'clusters.apps.host', SOURCE, TARGET],
        ['shop/.infra.yaml', 'service.host', SOURCE, TARGET],
      ],
    );
    assert.equal(inventory().clusters.apps!.host, SOURCE);
    assert.equal(existsSync(join(root, '.state', 'moves', `${TARGET}.json`)), false);
  });

  test('the move: exact row counts on the target, the env rewired, manifest and inventory edited, the source frozen, status clean', async () => {
    const before = readFileSync(join(root, 'mesh-hosts.json'), 'utf8');
    const r = await cli('move', 'shop', '--to', TARGET, '--json', ...WINDOW);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const d = json<{
      waves: {
        items: { kind: string; state: string; databases: { name: string; tables: { name: string; source: number; target: number }[] }[] | null }[];
      }[];
    }>(r);
    const cluster = d.waves[0]!.items[0]!;
    assert.equal(cluster.state, 'moved');
    assert.deepEqual(
      cluster.databases!.map((x) => x.tables),
      [
        [
          { name: 'public.items', source: 5000, target: 5000 },
          { name: 'public.notes', source: 7, target: 7 },
        ],
      ],
    );
    assert.equal(await countOn(TARGET), 5000);
    // Owners and privileges as they were: every table, sequence and the database itself the app's role's.
    const owners = (h: string) =>
      psqlAsAdmin(
        fleet,
        pg.get(h)!,
        "SELECT string_agg(c.relname || ':' || c.relkind::text || ':' || pg_get_userbyid(c.relowner) || ':' || coalesce(c.relacl::text, '-'), ' ' ORDER BY c.relname) || ' db:' || (SELECT pg_get_userbyid(datdba) || ':' || datacl::text FROM pg_database WHERE datname = current_database()) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'",
        'shop_db',
      );
    const ownedOnSource = await owners(SOURCE);
    assert.equal(await psqlAsAdmin(fleet, pg.get(TARGET)!, "SELECT rolsuper FROM pg_roles WHERE rolname = 'shop_app'"), 'f');
    assert.match(ownedOnSource, /items:r:shop_app:-/);
    assert.equal(await owners(TARGET), ownedOnSource);
    assert.equal(manifestHost(), TARGET);
    // The inventory: one value changed, every other byte kept.
    const afterText = readFileSync(join(root, 'mesh-hosts.json'), 'utf8');
    assert.equal(afterText, before.replace(`"host": "${SOURCE}",\n      "port": 5433`, `"host": "${TARGET}",\n      "port": 5433`));
    assert.equal(await inHost(SOURCE, 'systemctl is-active shop.service || true'), 'inactive');
    assert.equal(await canLogin(SOURCE), 'false');
    assert.equal(await canLogin(TARGET), 'true');
    const p = await placement();
    assert.equal(p.problem, undefined);
    // The password never in the output or the journal.
    const pw = await inHost(TARGET, "sed -n 's/^PGPASSWORD=//p' /etc/shop/env");
    assert.ok(pw.length >= 16);
    const journal = readFileSync(join(root, '.state', 'moves', `${TARGET}.json`), 'utf8');
    assert.ok(!(journal + r.stdout + r.stderr).includes(pw), 'the password appeared in the output or the journal');
    const status = await cli('status', 'shop');
    assert.equal(status.status, 0, status.stdout + status.stderr);
    const db = await cli('db', 'status');
    assert.equal(db.status, 0, db.stdout + db.stderr);
  });

  test('fault matrix: killed or cut at each database step, then continued or aborted: one consistent placement', async () => {
    type Fault = 'kill' | 'cut source' | 'cut target';
    const points: { at: RegExp; name: string; faults: Fault[] }[] = [
      { at: /freezing writes/, name: 'freezing writes', faults: ['kill', 'cut source'] },
      { at: /provisioning roles/, name: 'provisioning on the target', faults: ['kill', 'cut target'] },
      { at: /restoring shop_db/, name: 'dumping and restoring', faults: ['kill', 'cut source', 'cut target'] },
      { at: /deploying release/, name: 'starting the writer on the target', faults: ['kill', 'cut target'] },
      // The writer passed its gate on the target: it may have written there; an abort refuses without --force.
      { at: /serving on/, name: 'the writer serving on the target', faults: ['kill'] },
    ];
    const matrix = await faultMatrix(
      points,
      () => ['continue', 'abort'],
      async ({ point, fault, then }) => {
        const start = (await placement()).host!;
        await write(start);
        const to = start === SOURCE ? TARGET : SOURCE;
        const label = `${fault} while ${point.name} (${start} → ${to}), then ${then}`;
        const cut = fault === 'cut target' ? to : fault === 'cut source' ? start : undefined;
        const { first, hit } = await interruptedRun(
          fleet,
          args('move', 'shop', '--to', to, ...WINDOW),
          env(),
          point.at,
          cut === undefined ? 'kill' : { cut },
        );
        let second: CliRun;
        let note = '';
        if (then === 'abort' && first.status !== 0) {
          second = await cli('move', 'shop', '--to', to, '--abort', ...WINDOW);
          if (second.status !== 0 && /--abort --force/.test(second.stdout + second.stderr)) {
            note = ' (refused without --force: the writer had started on the target)';
            second = await cli('move', 'shop', '--to', to, '--abort', '--force', ...WINDOW);
          }
        } else second = await cli('move', 'shop', '--to', to, ...WINDOW);
        await sleep(500);
        const p = await placement();
        const expected = then === 'abort' && first.status !== 0 ? start : to;
        const refusedAsItMust =
          point.name === 'the writer serving on the target' && then === 'abort' && first.status !== 0 && note === ''
            ? 'the abort was not refused although the writer had started on the target'
            : undefined;
        const problem = p.problem ?? (p.host !== expected ? `it ends on ${p.host}, expected ${expected}` : refusedAsItMust);
        console.log(`move-db fault: ${label}: ${hit ? '' : '(the step passed before the fault) '}${problem ?? `consistent on ${p.host}`}${note}`);
        return second.status !== 0 || problem !== undefined
          ? `${label}: exit ${second.status}: ${problem ?? ''}\n${second.stdout.slice(-800)}${second.stderr.slice(-600)}`
          : undefined;
      },
    );
    console.log(`move-db: ${matrix.summary}`);
    assert.deepEqual(matrix.failures, []);
  });

  test('a target without the cluster: made there as hosts prepare makes it (killed, cut, continued, aborted), then drift and status clean', async () => {
    /** The host the service is not on loses its cluster: nothing answers on 5433 there. */
    const dropOther = async (start: string) => {
      const to = start === SOURCE ? TARGET : SOURCE;
      await inHost(
        to,
        `systemctl stop ${pg.get(to)!.unit} 2>/dev/null; pg_dropcluster --stop 15 apps 2>/dev/null; systemctl disable postgresql@15-apps.service 2>/dev/null; true`,
      );
      assert.equal(await inHost(to, 'pg_lsclusters -h 15 apps 2>/dev/null | wc -l'), '0');
      return to;
    };
    const first = (await placement()).host!;
    const dry = await cli('move', 'shop', '--to', first === SOURCE ? TARGET : SOURCE, '--dry-run', '--json');
    const steps = json<{ waves: { items: { steps: string[] }[] }[] }>(dry).waves[0]!.items[0]!.steps;
    assert.match(steps[0]!, /^cluster: unless a cluster answers on .* port 5433, apps is created there as `hosts prepare` does/);

    const cases: { fault: 'kill' | 'cut target' | null; then: 'continue' | 'abort' }[] = [
      { fault: 'kill', then: 'continue' },
      { fault: 'kill', then: 'abort' },
      { fault: 'cut target', then: 'continue' },
      { fault: 'cut target', then: 'abort' },
      { fault: null, then: 'continue' },
    ];
    let survived = 0;
    const failures: string[] = [];
    for (const c of cases) {
      const start = (await placement()).host!;
      await write(start);
      const to = await dropOther(start);
      const label = `${c.fault ?? 'no fault'} while creating the cluster on ${to}, then ${c.then}`;
      const interrupted = await interruptedRun(
        fleet,
        args('move', 'shop', '--to', to, ...WINDOW),
        env(),
        /no cluster answers on .* port 5433: creating it there/,
        c.fault === 'kill' ? 'kill' : c.fault === 'cut target' ? { cut: to } : null,
      );
      const creating = interrupted.hit;
      let out = interrupted.first;
      const aborted = c.then === 'abort' && out.status !== 0;
      if (c.fault !== null) out = await cli('move', 'shop', '--to', to, ...(aborted ? ['--abort'] : []), ...WINDOW);
      await sleep(500);
      const p = await placement();
      const expected = aborted ? start : to;
      const problem =
        (creating ? undefined : 'the move never said it creates the cluster') ??
        p.problem ??
        (p.host !== expected ? `it ends on ${p.host}, expected ${expected}` : undefined);
      if (out.status !== 0 || problem !== undefined)
        failures.push(`${label}: exit ${out.status}: ${problem ?? ''}\n${out.stdout.slice(-800)}${out.stderr.slice(-600)}`);
      else survived++;
      console.log(`move-db cluster: ${label}: ${problem ?? `consistent on ${p.host}`}`);
    }
    console.log(`move-db cluster creation: ${survived}/${cases.length} fault points survived`);
    assert.deepEqual(failures, []);

    // The last case moved it without a fault: the cluster made there is prepare's, enabled and running.
    const host = (await placement()).host!;
    assert.equal(
      await inHost(host, 'systemctl is-active postgresql@15-apps.service; systemctl is-enabled postgresql@15-apps.service'),
      'active\nenabled',
    );
    // Its listen_addresses: what its services dial (they run beside it: loopback only).
    assert.equal(await inHost(host, "grep '^listen' /etc/postgresql/15/apps/conf.d/manage-apps-listen.conf"), "listen_addresses = 'localhost'");
    const status = await cli('status', 'shop');
    assert.equal(status.status, 0, status.stdout + status.stderr);
    const drift = await cli('drift', 'shop', '--json');
    const findings = json<{ findings: { kind: string; subject: string; detail: string }[] }>(drift).findings;
    // (The base image's own Caddy listens on 80 and nothing here declares it: drift rightly calls that extra.)
    assert.deepEqual(
      findings.filter((f) => !(f.kind === 'port' && /caddy\.service/.test(f.detail))),
      [],
      drift.stdout + drift.stderr,
    );
  });
});

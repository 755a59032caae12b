// `recover` on real test hosts: an edge (a real Caddy, configured from `net caddy`), a source
// host running two services (shop, whose PostgreSQL database is on the same host, and web,
// stateless), a target host and a backup host (restic). A backup is taken, more rows are written,
// then the source is powered off for good (its units stopped, its network cut). `recover
// SOURCE --to TARGET`: both services serve from the target through the edge, the database's
// row counts equal the last backup's catalog (the rows written after it are lost), the report
// gives the achieved RTO and RPO, the evidence file has it and `impact` uses it.
//
// Then the fault matrix: the CLI killed, or the target, the backup host or the edge cut off the
// network, at each step of a recovery; then `recover` again (it continues from the journal), or
// `--abort` and `recover` again. Each case must end in one consistent placement: both services
// active on the target only, the edge routing there (running config and Caddyfile), the
// manifests and the inventory naming it, the row counts the catalog's, the journal finished.
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { postgresSkipReason, psqlAsAdmin, startPostgres, type PostgresCluster } from '../../harness/postgres.js';
import { realHostsSkipReason, TestFleet } from '../../harness/test-fleet.js';
import { DB_APP } from '../../data/fixtures.js';
import { getThrough } from '../edge-requests.js';
import { eventually, json, runCli, sleep, type CliRun } from '../helpers.js';
import { faultMatrix, interruptedRun } from '../move/fault-points.js';
import { appSource } from '../real-fleet.js';
import type { RecoverDocument } from '../../../src/app/recover.js';

const EDGE = 'e1';
const TUNNEL = 'web-back';
const TUNNEL_UNIT = `manage-apps-tunnel-${TUNNEL}.service`;
const TUNNEL_LISTEN = 18082;
const OTHER_LISTEN = 18090;
const SOURCE = 's1';
const TARGET = 't1';
const BACKUP = 'bk';
const SHOP_SITE = 'shop.example.test';
const WEB_SITE = 'web.example.test';
const WINDOW = ['--ready-timeout', '8', '--revert-margin', '2'];
const READ_CONFIG = "curl -fsS --max-time 5 --unix-socket /var/lib/caddy/admin.sock -H 'Host: ' http://caddy/config/ || true";

const skip =
  realHostsSkipReason() ?? postgresSkipReason() ?? (process.env.CI !== 'true' && !existsSync('/usr/bin/restic') ? 'restic not installed' : undefined);

/** The rendered Caddyfile as the test's edge runs it: plain HTTP (routing and admin socket unchanged). */
function plainHttp(caddyfile: string): string {
  return caddyfile.replace(/^(\tadmin unix\/\S+)\n\}$/m, '$1\n\tauto_https off\n}').replace(/^([a-z0-9.-]+\.example\.test) \{$/gm, 'http://$1 {');
}

describe('recover: a lost host brought back on another from kept releases and its backup', { skip, timeout: 2_400_000 }, () => {
  let fleet: TestFleet;
  let root = '';
  let pristine = '';
  let controlDir = '';
  let caddyfile = '';
  let target: PostgresCluster;
  let catalog: Record<string, number> = {};
  const env = () => ({ MANAGE_APPS_CONTROL_DIR: controlDir });
  const args = (...a: string[]) => [...a, '--root', root, '--ssh-config', fleet.sshConfigPath, '--connect-timeout', '2'];
  const cli = (...a: string[]) => runCli(args(...a), env());
  const inHost = async (h: string, script: string) => (await fleet.exec(h, ['sh', '-c', script])).stdout.trim();
  const journalPath = () => join(root, '.state', 'recover', `${SOURCE}.json`);
  const manifestHost = (p: string) => /^ {2}host: (\S+)$/m.exec(readFileSync(join(root, p, '.infra.yaml'), 'utf8'))?.[1];
  const clusterHost = () =>
    (JSON.parse(readFileSync(join(root, 'mesh-hosts.json'), 'utf8')) as { clusters: { apps: { host: string } } }).clusters.apps.host;
  const counts = async (cluster: PostgresCluster) =>
    JSON.parse(
      (await psqlAsAdmin(
        fleet,
        cluster,
        "SELECT json_build_object('public.items', (SELECT count(*) FROM items), 'public.notes', (SELECT count(*) FROM notes), 'public.orders', (SELECT count(*) FROM orders))",
        'shop_db',
      )) || '{}',
    ) as Record<string, number>;

  const tunnelEnd = () => (JSON.parse(readFileSync(join(root, 'mesh-hosts.json'), 'utf8')) as { tunnels: { to: string }[] }).tunnels[0]!.to;

  /** Where everything runs, as every party sees it: the problems when they disagree with "all on the target". */
  async function consistent(): Promise<string[]> {
    const problems: string[] = [];
    for (const unit of ['shop.service', 'web.service'])
      if ((await inHost(TARGET, `systemctl is-active ${unit} || true`)) !== 'active') problems.push(`${unit} is not active on ${TARGET}`);
    for (const p of ['shop', 'web']) if (manifestHost(p) !== TARGET) problems.push(`${p}'s manifest names ${manifestHost(p)}`);
    if (clusterHost() !== TARGET) problems.push(`the inventory puts cluster apps on ${clusterHost()}`);
    const address = fleet.host(TARGET).address;
    const cfg = await inHost(EDGE, READ_CONFIG);
    const dials = [...new Set([...cfg.matchAll(/"dial":"([0-9.]+):\d+"/g)].map((m) => m[1]))];
    if (dials.join() !== address) problems.push(`the edge dials ${JSON.stringify(dials)}`);
    const file = await inHost(EDGE, 'cat /etc/caddy/Caddyfile');
    for (const port of [8081, 8082])
      if (!file.includes(`reverse_proxy ${address}:${port}`)) problems.push(`the Caddyfile does not route to ${address}:${port}`);
    const shop = (await getThrough(fleet.host(EDGE).address, SHOP_SITE)).text;
    if (shop !== '200 shop_app shop_db') problems.push(`the edge answers ${JSON.stringify(shop)} for the shop`);
    const web = (await getThrough(fleet.host(EDGE).address, WEB_SITE)).text;
    if (web !== '200 v1') problems.push(`the edge answers ${JSON.stringify(web)} for web`);
    const rows = await counts(target).catch((e: Error) => ({ error: e.message }));
    if (JSON.stringify(rows) !== JSON.stringify(catalog))
      problems.push(`row counts on ${TARGET}: ${JSON.stringify(rows)}, the catalog says ${JSON.stringify(catalog)}`);
    if (!existsSync(journalPath()) || (JSON.parse(readFileSync(journalPath(), 'utf8')) as { finished: string | null }).finished === null)
      problems.push('the journal is not finished');
    const su = await psqlAsAdmin(fleet, target, "SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = 'shop_app'").catch((e: Error) => e.message);
    if (su !== 'f') problems.push(`shop_app on ${TARGET} is rolsuper=${su}: the app's code ran with the superuser's rights during the restore`);
    // The tunnel carrying web: re-pointed at the target (its unit there, enabled; the inventory; the edge's one key line of
    // it naming the target), and a request through it on the edge answered from the target: the session the lost host
    // still held there (its port taken) was ended by the recovery, so the target's unit could listen (it retries every 5 s).
    if (tunnelEnd() !== TARGET) problems.push(`the inventory's tunnel ends on ${tunnelEnd()}`);
    let through = '';
    const answered = await eventually('a request through the tunnel answers', 20_000, async () => {
      through = await inHost(EDGE, `curl -s -o /dev/null -w '%{http_code}' --max-time 3 http://127.0.0.1:${TUNNEL_LISTEN}/ || true`);
      return through === '200';
    }).then(
      () => true,
      () => false,
    );
    if (!answered) problems.push(`a request through the tunnel on ${EDGE} answers ${JSON.stringify(through)}, not 200`);
    if ((await inHost(TARGET, `systemctl is-enabled ${TUNNEL_UNIT} || true`)) !== 'enabled')
      problems.push(`${TUNNEL_UNIT} is not enabled on ${TARGET}`);
    const keys = await inHost(EDGE, `grep 'manage-apps-tunnel:${TUNNEL}@' /var/lib/ma-tunnel-listen/.ssh/authorized_keys || true`);
    if (keys.split('\n').length !== 1 || !keys.endsWith(`@${TARGET}`)) problems.push(`the edge's key lines of the tunnel: ${JSON.stringify(keys)}`);
    return problems;
  }

  /** Back to "the source is lost, nothing recovered yet": the files as they were, nothing of the recovery on the target or the edge. */
  async function reset(): Promise<void> {
    for (const f of ['mesh-hosts.json', 'shop/.infra.yaml', 'web/.infra.yaml']) cpSync(join(pristine, f), join(root, f));
    rmSync(journalPath(), { force: true });
    await inHost(TARGET, 'systemctl disable --now shop.service web.service 2>/dev/null; rm -f /etc/shop/env; true');
    await psqlAsAdmin(fleet, target, 'DROP DATABASE IF EXISTS shop_db WITH (FORCE)');
    await fleet.exec(EDGE, [
      'sh',
      '-c',
      `echo ${Buffer.from(caddyfile).toString('base64')} | base64 -d > /etc/caddy/Caddyfile && systemctl restart caddy.service`,
    ]);
    await eventually('caddy routes to the lost host again', 20_000, async () =>
      (await inHost(EDGE, READ_CONFIG)).includes(`"dial":"${fleet.host(SOURCE).address}:8081"`),
    );
  }

  before(async () => {
    fleet = await TestFleet.up({ names: [EDGE, SOURCE, TARGET, BACKUP] });
    controlDir = mkdtempSync(join(tmpdir(), 'manage-apps-cm-'));
    root = mkdtempSync(join(tmpdir(), 'manage-apps-recover-'));
    const inventory = {
      version: 1,
      mesh: { cidr: '10.98.0.0/16' },
      hosts: Object.fromEntries(
        fleet.hosts.map((h) => [h.name, { alias: h.alias, address: h.address, mesh_ip: h.address, provider: 'bare-metal', role: 'production' }]),
      ),
      clusters: {
        apps: {
          host: SOURCE,
          port: 5433,
          engine: 'postgres',
          backup: { rpo: '1h', rto: '30m', method: 'pg_dump to a restic repository', target: BACKUP },
        },
      },
      // A reverse tunnel carrying web: opened from its host, listening on the edge's loopback.
      tunnels: [
        { name: TUNNEL, from: EDGE, to: SOURCE, direction: 'reverse', forwards: [{ listen: TUNNEL_LISTEN, target_port: 8082 }], carries: 'web' },
        // Another host's reverse tunnel to the edge, through the same account there: its session is never ended.
        { name: 'bk-back', from: EDGE, to: BACKUP, direction: 'reverse', forwards: [{ listen: OTHER_LISTEN, target_port: 8099 }] },
      ],
    };
    const files: Record<string, string> = {
      'mesh-hosts.json': JSON.stringify(inventory, null, 2),
      'edge/.infra.yaml': `apiVersion: infra/v2\nproject: edge\nprovider: bare-metal\nservice:\n  host: ${EDGE}\n  port: 80\n  kind: edge\n  systemd_unit: caddy.service\n`,
      'shop/.infra.yaml': `apiVersion: infra/v2\n# the shop, with its database beside it\nproject: shop\nprovider: bare-metal\ndatabase:\n  cluster: apps\n  name: shop_db\n  user: shop_app\nservice:\n  host: ${SOURCE}\n  port: 8081\n  command: node server.mjs\n  artifact: app\n  user: shop\n  env_file: /etc/shop/env\n  domains: [${SHOP_SITE}]\n  health: { timeout: 8s }\n`,
      'shop/app/server.mjs': DB_APP,
      'web/.infra.yaml': `apiVersion: infra/v2\nproject: web\nprovider: bare-metal\nservice:\n  host: ${SOURCE}\n  port: 8082\n  command: node server.mjs\n  artifact: app\n  domains: [${WEB_SITE}]\n  health: { timeout: 8s }\n`,
      'web/app/server.mjs': appSource({ version: 'v1' }),
    };
    const { mkdirSync } = await import('node:fs');
    for (const [p, c] of Object.entries(files)) {
      mkdirSync(join(root, p, '..'), { recursive: true });
      writeFileSync(join(root, p), c);
    }
    const [source] = await Promise.all([
      startPostgres(fleet, SOURCE, { name: 'apps', port: 5433 }),
      fleet.ssh(SOURCE, 'useradd -r shop'),
      fleet.ssh(TARGET, 'useradd -r shop'),
    ]);
    const rendered = await runCli(['net', 'caddy', '--json', '--root', root]);
    assert.equal(rendered.status, 0, rendered.stdout + rendered.stderr);
    caddyfile = plainHttp(json<{ files: { path: string; content: string }[] }>(rendered).files.find((x) => x.path === `${EDGE}.Caddyfile`)!.content);
    const prov = await cli('db', 'provision');
    assert.equal(prov.status, 0, prov.stdout + prov.stderr);
    await psqlAsAdmin(
      fleet,
      source!,
      // Created as the app. A hostile app's check runs at every restore and tries to make its
      // role a superuser (a restore as the superuser with SET ROLE or --role would let it: RESET
      // ROLE); consistent() checks it stays what it is.
      `SET ROLE shop_app; CREATE TABLE items (id int primary key, name text); INSERT INTO items SELECT g, md5(g::text) FROM generate_series(1, 5000) g; CREATE TABLE orders (id serial primary key, item int); INSERT INTO orders (item) SELECT g % 100 FROM generate_series(1, 1234) g;
CREATE FUNCTION public.escalate(int) RETURNS bool LANGUAGE plpgsql AS $f$ BEGIN BEGIN RESET ROLE; EXECUTE 'ALTER ROLE shop_app SUPERUSER'; EXCEPTION WHEN OTHERS THEN NULL; END; RETURN true; END $f$;
CREATE TABLE notes (id int CHECK (public.escalate(id))); INSERT INTO notes SELECT g FROM generate_series(1, 7) g;`,
      'shop_db',
    );
    const deploy = await cli('deploy', 'shop', 'web', ...WINDOW);
    assert.equal(deploy.status, 0, deploy.stdout + deploy.stderr);
    const tunnels = await cli('tunnels', 'up');
    assert.equal(tunnels.status, 0, tunnels.stdout + tunnels.stderr);
    // The target has no cluster: recover makes it there (as hosts prepare does).
    target = { host: TARGET, name: 'apps', port: 5433, unit: 'postgresql@15-apps.service' };
    assert.equal(await inHost(TARGET, 'pg_lsclusters -h 15 apps 2>/dev/null | wc -l'), '0');
    await fleet.exec(EDGE, [
      'sh',
      '-c',
      `echo ${Buffer.from(caddyfile).toString('base64')} | base64 -d > /etc/caddy/Caddyfile && systemctl restart caddy.service`,
    ]);
    await eventually(
      'the edge serves the shop from the source',
      20_000,
      async () => (await getThrough(fleet.host(EDGE).address, SHOP_SITE)).text === '200 shop_app shop_db',
    );
    assert.equal(await inHost(TARGET, 'systemctl is-active shop.service || true'), 'inactive');
    // The backup, then more rows: what is written after it is what a lost host loses.
    assert.equal((await cli('backups', 'install')).status, 0);
    const run = await cli('backups', 'run', '--json');
    assert.equal(run.status, 0, run.stdout + run.stderr);
    catalog = json<{ runs: { backup: { databases: { name: string; tables: Record<string, number> }[] } }[] }>(run).runs[0]!.backup.databases.find(
      (d) => d.name === 'shop_db',
    )!.tables;
    assert.deepEqual(catalog, { 'public.items': 5000, 'public.notes': 7, 'public.orders': 1234 });
    await psqlAsAdmin(fleet, source!, 'INSERT INTO orders (item) SELECT 1 FROM generate_series(1, 66)', 'shop_db');
    assert.deepEqual(await counts(source!), { 'public.items': 5000, 'public.notes': 7, 'public.orders': 1300 });
    // Lost for good: its units stopped, its network cut (never healed). Its tunnel's ssh is not stopped, as with a host
    // frozen rather than powered off: its session on the edge stays established and keeps the edge's port.
    await fleet.ssh(SOURCE, 'systemctl stop shop.service web.service pg-apps.service');
    await fleet.cutNetwork(SOURCE);
    assert.match(await inHost(EDGE, `ss -Hltnp 'sport = :${TUNNEL_LISTEN}'`), /"sshd",pid=\d+/, "the lost host's session listens on the edge");
    assert.match(
      await inHost(EDGE, `ss -Htn state established '( sport = :22 )'`),
      new RegExp(`${fleet.host(SOURCE).address.replace(/\./g, '\\.')}:`),
    );
    pristine = mkdtempSync(join(tmpdir(), 'manage-apps-recover-pristine-'));
    for (const f of ['mesh-hosts.json', 'shop/.infra.yaml', 'web/.infra.yaml']) cpSync(join(root, f), join(pristine, f));
  });

  after(async () => {
    await fleet?.down();
    for (const dir of [root, pristine, controlDir]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('--dry-run: the plan from the files, where each release and the database come from; nothing touched', async () => {
    const r = await cli('recover', SOURCE, '--to', TARGET, '--dry-run', '--json');
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const d = json<RecoverDocument>(r);
    assert.equal(d.action, 'plan');
    const items = d.waves.flatMap((w) => w.items);
    assert.deepEqual(items.map((i) => [i.kind, i.name, i.source.kind]).sort(), [
      ['cluster', 'apps', 'backup'],
      ['service', 'shop', 'kept-release'],
      ['service', 'web', 'kept-release'],
    ]);
    const apps = items.find((i) => i.name === 'apps')!;
    assert.equal(apps.source.backup_host, BACKUP);
    assert.ok(apps.source.backup_id);
    assert.deepEqual(d.edits.map((e) => e.field).sort(), ['clusters.apps.host', 'service.host', 'service.host', 'tunnels.0.to']);
    assert.deepEqual(
      d.tunnels.map((t) => [t.name, t.after, t.state]),
      [[TUNNEL, { from: EDGE, to: TARGET }, 'pending']],
    );
    // The session the lost host may still hold on the edge: ended there, that one only (shown before anything runs).
    assert.match(
      d.tunnels[0]!.steps.join('\n'),
      new RegExp(
        `^stale: on ${EDGE}, the sshd session of ma-tunnel-listen still listening on port ${TUNNEL_LISTEN} \\(the one ${SOURCE} opened`,
        'm',
      ),
    );
    assert.match(items.find((i) => i.name === 'apps')!.steps[0]!, /^cluster: unless a cluster answers on t1 port 5433, apps is created there/);
    // The cluster is restored before the service that uses it.
    const order = items.map((i) => i.name);
    assert.ok(order.indexOf('apps') < order.indexOf('shop'), order.join());
    assert.equal(manifestHost('shop'), SOURCE);
    assert.equal(existsSync(journalPath()), false);
    assert.equal(await inHost(TARGET, 'systemctl is-active shop.service || true'), 'inactive');
  });

  test('recover: everything serves from the target; row counts are the backup catalog; RTO and RPO reported, recorded, used by impact', async () => {
    const listener = (port: number) => inHost(EDGE, `ss -Hltnp 'sport = :${port}' | grep -o 'pid=[0-9]*' | sort -u`);
    const other = await listener(OTHER_LISTEN);
    assert.match(other, /^pid=\d+$/);
    const r = await cli('recover', SOURCE, '--to', TARGET, '--json', ...WINDOW);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const d = json<RecoverDocument>(r);
    assert.equal(d.summary.recovered, 3);
    assert.deepEqual(await consistent(), []);
    // The cluster the target did not have: made as hosts prepare makes it (its unit enabled and running, on the inventory's port).
    assert.equal(
      await inHost(TARGET, 'systemctl is-active postgresql@15-apps.service; systemctl is-enabled postgresql@15-apps.service'),
      'active\nenabled',
    );
    assert.match(await inHost(TARGET, 'pg_lsclusters -h 15 apps'), /^15 apps 5433 online /);
    assert.deepEqual(
      d.tunnels.map((t) => [t.state, t.done]),
      [['moved', ['down', 'stale', 'up', 'edit']]],
    );
    // The stale session was the lost host's alone: the other host's session through the same account still listens.
    assert.equal(await listener(OTHER_LISTEN), other);
    // The lost host was never contacted for it: its end is simply left (the edge's key line of it replaced).
    assert.equal(await inHost(EDGE, `grep -c 'manage-apps-tunnel:${TUNNEL}@' /var/lib/ma-tunnel-listen/.ssh/authorized_keys`), '1');
    assert.match(await inHost(EDGE, `grep 'manage-apps-tunnel:${TUNNEL}@' /var/lib/ma-tunnel-listen/.ssh/authorized_keys`), /@t1$/);
    const report = d.report!;
    assert.ok(report.rto.achieved_s !== null && report.rto.achieved_s > 0);
    assert.equal(report.rto.declared, '30m');
    assert.equal(report.rto.met, true);
    assert.ok(report.rpo.achieved_s !== null && report.rpo.achieved_s >= 0);
    assert.equal(report.rpo.declared, '1h');
    assert.equal(report.backups[0]!.cluster, 'apps');
    console.log(
      `recover ${SOURCE} → ${TARGET}: achieved RTO ${report.rto.achieved_s}s (declared ${report.rto.declared}), RPO ${report.rpo.achieved_s}s (declared ${report.rpo.declared}); 66 rows written after the backup lost`,
    );
    const evidence = readFileSync(join(root, 'backup-evidence.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind: string; host?: string; achieved?: { rto_s: number } });
    const rec = evidence.filter((e) => e.kind === 'recover').pop()!;
    assert.equal(rec.host, SOURCE);
    assert.equal(rec.achieved!.rto_s, report.rto.achieved_s);
    const impact = await runCli(['impact', SOURCE, '--json', '--root', root]);
    const recovery = json<{ recovery: { host: string; source: string; rto_s: number | null; declared: string | null; to: string | null }[] }>(
      impact,
    ).recovery;
    const lost = recovery.find((x) => x.host === SOURCE)!;
    assert.deepEqual([lost.source, lost.rto_s, lost.declared, lost.to], ['measured', report.rto.achieved_s, '30m', TARGET]);
    const text = await runCli(['impact', SOURCE, '--root', root]);
    assert.match(text.stdout, new RegExp(`${SOURCE}: ${report.rto.achieved_s}s, measured by \`recover\``));
  });

  test('fault matrix: killed or cut at each step, then continued (or aborted and run again): one consistent placement', async () => {
    type Fault = 'kill' | 'cut target' | 'cut backup host' | 'cut edge';
    const points: { at: RegExp; name: string; faults: Fault[]; abort?: boolean }[] = [
      { at: /apps: provisioning roles/, name: 'provisioning on the target', faults: ['kill', 'cut target'] },
      { at: /apps: restoring shop_db/, name: 'restoring the database', faults: ['kill', 'cut target', 'cut backup host'] },
      { at: /deploying release/, name: 'deploying a kept release', faults: ['kill', 'cut target'], abort: true },
      { at: /now routes to/, name: 'switching the edge', faults: ['kill', 'cut edge'] },
      { at: /tunnel web-back: ending on e1 the session/, name: "ending the lost host's tunnel session on the edge", faults: ['kill', 'cut edge'] },
      { at: /: recovered on t1/, name: 'editing the files', faults: ['kill'] },
    ];
    const rtos: number[] = [];
    const matrix = await faultMatrix(
      points,
      (point) => (point.abort === true ? ['continue', 'abort'] : ['continue']),
      async ({ point, fault, then }) => {
        await reset();
        const label = `${fault} while ${point.name}, then ${then}`;
        const cut = fault === 'cut target' ? TARGET : fault === 'cut backup host' ? BACKUP : fault === 'cut edge' ? EDGE : undefined;
        const { hit } = await interruptedRun(
          fleet,
          args('recover', SOURCE, '--to', TARGET, ...WINDOW),
          env(),
          point.at,
          cut === undefined ? 'kill' : { cut },
        );
        const problems: string[] = [];
        if (then === 'abort') {
          const abort = await cli('recover', SOURCE, '--to', TARGET, '--abort', ...WINDOW);
          if (abort.status !== 0) problems.push(`--abort exit ${abort.status}: ${abort.stdout.slice(-600)}`);
          for (const unit of ['shop.service', 'web.service'])
            if ((await inHost(TARGET, `systemctl is-active ${unit} || true`)) === 'active')
              problems.push(`after --abort ${unit} still runs on ${TARGET}`);
          for (const p of ['shop', 'web']) if (manifestHost(p) !== SOURCE) problems.push(`after --abort ${p}'s manifest names ${manifestHost(p)}`);
          if (clusterHost() !== SOURCE) problems.push(`after --abort the inventory puts apps on ${clusterHost()}`);
        }
        // Run again until it says it is done (a run cut at a step fails that step; the next continues from the journal).
        let last: CliRun | undefined;
        for (let attempt = 0; attempt < 2 && last?.status !== 0; attempt++) last = await cli('recover', SOURCE, '--to', TARGET, '--json', ...WINDOW);
        if (last!.status !== 0) problems.push(`recover again: exit ${last!.status}: ${last!.stdout.slice(-800)}${last!.stderr.slice(-400)}`);
        else {
          const rto = json<RecoverDocument>(last!).report?.rto.achieved_s;
          if (typeof rto === 'number') rtos.push(rto);
        }
        await sleep(300);
        problems.push(...(await consistent()));
        console.log(
          `recover fault: ${label}: ${hit ? '' : '(the step passed before the fault) '}${problems.length > 0 ? problems.join('; ') : 'one consistent placement on t1'}`,
        );
        return problems.length > 0 ? `${label}: ${problems.join('; ')}` : undefined;
      },
    );
    console.log(`recover: ${matrix.summary}; achieved RTOs (from the first start, faults included): ${rtos.map((r) => `${r}s`).join(', ')}`);
    assert.deepEqual(matrix.failures, []);
  });
});

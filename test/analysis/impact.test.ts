/** impact: down, degraded with explanations, data, tunnels and lanes; on the seed fixtures and in memory. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyzeImpact, stepText, type ImpactReport } from '../../src/analysis/impact.js';
import { cli, cliJson, indexOf, loadFixture, tunnel } from './helpers.js';

const ids = (list: { id: string }[]) => list.map((s) => s.id).sort();

test('seed 003: losing the workstation degrades activity-core, and the explanation names the tunnels through it', async () => {
  const { loaded, index } = await loadFixture('legacy-exit');
  assert.deepEqual(loaded.problems, []);
  const r = analyzeImpact(index, ['workstation']);
  assert.deepEqual(ids(r.down), ['state-hub:dev']);
  const ac = r.degraded.find((s) => s.id === 'activity-core');
  assert.ok(ac, 'activity-core is degraded');
  assert.equal(ac.host, 'railiance01');
  // The shortest explanation: one step, unreachable over the lane that chains through the workstation.
  assert.equal(ac.via.length, 1);
  const step = ac.via[0]!;
  assert.equal(step.state, 'unreachable');
  assert.equal(step.to_host, 'coulombcore');
  assert.deepEqual(step.route?.offline, ['workstation']);
  assert.deepEqual(
    step.route?.hops.map((h) => h.tunnel),
    ['state-hub-railiance01', 'state-hub-primary'],
  );
  assert.match(stepText(step), /state-hub-railiance01 \[reverse\], state-hub-primary\) passes through workstation/);
  // Both production lanes are named: State Hub and issue-core.
  const lanes = Object.fromEntries(ac.failing.map((f) => [f.to, f.route?.tunnels]));
  assert.deepEqual(lanes, {
    'state-hub': ['state-hub-railiance01', 'state-hub-primary'],
    'issue-core': ['issue-core-railiance01', 'issue-core-coulombcore'],
  });
  // nix-builder:dev relies on the workstation's dev hub, which runs there.
  assert.deepEqual(
    r.degraded.find((s) => s.id === 'nix-builder:dev')?.via.map((s) => [s.to, s.state]),
    [['state-hub:dev', 'down']],
  );
  // Every tunnel with an end on the workstation breaks; the critical lanes through it are listed.
  assert.equal(r.tunnels.length, 16);
  assert.ok(r.tunnels.every((t) => t.offline_ends.includes('workstation')));
  const critical = r.lanes.filter((l) => l.critical && l.from === 'railiance01').map((l) => `${l.carries}:${l.tunnels.join('+')}`);
  assert.ok(critical.includes('state-hub:state-hub-railiance01+state-hub-primary'));
  assert.ok(critical.includes('issue-core:issue-core-railiance01+issue-core-coulombcore'));
  // Exactly seed 003's two production lanes: a lane with one legacy or experimental leg is not one.
  assert.deepEqual(
    r.lanes
      .filter((l) => l.critical)
      .map((l) => l.tunnels.join('+'))
      .sort(),
    ['issue-core-railiance01+issue-core-coulombcore', 'state-hub-railiance01+state-hub-primary'],
  );
  assert.deepEqual(r.data, []);
});

test('seed 003 re-homed: losing the workstation touches no production service', async () => {
  const { index } = await loadFixture('legacy-exit-rehomed');
  const r = analyzeImpact(index, ['workstation']);
  assert.deepEqual(
    [...r.down, ...r.degraded].filter((s) => s.environment === 'prod'),
    [],
  );
  assert.equal(
    r.tunnels.some((t) => t.critical),
    false,
  );
});

test('seed 000: losing black takes the API plane and every authoritative database; the web tier degrades', async () => {
  const { loaded, index } = await loadFixture('five-hosts');
  assert.deepEqual(loaded.problems, []);
  const r = analyzeImpact(index, ['black']);
  for (const s of ['quinn-api', 'platform-api', 'messenger-api', 'ai-copilot']) assert.ok(ids(r.down).includes(s), s);
  // "meanwhile every web FE is offline (no API plane)"
  for (const s of ['web-fe', 'quinn-www', 'quinn-admin', 'sso', 'cache-rebuilder', 'mac-sync']) assert.ok(ids(r.degraded).includes(s), s);
  assert.equal(ids(r.degraded).includes('model-boss'), false);
  assert.equal(ids(r.degraded).includes('beacon'), false);
  assert.deepEqual(r.data.map((d) => d.name).sort(), ['mac-sync-mirror', 'messenger-pg', 'minio-cold', 'platform-pg', 'quinn-pg']);
  assert.equal(r.data.find((d) => d.name === 'mac-sync-mirror')?.backup, null);
  assert.deepEqual(r.data.find((d) => d.name === 'platform-pg')?.backup, {
    rpo: '15m',
    rto: '1h',
    method: 'WAL streaming to apricot + nightly logical dumps',
  });
  assert.deepEqual(
    r.tunnels.map((t) => t.name),
    ['quinn-db-reverse'],
  );
  // web-fe → sso → platform-pg: the transitive path names the database.
  const web = r.degraded.find((s) => s.id === 'web-fe')!;
  assert.ok(web.failing.some((f) => f.to === 'sso' && f.state === 'degraded'));
  // black is the hub-and-spoke hub: the simplification is said out loud.
  assert.ok(r.notes.some((n) => /mesh hub/.test(n)));
});

test('seed 000: losing apricot degrades GPU consumers transitively (web stays up but degraded)', async () => {
  const { index } = await loadFixture('five-hosts');
  const r = analyzeImpact(index, ['apricot']);
  assert.deepEqual(ids(r.down), ['forgejo', 'model-boss']);
  const web = r.degraded.find((s) => s.id === 'web-fe')!;
  assert.deepEqual(
    web.via.map((s) => `${s.from}→${s.to}:${s.state}`),
    ['web-fe→platform-api:degraded', 'platform-api→model-boss:down'],
  );
});

test('impact: transitive degradation through depends_on and a database cluster, each with its path', () => {
  const index = indexOf({
    hosts: ['a', 'b'],
    clusters: [{ name: 'pg', host: 'b' }],
    services: [
      { project: 'api', host: 'a', database: 'pg' },
      { project: 'web', host: 'a', dependsOn: ['api'] },
      { project: 'cron', host: 'a', dependsOn: ['web'] },
      { project: 'alone', host: 'a' },
    ],
    tunnels: [tunnel('a-b', 'a', 'b')],
  });
  const r = analyzeImpact(index, ['b']);
  assert.deepEqual(r.down, []);
  assert.deepEqual(ids(r.degraded), ['api', 'cron', 'web']);
  const cron = r.degraded.find((s) => s.id === 'cron')!;
  assert.deepEqual(
    cron.via.map((s) => [s.from, s.kind, s.to, s.state]),
    [
      ['cron', 'depends_on', 'web', 'degraded'],
      ['web', 'depends_on', 'api', 'degraded'],
      ['api', 'database', 'pg', 'down'],
    ],
  );
  assert.deepEqual(
    r.data.map((d) => [d.name, d.reason, d.consumers]),
    [['pg', 'host-offline', ['api']]],
  );
});

test('impact: a route around the lost host keeps the dependency served; no route at all is a note, not a loss', () => {
  const index = indexOf({
    hosts: ['a', 'w', 'x', 'c', 'lonely'],
    services: [
      { project: 'client', host: 'a', dependsOn: ['hub'] },
      { project: 'hub', host: 'c' },
      { project: 'island', host: 'lonely', dependsOn: ['hub'] },
    ],
    tunnels: [tunnel('a-w', 'a', 'w'), tunnel('w-c', 'w', 'c'), tunnel('a-x', 'a', 'x'), tunnel('x-c', 'x', 'c')],
  });
  const r = analyzeImpact(index, ['w']);
  assert.deepEqual(r.degraded, []);
  assert.deepEqual(r.tunnels.map((t) => t.name).sort(), ['a-w', 'w-c']);
  assert.ok(r.notes.some((n) => /no route from lonely to c even with every host up/.test(n)));
  const both = analyzeImpact(index, ['w', 'x']);
  assert.deepEqual(ids(both.degraded), ['client']);
  assert.deepEqual(both.degraded[0]!.via[0]!.route?.offline.length, 1);
});

test('impact: a database cluster that is up but out of reach is data out of reach, from those hosts', () => {
  const index = indexOf({
    hosts: ['app', 'w', 'db'],
    clusters: [{ name: 'pg', host: 'db' }],
    services: [{ project: 'api', host: 'app', database: 'pg' }],
    tunnels: [tunnel('app-w', 'app', 'w'), tunnel('w-db', 'w', 'db', { carries: 'pg' })],
  });
  const r = analyzeImpact(index, ['w']);
  assert.deepEqual(r.data, [
    {
      kind: 'cluster',
      name: 'pg',
      host: 'db',
      engine: 'postgres',
      reason: 'no-route',
      consumers: ['api'],
      unreachable_from: ['app'],
      backup: null,
      backup_status: 'missing',
    },
  ]);
});

test('CLI: impact workstation --json has the documented shape and exits 0', () => {
  const { status, json } = cliJson<ImpactReport & { problems: unknown[] }>(['impact', 'workstation', '--root', 'test/fixtures/legacy-exit']);
  assert.equal(status, 0);
  assert.deepEqual(Object.keys(json), [
    'offline',
    'down',
    'degraded',
    'domains',
    'backups',
    'data',
    'tunnels',
    'lanes',
    'notes',
    'recovery',
    'problems',
  ]);
  assert.deepEqual(json.offline, ['workstation']);
  // Never recovered: the time to recover is what its clusters declare, or nothing (docs/recover.md).
  assert.deepEqual(
    (json as unknown as { recovery: { host: string; source: string; rto_s: null }[] }).recovery.map((r) => [r.host, r.rto_s]),
    [['workstation', null]],
  );
  assert.deepEqual(Object.keys(json.down[0]!), ['id', 'project', 'environment', 'host', 'kind']);
  const ac = json.degraded.find((d) => d.project === 'activity-core')!;
  assert.equal(ac.host, 'railiance01');
  assert.deepEqual(ac.via[0]!.route!.tunnels, ['state-hub-railiance01', 'state-hub-primary']);
});

test('CLI: impact human output explains in a terminal; an unknown host is a usage error (exit 2) with a hint', () => {
  const r = cli(['impact', 'workstation', '--root', 'test/fixtures/legacy-exit']);
  assert.equal(r.status, 0);
  assert.match(r.stdout, /If workstation goes offline:/);
  assert.match(r.stdout, /activity-core → state-hub \(coulombcore\): unreachable: its route railiance01 ⇢ workstation ⇢ coulombcore/);
  assert.match(r.stdout, /Lanes that chain through workstation/);
  const bad = cli(['impact', 'workstaton', '--root', 'test/fixtures/legacy-exit']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /unknown host "workstaton"/);
  assert.match(bad.stderr, /did you mean "workstation"/);
  const none = cli(['impact', '--root', 'test/fixtures/legacy-exit']);
  assert.equal(none.status, 2);
});

test('impact and backups judge data the same way: a cache has nothing to lose, per-database backups count, a backup on the lost host is lost', () => {
  const r = analyzeImpact(
    indexOf({
      hosts: ['h', 'app'],
      clusters: [
        { name: 'cache', host: 'h', engine: 'redis', role: 'cache' },
        { name: 'pg', host: 'h' },
      ],
      services: [
        { project: 'a', host: 'app', database: 'pg', databaseBackup: { rpo: '1h', rto: '2h', method: 'dump' } },
        { project: 'q', host: 'h', stateful: true, backup: { rpo: '15m', rto: '1h', method: 'restic', target: 'h' } },
      ],
    }),
    ['h'],
  );
  const byName = Object.fromEntries(r.data.map((d) => [d.name, [d.backup_status, d.backup?.rpo ?? null]]));
  assert.deepEqual(byName, { cache: ['cache', null], pg: ['ok', '1h'], q: ['lost-with-host', null] });
});

test('losing the only edge darkens its domains; losing the host that keeps a cluster\'s backups loses them: neither is "nothing else is affected"', async () => {
  const { fleetOf } = await import('./helpers.js');
  const { FleetIndex } = await import('../../src/analysis/topology.js');
  const fleet = fleetOf({
    hosts: [
      { name: 'web', meshIp: '10.9.0.1' },
      { name: 'app', meshIp: '10.9.0.2' },
      { name: 'vault', meshIp: '10.9.0.3' },
    ],
    services: [
      { project: 'edge', host: 'web', kind: 'edge', port: 443 },
      { project: 'shop', host: 'app', port: 8080, domains: ['shop.example.com'], database: 'main-pg' },
    ],
    clusters: [{ name: 'main-pg', host: 'app', port: 5432, engine: 'postgres', backup: { rpo: '1h', rto: '1h', method: 'restic', target: 'vault' } }],
  });
  const index = new FleetIndex(fleet);
  const edge = analyzeImpact(index, ['web']);
  assert.deepEqual(ids(edge.down), ['edge']);
  assert.deepEqual(edge.degraded, []);
  assert.deepEqual(edge.domains, [{ domain: 'shop.example.com', service: 'shop', edges: ['web'], reason: 'edge-offline' }]);
  const { impactText } = await import('../../src/cli/commands/impact.js');
  const text = impactText(edge);
  assert.doesNotMatch(text, /nothing else is affected/);
  assert.match(text, /shop\.example\.com → shop: its only edge \(web\) is offline/);
  assert.match(text, /1 domain dark/);

  const vault = analyzeImpact(index, ['vault']);
  assert.deepEqual(vault.backups, [{ host: 'vault', of: 'cluster main-pg' }]);
  assert.deepEqual(vault.domains, []);
  assert.doesNotMatch(impactText(vault), /nothing else is affected/);
  assert.match(impactText(vault), /cluster main-pg: its backups on vault are gone until re-made/);

  // The app's own host: its domains go dark because it is down.
  assert.deepEqual(
    analyzeImpact(index, ['app']).domains.map((d) => d.reason),
    ['service-down'],
  );
  // A host that matters to nothing still says so.
  const idle = fleetOf({ hosts: ['a', 'b'], services: [{ project: 'x', host: 'a' }] });
  assert.match(impactText(analyzeImpact(new FleetIndex(idle), ['b'])), /nothing else is affected/);
});

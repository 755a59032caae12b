/** backups: declared policies, what has none, and the host-loss table. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backupReport, objectiveRank, worst, type BackupReport } from '../../src/analysis/backups.js';
import { cli, cliJson, indexOf, loadFixture } from './helpers.js';

test('seed 000: the production database with no backup policy (mac-sync mirror) is reported; exit 1', async () => {
  const { index } = await loadFixture('five-hosts');
  const r = backupReport(index);
  assert.equal(r.ok, false);
  assert.deepEqual(
    r.missing.map((m) => [m.kind, m.name, m.severity]),
    [['cluster', 'mac-sync-mirror', 'error']],
  );
  assert.equal(r.clusters.find((c) => c.name === 'cache-redis')?.status, 'cache');
  assert.deepEqual(r.clusters.find((c) => c.name === 'platform-pg')?.policy, {
    rpo: '15m',
    rto: '1h',
    method: 'WAL streaming to apricot + nightly logical dumps',
    target: 'apricot',
    drill: null,
  });
  const beacon = r.clusters.find((c) => c.name === 'analytics-ts')!.databases[0]!;
  assert.deepEqual([beacon.service, beacon.source, beacon.policy?.rpo], ['beacon', 'database.backup', '1d']);
  assert.deepEqual(
    r.services.map((s) => [s.id, s.status]),
    [
      ['forgejo', 'ok'],
      ['mac-sync', 'ok'],
      ['mail-sync', 'ok'],
    ],
  );
  // Host loss, like seed 000 §8.
  const loss = Object.fromEntries(r.host_loss.map((h) => [h.host, h]));
  assert.deepEqual([loss['black']!.worst_rpo, loss['black']!.undeclared], ['none', ['mac-sync-mirror']]);
  assert.deepEqual([loss['vps-0']!.worst_rpo, loss['vps-0']!.worst_rto], ['1d', '4h']);
  assert.deepEqual([loss['plum']!.worst_rpo, loss['plum']!.worst_rto], ['n/a', 'n/a']);
  assert.ok(loss['apricot']!.holds_backups_of.includes('cluster platform-pg'));

  const cmd = cli(['backups', '--root', 'test/fixtures/five-hosts']);
  assert.equal(cmd.status, 1);
  assert.match(cmd.stdout, /✖ production database cluster mac-sync-mirror \(postgres on black\) has no backup policy/);
  assert.match(cmd.stdout, /If a host is lost/);
});

test('backups: declared everywhere is ok (exit 0); a dev stateful service without one is only a warning', () => {
  const r = backupReport(
    indexOf({
      hosts: ['h', { name: 'box', role: 'dev' }],
      clusters: [{ name: 'pg', host: 'h' }],
      services: [
        { project: 'a', host: 'h', database: 'pg', databaseBackup: { rpo: '1h', rto: '2h', method: 'dump' } },
        { project: 'q', host: 'h', stateful: true, backup: { rpo: 'continuous', rto: '15m', method: 'replica', target: 'h' } },
        { project: 'scratch', host: 'box', stateful: true, environment: 'dev' },
      ],
    }),
  );
  assert.equal(r.ok, true);
  assert.deepEqual(
    r.missing.map((m) => [m.name, m.severity]),
    [['scratch:dev', 'warning']],
  );
  assert.equal(r.clusters[0]?.status, 'ok');
  assert.ok(r.warnings.some((w) => /kept on h, the host it protects/.test(w)));
  // q's backup lives on h itself: losing h loses q for good.
  const h = r.host_loss.find((x) => x.host === 'h')!;
  assert.deepEqual([h.worst_rpo, h.worst_rto, h.undeclared, h.backup_on_same_host], ['none', 'none', [], ['q']]);
  assert.equal(r.host_loss.find((h) => h.host === 'box')?.worst_rpo, 'none');
});

test('backups: a cluster partly covered by database.backup reports each uncovered production database', () => {
  const r = backupReport(
    indexOf({
      hosts: ['h'],
      clusters: [{ name: 'pg', host: 'h' }],
      services: [
        { project: 'a', host: 'h', database: 'pg', databaseBackup: { rpo: '1h', rto: '1h', method: 'dump' } },
        { project: 'b', host: 'h', database: 'pg' },
      ],
    }),
  );
  assert.deepEqual(
    r.missing.map((m) => [m.kind, m.name, m.severity]),
    [['database', 'pg/b', 'error']],
  );
});

test('objectives: n/a < continuous < durations (by length) < none', () => {
  assert.ok(objectiveRank('n/a') < objectiveRank('continuous'));
  assert.ok(objectiveRank('continuous') < objectiveRank('30s'));
  assert.ok(objectiveRank('59m') < objectiveRank('1h'));
  assert.ok(objectiveRank('1d') < objectiveRank('none'));
  assert.equal(worst(['15m', '1h', 'continuous']), '1h');
  assert.equal(worst([]), null);
});

test('CLI: backups --json shape', () => {
  const { status, json } = cliJson<BackupReport & { problems: unknown[] }>(['backups', '--root', 'test/fixtures/legacy-exit']);
  assert.equal(status, 0);
  assert.deepEqual(Object.keys(json), ['clusters', 'services', 'missing', 'warnings', 'host_loss', 'ok', 'drills', 'problems']);
  assert.deepEqual(Object.keys(json.host_loss[0]!), [
    'host',
    'role',
    'data',
    'worst_rpo',
    'worst_rto',
    'undeclared',
    'backup_on_same_host',
    'holds_backups_of',
  ]);
});

// Targets → services → dependency levels; edges only stopped when named with --force;
// which deploy strategy a service gets.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { UsageError } from '../../src/errors.js';
import { loadFleet, type LoadedFleet } from '../../src/load/fleet.js';
import { decideStrategy, deployable, deploySummary } from '../../src/ops/deploy.js';
import { edgeFilter } from '../../src/ops/lifecycle.js';
import { dependencyLevels, selectServices } from '../../src/ops/selection.js';
import { makeTree, removeTree } from '../helpers/tree.js';

const inv = JSON.stringify({
  version: 1,
  mesh: { cidr: '10.9.0.0/24' },
  hosts: {
    core: { provider: 'bare-metal', role: 'production' },
    web: { provider: 'vps', role: 'production' },
    laptop: { provider: 'local', role: 'workstation', local: true },
  },
});

const manifest = (project: string, host: string, extra = '', env?: string) =>
  `apiVersion: infra/v2\nproject: ${project}\n${env ? `environment: ${env}\n` : ''}provider: ${host === 'laptop' ? 'local' : host === 'web' ? 'vps' : 'bare-metal'}\nservice:\n  host: ${host}\n${extra}`;

let root = '';
let loaded: LoadedFleet;

before(async () => {
  root = await makeTree({
    'mesh-hosts.json': inv,
    'db/.infra.yaml': manifest('db', 'core', '  port: 5000\n  command: ./db\n'),
    'api/.infra.yaml': manifest('api', 'core', '  port: 5001\n  command: ./api\n  depends_on: [db]\n  artifact: dist\n'),
    'api/.infra.dev.yaml': manifest('api', 'laptop', '  port: 15001\n  command: node api.js\n  depends_on: [db]\n', 'dev'),
    'front/.infra.yaml': manifest('front', 'web', '  port: 5002\n  command: ./front\n  depends_on: [api, db]\n'),
    'edge/.infra.yaml': manifest('edge', 'web', '  port: 443\n  kind: edge\n  systemd_unit: caddy.service\n  depends_on: [front]\n'),
    'legacy/.infra.yaml':
      'apiVersion: infra/v1\nproject: legacy\nprovider: bare-metal\nservice:\n  host: core\n  systemd_unit: legacy.service\n  deploy: deploy.sh\n',
  });
  loaded = await loadFleet({ root });
  assert.deepEqual(
    loaded.problems.filter((p) => p.severity === 'error'),
    [],
  );
});
after(async () => removeTree(root));

const ids = (services: { id: string }[]) => services.map((s) => s.id);

test('no target: everything; --env and --host narrow it', () => {
  assert.deepEqual(ids(selectServices(loaded.fleet, { targets: [] }).services), ['api:dev', 'api', 'db', 'edge', 'front', 'legacy']);
  assert.deepEqual(ids(selectServices(loaded.fleet, { targets: [], env: 'dev' }).services), ['api:dev']);
  assert.deepEqual(ids(selectServices(loaded.fleet, { targets: [], host: 'web' }).services), ['edge', 'front']);
});

test('targets: project, project:env, project@host, and a host (seed 004: start <project> <host>)', () => {
  assert.deepEqual(ids(selectServices(loaded.fleet, { targets: ['api'] }).services), ['api:dev', 'api'], 'a project: all its environments');
  assert.deepEqual(ids(selectServices(loaded.fleet, { targets: ['api'], env: 'prod' }).services), ['api'], '--env picks one');
  assert.deepEqual(ids(selectServices(loaded.fleet, { targets: ['api:prod'] }).services), ['api']);
  assert.deepEqual(ids(selectServices(loaded.fleet, { targets: ['api:dev'] }).services), ['api:dev']);
  assert.deepEqual(ids(selectServices(loaded.fleet, { targets: ['api@laptop'] }).services), ['api:dev']);
  assert.deepEqual(ids(selectServices(loaded.fleet, { targets: ['api', 'core'] }).services), ['api']);
  const byHost = selectServices(loaded.fleet, { targets: ['web'] });
  assert.deepEqual(ids(byHost.services), ['edge', 'front']);
  assert.equal(byHost.named.size, 0, 'a host target selects; it does not name an edge');
  assert.deepEqual([...selectServices(loaded.fleet, { targets: ['edge'] }).named], ['edge']);
});

test('unknown targets are usage errors with a suggestion', () => {
  assert.throws(
    () => selectServices(loaded.fleet, { targets: ['apu'] }),
    (e: unknown) => e instanceof UsageError && /did you mean api\?/.test(e.hint ?? ''),
  );
  assert.throws(
    () => selectServices(loaded.fleet, { targets: ['api@cor'] }),
    (e: unknown) => e instanceof UsageError && /did you mean core\?/.test(e.hint ?? ''),
  );
  assert.throws(() => selectServices(loaded.fleet, { targets: [], host: 'nope' }), UsageError);
});

test('dependency levels: dependencies first; outside the selection they order nothing', () => {
  const all = selectServices(loaded.fleet, { targets: [], env: 'prod' }).services;
  assert.deepEqual(dependencyLevels(loaded.fleet, all).map(ids), [['db', 'legacy'], ['api'], ['front'], ['edge']]);
  const some = selectServices(loaded.fleet, { targets: ['front', 'db'] }).services;
  assert.deepEqual(dependencyLevels(loaded.fleet, some).map(ids), [['db'], ['front']]);
  // api:dev depends on db, resolved to prod's db (no db:dev): same level structure.
  const dev = selectServices(loaded.fleet, { targets: ['api:dev', 'db'] }).services;
  assert.deepEqual(dependencyLevels(loaded.fleet, dev).map(ids), [['db'], ['api:dev']]);
});

test('an edge is never stopped by a bulk stop; named, it needs --force', () => {
  const bulk = edgeFilter(selectServices(loaded.fleet, { targets: [], host: 'web' }), 'stop', false);
  assert.deepEqual(ids(bulk.services), ['front']);
  assert.match(bulk.skipped[0]?.reason ?? '', /never stopped by a bulk stop/);
  assert.throws(
    () => edgeFilter(selectServices(loaded.fleet, { targets: ['edge'] }), 'stop', false),
    (e: unknown) => e instanceof UsageError && /--force/.test(e.hint ?? ''),
  );
  assert.deepEqual(ids(edgeFilter(selectServices(loaded.fleet, { targets: ['edge'] }), 'restart', true).services), ['edge']);
  assert.deepEqual(
    ids(edgeFilter(selectServices(loaded.fleet, { targets: [], host: 'web' }), 'start', false).services),
    ['edge', 'front'],
    'start takes edges',
  );
  assert.deepEqual(
    ids(deployable(selectServices(loaded.fleet, { targets: [], host: 'web' })).services),
    ['front'],
    'a bulk deploy leaves the edge alone',
  );
});

test('deploy strategy: release with an artifact, the seed script otherwise, PID mode never', () => {
  const svc = (id: string) => loaded.fleet.services.find((s) => s.id === id)!;
  assert.deepEqual(decideStrategy(svc('api'), {}), { strategy: 'release', artifactPath: 'dist', artifactBase: svc('api').projectDir });
  assert.deepEqual(decideStrategy(svc('legacy'), {}), { strategy: 'script' });
  assert.match((decideStrategy(svc('db'), {}) as { error: string }).error, /no artifact/);
  assert.equal((decideStrategy(svc('db'), { artifact: 'x.tgz' }) as { strategy: string }).strategy, 'release');
  assert.match((decideStrategy(svc('api:dev'), {}) as { error: string }).error, /PID mode/);
});

test('deploy summary: one skipped because what it depends on failed is skipped, not failed twice', () => {
  const summary = deploySummary([
    { ok: false, outcome: 'rolled-back' },
    { ok: false, outcome: 'skipped' },
    { ok: true, outcome: 'deployed' },
    { ok: true, outcome: 'skipped' },
  ]);
  assert.deepEqual(summary, { deployed: 1, failed: 1, skipped: 2 });
});

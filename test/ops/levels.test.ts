// The one executor that walks dependency levels (deploy, start, stop, restart): levels in order,
// a level's services side by side, a failure holds back what depends on it and nothing else.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Service } from '../../src/fleet/model.js';
import { loadFleet, type LoadedFleet } from '../../src/load/fleet.js';
import { walkLevels } from '../../src/ops/levels.js';
import { dependencyLevels, selectedDependencies } from '../../src/ops/selection.js';
import { makeTree, removeTree } from '../helpers/tree.js';

const inv = JSON.stringify({ version: 1, hosts: { core: { provider: 'bare-metal', role: 'production' } } });
const manifest = (project: string, port: number, deps: string[] = []) =>
  `apiVersion: infra/v2\nproject: ${project}\nprovider: bare-metal\nservice:\n  host: core\n  port: ${port}\n  command: ./${project}\n` +
  (deps.length > 0 ? `  depends_on: [${deps.join(', ')}]\n` : '');

let root = '';
let loaded: LoadedFleet;
let levels: Service[][];
const dependencies = (s: Service) => selectedDependencies(loaded.fleet, s, loaded.fleet.services);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  // db ← api ← front, and apart from them cache ← worker.
  root = await makeTree({
    'mesh-hosts.json': inv,
    'db/.infra.yaml': manifest('db', 5000),
    'api/.infra.yaml': manifest('api', 5001, ['db']),
    'front/.infra.yaml': manifest('front', 5002, ['api']),
    'cache/.infra.yaml': manifest('cache', 5003),
    'worker/.infra.yaml': manifest('worker', 5004, ['cache']),
  });
  loaded = await loadFleet({ root });
  assert.deepEqual(loaded.problems, []);
  levels = dependencyLevels(loaded.fleet, loaded.fleet.services);
  assert.deepEqual(
    levels.map((l) => l.map((s) => s.id).sort()),
    [['cache', 'db'], ['api', 'worker'], ['front']],
  );
});
after(() => removeTree(root));

type Ran = { id: string; level: number; ran: boolean; blockers?: string[] };

test('levels one after another, a level side by side, results in walk order whatever finished first', async () => {
  const events: string[] = [];
  let running = 0;
  let most = 0;
  const results = await walkLevels<Ran>({
    levels,
    concurrency: 4,
    dependencies,
    failed: () => false,
    held: (s, blockers, level) => ({ id: s.id, level, ran: false, blockers: blockers.map((b) => b.id) }),
    run: async (s, level) => {
      events.push(`start ${s.id}`);
      running++;
      most = Math.max(most, running);
      // The first of each level finishes last.
      await sleep(levels[level]!.indexOf(s) === 0 ? 60 : 5);
      running--;
      events.push(`end ${s.id}`);
      return { id: s.id, level, ran: true };
    },
  });
  assert.deepEqual(
    results.map((r) => [r.id, r.level]),
    levels.flatMap((l, i) => l.map((s) => [s.id, i])),
  );
  assert.equal(most, 2, 'the two services of level 0 (and of level 1) run at the same time');
  for (const [i, level] of levels.entries())
    for (const later of levels.slice(i + 1).flat())
      for (const s of level)
        assert.ok(events.indexOf(`end ${s.id}`) < events.indexOf(`start ${later.id}`), `${s.id} (level ${i}) ends before ${later.id} starts`);
});

test('concurrency bounds how many act at once', async () => {
  let running = 0;
  let most = 0;
  await walkLevels<Ran>({
    levels,
    concurrency: 1,
    dependencies,
    failed: () => false,
    held: (s, _b, level) => ({ id: s.id, level, ran: false }),
    run: async (s, level) => {
      running++;
      most = Math.max(most, running);
      await sleep(5);
      running--;
      return { id: s.id, level, ran: true };
    },
  });
  assert.equal(most, 1);
});

test('a failure holds back what depends on it, transitively, and nothing unrelated', async () => {
  const ran: string[] = [];
  const results = await walkLevels<Ran & { ok: boolean }>({
    levels,
    concurrency: 4,
    dependencies,
    failed: (r) => !r.ok,
    held: (s, blockers, level) => ({ id: s.id, level, ran: false, ok: false, blockers: blockers.map((b) => b.id) }),
    run: async (s, level) => {
      ran.push(s.id);
      return { id: s.id, level, ran: true, ok: s.id !== 'db' };
    },
  });
  assert.deepEqual(ran.sort(), ['cache', 'db', 'worker']);
  const byId = new Map(results.map((r) => [r.id, r]));
  assert.deepEqual(byId.get('api'), { id: 'api', level: 1, ran: false, ok: false, blockers: ['db'] });
  // front waits on api, which was held back (not failed on its host): front is held too, naming api.
  assert.deepEqual(byId.get('front'), { id: 'front', level: 2, ran: false, ok: false, blockers: ['api'] });
  assert.equal(byId.get('worker')!.ran, true);
});

test('without dependencies (stop) a failure holds nothing back', async () => {
  const reversed = [...levels].reverse();
  const ran: string[] = [];
  const results = await walkLevels<Ran>({
    levels: reversed,
    concurrency: 4,
    failed: () => true,
    held: (s, _b, level) => ({ id: s.id, level, ran: false }),
    run: async (s, level) => {
      ran.push(s.id);
      return { id: s.id, level, ran: true };
    },
  });
  assert.equal(ran.length, 5);
  assert.deepEqual(
    results.map((r) => r.id),
    reversed.flat().map((s) => s.id),
  );
  assert.ok(results.every((r) => r.ran));
});

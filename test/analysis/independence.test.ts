/** check independence: seed 003's acceptance test as a command. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { checkIndependence, type IndependenceReport } from '../../src/analysis/independence.js';
import { cli, cliJson, fixture, indexOf, loadFixture, tunnel } from './helpers.js';

test('seed 003: production depends on the workstation (activity-core, four critical tunnels): exit 1', async () => {
  const { index } = await loadFixture('legacy-exit');
  const r = checkIndependence(index);
  assert.equal(r.ok, false);
  const ws = r.hosts.find((h) => h.host === 'workstation')!;
  assert.equal(ws.ok, false);
  assert.deepEqual(ws.down, []); // only state-hub:dev runs there, and it is not production
  assert.deepEqual(
    ws.degraded.map((s) => s.id),
    ['activity-core'],
  );
  assert.deepEqual(ws.critical_tunnels.map((t) => t.name).sort(), [
    'issue-core-coulombcore',
    'issue-core-railiance01',
    'state-hub-primary',
    'state-hub-railiance01',
  ]);
  assert.equal(r.hosts.find((h) => h.host === 'haskelseed')?.ok, true);

  const cmd = cli(['check', 'independence', '--root', 'test/fixtures/legacy-exit']);
  assert.equal(cmd.status, 1, cmd.stdout + cmd.stderr);
  assert.match(cmd.stdout, /✖ workstation \(workstation\): production depends on it/);
  assert.match(cmd.stdout, /state-hub-railiance01 \[reverse\], state-hub-primary/);
});

test('seed 003 re-homed onto railiance01 → coulombcore: the independence check passes (exit 0)', async () => {
  const { loaded, index } = await loadFixture('legacy-exit-rehomed');
  assert.deepEqual(loaded.problems, []);
  assert.equal(checkIndependence(index).ok, true);
  const { status, json } = cliJson<IndependenceReport>(['check', 'independence', '--root', 'test/fixtures/legacy-exit-rehomed']);
  assert.equal(status, 0);
  assert.deepEqual(
    json.hosts.map((h) => [h.host, h.role, h.ok]),
    [
      ['haskelseed', 'dev', true],
      ['workstation', 'workstation', true],
    ],
  );
});

test('the two seed 003 fixtures differ only in the inventory', async () => {
  const list = async (root: string): Promise<string[]> => {
    const out: string[] = [];
    const walk = async (dir: string) => {
      for (const e of await readdir(join(root, dir), { withFileTypes: true })) {
        const rel = dir ? `${dir}/${e.name}` : e.name;
        if (e.isDirectory()) await walk(rel);
        else if (rel !== 'mesh-hosts.json') out.push(rel);
      }
    };
    await walk('');
    return out.sort();
  };
  const a = await list(fixture('legacy-exit'));
  assert.deepEqual(await list(fixture('legacy-exit-rehomed')), a);
  for (const f of a)
    assert.equal(await readFile(join(fixture('legacy-exit-rehomed'), f), 'utf8'), await readFile(join(fixture('legacy-exit'), f), 'utf8'), f);
});

test('independence: a production service on a dev host, and a critical tunnel alone, both fail it', () => {
  const onDev = indexOf({
    hosts: ['prod', { name: 'box', role: 'dev' }],
    services: [
      { project: 'api', host: 'box' },
      { project: 'api', host: 'box', environment: 'dev' },
    ],
  });
  const r1 = checkIndependence(onDev);
  assert.deepEqual(
    r1.hosts[0]?.down.map((s) => s.id),
    ['api'],
  );
  assert.equal(r1.ok, false);
  const lane = indexOf({
    hosts: ['p1', 'p2', { name: 'laptop', role: 'workstation' }],
    tunnels: [tunnel('t', 'p1', 'laptop', { critical: true }), tunnel('dev', 'laptop', 'p2')],
  });
  const r2 = checkIndependence(lane);
  assert.deepEqual(
    r2.hosts[0]?.critical_tunnels.map((t) => t.name),
    ['t'],
  );
  assert.equal(r2.ok, false);
  assert.deepEqual(checkIndependence(indexOf({ hosts: ['p1'] })), { hosts: [], together: null, ok: true });
});

test('each personal host may be spared alone while production needs one of them: the check takes them all offline together too', () => {
  // worker (prod1) reaches api (old, not on the mesh) by two tunnel chains: one through ws, one through devbox.
  const spec = {
    hosts: [
      { name: 'prod1', meshIp: '10.9.0.2' },
      { name: 'old' },
      { name: 'ws', role: 'workstation' as const },
      { name: 'devbox', role: 'dev' as const },
    ],
    services: [
      { project: 'api', host: 'old', port: 3000 },
      { project: 'worker', host: 'prod1', dependsOn: ['api'] },
    ],
    tunnels: [tunnel('p1-ws', 'prod1', 'ws'), tunnel('ws-old', 'ws', 'old'), tunnel('p1-dev', 'prod1', 'devbox'), tunnel('dev-old', 'devbox', 'old')],
  };
  const r = checkIndependence(indexOf(spec));
  assert.deepEqual(
    r.hosts.map((h) => [h.host, h.ok]),
    [
      ['ws', true],
      ['devbox', true],
    ],
  );
  assert.equal(r.together?.ok, false);
  assert.deepEqual(r.together?.hosts, ['ws', 'devbox']);
  assert.deepEqual(
    r.together?.degraded.map((s) => s.id),
    ['worker'],
  );
  assert.equal(r.ok, false);
  // One chain through a production relay instead: nothing depends on the personal hosts.
  const relayed = {
    ...spec,
    hosts: [...spec.hosts, { name: 'relay' }],
    tunnels: [...spec.tunnels, tunnel('p1-relay', 'prod1', 'relay'), tunnel('relay-old', 'relay', 'old')],
  };
  assert.equal(checkIndependence(indexOf(relayed)).ok, true);
});

test('--live: a critical tunnel observed down counts as broken, said to be observed; the rest stays assumed', async () => {
  const { index } = await loadFixture('legacy-exit-rehomed');
  const observed = new Map([['state-hub-railiance01', 'down: unit failed (failed)']]);
  const r = checkIndependence(index, observed);
  assert.equal(r.ok, false);
  const ws = r.hosts.find((h) => h.host === 'workstation')!;
  assert.deepEqual(
    ws.critical_tunnels.map((t) => [t.name, t.basis, t.observed]),
    [['state-hub-railiance01', 'observed', 'down: unit failed (failed)']],
  );
  assert.ok(
    r.hosts.every((h) => h.critical_tunnels.some((t) => t.basis === 'observed')),
    'whichever host is offline, the tunnel is down now',
  );
  // Nothing observed down: the same verdict as without --live.
  assert.equal(checkIndependence(index, new Map()).ok, true);
});

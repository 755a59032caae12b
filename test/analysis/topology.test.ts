/** Reachability: same host, the mesh, tunnels (direction, both ends up, chains), carries preference. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Reachability } from '../../src/analysis/topology.js';
import { UsageError } from '../../src/errors.js';
import { indexOf, tunnel } from './helpers.js';

const hosts = ['a', 'w', 'c', { name: 'm1', meshIp: '10.9.0.1' }, { name: 'm2', meshIp: '10.9.0.2' }];

test('reachability: same host always; two mesh hosts directly; an off-mesh host only over tunnels', () => {
  const index = indexOf({ hosts, tunnels: [tunnel('a-m1', 'a', 'm1')] });
  const r = new Reachability(index);
  assert.equal(r.reaches('a', 'a'), true);
  assert.equal(r.reaches('m1', 'm2'), true);
  assert.deepEqual(r.route('m1', 'm2'), [{ via: 'mesh', from: 'm1', to: 'm2' }]);
  assert.equal(r.reaches('c', 'a'), false);
  // a tunnel into a mesh host continues over the mesh (the far end forwards)
  assert.equal(r.reaches('a', 'm2'), true);
  assert.deepEqual(
    r.route('a', 'm2')?.map((h) => h.via),
    ['tunnel', 'mesh'],
  );
});

test("reachability: a tunnel serves its from host's clients only (from → to), whatever end runs ssh", () => {
  const index = indexOf({ hosts, tunnels: [tunnel('rev', 'a', 'w', { direction: 'reverse' })] });
  const r = new Reachability(index);
  assert.equal(r.reaches('a', 'w'), true);
  assert.equal(r.reaches('w', 'a'), false);
});

test('reachability: tunnels chain through a host and break when it (or either end) is offline', () => {
  const index = indexOf({ hosts, tunnels: [tunnel('a-w', 'a', 'w', { direction: 'reverse' }), tunnel('w-c', 'w', 'c')] });
  const up = new Reachability(index);
  assert.equal(up.reaches('a', 'c'), true);
  assert.deepEqual(
    up.route('a', 'c')?.map((h) => (h.via === 'tunnel' ? h.tunnel.name : 'mesh')),
    ['a-w', 'w-c'],
  );
  const noW = new Reachability(index, new Set(['w']));
  assert.equal(noW.reaches('a', 'c'), false);
  assert.equal(noW.route('a', 'c'), undefined);
  assert.equal(new Reachability(index, new Set(['c'])).reaches('a', 'w'), true);
  assert.equal(new Reachability(index, new Set(['a'])).reaches('a', 'w'), false);
});

test('reachability: a tunnel that carries the dependency explains it, even over a shorter generic path', () => {
  const index = indexOf({
    hosts,
    tunnels: [tunnel('generic', 'a', 'c'), tunnel('hub-in', 'a', 'w', { carries: 'hub' }), tunnel('hub-out', 'w', 'c', { carries: 'hub' })],
  });
  const r = new Reachability(index);
  assert.deepEqual(
    r.route('a', 'c')?.map((h) => (h.via === 'tunnel' ? h.tunnel.name : '')),
    ['generic'],
  );
  assert.deepEqual(
    r.route('a', 'c', ['hub'])?.map((h) => (h.via === 'tunnel' ? h.tunnel.name : '')),
    ['hub-in', 'hub-out'],
  );
  assert.deepEqual(
    r.route('a', 'c', ['other'])?.map((h) => (h.via === 'tunnel' ? h.tunnel.name : '')),
    ['generic'],
  );
});

test('resolveHosts: an unknown host is a usage error with a did-you-mean hint', () => {
  const index = indexOf({ hosts: ['workstation', 'coulombcore'] });
  assert.deepEqual(index.resolveHosts(['workstation', 'workstation']), ['workstation']);
  assert.throws(
    () => index.resolveHosts(['workstaton']),
    (err: unknown) =>
      err instanceof UsageError &&
      err.exitCode === 2 &&
      /unknown host "workstaton"/.test(err.message) &&
      /did you mean "workstation"/.test(err.hint ?? ''),
  );
});

test('dependencies resolve to the same environment, else prod; unknown names are listed, not fatal', () => {
  const index = indexOf({
    hosts: ['a'],
    services: [
      { project: 'api', host: 'a', dependsOn: ['db-api', 'ghost'] },
      { project: 'db-api', host: 'a' },
      { project: 'db-api', host: 'a', environment: 'dev' },
      { project: 'web', host: 'a', environment: 'dev', dependsOn: ['db-api', 'api'] },
    ],
  });
  assert.deepEqual(
    index.edgesFrom.get('api')?.map((e) => e.toName),
    ['db-api'],
  );
  assert.deepEqual(
    index.edgesFrom.get('web:dev')?.map((e) => e.toName),
    ['db-api:dev', 'api'],
  );
  assert.deepEqual(index.unresolved, [{ from: 'api', kind: 'depends_on', name: 'ghost' }]);
});

/** Reachability over the networks the inventory declares, for fleets without a WireGuard mesh. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyzeImpact } from '../../src/analysis/impact.js';
import { checkIndependence } from '../../src/analysis/independence.js';
import { Reachability } from '../../src/analysis/topology.js';
import { directLink } from '../../src/fleet/networks.js';
import { indexOf, tunnel } from './helpers.js';

// A small team's fleet on one LAN: no mesh_ip anywhere, `lan` on every host.
const lanOnly = () =>
  indexOf({
    hosts: [
      { name: 'host1', lan: '192.168.1.10' },
      { name: 'host2', lan: '192.168.1.11' },
      { name: 'ws', lan: '192.168.1.50', role: 'workstation' },
    ],
    services: [
      { project: 'api', host: 'host1', port: 3000, database: 'main-pg' },
      { project: 'worker', host: 'host1', dependsOn: ['search'] },
      { project: 'search', host: 'host2', port: 9200 },
    ],
    clusters: [
      { name: 'main-pg', host: 'host2', port: 5432, engine: 'postgres', backup: { rpo: '1h', rto: '1h', method: 'restic', target: 'host1' } },
    ],
  });

test('a LAN-only fleet: hosts on one LAN reach each other (the route is one hop over the LAN); impact finds no "no route"', () => {
  const index = lanOnly();
  const reach = new Reachability(index);
  assert.equal(reach.reaches('host1', 'host2'), true);
  assert.deepEqual(reach.route('host1', 'host2'), [{ via: 'lan', from: 'host1', to: 'host2' }]);
  // Losing the workstation touches nothing: no note about a missing route.
  const ws = analyzeImpact(index, ['ws']);
  assert.deepEqual(ws.notes, []);
  assert.deepEqual(ws.degraded, []);
  // Losing host2 degrades api (its database) and worker (search) as down, not unreachable.
  const h2 = analyzeImpact(index, ['host2']);
  assert.deepEqual(h2.degraded.map((s) => [s.id, s.via[0]?.state]).sort(), [
    ['api', 'down'],
    ['worker', 'down'],
  ]);
  assert.deepEqual(h2.notes, []);
  assert.equal(checkIndependence(index).ok, true);
});

test("LANs are told apart by their /24, a provider's private network by provider; a public address is reachable from anywhere; the mesh is preferred", () => {
  const index = indexOf({
    hosts: [
      { name: 'home', lan: '192.168.1.10' },
      { name: 'office', lan: '192.168.7.10' },
      { name: 'do1', provider: 'digitalocean', privateIp: '10.110.0.2' },
      { name: 'do2', provider: 'digitalocean', privateIp: '10.110.0.3', publicIp: '203.0.113.9' },
      { name: 'hz', provider: 'vps', privateIp: '10.0.0.2' },
      { name: 'm1', meshIp: '10.9.0.1', lan: '192.168.1.20' },
    ],
  });
  const reach = new Reachability(index);
  assert.equal(reach.reaches('home', 'office'), false, 'two LANs');
  assert.deepEqual(reach.route('do1', 'do2'), [{ via: 'private', from: 'do1', to: 'do2' }]);
  assert.equal(reach.reaches('do1', 'hz'), false, "another provider's private network");
  assert.deepEqual(reach.route('home', 'do2'), [{ via: 'public', from: 'home', to: 'do2' }]);
  assert.equal(reach.reaches('do2', 'home'), false, 'a host with no public address is not reachable from the internet');
  assert.deepEqual(directLink(index.hosts.get('home')!, index.hosts.get('m1')!), { kind: 'lan', address: '192.168.1.20' });
  // Two networks shared: the mesh wins.
  const both = indexOf({
    hosts: [
      { name: 'a', meshIp: '10.9.0.1', lan: '10.0.0.1' },
      { name: 'b', meshIp: '10.9.0.2', lan: '10.0.0.2' },
    ],
  });
  assert.deepEqual(new Reachability(both).route('a', 'b'), [{ via: 'mesh', from: 'a', to: 'b' }]);
  // Hops compose: a tunnel into the LAN, then the LAN.
  const chained = indexOf({
    hosts: [{ name: 'vps' }, { name: 'gw', lan: '192.168.1.1' }, { name: 'db', lan: '192.168.1.2' }],
    tunnels: [tunnel('in', 'vps', 'gw')],
  });
  assert.deepEqual(
    new Reachability(chained).route('vps', 'db')?.map((h) => h.via),
    ['tunnel', 'lan'],
  );
  // ...and the LAN is gone with the gateway offline.
  assert.equal(new Reachability(chained, new Set(['gw'])).reaches('vps', 'db'), false);
});

test('impact on a LAN-only fleet: the edge that reaches its apps over the LAN; its loss darkens their domains', () => {
  const index = indexOf({
    hosts: [
      { name: 'edge1', lan: '192.168.1.2' },
      { name: 'app1', lan: '192.168.1.3' },
    ],
    services: [
      { project: 'edge', host: 'edge1', kind: 'edge', port: 443 },
      { project: 'shop', host: 'app1', port: 8080, domains: ['shop.internal'] },
    ],
  });
  assert.deepEqual(
    analyzeImpact(index, ['app1']).domains.map((d) => d.reason),
    ['service-down'],
  );
  assert.deepEqual(
    analyzeImpact(index, ['edge1']).domains.map((d) => d.reason),
    ['edge-offline'],
  );
  // On two LANs the edge cannot reach the app: its domains are dark (reported by any what-if).
  const apart = indexOf({
    hosts: [{ name: 'edge1', lan: '192.168.1.2' }, { name: 'app1', lan: '192.168.9.3' }, { name: 'x' }],
    services: [
      { project: 'edge', host: 'edge1', kind: 'edge', port: 443 },
      { project: 'shop', host: 'app1', port: 8080, domains: ['shop.internal'] },
    ],
  });
  assert.deepEqual(
    analyzeImpact(apart, ['x']).domains.map((d) => d.reason),
    ['no-route'],
  );
});

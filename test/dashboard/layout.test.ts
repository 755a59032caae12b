// Issue 28: the picture draws a domain through the edge that routes it (domain → edge → app),
// as `net caddy` renders it, never straight to the app; and names the fleet, never "fleet: .".
import assert from 'node:assert/strict';
import { basename, join } from 'node:path';
import { test } from 'node:test';
import { FleetIndex } from '../../src/analysis/topology.js';
import { buildGraph } from '../../src/analysis/graph.js';
import { layoutFleet, loadElk } from '../../src/render/fleet-layout.js';
import { pageTitle } from '../../src/app/page.js';
import { loadFleet } from '../../src/load/fleet.js';
import { packageRoot } from '../../src/package-root.js';

test('a domain is drawn to its edge, and the edge to the app; a domain no edge routes goes to its service', { timeout: 60_000 }, async () => {
  const loaded = await loadFleet({ root: join(packageRoot(), 'examples/fleet') });
  const graph = buildGraph(new FleetIndex(loaded.fleet));
  const layout = await layoutFleet(await loadElk(), graph);
  const routes = layout.edges.filter((e) => e.kind === 'route').map((e) => `${e.from} → ${e.to}`);
  for (const r of graph.edges) {
    if (r.kind !== 'route') continue;
    if (r.edge !== null && r.edge !== r.to) {
      assert.ok(routes.includes(`${r.from} → ${r.edge}`), `${r.from} is drawn to its edge ${r.edge}: ${routes.join('; ')}`);
      assert.ok(routes.includes(`${r.edge} → ${r.to}`), `${r.edge} is drawn to ${r.to}`);
      assert.ok(!routes.includes(`${r.from} → ${r.to}`), `${r.from} is not drawn straight to ${r.to}`);
    } else {
      assert.ok(routes.includes(`${r.from} → ${r.to}`), `${r.from} (no edge) goes to ${r.to}`);
    }
  }
  // One edge → app line per pair, however many domains share it.
  assert.equal(new Set(routes).size, routes.length);
});

test('the page is titled by the fleet directory\'s name, never "fleet: ."', () => {
  assert.equal(pageTitle({ root: '.' }), `fleet: ${basename(process.cwd())}`);
  assert.equal(pageTitle({ root: '/srv/infra/' }), 'fleet: infra');
});

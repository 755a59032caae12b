/** graph: one JSON document; terminal text; valid Mermaid and Graphviz. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { buildGraph, renderDot, renderMermaid, renderText, type FleetGraph } from '../../src/analysis/graph.js';
import { FleetIndex } from '../../src/analysis/topology.js';
import { renderCaddy } from '../../src/render/caddy.js';
import { cli, cliJson, fleetOf, indexOf, loadFixture, tunnel } from './helpers.js';

const awkward = () =>
  indexOf({
    hosts: [{ name: 'vps-0', meshIp: '10.9.0.1' }, { name: 'end', role: 'workstation' }, 'o.x'],
    clusters: [{ name: 'pg"quoted', host: 'vps-0' }],
    services: [
      { project: 'web.fe', host: 'vps-0', port: 443, domains: ['ai.cocotte.maison'], dependsOn: ['api'] },
      { project: 'api', host: 'o.x', database: 'pg"quoted' },
      { project: 'web-fe', host: 'end', environment: 'dev' },
      { project: 'edge', host: 'vps-0', kind: 'edge' },
    ],
    tunnels: [tunnel('t<1>', 'end', 'vps-0', { direction: 'reverse', carries: 'api', critical: true })],
  });

test('graph JSON: hosts contain services and clusters; edges for depends_on, database, tunnel and route', async () => {
  const { index } = await loadFixture('legacy-exit');
  const g = buildGraph(index);
  assert.deepEqual(g.hosts.find((h) => h.name === 'railiance01')?.services, ['activity-core', 'nats', 'temporal']);
  assert.deepEqual(g.hosts.find((h) => h.name === 'coulombcore')?.clusters, ['coulombcore-pg', 'identity-pg', 'state-hub-pg']);
  const kinds = new Set(g.edges.map((e) => e.kind));
  assert.deepEqual([...kinds].sort(), ['database', 'depends_on', 'route', 'tunnel']);
  assert.ok(g.edges.some((e) => e.kind === 'depends_on' && e.from === 'activity-core' && e.to === 'state-hub'));
  assert.ok(g.edges.some((e) => e.kind === 'route' && e.from === 'hub.coulomb.social' && e.to === 'core-hub'));
  const t = g.edges.find((e) => e.kind === 'tunnel' && e.name === 'state-hub-railiance01');
  assert.deepEqual(t, {
    kind: 'tunnel',
    name: 'state-hub-railiance01',
    from: 'railiance01',
    to: 'workstation',
    direction: 'reverse',
    carries: 'state-hub',
    critical: true,
    ports: [18000],
  });
  const routed = buildGraph(awkward()).edges.find((e) => e.kind === 'route');
  assert.deepEqual(routed, { kind: 'route', from: 'ai.cocotte.maison', to: 'web.fe', edge: 'edge', edges: ['edge'] });
});

test('graph draws the routes net caddy renders: a service on a host without an edge goes through every edge', () => {
  const fleet = fleetOf({
    hosts: [
      { name: 'vps-0', meshIp: '10.9.0.1' },
      { name: 'vps-1', meshIp: '10.9.0.2' },
      { name: 'black', meshIp: '10.9.0.11' },
    ],
    services: [
      { project: 'sso', host: 'black', port: 3050, domains: ['sso.example.com'] },
      { project: 'beacon', host: 'vps-1', port: 3060, domains: ['beacon.example.com'] },
      { project: 'edge', host: 'vps-0', kind: 'edge', port: 443 },
      { project: 'edge-1', host: 'vps-1', kind: 'edge', port: 443 },
    ],
  });
  const routes = buildGraph(new FleetIndex(fleet)).edges.filter((e) => e.kind === 'route');
  assert.deepEqual(
    routes.map((r) => [r.from, r.edges]),
    [
      ['sso.example.com', ['edge', 'edge-1']],
      ['beacon.example.com', ['edge-1']],
    ],
  );
  const caddy = renderCaddy(fleet);
  assert.deepEqual(caddy.problems, []);
  for (const r of routes) {
    const routedBy = caddy.files.filter((f) => f.content.includes(r.from)).map((f) => f.path.replace('.Caddyfile', ''));
    const edgeHosts = r.edges.map((id) => fleet.services.find((s) => s.id === id)!.host);
    assert.deepEqual(routedBy, edgeHosts, r.from);
  }
});

test('graph text: a block per host, then tunnels and routes, readable without any tool', async () => {
  const { index } = await loadFixture('legacy-exit');
  const text = renderText(buildGraph(index));
  assert.match(text, /^railiance01 {2}production · vps · not on the mesh$/m);
  assert.match(text, /activity-core :8400 +→ state-hub \(coulombcore\), issue-core \(coulombcore\), temporal, nats/);
  assert.match(text, /coulombcore-pg +postgres :5434 +← core-hub, gitea, inter-hub, issue-core/);
  assert.match(text, /state-hub-railiance01 +railiance01 → workstation +reverse +carries state-hub +critical/);
  assert.match(text, /hub\.coulomb\.social +→ core-hub \(coulombcore\)/);
  assert.doesNotMatch(text, /\u001b\[/);
});

test('graph mermaid: a flowchart with sanitized unique ids and every label quoted', () => {
  const m = renderMermaid(buildGraph(awkward()));
  const lines = m.split('\n');
  assert.equal(lines[0], 'flowchart LR');
  // ids: letters, digits and _ only; "web.fe" and "web-fe" do not collide
  assert.match(m, /subgraph h_vps_0\["vps-0 · production · mesh 10\.9\.0\.1"\]/);
  assert.match(m, / s_web_fe\["web\.fe :443"\]/);
  assert.match(m, / s_web_fe_dev\["web-fe:dev"\]/);
  assert.match(m, /c_pg_quoted\[\("pg#quot;quoted · postgres :5432"\)\]/);
  assert.match(m, /h_end ==>\|"tunnel t#lt;1#gt; \(reverse\): api"\| h_vps_0/);
  assert.match(m, /d_ai_cocotte_maison\(\["ai\.cocotte\.maison"\]\)/);
  let depth = 0;
  for (const line of lines.slice(1)) {
    const t = line.trim();
    if (t.startsWith('subgraph ')) depth++;
    else if (t === 'end') depth--;
    else if (t !== 'direction TB') {
      // every statement: a node declaration or an edge between sanitized ids, labels in quotes
      assert.match(t, /^[A-Za-z0-9_]+(\[\("[^"]*"\)\]|\(\["[^"]*"\]\)|\["[^"]*"\]| (-->|-\.->|==>)(\|"[^"]*"\|)? [A-Za-z0-9_]+)$/, t);
    }
    assert.ok(depth >= 0 && depth <= 1);
  }
  assert.equal(depth, 0);
});

/** Mermaid's own parser, when mermaid and jsdom are installed (they are not dependencies). */
async function mermaidParser(): Promise<((text: string) => Promise<unknown>) | undefined> {
  // Names in variables: the compiler must not require these optional modules.
  const jsdomName: string = 'jsdom';
  const mermaidName: string = 'mermaid';
  try {
    const jsdom = (await import(jsdomName)) as { JSDOM: new (html: string) => { window: Record<string, unknown> & { document: unknown } } };
    const dom = new jsdom.JSDOM('<!doctype html><html><body></body></html>');
    const g = globalThis as Record<string, unknown>;
    g['window'] = dom.window;
    g['document'] = dom.window.document;
    for (const k of ['DOMParser', 'Element', 'HTMLElement', 'Node']) g[k] ??= dom.window[k];
    const mermaid = ((await import(mermaidName)) as { default: { initialize(o: object): void; parse(t: string): Promise<unknown> } }).default;
    mermaid.initialize({ startOnLoad: false });
    return (text) => mermaid.parse(text);
  } catch {
    return undefined;
  }
}

test("graph mermaid: Mermaid's own parser accepts it", async (t) => {
  const parse = await mermaidParser();
  if (!parse) {
    t.skip('mermaid + jsdom are not installed (npm i -D mermaid jsdom): Mermaid syntax checked structurally only');
    return;
  }
  await assert.rejects(parse('flowchart LR\n  a[unclosed --> b'), 'the parser is live');
  for (const index of [awkward(), (await loadFixture('legacy-exit')).index, (await loadFixture('five-hosts')).index])
    await parse(renderMermaid(buildGraph(index)));
});

const hasDot = spawnSync('dot', ['-V']).status === 0;

test(
  'graph dot: Graphviz accepts it (dot -Tsvg)',
  { skip: hasDot ? false : 'graphviz `dot` is not installed (apt-get install -y graphviz): DOT syntax not checked' },
  async () => {
    for (const index of [awkward(), (await loadFixture('legacy-exit')).index, (await loadFixture('five-hosts')).index]) {
      const dot = renderDot(buildGraph(index));
      const r = spawnSync('dot', ['-Tsvg'], { input: dot, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr, '', r.stderr);
      assert.match(r.stdout, /<svg/);
    }
  },
);

test('CLI: graph --format json|mermaid|dot|text and --json; a bad format is a usage error', () => {
  const root = ['--root', 'test/fixtures/legacy-exit'];
  const asJson = cli(['graph', ...root, '--format', 'json']);
  assert.equal(asJson.status, 0);
  const g = JSON.parse(asJson.stdout) as FleetGraph;
  assert.deepEqual(Object.keys(g), ['hosts', 'services', 'clusters', 'edges', 'unresolved']);
  const { json } = cliJson<FleetGraph & { problems: unknown[] }>(['graph', ...root]);
  assert.deepEqual(json.edges, g.edges);
  const { json: mer } = cliJson<{ format: string; text: string }>(['graph', ...root, '--format', 'mermaid']);
  assert.equal(mer.format, 'mermaid');
  assert.match(mer.text, /^flowchart LR/);
  assert.match(cli(['graph', ...root, '--format', 'dot']).stdout, /^digraph fleet \{/);
  assert.match(cli(['graph', ...root]).stdout, /^tunnels/m);
  assert.equal(cli(['graph', ...root, '--format', 'png']).status, 2);
});

test('a dev edge never routes production; a dev service goes through the dev edge, which must reach it over the mesh', () => {
  const fleet = fleetOf({
    hosts: [
      { name: 'vps-0', meshIp: '10.9.0.1' },
      { name: 'black', meshIp: '10.9.0.11' },
      { name: 'lap', role: 'workstation' },
    ],
    services: [
      { project: 'sso', host: 'black', port: 3050, domains: ['sso.example.com'] },
      { project: 'sso', host: 'black', port: 13050, domains: ['sso.dev.example.com'], environment: 'dev' },
      { project: 'edge', host: 'vps-0', kind: 'edge', port: 443 },
      { project: 'edge', host: 'lap', kind: 'edge', port: 8443, environment: 'dev' },
    ],
  });
  const routes = buildGraph(new FleetIndex(fleet)).edges.filter((e) => e.kind === 'route');
  assert.deepEqual(
    routes.map((r) => [r.from, r.edges]),
    [
      ['sso.example.com', ['edge']],
      ['sso.dev.example.com', ['edge:dev']],
    ],
  );
  const caddy = renderCaddy(fleet);
  assert.deepEqual(
    caddy.problems.map((p) => p.message),
    ['edge host "lap" is not on the mesh: it cannot reach "sso:dev" on black'],
  );
});

// The picture's text: markup escaped, no control character from a name reaches the file.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { esc, renderSvg } from '../../src/render/fleet-svg.js';

test('esc escapes markup and drops control characters', () => {
  assert.equal(esc('a<b>&"\'c'), 'a&#60;b&#62;&#38;&#34;&#39;c');
  assert.equal(esc('bad\u001b[31mname\u0007\r\n\u009b'), 'bad[31mname');
});

test('a name with markup and escape sequences is text in the SVG, never markup', () => {
  const svg = renderSvg({
    routed: true,
    width: 300,
    height: 200,
    groups: [{ id: 'production · vps', role: 'production', provider: 'vps', box: { x: 0, y: 0, w: 300, h: 200 } }],
    hosts: [
      {
        name: 'h<script>\u001b',
        role: 'production',
        provider: 'vps',
        mesh_ip: null,
        frozen: false,
        box: { x: 10, y: 10, w: 200, h: 80 },
        rows: [{ kind: 'service', id: 's"x', label: 's"x', detail: ':1', y: 60 }],
      },
    ],
    domains: [],
    edges: [],
  });
  assert.ok(!svg.includes('<script>'));
  assert.ok(!/[\u0000-\u0008\u000b-\u001f\u007f]/.test(svg));
  assert.ok(svg.includes('>h&#60;script&#62;</text>'));
  assert.ok(svg.includes('data-service="s&#34;x"'));
});

test("a compact picture (big fleets): a card's rows are the tspans of one text, each name real text, escaped", () => {
  const rows = Array.from({ length: 3 }, (_, i) => ({
    kind: 'service' as const,
    id: `svc-${i}<b>`,
    label: `svc-${i}<b>`,
    detail: `:${8000 + i}`,
    y: 60 + 18 * i,
  }));
  const layout = {
    routed: false,
    width: 300,
    height: 200,
    groups: [],
    hosts: [
      {
        name: 'h1',
        role: 'production',
        provider: 'vps',
        mesh_ip: null,
        frozen: false,
        box: { x: 10, y: 10, w: 200, h: 120 },
        rows: [...rows, { kind: 'cluster' as const, id: 'pg', label: 'pg', detail: 'postgres :5432', y: 120 }],
      },
    ],
    domains: [],
    edges: [],
  };
  const svg = renderSvg(layout, { compact: true });
  assert.match(svg, /class="fleet unrouted compact"/);
  assert.equal(svg.match(/<text class="rows">/g)?.length, 1);
  assert.ok(!svg.includes('class="row-bg"'));
  assert.ok(svg.includes('<tspan class="row service" data-service="svc-1&#60;b&#62;" data-host="h1" x="26" y="82">svc-1&#60;b&#62; :8001</tspan>'));
  assert.ok(svg.includes('data-cluster="pg" data-host="h1" x="26" y="124">pg postgres :5432</tspan>'));
  // Without the option: compact above COMPACT_ROW_LIMIT rows only.
  assert.ok(!renderSvg(layout).includes('compact'));
});

// The picture's text: markup escaped, no control character from a name reaches the file.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { esc, renderSvg } from '../../src/dashboard/svg.js';

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
    hosts: [{ name: 'h<script>\u001b', role: 'production', provider: 'vps', mesh_ip: null, frozen: false, box: { x: 10, y: 10, w: 200, h: 80 }, rows: [{ kind: 'service', id: 's"x', label: 's"x', detail: ':1', y: 60 }] }],
    domains: [],
    edges: [],
  });
  assert.ok(!svg.includes('<script>'));
  assert.ok(!/[\u0000-\u0008\u000b-\u001f\u007f]/.test(svg));
  assert.ok(svg.includes('>h&#60;script&#62;</text>'));
  assert.ok(svg.includes('data-service="s&#34;x"'));
});

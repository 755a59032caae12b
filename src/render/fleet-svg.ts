/**
 * The laid-out fleet as SVG: every name is real <text> (searchable, selectable, read by
 * assistive tools), every host, row and edge carries data-* attributes the page's script uses
 * to colour status and highlight what-if answers. Standalone: its own <style>, no external
 * reference, so `graph --format svg` can go straight into docs.
 */
import { CHAR_W, GUTTER, HEADER_H, ROW_H, type FleetLayout, type LaidEdge, type Point } from './fleet-layout.js';

/** No control character from a file or a value reaches the rendered file; markup is escaped. */
export function esc(value: string): string {
  return value.replace(/[\u0000-\u001f\u007f-\u009f]/g, '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Role colours (the legend repeats them). Any other role is grey. */
export const ROLE_COLOURS: Record<string, string> = {
  production: '#2563eb',
  workstation: '#d97706',
  dev: '#7c3aed',
  staging: '#0d9488',
  unknown: '#6b7280',
};
export const roleColour = (role: string) => ROLE_COLOURS[role] ?? '#6b7280';
const cls = (value: string) => value.replace(/[^A-Za-z0-9_-]/g, '_');
const n = (v: number) => (Math.round(v * 10) / 10).toString();

export const SVG_STYLE = `
.fleet { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12px; }
.fleet .group-box { fill: #f8fafc; stroke: #cbd5e1; stroke-dasharray: 4 3; }
.fleet .group-label { font-size: 12px; font-weight: bold; }
.fleet .card { fill: #fff; stroke-width: 2; }
.fleet .host-name { font-size: 13px; font-weight: bold; fill: #0f172a; }
.fleet .host-sub, .fleet .detail { fill: #64748b; }
.fleet .row-bg { fill: transparent; }
.fleet .row-label { fill: #0f172a; }
.fleet .dot { fill: #cbd5e1; }
.fleet .cluster .dot { fill: #93c5fd; }
.fleet .sep { stroke: #e2e8f0; }
.fleet .mesh-band { fill: #14b8a6; }
.fleet .domain rect { fill: #ecfdf5; stroke: #10b981; }
.fleet .edge { fill: none; stroke-width: 1.3; }
.fleet .edge-depends_on { stroke: #475569; }
.fleet .edge-database { stroke: #2563eb; }
.fleet .edge-tunnel { stroke: #9333ea; stroke-dasharray: 6 4; stroke-width: 1.8; }
.fleet .edge-tunnel.critical { stroke-width: 2.6; }
.fleet .edge-route { stroke: #10b981; }
.fleet .edge-label { font-size: 11px; fill: #7e22ce; paint-order: stroke; stroke: #fff; stroke-width: 3px; }
.fleet.unrouted .edge, .fleet.unrouted .edge-label { display: none; }
.fleet tspan.row.cluster { fill: #1d4ed8; }
`;

/**
 * Above this many rows (services and clusters) the picture is compact: a card's rows are the
 * positioned <tspan>s of one <text> (name and detail; no background box, no dot) instead of six
 * elements each. Measured at 200 hosts / 5,000 services (bench/dashboard.mjs): the browser's
 * style and layout of ~30,000 SVG elements was most of the time to interactive, and one <text>
 * per card lays out in about half the time of one per row. The names stay real text; the page
 * marks a compact row's state by its colour and a highlighter stroke behind the glyphs.
 */
export const COMPACT_ROW_LIMIT = 1000;

const ARROWS = [
  ['depends_on', '#475569'],
  ['database', '#2563eb'],
  ['tunnel', '#9333ea'],
  ['route', '#10b981'],
  ['lit', '#dc2626'],
] as const;

function pathOf(points: Point[]): string {
  return points.map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${n(x)} ${n(y)}`).join(' ');
}

/** One edge: exported for a picture that draws only some of its edges. */
export function edgeSvg(e: LaidEdge): string {
  if (e.points.length < 2) return '';
  const attrs = `data-kind="${e.kind}" data-from="${esc(e.from)}" data-to="${esc(e.to)}"${e.label ? ` data-label="${esc(e.label)}"` : ''}${e.within ? ` data-within="${esc(e.within)}"` : ''}`;
  const d =
    e.within !== null
      ? // An arc in the card's gutter: from the using row to the used one.
        `M${n(e.points[0]![0])} ${n(e.points[0]![1])} C${n(e.points[1]![0])} ${n(e.points[1]![1])} ${n(e.points[2]![0])} ${n(e.points[2]![1])} ${n(e.points[3]![0])} ${n(e.points[3]![1])}`
      : pathOf(e.points);
  const out = [
    `<path class="edge edge-${e.kind}${e.critical ? ' critical' : ''}" ${attrs} d="${d}" marker-end="url(#arrow-${e.kind})"><title>${esc(edgeTitle(e))}</title></path>`,
  ];
  if (e.kind === 'tunnel' && e.label) {
    const mid = e.points[Math.floor((e.points.length - 1) / 2)]!;
    const next = e.points[Math.floor((e.points.length - 1) / 2) + 1] ?? mid;
    out.push(
      `<text class="edge-label" data-from="${esc(e.from)}" data-to="${esc(e.to)}" x="${n((mid[0] + next[0]) / 2 + 4)}" y="${n((mid[1] + next[1]) / 2 - 4)}">${esc(e.label)}${e.critical ? ' (critical)' : ''}</text>`,
    );
  }
  return out.join('');
}

function edgeTitle(e: LaidEdge): string {
  if (e.kind === 'tunnel') return `tunnel ${e.label ?? ''}: ${e.from} → ${e.to}${e.critical ? ' (critical)' : ''}`;
  if (e.kind === 'route') return `${e.from} routed to ${e.to}${e.label ? ` by ${e.label}` : ''}`;
  return `${e.from} ${e.kind === 'database' ? 'uses database cluster' : 'depends on'} ${e.to}`;
}

/** The whole picture. `id` lets a page hold it with a stable element id. */
export function renderSvg(layout: FleetLayout, options: { id?: string; title?: string; compact?: boolean } = {}): string {
  const compact = options.compact ?? layout.hosts.reduce((sum, h) => sum + h.rows.length, 0) > COMPACT_ROW_LIMIT;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg"${options.id ? ` id="${options.id}"` : ''} class="fleet ${layout.routed ? 'routed' : 'unrouted'}${compact ? ' compact' : ''}" viewBox="0 0 ${layout.width} ${layout.height}" width="${layout.width}" height="${layout.height}" role="img" aria-label="${esc(options.title ?? 'fleet topology')}">`,
    `<title>${esc(options.title ?? 'fleet topology')}</title>`,
    `<style>${SVG_STYLE}</style>`,
    '<defs>',
    ...ARROWS.map(
      ([kind, colour]) =>
        `<marker id="arrow-${kind}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" markerHeight="9" markerUnits="userSpaceOnUse" orient="auto-start-reverse"><path d="M0 0 L10 5 L0 10 z" fill="${colour}"/></marker>`,
    ),
    '</defs>',
    `<rect width="${layout.width}" height="${layout.height}" fill="#fff"/>`,
  );
  out.push('<g class="groups">');
  for (const g of layout.groups) {
    const b = g.box;
    out.push(
      `<g class="group role-${cls(g.role)}" data-group="${esc(g.id)}"><rect class="group-box" x="${n(b.x)}" y="${n(b.y)}" width="${n(b.w)}" height="${n(b.h)}" rx="8"/><text class="group-label" x="${n(b.x + 12)}" y="${n(b.y + 19)}" fill="${roleColour(g.role)}">${esc(g.id)}</text></g>`,
    );
  }
  const domainGroup =
    layout.domains.length > 0
      ? layout.domains.reduce((acc, d) => ({ x: Math.min(acc.x, d.box.x), y: Math.min(acc.y, d.box.y) }), { x: Infinity, y: Infinity })
      : null;
  if (domainGroup) out.push(`<text class="group-label" x="${n(domainGroup.x)}" y="${n(domainGroup.y - 10)}" fill="#047857">domains</text>`);
  out.push('</g><g class="domains">');
  for (const d of layout.domains) {
    const b = d.box;
    out.push(
      `<g class="domain" data-domain="${esc(d.name)}"><rect x="${n(b.x)}" y="${n(b.y)}" width="${n(b.w)}" height="${n(b.h)}" rx="11"/><text x="${n(b.x + 10)}" y="${n(b.y + 15)}">${esc(d.name)}</text></g>`,
    );
  }
  out.push('</g><g class="hosts">');
  for (const h of layout.hosts) {
    const b = h.box;
    const colour = roleColour(h.role);
    const sub = `${h.role}${h.frozen ? ' (frozen)' : ''} · ${h.provider}${h.mesh_ip ? ` · mesh ${h.mesh_ip}` : ''}`;
    out.push(
      `<g class="host role-${cls(h.role)}${h.mesh_ip ? ' on-mesh' : ''}" data-host="${esc(h.name)}" tabindex="0" role="button" aria-label="host ${esc(h.name)}">`,
      `<title>${esc(`${h.name}: ${sub}`)}</title>`,
      `<rect class="card" x="${n(b.x)}" y="${n(b.y)}" width="${n(b.w)}" height="${n(b.h)}" rx="6" stroke="${colour}"/>`,
      `<rect class="header" x="${n(b.x + 1)}" y="${n(b.y + 1)}" width="${n(b.w - 2)}" height="${HEADER_H - 6}" rx="5" fill="${colour}" fill-opacity="0.1"/>`,
      h.mesh_ip
        ? `<rect class="mesh-band" x="${n(b.x + b.w - 6)}" y="${n(b.y + 6)}" width="3" height="${HEADER_H - 16}"><title>on the WireGuard mesh (${esc(h.mesh_ip)})</title></rect>`
        : '',
      `<text class="host-name" x="${n(b.x + GUTTER)}" y="${n(b.y + 16)}">${esc(h.name)}</text>`,
      `<text class="host-sub" x="${n(b.x + GUTTER)}" y="${n(b.y + 30)}">${esc(sub)}</text>`,
    );
    let clusterLine = false;
    if (compact && h.rows.length > 0) out.push('<text class="rows">');
    for (const r of h.rows) {
      if (r.kind === 'cluster' && !clusterLine && !compact) {
        clusterLine = true;
        out.push(`<line class="sep" x1="${n(b.x + 6)}" x2="${n(b.x + b.w - 6)}" y1="${n(r.y - ROW_H / 2 - 3)}" y2="${n(r.y - ROW_H / 2 - 3)}"/>`);
      }
      const attr = r.kind === 'service' ? `data-service="${esc(r.id)}"` : `data-cluster="${esc(r.id)}"`;
      if (compact) {
        out.push(
          `<tspan class="row ${r.kind}" ${attr} data-host="${esc(h.name)}" x="${n(b.x + GUTTER + 4)}" y="${n(r.y + 4)}">${esc(r.label)}${r.detail ? ` ${esc(r.detail)}` : ''}</tspan>`,
        );
        continue;
      }
      out.push(
        `<g class="row ${r.kind}" ${attr} data-host="${esc(h.name)}">`,
        `<rect class="row-bg" x="${n(b.x + GUTTER - 2)}" y="${n(r.y - ROW_H / 2)}" width="${n(b.w - GUTTER - 4)}" height="${ROW_H}" rx="3"/>`,
        r.kind === 'service'
          ? `<circle class="dot" cx="${n(b.x + GUTTER + 6)}" cy="${n(r.y)}" r="4"/>`
          : `<rect class="dot" x="${n(b.x + GUTTER + 2)}" y="${n(r.y - 4)}" width="8" height="8" rx="1"/>`,
        `<text x="${n(b.x + GUTTER + 16)}" y="${n(r.y + 4)}"><tspan class="row-label">${esc(r.label)}</tspan>${r.detail ? `<tspan class="detail" x="${n(b.x + GUTTER + 16 + (r.label.length + 1) * CHAR_W)}">${esc(r.detail)}</tspan>` : ''}</text>`,
        '</g>',
      );
    }
    if (compact && h.rows.length > 0) out.push('</text>');
    out.push('</g>');
  }
  out.push('</g><g class="edges">');
  // Unrouted (big) pictures leave edges to the page, which draws those of what is selected.
  if (layout.routed) for (const e of layout.edges) out.push(edgeSvg(e));
  out.push('</g></svg>');
  return out.join('\n');
}

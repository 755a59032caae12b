/**
 * The one page: the picture (SVG laid out by ELK on this side), the answers every panel
 * starts with, and the page's script and style, all inline. `graph --format html` writes it
 * as a static file (its Content-Security-Policy forbids every request, even to local files);
 * `ui` serves it with live status and what-if answers from the server.
 *
 * Every answer is the --json document of the CLI verb that gives it (graph, check
 * independence, backups, validate, impact, drain): the command functions themselves run.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FleetGraph } from '../analysis/graph.js';
import { packageRoot } from '../package-root.js';
import type { GlobalOptions } from '../cli/context.js';
import { layoutFleet, loadElk, type FleetLayout } from './layout.js';
import { esc, renderSvg, ROLE_COLOURS } from './svg.js';

/** A static page holds what-if for each single host up to this many hosts, and a drain plan for every pair up to STATIC_DRAIN_MAX_HOSTS. */
export const STATIC_IMPACT_MAX_HOSTS = 60;
export const STATIC_DRAIN_MAX_HOSTS = 12;

export interface LiveSettings {
  /** Status refresh interval, seconds. */
  interval: number;
  allowActions: boolean;
  /** Sent back in X-CSRF-Token with every action. */
  csrf: string;
}

export interface PageData {
  mode: 'static' | 'live';
  title: string;
  generated_at: string;
  graph: FleetGraph & { problems: unknown[] };
  independence: unknown;
  backups: unknown;
  validate: unknown;
  /** Static pages: `impact <host> --json` for each host (when few enough). */
  impacts?: Record<string, unknown>;
  /** Static pages: `drain <a> --to <b> --json` keyed "a>b" (when few enough hosts). */
  drains?: Record<string, unknown>;
  live?: LiveSettings;
  routed: boolean;
}

const asset = (name: string) => readFileSync(join(packageRoot(), 'src', 'dashboard', 'assets', name), 'utf8');

export const pageTitle = (options: GlobalOptions) => `fleet: ${options.root ?? '.'}`;

/** graph --json through the command itself, and its layout. */
export async function laidOutGraph(options: GlobalOptions): Promise<{ graph: PageData['graph']; layout: FleetLayout }> {
  const { graph } = await import('../cli/commands/graph.js');
  const doc = (await graph({ ...options, format: 'json' })).json as PageData['graph'];
  const layout = await layoutFleet(await loadElk(), doc);
  return { graph: doc, layout };
}

/** Everything the page shows before any click. */
export async function pageData(options: GlobalOptions, mode: 'static' | 'live', live?: LiveSettings): Promise<{ data: PageData; layout: FleetLayout }> {
  const [{ checkIndependence }, { backups }, { validate }] = await Promise.all([import('../cli/commands/check.js'), import('../cli/commands/backups.js'), import('../cli/commands/validate.js')]);
  const { graph, layout } = await laidOutGraph(options);
  const data: PageData = {
    mode,
    title: pageTitle(options),
    generated_at: new Date().toISOString(),
    graph,
    independence: (await checkIndependence(options)).json,
    backups: (await backups(options)).json,
    validate: (await validate(options)).json,
    routed: layout.routed,
    ...(live ? { live } : {}),
  };
  if (mode === 'static') {
    const { impact } = await import('../cli/commands/impact.js');
    const { drain } = await import('../cli/commands/drain.js');
    const names = graph.hosts.map((h) => h.name);
    if (names.length <= STATIC_IMPACT_MAX_HOSTS) {
      data.impacts = {};
      for (const h of names) data.impacts[h] = (await impact([h], options)).json;
    }
    if (names.length <= STATIC_DRAIN_MAX_HOSTS) {
      data.drains = {};
      for (const a of names) for (const b of names) if (a !== b) data.drains[`${a}>${b}`] = (await drain(a, { ...options, to: b })).json;
    }
  }
  return { data, layout };
}

/** JSON inside <script>: nothing in it can close the element or start a comment. */
const scriptJson = (value: unknown) => JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');

export function renderPage(data: PageData, layout: FleetLayout): string {
  // Static: no request of any kind. Live: only this server (fetch, server-sent events).
  const connect = data.mode === 'live' ? "'self'" : "'none'";
  const csp = `default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; connect-src ${connect}; base-uri 'none'; form-action 'none'`;
  const legend = Object.entries(ROLE_COLOURS)
    .filter(([role]) => role !== 'unknown')
    .map(([role, colour]) => `<span class="chip"><i style="background:${colour}"></i>${role}</span>`)
    .join('');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>manage-apps · ${esc(data.title)}</title>
<style>${asset('page.css')}</style>
</head>
<body class="mode-${data.mode}">
<header>
  <h1>manage-apps <span class="dim">· ${esc(data.title)}</span></h1>
  <div id="summary" aria-live="polite"></div>
  <input id="search" type="search" placeholder="find a host, service, cluster" aria-label="find">
  <span class="zoom"><button id="zoom-out" title="zoom out">−</button><button id="zoom-fit" title="fit">fit</button><button id="zoom-in" title="zoom in">+</button></span>
</header>
<main>
  <section id="canvas" aria-label="fleet topology">${renderSvg(layout, { id: 'fleet', title: data.title })}</section>
  <aside id="panel">
    <nav role="tablist">
      <button role="tab" data-tab="whatif" aria-selected="true">What if</button>
      <button role="tab" data-tab="drain">Drain</button>
      <button role="tab" data-tab="backups">Backups</button>
      <button role="tab" data-tab="problems">Problems</button>
      ${data.mode === 'live' ? '<button role="tab" data-tab="status">Status</button>' : ''}
    </nav>
    <div id="tab-whatif" class="tab" role="tabpanel"></div>
    <div id="tab-drain" class="tab" role="tabpanel" hidden></div>
    <div id="tab-backups" class="tab" role="tabpanel" hidden></div>
    <div id="tab-problems" class="tab" role="tabpanel" hidden></div>
    ${data.mode === 'live' ? '<div id="tab-status" class="tab" role="tabpanel" hidden></div>' : ''}
    <footer class="legend">${legend}<span class="chip"><i class="mesh"></i>on the mesh</span><span class="chip"><i class="l-dep"></i>depends_on</span><span class="chip"><i class="l-db"></i>database</span><span class="chip"><i class="l-tun"></i>tunnel</span><span class="chip"><i class="l-route"></i>domain route</span></footer>
  </aside>
</main>
<script type="application/json" id="fleet-data">${scriptJson(data)}</script>
<script>${asset('client.js')}</script>
</body>
</html>
`;
}

export async function buildPage(options: GlobalOptions, mode: 'static' | 'live', live?: LiveSettings): Promise<string> {
  const { data, layout } = await pageData(options, mode, live);
  return renderPage(data, layout);
}

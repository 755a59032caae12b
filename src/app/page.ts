/**
 * The one page: the picture (SVG laid out by ELK on this side), the answers every panel
 * starts with, and the page's script and style, all inline. `graph --format html` writes it
 * as a static file (its Content-Security-Policy forbids every request, even to local files);
 * `ui` serves it with live status and what-if answers from the server.
 *
 * Every answer is the --json document of the CLI verb that gives it (graph, impact, drain,
 * backups, validate's problems; check independence counted): the analyses the verbs run.
 */
import { readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { backupReport } from '../analysis/backups.js';
import { buildGraph } from '../analysis/graph.js';
import { checkIndependence, type IndependenceReport } from '../analysis/independence.js';
import { FleetIndex } from '../analysis/topology.js';
import { loadFleet, type FleetOptions, type LoadedFleet } from '../load/fleet.js';
import { packageRoot } from '../package-root.js';
import { layoutFleet, loadElk, type FleetLayout } from '../render/fleet-layout.js';
import { esc, renderSvg, ROLE_COLOURS } from '../render/fleet-svg.js';
import { viewAnswer } from './answer.js';
import { drainOf } from './drain.js';
import { impactOf } from './impact.js';
import { ledgerPanel, type LedgerPanel } from './ledger.js';

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

/** What `check independence` says, counted (the page links each host to its full what-if answer). */
export interface IndependenceSummary {
  ok: boolean;
  hosts: { host: string; role: string; ok: boolean; down: number; degraded: number; critical_tunnels: number }[];
  together: { hosts: string[]; ok: boolean } | null;
}

export interface PageData {
  mode: 'static' | 'live';
  title: string;
  generated_at: string;
  fleet: { hosts: string[]; services: number; clusters: number };
  independence: IndependenceSummary;
  /** `backups --json`. */
  backups: unknown;
  /** The problems of `validate --json`. */
  problems: unknown[];
  /** Static pages: `impact <host> --json` for each host (when few enough). */
  impacts?: Record<string, unknown>;
  /** Static pages: `drain <a> --to <b> --json` keyed "a>b" (when few enough hosts). */
  drains?: Record<string, unknown>;
  /** Unrouted pictures: the edges, drawn by the page only for what is selected: [kind, from, to, x1, y1, x2, y2]. */
  edges?: [string, string, string, number, number, number, number][];
  live?: LiveSettings;
  /** The release ledger, per service of a promotion path (absent: no path and no ledger). */
  ledger?: LedgerPanel;
}

/** The page's script and style: files of their own (src/dashboard/assets, shipped as they are), inlined into every page. */
const asset = (name: string) => readFileSync(join(packageRoot(), 'src', 'dashboard', 'assets', name), 'utf8');

/** The fleet by its directory's name (`--root .` names the directory it is, never "."). */
export const pageTitle = (options: FleetOptions) => `fleet: ${basename(resolve(options.root ?? '.')) || resolve(options.root ?? '.')}`;

/**
 * One load of the files, then the analyses the CLI verbs run on it (graph, impact, drain,
 * check independence, backups), each wrapped as the verb wraps it for --json.
 */
export class FleetAnswers {
  readonly index: FleetIndex;
  private constructor(readonly loaded: LoadedFleet) {
    this.index = new FleetIndex(loaded.fleet);
  }
  static async load(options: FleetOptions): Promise<FleetAnswers> {
    return new FleetAnswers(await loadFleet(options));
  }
  private doc<T extends object>(report: T) {
    return viewAnswer(this.loaded, report).document;
  }
  graph() {
    return this.doc(buildGraph(this.index));
  }
  /** `impact HOSTS --json`: the verb's own function, on this load. */
  async impact(hosts: string[]) {
    return (await impactOf(this.loaded, this.index, hosts)).document;
  }
  /** `drain HOST --to TO --json`: the verb's own function, on this load. */
  drain(host: string, to: string) {
    return drainOf(this.loaded, this.index, host, to).document;
  }
  independence() {
    return this.doc(checkIndependence(this.index));
  }
  backups() {
    return this.doc(backupReport(this.index));
  }
}

export type LayoutOf = (graph: ReturnType<FleetAnswers['graph']>) => Promise<FleetLayout>;
export const layOut: LayoutOf = async (graph) => layoutFleet(await loadElk(), graph);

/** graph --json and its layout. */
export async function laidOutGraph(
  answers: FleetAnswers,
  layoutOf: LayoutOf = layOut,
): Promise<{ graph: ReturnType<FleetAnswers['graph']>; layout: FleetLayout }> {
  const graph = answers.graph();
  return { graph, layout: await layoutOf(graph) };
}

function independenceSummary(r: IndependenceReport): IndependenceSummary {
  return {
    ok: r.ok,
    hosts: r.hosts.map((h) => ({
      host: h.host,
      role: h.role,
      ok: h.ok,
      down: h.down.length,
      degraded: h.degraded.length,
      critical_tunnels: h.critical_tunnels.length,
    })),
    together: r.together ? { hosts: r.together.hosts, ok: r.together.ok } : null,
  };
}

/** Everything the page shows before any click. */
export async function pageData(
  answers: FleetAnswers,
  options: FleetOptions,
  mode: 'static' | 'live',
  live?: LiveSettings,
  layoutOf: LayoutOf = layOut,
): Promise<{ data: PageData; layout: FleetLayout; graph: ReturnType<FleetAnswers['graph']> }> {
  const { graph, layout } = await laidOutGraph(answers, layoutOf);
  const names = graph.hosts.map((h) => h.name);
  const data: PageData = {
    mode,
    title: pageTitle(options),
    generated_at: new Date().toISOString(),
    fleet: { hosts: names, services: graph.services.length, clusters: graph.clusters.length },
    independence: independenceSummary(answers.independence()),
    backups: answers.backups(),
    problems: graph.problems,
    ...(layout.routed
      ? {}
      : {
          edges: layout.edges.map(
            (e) =>
              [e.kind, e.from, e.to, ...e.points[0]!, ...e.points[e.points.length - 1]!] as [string, string, string, number, number, number, number],
          ),
        }),
    ...(live ? { live } : {}),
  };
  const ledger = await ledgerPanel(answers.loaded.fleet);
  if (ledger !== null) data.ledger = ledger;
  if (mode === 'static') {
    if (names.length <= STATIC_IMPACT_MAX_HOSTS)
      data.impacts = Object.fromEntries(await Promise.all(names.map(async (h) => [h, await answers.impact([h])] as const)));
    if (names.length <= STATIC_DRAIN_MAX_HOSTS)
      data.drains = Object.fromEntries(names.flatMap((a) => names.filter((b) => b !== a).map((b) => [`${a}>${b}`, answers.drain(a, b)])));
  }
  return { data, layout, graph };
}

/** JSON inside <script>: nothing in it can close the element or start a comment. */
const scriptJson = (value: unknown) =>
  JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');

export function renderPage(data: PageData, layout: FleetLayout): string {
  // Static: no request of any kind. Live: only this server (fetch, server-sent events).
  const connect = data.mode === 'live' ? "'self'" : "'none'";
  const csp = `default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; connect-src ${connect}; base-uri 'none'; form-action 'none'`;
  const legend = Object.entries(ROLE_COLOURS)
    .filter(([role]) => role !== 'unknown')
    .map(([role, colour]) => `<span class="chip"><i style="background:${colour}"></i>${role}</span>`)
    .join('');
  return `<!doctype html>
<html lang="en" class="loading">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>manage-apps · ${esc(data.title)}</title>
<style>${asset('page.css')}</style>
<noscript><style>html.loading #fleet { display: block; }</style></noscript>
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
      ${data.ledger ? '<button role="tab" data-tab="ledger">Ledger</button>' : ''}
      ${data.mode === 'live' ? '<button role="tab" data-tab="status">Status</button><button role="tab" data-tab="drift">Drift</button>' : ''}
    </nav>
    <div id="tab-whatif" class="tab" role="tabpanel"></div>
    <div id="tab-drain" class="tab" role="tabpanel" hidden></div>
    <div id="tab-backups" class="tab" role="tabpanel" hidden></div>
    <div id="tab-problems" class="tab" role="tabpanel" hidden></div>
    ${data.ledger ? '<div id="tab-ledger" class="tab" role="tabpanel" hidden></div>' : ''}
    ${data.mode === 'live' ? '<div id="tab-status" class="tab" role="tabpanel" hidden></div><div id="tab-drift" class="tab" role="tabpanel" hidden></div>' : ''}
    <footer class="legend">${legend}<span class="chip"><i class="mesh"></i>on the mesh</span><span class="chip"><i class="l-dep"></i>depends_on</span><span class="chip"><i class="l-db"></i>database</span><span class="chip"><i class="l-tun"></i>tunnel</span><span class="chip"><i class="l-route"></i>domain route</span></footer>
  </aside>
</main>
<script type="application/json" id="fleet-data">${scriptJson(data)}</script>
<script>${asset('client.js')}</script>
</body>
</html>
`;
}

export async function buildPage(
  answers: FleetAnswers,
  options: FleetOptions,
  mode: 'static' | 'live',
  live?: LiveSettings,
  layoutOf?: LayoutOf,
): Promise<string> {
  const { data, layout } = await pageData(answers, options, mode, live, layoutOf);
  return renderPage(data, layout);
}

/**
 * graph: the fleet as a graph (hosts with their services and clusters; depends_on, database,
 * tunnel and domain edges), as data, Mermaid or Graphviz text, or the dashboard's page or
 * picture. The terminal's text rendering is the CLI's (it styles it).
 */
import { buildGraph, renderDot, renderMermaid, type FleetGraph } from '../analysis/graph.js';
import { FleetIndex } from '../analysis/topology.js';
import { EXIT_OK, EXIT_PROBLEMS } from '../errors.js';
import { loadFleet, type FleetOptions } from '../load/fleet.js';
import { viewAnswer, type Answer, type WithProblems } from './answer.js';

export const GRAPH_FORMATS = ['text', 'mermaid', 'dot', 'json', 'html', 'svg'] as const;
export type GraphFormat = (typeof GRAPH_FORMATS)[number];

/** The graph, and for mermaid, dot, html and svg the rendered text. */
export type GraphDocument = WithProblems<FleetGraph & { format?: GraphFormat; text?: string }>;

/** `graph` is the graph itself (the document without its problems), for `--format json`'s text. */
export async function graph(source: FleetOptions, format: GraphFormat): Promise<Answer<GraphDocument> & { graph: FleetGraph }> {
  if (format === 'html' || format === 'svg') return picture(source, format);
  const loaded = await loadFleet(source);
  const g = buildGraph(new FleetIndex(loaded.fleet));
  const rendered = format === 'mermaid' ? renderMermaid(g) : format === 'dot' ? renderDot(g) : undefined;
  return { ...viewAnswer(loaded, { ...g, ...(rendered === undefined ? {} : { format, text: rendered }) }), graph: g };
}

/** html and svg: the dashboard's page or picture (src/app/page.ts), loaded only on this path. */
async function picture(source: FleetOptions, format: 'html' | 'svg'): Promise<Answer<GraphDocument> & { graph: FleetGraph }> {
  const page = await import('./page.js');
  const { renderSvg } = await import('../render/fleet-svg.js');
  let doc: Awaited<ReturnType<typeof page.laidOutGraph>>['graph'];
  let text: string;
  const answers = await page.FleetAnswers.load(source);
  if (format === 'html') {
    const { data, layout, graph: g } = await page.pageData(answers, source, 'static');
    doc = g;
    text = page.renderPage(data, layout);
  } else {
    const { graph: g, layout } = await page.laidOutGraph(answers);
    doc = g;
    text = renderSvg(layout, { title: page.pageTitle(source) });
  }
  const errors = (doc.problems as { severity?: string }[]).some((p) => p.severity === 'error');
  const { problems: _, ...g } = doc;
  return { exitCode: errors ? EXIT_PROBLEMS : EXIT_OK, document: { ...doc, format, text }, loaded: answers.loaded, graph: g };
}

import { buildGraph, renderDot, renderMermaid, renderText } from '../../analysis/graph.js';
import { FleetIndex } from '../../analysis/topology.js';
import { EXIT_OK, EXIT_PROBLEMS, UsageError } from '../../errors.js';
import { loadFleet } from '../../load/fleet.js';
import type { CommandResult, GlobalOptions } from '../context.js';
import { style } from '../style.js';
import { withProblemNote } from './shared.js';

export const GRAPH_FORMATS = ['text', 'mermaid', 'dot', 'json', 'html', 'svg'] as const;
export type GraphFormat = (typeof GRAPH_FORMATS)[number];

export async function graph(options: GlobalOptions & { format?: string }): Promise<CommandResult> {
  const format = (options.format ?? 'text') as GraphFormat;
  if (!GRAPH_FORMATS.includes(format)) throw new UsageError(`unknown graph format "${format}"`, `use one of: ${GRAPH_FORMATS.join(', ')}`);
  if (format === 'html' || format === 'svg') return picture(options, format);
  const loaded = await loadFleet(options);
  const g = buildGraph(new FleetIndex(loaded.fleet));
  const rendered = format === 'mermaid' ? renderMermaid(g) : format === 'dot' ? renderDot(g) : undefined;
  return withProblemNote(loaded, { ...g, ...(rendered === undefined ? {} : { format, text: rendered }) }, () => {
    if (format === 'json') return JSON.stringify(g, null, 2);
    if (rendered !== undefined) return rendered;
    if (g.hosts.length === 0 && g.services.length === 0) return 'The inventory lists no hosts and the root holds no services.';
    return renderText(g, style);
  });
}

/** html and svg: the dashboard's page or picture (src/app/page.ts), loaded only on this path. */
async function picture(options: GlobalOptions, format: 'html' | 'svg'): Promise<CommandResult> {
  const page = await import('../../app/page.js');
  const { svg } = await import('../../render/fleet-svg.js').then((m) => ({ svg: m.renderSvg }));
  let doc: Awaited<ReturnType<typeof page.laidOutGraph>>['graph'];
  let text: string;
  const answers = await page.FleetAnswers.load(options);
  if (format === 'html') {
    const { data, layout, graph: g } = await page.pageData(answers, options, 'static');
    doc = g;
    text = page.renderPage(data, layout);
  } else {
    const { graph: g, layout } = await page.laidOutGraph(answers);
    doc = g;
    text = svg(layout, { title: page.pageTitle(options) });
  }
  const errors = (doc.problems as { severity?: string }[]).some((p) => p.severity === 'error');
  return { exitCode: errors ? EXIT_PROBLEMS : EXIT_OK, json: { ...doc, format, text }, human: () => text };
}

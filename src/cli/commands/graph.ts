import { buildGraph, renderDot, renderMermaid, renderText } from '../../analysis/graph.js';
import { FleetIndex } from '../../analysis/topology.js';
import { UsageError } from '../../errors.js';
import { loadFleet } from '../../fleet/load.js';
import type { CommandResult, GlobalOptions } from '../context.js';
import { style } from '../style.js';
import { withProblemNote } from './shared.js';

export const GRAPH_FORMATS = ['text', 'mermaid', 'dot', 'json'] as const;
export type GraphFormat = (typeof GRAPH_FORMATS)[number];

export async function graph(options: GlobalOptions & { format?: string }): Promise<CommandResult> {
  const format = (options.format ?? 'text') as GraphFormat;
  if (!GRAPH_FORMATS.includes(format)) throw new UsageError(`unknown graph format "${format}"`, `use one of: ${GRAPH_FORMATS.join(', ')}`);
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

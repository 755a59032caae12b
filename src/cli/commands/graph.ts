import { renderText } from '../../analysis/graph.js';
import { graph as graphUseCase, GRAPH_FORMATS, type GraphFormat } from '../../app/graph.js';
import { UsageError } from '../../errors.js';
import type { CommandResult, GlobalOptions } from '../context.js';
import { fleetSource } from '../ops-options.js';
import { style } from '../style.js';
import { viewResult } from './shared.js';

export async function graph(options: GlobalOptions & { format?: GraphFormat }): Promise<CommandResult> {
  // commander checks --format against the same list; a direct caller is checked here.
  const format = options.format ?? 'text';
  if (!GRAPH_FORMATS.includes(format)) throw new UsageError(`unknown graph format "${format}"`, `use one of: ${GRAPH_FORMATS.join(', ')}`);
  const answer = await graphUseCase(fleetSource(options), format);
  const g = answer.graph;
  // html and svg: the page or picture itself, as it is (its problems are drawn in it).
  if (format === 'html' || format === 'svg') return { exitCode: answer.exitCode, json: answer.document, human: () => answer.document.text! };
  return viewResult(answer, ({ text }) => {
    if (format === 'json') return JSON.stringify(g, null, 2);
    if (text !== undefined) return text;
    if (g.hosts.length === 0 && g.services.length === 0) return 'The inventory lists no hosts and the root holds no services.';
    return renderText(g, style);
  });
}

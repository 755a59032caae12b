/** `net tunnels`: per host, the files that make each declared tunnel real (src/app/render.ts). */
import { renderFleetFiles } from '../../../app/render.js';
import type { CommandResult } from '../../context.js';
import { renderResult, renderSettings, type RenderFlags } from './render-command.js';

export async function netTunnels(flags: RenderFlags): Promise<CommandResult> {
  return renderResult(await renderFleetFiles('net tunnels', renderSettings(flags)));
}

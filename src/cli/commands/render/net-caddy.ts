/** `net caddy`: a Caddyfile per edge host (`<host>.Caddyfile`) (src/app/render.ts). */
import { renderFleetFiles } from '../../../app/render.js';
import type { CommandResult } from '../../context.js';
import { applyResult, renderResult, renderSettings, type RenderFlags } from './render-command.js';

export async function netCaddy(flags: RenderFlags): Promise<CommandResult> {
  if (flags.apply) return applyResult('net caddy', flags);
  return renderResult(await renderFleetFiles('net caddy', renderSettings(flags)));
}

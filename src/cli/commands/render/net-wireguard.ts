/** `net wireguard`: a wg-quick config per mesh host (`<host>.conf`, mode 0600) (src/app/render.ts). */
import { renderFleetFiles } from '../../../app/render.js';
import type { CommandResult } from '../../context.js';
import { applyResult, renderResult, renderSettings, type RenderFlags } from './render-command.js';

export async function netWireguard(flags: RenderFlags): Promise<CommandResult> {
  if (flags.apply) return applyResult('net wireguard', flags);
  return renderResult(await renderFleetFiles('net wireguard', renderSettings(flags)));
}

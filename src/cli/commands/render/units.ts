/** `units`: the systemd unit of each infra/v2 service, the same one `deploy` installs (src/app/render.ts). */
import { renderFleetFiles } from '../../../app/render.js';
import type { CommandResult } from '../../context.js';
import { renderResult, renderSettings, type RenderFlags } from './render-command.js';

export async function units(flags: RenderFlags): Promise<CommandResult> {
  return renderResult(await renderFleetFiles('units', renderSettings(flags)));
}

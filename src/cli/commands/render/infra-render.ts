/** `infra render`: OpenTofu/Terraform JSON (main.tf.json) for the droplets and the runner pool (src/app/render.ts). */
import { renderFleetFiles } from '../../../app/render.js';
import type { CommandResult } from '../../context.js';
import { renderResult, renderSettings, type RenderFlags } from './render-command.js';

export async function infraRender(flags: RenderFlags): Promise<CommandResult> {
  return renderResult(await renderFleetFiles('infra render', renderSettings(flags)));
}

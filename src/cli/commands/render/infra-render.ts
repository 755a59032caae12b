/** `infra render`: OpenTofu/Terraform JSON (main.tf.json) for the droplets and the runner pool. */
import { loadFleet } from '../../../load/fleet.js';
import { renderOpenTofu } from '../../../render/opentofu.js';
import type { CommandResult } from '../../context.js';
import { runRenderer, type RenderFlags } from './render-command.js';
import { locatorOf } from '../../../load/locator.js';

export async function infraRender(flags: RenderFlags): Promise<CommandResult> {
  const loaded = await loadFleet(flags);
  return runRenderer('infra render', loaded, flags, 'fleet', () => renderOpenTofu(loaded.fleet, locatorOf(loaded)));
}

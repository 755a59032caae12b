/** `infra render`: OpenTofu/Terraform JSON (main.tf.json) for the droplets and the runner pool. */
import { loadFleet } from '../../../fleet/load.js';
import { renderOpenTofu } from '../../../render/opentofu.js';
import type { CommandResult } from '../../context.js';
import { runRenderer, type RenderFlags } from './shared.js';
import { locatorOf } from '../../../fleet/locator.js';

export async function infraRender(flags: RenderFlags): Promise<CommandResult> {
  const loaded = await loadFleet(flags);
  return runRenderer('infra render', loaded, flags, 'fleet', () => renderOpenTofu(loaded.fleet, locatorOf(loaded)));
}

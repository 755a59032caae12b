/** `net reconcile`: the "services" map of mesh-hosts.json regenerated from every manifest (src/app/net-reconcile.ts). */
import { reconcileServicesMap } from '../../../app/net-reconcile.js';
import type { CommandResult } from '../../context.js';
import { fleetSource } from '../../ops-options.js';
import { modeOf, renderResult, type RenderFlags } from './render-command.js';

export async function netReconcile(flags: RenderFlags): Promise<CommandResult> {
  return renderResult(await reconcileServicesMap({ ...fleetSource(flags), mode: modeOf(flags) }));
}

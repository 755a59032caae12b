/** `net tunnels`: per host, the files that make each declared tunnel real (`<host>/<path on the host>`). */
import { FleetIndex } from '../../../analysis/topology.js';
import { loadFleet } from '../../../load/fleet.js';
import { renderTunnels } from '../../../render/tunnels.js';
import type { CommandResult } from '../../context.js';
import { runRenderer, type RenderFlags } from './render-command.js';
import { locatorOf } from '../../../load/locator.js';

export async function netTunnels(flags: RenderFlags): Promise<CommandResult> {
  const loaded = await loadFleet(flags);
  return runRenderer(
    'net tunnels',
    loaded,
    flags,
    'fleet',
    () => renderTunnels(new FleetIndex(loaded.fleet), locatorOf(loaded)),
    (f) => f.path.slice(0, f.path.indexOf('/')),
  );
}

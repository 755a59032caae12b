/** `net wireguard`: a wg-quick config per mesh host (`<host>.conf`, mode 0600). */
import { loadFleet } from '../../../load/fleet.js';
import { renderWireguard } from '../../../render/wireguard.js';
import type { CommandResult } from '../../context.js';
import { runRenderer, type RenderFlags } from './render-command.js';
import { locatorOf } from '../../../load/locator.js';

export async function netWireguard(flags: RenderFlags): Promise<CommandResult> {
  const loaded = await loadFleet(flags);
  return runRenderer(
    'net wireguard',
    loaded,
    flags,
    'inventory',
    () => renderWireguard(loaded.fleet, locatorOf(loaded)),
    (f) => f.path.replace(/\.conf$/, ''),
  );
}

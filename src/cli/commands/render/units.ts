/** `units`: the systemd unit of each infra/v2 service (`<host>/<unit>`), the same one `deploy` installs. */
import { loadFleet } from '../../../load/fleet.js';
import { renderUnits } from '../../../render/systemd-unit.js';
import type { CommandResult } from '../../context.js';
import { runRenderer, type RenderFlags } from './render-command.js';
import { locatorOf } from '../../../load/locator.js';

export async function units(flags: RenderFlags): Promise<CommandResult> {
  const loaded = await loadFleet(flags);
  return runRenderer(
    'units',
    loaded,
    flags,
    'fleet',
    () => renderUnits(loaded.fleet, locatorOf(loaded)),
    (f) => f.path.slice(0, f.path.indexOf('/')),
  );
}

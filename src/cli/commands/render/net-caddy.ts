/** `net caddy`: a Caddyfile per edge host (`<host>.Caddyfile`). */
import { loadFleet } from '../../../load/fleet.js';
import { renderCaddy } from '../../../render/caddy.js';
import type { CommandResult } from '../../context.js';
import { runRenderer, type RenderFlags } from './render-command.js';
import { locatorOf } from '../../../load/locator.js';

export async function netCaddy(flags: RenderFlags): Promise<CommandResult> {
  const loaded = await loadFleet(flags);
  return runRenderer(
    'net caddy',
    loaded,
    flags,
    'fleet',
    () => renderCaddy(loaded.fleet, locatorOf(loaded)),
    (f) => f.path.replace(/\.Caddyfile$/, ''),
  );
}

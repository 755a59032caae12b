/**
 * The renderers of many files under an output directory, as one use case: net caddy, net
 * wireguard, net tunnels, units and infra render. Each takes where the fleet is, the mode, the
 * output directory and the host, and returns the render document (src/app/render-files.ts).
 */
import { FleetIndex } from '../analysis/topology.js';
import { loadFleet, type LoadedFleet } from '../load/fleet.js';
import { locatorOf } from '../load/locator.js';
import type { Problem } from '../problems.js';
import { renderCaddy } from '../render/caddy.js';
import type { RenderedFile, Skipped } from '../render/common.js';
import { renderOpenTofu } from '../render/opentofu.js';
import { renderUnits } from '../render/systemd-unit.js';
import { renderTunnels } from '../render/tunnels.js';
import { renderWireguard } from '../render/wireguard.js';
import { renderFiles, type RenderAnswer, type RenderSettings } from './render-files.js';

interface Renderer {
  /** What it reads: the inventory alone (problems in manifests are only a note), or the whole fleet. */
  scope: 'inventory' | 'fleet';
  render: (loaded: LoadedFleet) => { files: RenderedFile[]; problems: Problem[]; skipped: Skipped[] };
  /** The host a file is for (--host keeps that host's); left out: the files are not per host. */
  hostOf?: (file: RenderedFile) => string;
}

/** Files named `<host>/<path>`: the host is the first part. */
const hostDirectory = (f: RenderedFile) => f.path.slice(0, f.path.indexOf('/'));

const RENDERERS = {
  /** A Caddyfile per edge host (`<host>.Caddyfile`). */
  'net caddy': { scope: 'fleet', render: (l) => renderCaddy(l.fleet, locatorOf(l)), hostOf: (f) => f.path.replace(/\.Caddyfile$/, '') },
  /** A wg-quick config per mesh host (`<host>.conf`, mode 0600). */
  'net wireguard': { scope: 'inventory', render: (l) => renderWireguard(l.fleet, locatorOf(l)), hostOf: (f) => f.path.replace(/\.conf$/, '') },
  /** Per host, the files that make each declared tunnel real (`<host>/<path on the host>`). */
  'net tunnels': { scope: 'fleet', render: (l) => renderTunnels(new FleetIndex(l.fleet), locatorOf(l)), hostOf: hostDirectory },
  /** The systemd unit of each infra/v2 service (`<host>/<unit>`), the same one `deploy` installs. */
  units: { scope: 'fleet', render: (l) => renderUnits(l.fleet, locatorOf(l)), hostOf: hostDirectory },
  /** OpenTofu/Terraform JSON (main.tf.json) for the droplets and the runner pool. */
  'infra render': { scope: 'fleet', render: (l) => renderOpenTofu(l.fleet, locatorOf(l)) },
} satisfies Record<string, Renderer>;

export type RendererName = keyof typeof RENDERERS;

/** The command's files: printed, compared with those under --out, or written there. */
export async function renderFleetFiles(command: RendererName, settings: RenderSettings): Promise<RenderAnswer> {
  const loaded = await loadFleet(settings);
  const renderer: Renderer = RENDERERS[command];
  return renderFiles(command, loaded, settings, renderer.scope, () => renderer.render(loaded), renderer.hostOf);
}

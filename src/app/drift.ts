/**
 * drift: what the hosts run against what the repository declares, read-only, one round trip per
 * host (docs/drift.md). This module only opens the ssh connections, then loads the rest
 * (drift-document.ts): the handshakes, or the multiplexed sessions, open while the code loads and
 * the manifests are validated, so its imports stay few and light.
 */
import type { DriftDocument } from '../drift/types.js';
import type { FleetOptions } from '../load/fleet.js';
import { cancelPending, prewarmHosts } from '../ops/prewarm.js';
import type { SelectOptions } from '../ops/selection.js';
import { resolveSettings, type OpsSettings } from '../ops/settings.js';
import type { Answer, WithProblems } from './answer.js';

/** Exit 0: no drift; 1: drift (or a host that could not be read). */
export async function drift(
  source: FleetOptions,
  selector: SelectOptions,
  given: Partial<OpsSettings>,
): Promise<Answer<WithProblems<DriftDocument>>> {
  const settings = resolveSettings(given);
  const pending = prewarmHosts({ ...source, ...selector }, settings, settings.commandTimeoutMs);
  let document: typeof import('./drift-document.js');
  try {
    document = await import('./drift-document.js');
  } catch (error) {
    cancelPending({ pending });
    throw error;
  }
  return document.driftDocument(source, selector, settings, pending);
}

/**
 * status. This module only opens the ssh connections, then loads the rest (status-document.ts):
 * the handshakes overlap loading the YAML and schema code and validating the manifests, so
 * its imports stay few and light.
 */
import type { FleetOptions } from '../load/fleet.js';
import type { SelectOptions } from '../ops/selection.js';
import { cancelPending, prewarmHosts } from '../ops/prewarm.js';
import { resolveSettings, type OpsSettings } from '../ops/settings.js';
import type { Answer } from './answer.js';
import type { StatusDocument } from './status-document.js';

/** Status asks quick questions: it gives up on a host sooner than the verbs that change one. */
const STATUS_DEFAULTS: Partial<OpsSettings> = { commandTimeoutMs: 15_000, connectTimeoutS: 5 };

export async function status(source: FleetOptions, selector: SelectOptions, given: Partial<OpsSettings>): Promise<Answer<StatusDocument>> {
  const settings = resolveSettings(given, STATUS_DEFAULTS);
  const pending = prewarmHosts({ ...source, ...selector }, settings, settings.commandTimeoutMs);
  let document: typeof import('./status-document.js');
  try {
    document = await import('./status-document.js');
  } catch (error) {
    cancelPending({ pending });
    throw error;
  }
  return document.statusDocument(source, selector, settings, pending);
}

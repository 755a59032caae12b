/**
 * secrets status: per service and secret, current, stale, missing or not resolvable here, one
 * read-only round trip per host (docs/secrets.md). This module only opens the ssh connections,
 * then loads the rest (secrets.ts): the multiplexed sessions open while the code loads and the
 * manifests are validated.
 */
import { cancelPending, prewarmHosts } from '../ops/prewarm.js';
import type { SelectOptions } from '../ops/selection.js';
import { resolveSettings, type OpsSettings } from '../ops/settings.js';
import type { Answer, FleetOptions } from './answer.js';
import type { SecretsStatusDocument } from './secrets.js';

export async function secretsStatus(
  source: FleetOptions,
  selector: SelectOptions,
  given: Partial<OpsSettings>,
): Promise<Answer<SecretsStatusDocument>> {
  const settings = resolveSettings(given);
  const pending = prewarmHosts({ ...source, ...selector }, settings, settings.commandTimeoutMs);
  let secrets: typeof import('./secrets.js');
  try {
    secrets = await import('./secrets.js');
  } catch (error) {
    cancelPending({ pending });
    throw error;
  }
  return secrets.secretsStatus(source, selector, settings, pending);
}

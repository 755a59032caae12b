/**
 * status. This module only opens the ssh connections, then loads the rest (status-report.ts):
 * the handshakes overlap loading the YAML and schema code and validating the manifests, so
 * its imports stay few and light.
 */
import type { CommandResult } from '../../context.js';
import { cancelPending, prewarmStatus } from '../../../ops/prewarm.js';
import { settingsFrom, type OpsCliOptions } from '../../../ops/settings.js';

const STATUS_DEFAULTS = { commandTimeoutMs: 15_000, connectTimeoutS: 5 };

export async function status(targets: string[], options: OpsCliOptions): Promise<CommandResult> {
  const settings = settingsFrom(options, STATUS_DEFAULTS);
  const pending = prewarmStatus({ ...options, targets }, settings, settings.commandTimeoutMs);
  let report: typeof import('./status-report.js');
  try {
    report = await import('./status-report.js');
  } catch (error) {
    cancelPending({ pending });
    throw error;
  }
  return report.statusReport(targets, options, STATUS_DEFAULTS, pending);
}

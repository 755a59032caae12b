/** run: start scheduled jobs now and stream their output (ops/run-job.ts). */
import { EXIT_OK, EXIT_PROBLEMS } from '../errors.js';
import type { FleetOptions } from '../load/fleet.js';
import { runJobs, type JobRunResult } from '../ops/run-job.js';
import type { SelectOptions } from '../ops/selection.js';
import { resolveSettings, type OpsSettings } from '../ops/settings.js';
import type { Answer } from './answer.js';
import { prepare } from './prepare.js';

export async function runNow(
  source: FleetOptions,
  selector: SelectOptions,
  given: Partial<OpsSettings>,
  write: (text: string) => void,
): Promise<Answer<{ runs: JobRunResult[] }>> {
  const { loaded, ops, selection } = await prepare(source, selector, resolveSettings(given));
  const runs = await runJobs(ops, selection.services, write);
  return { exitCode: runs.every((r) => r.ok) ? EXIT_OK : EXIT_PROBLEMS, document: { runs }, loaded };
}

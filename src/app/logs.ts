/** logs: the last lines of each service, or followed until the signal aborts. */
import { EXIT_OK, EXIT_PROBLEMS } from '../errors.js';
import type { FleetOptions } from '../load/fleet.js';
import { followLogs, readLogs, type LogsResult } from '../ops/logs.js';
import type { SelectOptions } from '../ops/selection.js';
import { resolveSettings, type OpsSettings } from '../ops/settings.js';
import type { Answer } from './answer.js';
import { prepare } from './prepare.js';

export async function logs(
  source: FleetOptions,
  selector: SelectOptions,
  given: Partial<OpsSettings>,
  lines: number,
): Promise<Answer<{ logs: LogsResult[] }>> {
  const { loaded, ops, selection } = await prepare(source, selector, resolveSettings(given));
  const results = await readLogs(ops, selection.services, lines);
  return { exitCode: results.every((r) => r.ok) ? EXIT_OK : EXIT_PROBLEMS, document: { logs: results }, loaded };
}

/** New lines go to `write` as they come, until `signal` aborts: the normal end of following (exit 0). */
export async function followedLogs(
  source: FleetOptions,
  selector: SelectOptions,
  given: Partial<OpsSettings>,
  lines: number,
  write: (text: string) => void,
  signal: AbortSignal,
): Promise<Answer<{ results: { id: string; error?: string }[] }>> {
  const { loaded, ops, selection } = await prepare(source, selector, resolveSettings(given));
  const results = await followLogs(ops, selection.services, lines, write, signal);
  // Ctrl-C reaches ssh too (one process group): its exit can be seen before our own SIGINT is.
  if (!signal.aborted && results.some((r) => r.error !== undefined)) await new Promise((resolve) => setTimeout(resolve, 200));
  const failed = signal.aborted ? [] : results.filter((r) => r.error !== undefined);
  return { exitCode: failed.length === 0 ? EXIT_OK : EXIT_PROBLEMS, document: { results }, loaded };
}

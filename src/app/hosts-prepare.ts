/** hosts prepare: what the declared fleet needs on each host, checked, shown (dry run) or installed. */
import { EXIT_OK, EXIT_PROBLEMS } from '../errors.js';
import { loadFleet, type FleetOptions } from '../load/fleet.js';
import { prepareHosts } from '../ops/prepare.js';
import { resolveSettings, type OpsSettings } from '../ops/settings.js';
import { problemJson } from '../problems.js';

/** `onStep`: a line per step as it happens (the CLI's progress). */
export async function hostsPrepare(
  source: FleetOptions,
  hosts: string[],
  given: Partial<OpsSettings>,
  mode: 'check' | 'dry-run' | 'apply',
  onStep: (line: string) => void = () => {},
) {
  const loaded = await loadFleet(source);
  // Installing packages takes longer than a quick question.
  const report = await prepareHosts(loaded.fleet, { hosts, mode, ops: resolveSettings(given, { commandTimeoutMs: 30_000 }) }, onStep);
  return { exitCode: report.ok ? EXIT_OK : EXIT_PROBLEMS, document: { ...report, problems: loaded.problems.map(problemJson) }, loaded };
}

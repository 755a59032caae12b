/** tunnels up|down [names]: resolve, select, run (or plan with dryRun). */
import { FleetIndex } from '../analysis/topology.js';
import { EXIT_OK, EXIT_PROBLEMS } from '../errors.js';
import { loadFleet, type FleetOptions } from '../load/fleet.js';
import { locatorOf } from '../load/locator.js';
import { Ops } from '../ops/context.js';
import { resolveSettings, type OpsSettings } from '../ops/settings.js';
import { selectTunnels, TunnelRunner } from '../ops/tunnels.js';
import { countBySeverity, problemJson } from '../problems.js';
import { resolveTunnels } from '../tunnels/resolve.js';
import type { Answer } from './answer.js';

/** `onStep`: a line per step as it happens (the CLI's progress). */
export async function tunnels(
  action: 'up' | 'down',
  source: FleetOptions,
  names: string[],
  given: Partial<OpsSettings>,
  choices: { dryRun: boolean },
  onStep: (line: string) => void = () => {},
) {
  const loaded = await loadFleet(source);
  const index = new FleetIndex(loaded.fleet);
  const resolution = resolveTunnels(index, locatorOf(loaded));
  const selected = selectTunnels(resolution.tunnels, names);
  // Opening a tunnel waits for its unit and probe: a longer per-host timeout than a quick question.
  const ops = new Ops(loaded.fleet, resolveSettings(given, { commandTimeoutMs: 60_000 }));
  const runner = new TunnelRunner(ops, index, resolution.tunnels, onStep);
  const run = choices.dryRun ? runner.plan(action, selected) : action === 'up' ? await runner.up(selected) : await runner.down(selected);
  // Tunnels that cannot be opened (their problems) are reported; the others still ran.
  const blocked = names.length === 0 ? countBySeverity(resolution.problems).errors : 0;
  const document = { command: `tunnels ${action}`, ...run, skipped: resolution.skipped, problems: loaded.problems.map(problemJson) };
  // `resolution`: what resolving the tunnels found (a published port's warning is said on every run).
  const answer: Answer<typeof document> & { resolution: typeof resolution } = {
    exitCode: run.ok && blocked === 0 ? EXIT_OK : EXIT_PROBLEMS,
    document,
    loaded,
    resolution,
  };
  return answer;
}

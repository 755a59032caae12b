/** check independence: does production run with every workstation and dev host offline (with --live, also with the tunnels observed down now)? */
import { checkIndependence, type IndependenceReport } from '../analysis/independence.js';
import { FleetIndex } from '../analysis/topology.js';
import { loadFleet, type FleetOptions } from '../load/fleet.js';
import type { OpsSettings } from '../ops/settings.js';
import { viewAnswer, type Answer, type WithProblems } from './answer.js';
import type { LiveView } from './live.js';

export type IndependenceDocument = WithProblems<IndependenceReport & { live?: LiveView['json'] }>;

/** `live`: observe the tunnels now, with these settings (the user's). */
export async function independence(
  source: FleetOptions,
  choices: { live?: Partial<OpsSettings> } = {},
): Promise<Answer<IndependenceDocument> & { live?: LiveView }> {
  const loaded = await loadFleet(source);
  const index = new FleetIndex(loaded.fleet);
  const live = choices.live === undefined ? undefined : await (await import('./live.js')).observeLive(loaded, index, choices.live);
  const report = checkIndependence(index, live?.observedDown);
  return { ...viewAnswer(loaded, { ...report, ...(live ? { live: live.json } : {}) }, !report.ok), ...(live ? { live } : {}) };
}

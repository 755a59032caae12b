/** drain: the plan that moves everything off a host onto another, in waves. */
import { planDrain, type DrainPlan } from '../analysis/drain.js';
import { FleetIndex } from '../analysis/topology.js';
import { UsageError } from '../errors.js';
import { loadFleet, type FleetOptions, type LoadedFleet } from '../load/fleet.js';
import { viewAnswer, type Answer, type WithProblems } from './answer.js';

export async function drain(source: FleetOptions, host: string, to: string | undefined): Promise<Answer<WithProblems<DrainPlan>>> {
  if (to === undefined) throw new UsageError('drain needs a target host', 'pass --to HOST');
  const loaded = await loadFleet(source);
  return drainOf(loaded, new FleetIndex(loaded.fleet), host, to);
}

/** On a fleet already loaded (the dashboard keeps one while its files are unchanged). */
export function drainOf(loaded: LoadedFleet, index: FleetIndex, host: string, to: string): Answer<WithProblems<DrainPlan>> {
  const [source, target] = index.resolveHosts([host, to]);
  if (target === undefined || source === target) throw new UsageError(`cannot drain ${host} onto itself`, 'pass --to with another host');
  const plan = planDrain(index, source!, target);
  return viewAnswer(loaded, { ...plan }, !plan.ok);
}

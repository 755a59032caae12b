/** impact: what breaks if these hosts go offline (with --live, also the tunnels observed down now), and what the drills proved of the data lost. */
import { analyzeImpact, type ImpactReport } from '../analysis/impact.js';
import { FleetIndex } from '../analysis/topology.js';
import { drillStatus, readEvidence, type DrillStatus } from '../data/evidence.js';
import { UsageError } from '../errors.js';
import { loadFleet, type FleetOptions, type LoadedFleet } from '../load/fleet.js';
import type { OpsSettings } from '../ops/settings.js';
import { viewAnswer, type Answer, type WithProblems } from './answer.js';
import type { LiveView } from './live.js';

export type ImpactData = ImpactReport['data'][number] & { drill: DrillStatus['last_drill'] | null };
export type ImpactDocument = WithProblems<Omit<ImpactReport, 'data'> & { data: ImpactData[]; live?: LiveView['json'] }>;

/** `live`: observe the tunnels now, with these settings (the user's). */
export interface ImpactChoices {
  live?: Partial<OpsSettings>;
}

export async function impact(source: FleetOptions, hosts: string[], choices: ImpactChoices = {}): Promise<Answer<ImpactDocument>> {
  if (hosts.length === 0 && choices.live === undefined)
    throw new UsageError(
      'impact needs at least one host',
      'name the hosts to take offline, or pass --live to see what the tunnels observed down break now',
    );
  const loaded = await loadFleet(source);
  return impactOf(loaded, new FleetIndex(loaded.fleet), hosts, choices);
}

/** On a fleet already loaded (the dashboard keeps one while its files are unchanged). */
export async function impactOf(
  loaded: LoadedFleet,
  index: FleetIndex,
  hosts: string[],
  choices: ImpactChoices = {},
): Promise<Answer<ImpactDocument>> {
  const offline = index.resolveHosts(hosts);
  const live = choices.live === undefined ? undefined : await (await import('./live.js')).observeLive(loaded, index, choices.live);
  const report = analyzeImpact(index, offline, live ? { observedDown: live.observedDown } : {});
  if (live) report.notes.push(...live.notes);
  // What the drills proved (backup-evidence.jsonl): declared objectives are a promise until drilled.
  const evidence = readEvidence(loaded.fleet.root);
  const proven = new Map(report.data.filter((d) => d.kind === 'cluster').map((d) => [d.name, drillStatus(d.name, null, evidence)]));
  const data = report.data.map((d) => ({ ...d, drill: proven.get(d.name)?.last_drill ?? null }));
  return viewAnswer(loaded, { ...report, data, ...(live ? { live: live.json } : {}) });
}

/** impact: what breaks if these hosts go offline (with --live, also the tunnels observed down now), and what the drills proved of the data lost. */
import { analyzeImpact, type ImpactReport } from '../analysis/impact.js';
import { FleetIndex } from '../analysis/topology.js';
import { drillStatus, readEvidence, readRecoveries, type DrillStatus } from '../data/evidence.js';
import { durationMs } from '../fleet/model.js';
import { UsageError } from '../errors.js';
import { loadFleet, type FleetOptions, type LoadedFleet } from '../load/fleet.js';
import type { OpsSettings } from '../ops/settings.js';
import { viewAnswer, type Answer, type WithProblems } from './answer.js';
import type { LiveView } from './live.js';

export type ImpactData = ImpactReport['data'][number] & { drill: DrillStatus['last_drill'] | null };
/**
 * How long bringing an offline host back takes: measured by the last `recover` of it when there
 * is one (backup-evidence.jsonl), else the strictest RTO its clusters' backups declare.
 */
export interface HostRecovery {
  host: string;
  /** measured: the last successful `recover` of this host; declared: its clusters' backup policies; none: neither. */
  source: 'measured' | 'declared' | 'none';
  /** The measured recovery time (seconds); null unless measured. */
  rto_s: number | null;
  declared: string | null;
  /** The measurement: when, and onto which host. */
  measured_at: string | null;
  to: string | null;
}

export type ImpactDocument = WithProblems<Omit<ImpactReport, 'data'> & { data: ImpactData[]; recovery: HostRecovery[]; live?: LiveView['json'] }>;

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
  const recoveries = readRecoveries(loaded.fleet.root).filter((r) => r.ok && r.achieved.rto_s !== null);
  const recovery = report.offline.map((host): HostRecovery => {
    const declared = strictestRto(loaded.fleet.clusters.filter((c) => c.host === host).map((c) => c.backup?.rto));
    const last = recoveries.filter((r) => r.host === host).pop();
    // After a recovery the files put its clusters elsewhere: what was declared when it was measured is in the record.
    if (last !== undefined)
      return { host, source: 'measured', rto_s: last.achieved.rto_s, declared: last.declared?.rto ?? declared, measured_at: last.time, to: last.to };
    return { host, source: declared === null ? 'none' : 'declared', rto_s: null, declared, measured_at: null, to: null };
  });
  return viewAnswer(loaded, { ...report, data, recovery, ...(live ? { live: live.json } : {}) });
}

function strictestRto(values: (string | undefined)[]): string | null {
  const s = (v: string) => (/^\d+(ms|s|m|h|d)$/.test(v) ? durationMs(v, 0) : Infinity);
  const given = values.filter((v): v is string => v !== undefined).sort((a, b) => s(a) - s(b));
  return given[0] ?? null;
}

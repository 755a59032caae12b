/** --live for the analysis commands: observe every declared tunnel now (loaded only with --live). */
import type { FleetIndex } from '../../analysis/topology.js';
import type { LoadedFleet } from '../../fleet/load.js';
import { Ops } from '../../ops/context.js';
import { settingsFrom, type OpsCliOptions } from '../../ops/settings.js';
import { observeTunnels, type TunnelStatus } from '../../ops/tunnel-verdicts.js';
import { resolveTunnels } from '../../tunnels/resolve.js';
import { locatorOf } from './render/shared.js';

export interface LiveView {
  observedDown: Map<string, string>;
  /** For --json: what was observed, per tunnel. */
  json: { tunnels: { name: string; verdict: string; reason: string | null }[]; unobserved: string[] };
  notes: string[];
}

export async function observeLive(loaded: LoadedFleet, index: FleetIndex, options: OpsCliOptions): Promise<LiveView> {
  const tunnels = resolveTunnels(index, locatorOf(loaded)).tunnels;
  const ops = new Ops(loaded.fleet, settingsFrom(options, { commandTimeoutMs: 15_000, connectTimeoutS: 5 }));
  const { observedDown, rows, unobserved } = await observeTunnels(index, tunnels, ops);
  const declared = new Set(tunnels.map((t) => t.name));
  const notes = [
    ...unobserved.map((r: TunnelStatus) => `could not observe tunnel ${r.name} (${r.reason ?? 'unreachable'}): assumed as declared`),
    ...loaded.fleet.tunnels.filter((t) => !declared.has(t.name)).map((t) => `tunnel ${t.name} cannot be opened as declared (see validate): not observed`),
  ];
  return {
    observedDown,
    json: { tunnels: rows.map((r) => ({ name: r.name, verdict: r.verdict, reason: r.reason ?? null })), unobserved: unobserved.map((r) => r.name) },
    notes,
  };
}

/** --live for the analysis use cases: observe every declared tunnel now (loaded only with --live). */
import type { FleetIndex } from '../analysis/topology.js';
import type { LoadedFleet } from '../load/fleet.js';
import { locatorOf } from '../load/locator.js';
import { Ops } from '../ops/context.js';
import { resolveSettings, type OpsSettings } from '../ops/settings.js';
import { observeTunnels, type TunnelStatus } from '../ops/tunnel-verdicts.js';
import { resolveTunnels } from '../tunnels/resolve.js';

/** Observing is a quick question: it gives up on a host sooner than the verbs that change one. */
export const OBSERVE_DEFAULTS: Partial<OpsSettings> = { commandTimeoutMs: 15_000, connectTimeoutS: 5 };

export interface LiveView {
  observedDown: Map<string, string>;
  /** For --json: what was observed, per tunnel. */
  json: { tunnels: { name: string; verdict: string; reason: string | null }[]; unobserved: string[] };
  notes: string[];
}

export async function observeLive(loaded: LoadedFleet, index: FleetIndex, given: Partial<OpsSettings>): Promise<LiveView> {
  const tunnels = resolveTunnels(index, locatorOf(loaded)).tunnels;
  const ops = new Ops(loaded.fleet, resolveSettings(given, OBSERVE_DEFAULTS));
  const { observedDown, rows, unobserved } = await observeTunnels(index, tunnels, ops);
  const declared = new Set(tunnels.map((t) => t.name));
  const notes = [
    ...unobserved.map((r: TunnelStatus) => `could not observe tunnel ${r.name} (${r.reason ?? 'unreachable'}): assumed as declared`),
    ...loaded.fleet.tunnels
      .filter((t) => !declared.has(t.name))
      .map((t) => `tunnel ${t.name} cannot be opened as declared (see validate): not observed`),
  ];
  return {
    observedDown,
    json: { tunnels: rows.map((r) => ({ name: r.name, verdict: r.verdict, reason: r.reason ?? null })), unobserved: unobserved.map((r) => r.name) },
    notes,
  };
}

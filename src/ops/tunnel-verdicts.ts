/**
 * Every tunnel in `status` (and `impact --live`, `check independence --live`): the unit on the
 * host that opens it, and the end-to-end probe on the host whose clients use it — both inside
 * that host's one status round trip (StatusExtra).
 */
import type { FleetIndex } from '../analysis/topology.js';
import {
  parseTunnelStatus,
  tunnelStatusPart,
  type TunnelHostInput,
  type TunnelProbe,
  type TunnelProbeInput,
  type TunnelUnitState,
} from '../runtime/tunnel-probe-script.js';
import type { RunResult } from '../transport/types.js';
import type { ResolvedTunnel } from '../tunnels/resolve.js';
import type { Ops } from './context.js';
import { collectStatus, type StatusExtra } from './service-status.js';

export type TunnelVerdict = 'up' | 'down' | 'not-installed' | 'unreachable';

export interface TunnelStatus {
  name: string;
  direction: 'forward' | 'reverse';
  initiator: string;
  far: string;
  listen_host: string;
  carries: string | null;
  critical: boolean;
  unit: string;
  state: TunnelUnitState | null;
  probes: TunnelProbe[];
  verdict: TunnelVerdict;
  reason?: string;
}

const POSTGRES = new Set(['postgres', 'timescaledb']);

export interface TunnelStatusCollector {
  extras: Map<string, StatusExtra[]>;
  /** After the round trips: one row per tunnel, in name order. */
  report(): TunnelStatus[];
}

export function tunnelStatusCollector(index: FleetIndex, tunnels: readonly ResolvedTunnel[]): TunnelStatusCollector {
  const inputs = new Map<string, TunnelHostInput & { units: ResolvedTunnel[]; probes: TunnelProbeInput[] }>();
  const input = (host: string) => {
    let i = inputs.get(host);
    if (!i) inputs.set(host, (i = { units: [], probes: [] }));
    return i;
  };
  for (const t of tunnels) {
    input(t.initiator).units.push(t);
    const cluster = t.carries === null ? undefined : index.clusters.get(t.carries);
    const postgres = cluster !== undefined && POSTGRES.has(cluster.engine);
    for (const f of t.forwards) input(t.listenHost).probes.push({ tunnel: t.name, host: f.bind, port: f.listen, postgres });
  }
  const results = new Map<string, { unreachable?: string; units: Map<string, TunnelUnitState>; probes: Map<string, TunnelProbe[]> }>();
  const extras = new Map<string, StatusExtra[]>();
  for (const [host, i] of inputs) {
    extras.set(host, [
      {
        script: tunnelStatusPart(i),
        onResult: (result: RunResult) => {
          if (result.unreachable !== undefined) results.set(host, { unreachable: result.unreachable, units: new Map(), probes: new Map() });
          else results.set(host, parseTunnelStatus(i, result.stdout));
        },
      },
    ]);
  }
  return {
    extras,
    report: () =>
      [...tunnels]
        .sort((a, b) => a.name.localeCompare(b.name))
        .map((t) => {
          const opener = results.get(t.initiator);
          const user = results.get(t.listenHost);
          const state = opener?.units.get(t.name) ?? null;
          const probes = user?.probes.get(t.name) ?? [];
          const row: TunnelStatus = {
            name: t.name,
            direction: t.direction,
            initiator: t.initiator,
            far: t.far,
            listen_host: t.listenHost,
            carries: t.carries,
            critical: t.critical,
            unit: t.unit,
            state,
            probes,
            verdict: 'up',
          };
          const lost = [
            opener?.unreachable === undefined ? undefined : `${t.initiator}: ${opener.unreachable}`,
            user?.unreachable === undefined ? undefined : `${t.listenHost}: ${user.unreachable}`,
          ].filter((x): x is string => x !== undefined);
          if (lost.length > 0 || !opener || !user) return { ...row, verdict: 'unreachable', reason: lost.join('; ') || 'not asked' };
          if (!state || state.load === 'not-found')
            return { ...row, verdict: 'not-installed', reason: `${t.unit} is not installed on ${t.initiator} (manage-apps tunnels up ${t.name})` };
          if (state.active !== 'active') return { ...row, verdict: 'down', reason: `unit ${state.active} (${state.sub})` };
          const bad = probes.filter((p) => !p.ok);
          if (probes.length === 0) return { ...row, verdict: 'down', reason: `no probe answer from ${t.listenHost}` };
          if (bad.length > 0)
            return { ...row, verdict: 'down', reason: bad.map((p) => `${p.kind} ${t.listenHost}:${p.port}: ${p.detail}`).join('; ') };
          return row;
        }),
  };
}

/**
 * --live for impact and check independence: every tunnel's status, observed now (one round
 * trip per host involved). A tunnel seen down or not installed counts as broken; one whose
 * host could not be asked is not judged (listed as unobserved).
 */
export async function observeTunnels(
  index: FleetIndex,
  tunnels: readonly ResolvedTunnel[],
  ops: Ops,
): Promise<{ observedDown: Map<string, string>; rows: TunnelStatus[]; unobserved: TunnelStatus[] }> {
  const collector = tunnelStatusCollector(index, tunnels);
  await collectStatus(ops, [], ops.settings.commandTimeoutMs, collector.extras);
  const rows = collector.report();
  const observedDown = new Map<string, string>();
  for (const r of rows) if (r.verdict === 'down' || r.verdict === 'not-installed') observedDown.set(r.name, `${r.verdict}: ${r.reason ?? ''}`.trim());
  return { observedDown, rows, unobserved: rows.filter((r) => r.verdict === 'unreachable') };
}

/**
 * Putting a release into service and settling it: the part deploy and rollback share.
 *
 *   round trip A (activateScript): arm the host's revert, switch `current`, restart, gate;
 *   round trip B: gate passed → confirmScript (disarm, `passed`, prune, unlock);
 *                 gate failed → fallBackScript (diagnose, `failed`, switch back, gate, unlock).
 *
 * If this process dies or the host stops answering anywhere after A began, the host's revert
 * settles the activation by itself (runtime/revert.ts); once a host is judged unreachable
 * nothing more is sent to it, so the command ends promptly.
 */
import type { Service } from '../../fleet/model.js';
import type { ActivationRuntime } from '../../runtime/runtime.js';
import { activateScript, confirmScript, fallBackScript } from '../../runtime/release.js';
import { records } from '../../runtime/shell.js';
import { parseDiagnosis, parseGate } from '../../runtime/shell.js';
import type { Diagnosis, GateResult } from '../../runtime/types.js';
import { failureReason, type RunResult, type Transport } from '../../transport/types.js';
import { gateDetail } from '../lifecycle.js';
import { composeUsed } from '../../runtime/compose.js';
import { switchEdges, type SwapPlan } from './edge-swap.js';
import type { JobRunMet, RevertReport } from './types.js';

export interface ActivationContext {
  service: Service;
  runtime: ActivationRuntime;
  transport: Transport;
  timeoutMs: number;
  /** Extra seconds the revert waits for the confirmation beyond the readiness timeout. */
  marginMs: number;
  token: string;
  by: string;
  keep: number;
  commandTimeoutMs: number;
  report: (m: string) => void;
  /** A swap behind an edge: the edges to switch to the new instance once it passed its gate. */
  swap?: SwapPlan;
}

export interface Settled {
  /** passed: live and confirmed; failed: switched back (or stopped); late: the host's revert was first; error: nothing was switched. */
  verdict: 'passed' | 'failed' | 'late' | 'unreachable' | 'error';
  previous: string | null;
  reason?: string;
  diagnosis?: Diagnosis;
  /** After a failed gate: where the service went back to. */
  back?: { release: string | null; ok: boolean; detail: string };
  revert: RevertReport;
  pruned: string[];
  /** The scripts released the lock (or the host is out of reach: nothing more is sent). */
  lockSettled: boolean;
  gate: GateResult | null;
  activateMs: number;
  roundTrips: number;
  /** A runtime that pins an image (compose): the digest the activation ran, and which compose it used. */
  digest?: string;
  compose?: string;
  /** A scheduled job: the run in progress the activation waited for or stopped. */
  jobRun?: JobRunMet;
}

/** "@@jobrun<TAB>waited|killed<TAB>pid<TAB>epoch<TAB>ms": what a job's activation did about a run in progress. */
export function jobRunOf(result: RunResult): JobRunMet | undefined {
  const r = records(result.stdout).find((x) => x[0] === 'jobrun' && (x[1] === 'waited' || x[1] === 'killed'));
  if (r === undefined) return undefined;
  const started = Number(r[3] ?? '');
  return {
    action: r[1] as 'waited' | 'killed',
    pid: Number(r[2] ?? '') || null,
    started: started > 0 ? new Date(started * 1000).toISOString() : null,
    ms: Number(r[4] ?? '') || 0,
  };
}

export function gateOf(result: RunResult): GateResult & { since?: number } {
  const gate = parseGate(result.stdout);
  const since = Number(records(result.stdout).find((r) => r[0] === 'since')?.[1] ?? '');
  return { ...gate, ...(since > 0 ? { since } : {}) };
}

const field = (result: RunResult, kind: string) => records(result.stdout).find((r) => r[0] === kind);

function firedDetail(result: RunResult): string {
  const fired = new Map(
    records(result.stdout)
      .filter((r) => r[0] === 'fired')
      .map((r) => {
        const line = r[2] ?? '';
        const eq = line.indexOf('=');
        return [line.slice(0, eq), line.slice(eq + 1)] as const;
      }),
  );
  return fired.size > 0
    ? `the host reverted ${fired.get('release') ?? '?'} at ${fired.get('at') ?? '?'} (${fired.get('reason') ?? ''}): ${fired.get('result') ?? ''}`
    : 'the activation was settled by someone else first';
}

/** Activates `release` (already on the host, the lock held) and settles it. `from`: a rollback's current release. */
export async function activateAndSettle(ctx: ActivationContext, release: string, from?: string): Promise<Settled> {
  const { service, transport, timeoutMs } = ctx;
  const windowS = Math.ceil((timeoutMs + ctx.marginMs) / 1000);
  const revert: RevertReport = { windowS, state: 'left-armed' };
  const quick = ctx.commandTimeoutMs;
  ctx.report(
    `switching to ${release}, restarting, waiting for ${service.health.readiness} (the host reverts by itself after ${windowS}s unless confirmed)`,
  );
  const t0 = Date.now();
  const act = await transport.script(
    activateScript(ctx.runtime, service.directory, { release, timeoutMs, arm: { windowS, token: ctx.token, by: ctx.by } }),
    { timeoutMs: timeoutMs + (ctx.runtime.prepareMs ?? 0) + quick + 90_000 },
  );
  const activateMs = Date.now() - t0;
  const previous = field(act, 'previous')?.[1] || null;
  const digest = field(act, 'digest')?.[1];
  const compose = composeUsed(act.stdout);
  const jobRun = jobRunOf(act);
  const base = {
    previous,
    revert,
    pruned: [] as string[],
    activateMs,
    ...(digest ? { digest } : {}),
    ...(compose === undefined ? {} : { compose }),
    ...(jobRun === undefined ? {} : { jobRun }),
  };
  if (act.unreachable) {
    return {
      ...base,
      verdict: 'unreachable',
      lockSettled: true,
      gate: null,
      roundTrips: 1,
      reason: `the host stopped answering during the switch to ${release} (${act.unreachable}); ${field(act, 'armed') ? `it switches back to ${previous ?? 'nothing'} by itself within ${windowS}s of the switch` : 'its revert may not have been armed: check `manage-apps releases`'}`,
    };
  }
  const error = field(act, 'error');
  if (error && !field(act, 'switched'))
    return {
      ...base,
      revert: { windowS, state: 'disarmed', detail: 'never armed' },
      verdict: 'error',
      lockSettled: false,
      gate: null,
      roundTrips: 1,
      reason: `${error[1] ?? failureReason(act)}; nothing was switched`,
    };
  const gate = gateOf(act);
  let edgeFailure: string | undefined;
  let edgeTrips = 0;
  const swapped = field(act, 'swap');
  if (gate.outcome === 'ready' && ctx.swap !== undefined && swapped !== undefined) {
    const [from, to] = [Number(swapped[1]), Number(swapped[2])];
    ctx.report(`switching ${ctx.swap.edges.map((e) => e.edge).join(', ')} from port ${from} to ${to}`);
    const switched = await switchEdges(ctx.swap.edges, ctx.swap.ports, to, quick);
    edgeTrips++;
    const failed = switched.filter((r) => !r.ok);
    if (failed.length > 0) {
      edgeFailure = `the edge switch failed (${failed.map((f) => `${f.edge}: ${f.state} ${f.detail}`).join('; ')})`;
      // Put back the edges that did switch, so they drain the new instance before the host stops
      // it (an edge left preferring it falls over to the old port by itself: both are upstreams).
      const moved = ctx.swap.edges.filter((e) => switched.find((r) => r.edge === e.edge)?.state === 'switched');
      if (moved.length > 0) {
        await switchEdges(moved, ctx.swap.ports, from, quick);
        edgeTrips++;
      }
    }
  }

  if (gate.outcome === 'ready' && edgeFailure === undefined) {
    ctx.report('confirming (disarming the revert), pruning old releases');
    const after = ctx.runtime.confirmed === undefined ? {} : { after: `${ctx.runtime.functions}\n${ctx.runtime.confirmed()}` };
    const conf = await transport.script(
      confirmScript(service.directory, ctx.runtime.key, {
        release,
        ...(from === undefined ? {} : { from }),
        keep: ctx.keep,
        token: ctx.token,
        ...after,
      }),
      { timeoutMs: quick + 30_000 },
    );
    if (conf.unreachable)
      return {
        ...base,
        verdict: 'unreachable',
        lockSettled: true,
        gate,
        roundTrips: 2 + edgeTrips,
        reason: `${release} passed its gate, but the host stopped answering before the confirmation (${conf.unreachable}): unless it arrived, the host switches back to ${previous ?? 'nothing'} by itself`,
      };
    const pruned = records(conf.stdout)
      .filter((r) => r[0] === 'pruned')
      .map((r) => r[1] ?? '');
    const lockSettled = field(conf, 'unlocked') !== undefined;
    if (field(conf, 'confirmed'))
      return { ...base, pruned, revert: { windowS, state: 'disarmed' }, verdict: 'passed', lockSettled, gate, roundTrips: 2 + edgeTrips };
    const detail = firedDetail(conf);
    return {
      ...base,
      pruned,
      revert: { windowS, state: 'fired', detail },
      verdict: 'late',
      lockSettled,
      gate,
      roundTrips: 2 + edgeTrips,
      reason: `${release} passed its gate but was not confirmed in time: ${detail}`,
    };
  }

  const reason = edgeFailure ?? gateDetail(service, gate.outcome, gate.detail, timeoutMs, gate.port);
  ctx.report(`${reason}; diagnosing, switching back to ${previous ?? 'nothing (stopping)'}`);
  const back = await transport.script(
    fallBackScript(ctx.runtime, service.directory, {
      release,
      keep: ctx.keep,
      timeoutMs,
      reason,
      token: ctx.token,
      ...(gate.since === undefined ? {} : { since: gate.since }),
    }),
    { timeoutMs: timeoutMs + quick + 90_000 },
  );
  if (back.unreachable)
    return {
      ...base,
      verdict: 'unreachable',
      lockSettled: true,
      gate,
      roundTrips: 2,
      reason: `${reason}; the host stopped answering before it switched back (${back.unreachable}): it switches back to ${previous ?? 'nothing'} by itself`,
    };
  const diagnosis = parseDiagnosis(back.stdout);
  const lockSettled = field(back, 'unlocked') !== undefined;
  if (field(back, 'late')) {
    const detail = firedDetail(back);
    return {
      ...base,
      diagnosis,
      revert: { windowS, state: 'fired', detail },
      verdict: 'late',
      lockSettled,
      gate,
      roundTrips: 2,
      reason: `${reason}; ${detail}`,
    };
  }
  const target = field(back, 'back')?.[1] || null;
  const backGate = gateOf(back);
  const result =
    target === null
      ? {
          release: null,
          ok: backGate.outcome === 'stopped',
          detail: 'no previous release: the unit was stopped (the failed release is kept, marked failed)',
        }
      : backGate.outcome === 'ready'
        ? { release: target, ok: true, detail: `${target} is live and ready again` }
        : {
            release: target,
            ok: false,
            detail: `the previous release did not come back: ${gateDetail(service, backGate.outcome, backGate.detail, timeoutMs, backGate.port)}`,
          };
  const pruned = records(back.stdout)
    .filter((r) => r[0] === 'pruned')
    .map((r) => r[1] ?? '');
  return {
    ...base,
    pruned,
    diagnosis,
    back: result,
    revert: { windowS, state: 'disarmed' },
    verdict: 'failed',
    lockSettled,
    gate,
    roundTrips: 2,
    reason,
  };
}

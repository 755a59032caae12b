/**
 * start, stop, restart: in dependency order (stop walks it backwards), in parallel within a
 * level; start and restart wait until a level is ready before the next one begins. A service
 * whose dependency failed is skipped, with the reason. An `edge` is never stopped (or
 * restarted) by a bulk command: only when it is named and --force is given.
 */
import { UsageError } from '../errors.js';
import type { Service } from '../fleet/model.js';
import { runtimeOf } from '../runtime/registry.js';
import type { DiagnosisFrom, LifecycleAction } from '../runtime/runtime.js';
import { parseDiagnosis } from '../runtime/shell.js';
import type { Diagnosis } from '../runtime/types.js';
import type { Ops } from './context.js';
import { dependencyLevels, selectedDependencies, type Selection } from './selection.js';
import type { Progress } from './progress.js';
import { walkLevels } from './levels.js';

export type { LifecycleAction } from '../runtime/runtime.js';

export type Outcome = 'started' | 'running' | 'stopped' | 'not-running' | 'restarted' | 'failed' | 'skipped' | 'unreachable';

export interface ActionResult {
  id: string;
  host: string;
  action: LifecycleAction;
  outcome: Outcome;
  ok: boolean;
  detail?: string;
  level: number;
  durationMs: number;
  diagnosis?: Diagnosis;
}

export interface LifecycleOptions {
  /** start/restart: wait for readiness (default true). */
  wait: boolean;
  /** Stop or restart a named edge. */
  force: boolean;
  /** PID mode: seconds between SIGTERM and SIGKILL. */
  graceS: number;
  /** Override every service's health.timeout (ms). */
  readyTimeoutMs?: number;
}

/** Every choice at its default: a start, stop or restart nobody tuned. */
export const LIFECYCLE_DEFAULTS: LifecycleOptions = { wait: true, force: false, graceS: 10 };

export interface LifecycleReport {
  action: LifecycleAction;
  levels: string[][];
  results: ActionResult[];
  summary: { ok: number; failed: number; skipped: number };
}

const STOPPING: ReadonlySet<LifecycleAction> = new Set(['stop', 'restart']);

/** Which edges take part: named + --force only. A named edge without --force is a usage error. */
export function edgeFilter(
  selection: Selection,
  action: LifecycleAction,
  force: boolean,
): { services: Service[]; skipped: { id: string; host: string; reason: string }[] } {
  if (!STOPPING.has(action)) return { services: selection.services, skipped: [] };
  const skipped: { id: string; host: string; reason: string }[] = [];
  const services = selection.services.filter((s) => {
    if (s.kind !== 'edge') return true;
    if (selection.named.has(s.id)) {
      if (force) return true;
      throw new UsageError(
        `${s.id} is an edge: ${action === 'stop' ? 'stopping' : 'restarting'} it drops every connection it fronts`,
        `name it and pass --force to ${action} it anyway`,
      );
    }
    skipped.push({
      id: s.id,
      host: s.host!,
      reason: `edge: never ${action === 'stop' ? 'stopped' : 'restarted'} by a bulk ${action} (name it and pass --force)`,
    });
    return false;
  });
  return { services, skipped };
}

/** `since`: systemd, the journal from that epoch on; `logOffset`: PID mode, the log from that byte on. */
export async function diagnoseService(ops: Ops, service: Service, from: DiagnosisFrom = {}): Promise<Diagnosis | undefined> {
  const host = ops.host(service)!;
  const script = runtimeOf(service).diagnosisScript(ops.runtime(service), from);
  if (script === undefined) return undefined;
  const r = await ops.transport(host).script(script, { timeoutMs: ops.settings.commandTimeoutMs });
  return r.unreachable === undefined ? parseDiagnosis(r.stdout) : undefined;
}

/** How long a service may take to become ready: the command line's override, else its health.timeout. */
export function readyTimeout(service: Service, options: { readyTimeoutMs?: number }): number {
  return options.readyTimeoutMs ?? service.health.timeoutMs;
}

/** Runs one action on one service (its runtime's lifecycle); never throws for the host's answers (they become the result). */
export async function runAction(
  ops: Ops,
  service: Service,
  action: LifecycleAction,
  options: LifecycleOptions,
  report: (m: string) => void = () => {},
): Promise<Omit<ActionResult, 'level'>> {
  const started = Date.now();
  const host = ops.host(service)!;
  const transport = ops.transport(host);
  const timeout = readyTimeout(service, options);
  const done = await runtimeOf(service).lifecycle({
    service,
    rs: ops.runtime(service),
    action,
    wait: options.wait,
    graceS: options.graceS,
    timeoutMs: timeout,
    quickMs: ops.settings.commandTimeoutMs,
    run: (script, timeoutMs) => transport.script(script, { timeoutMs }),
    report,
  });
  // A start that failed its gate: what the host says of it.
  const failed =
    'gate' in done
      ? {
          detail: gateDetail(service, done.gate.outcome, done.gate.detail, timeout, done.gate.port),
          diagnosis: await diagnoseService(ops, service, done.diagnose),
        }
      : { detail: done.detail, diagnosis: undefined };
  return {
    id: service.id,
    host: host.name,
    action,
    outcome: done.outcome,
    ok: done.ok,
    ...(failed.detail === undefined ? {} : { detail: failed.detail }),
    durationMs: Date.now() - started,
    ...(failed.diagnosis === undefined ? {} : { diagnosis: failed.diagnosis }),
  };
}

/** Why a gate failed; `port`: the port it probed, when the host said (a swap service's gated instance). */
export function gateDetail(service: Service, outcome: string, detail: string, timeoutMs: number, port = service.port): string {
  if (outcome === 'crashed') return `crashed on start: ${detail}`;
  if (outcome === 'timeout') {
    const code = Number(detail);
    const answer = code === 0 ? 'no answer' : `HTTP ${code}`;
    return service.port === undefined
      ? `not running steadily after ${timeoutMs / 1000}s`
      : `not ready: ${service.health.readiness} on port ${port} gave ${answer} for ${timeoutMs / 1000}s`;
  }
  return `no verdict from the host: ${detail}`;
}

export async function runLifecycle(
  ops: Ops,
  selection: Selection,
  action: LifecycleAction,
  options: LifecycleOptions,
  progress: Progress,
): Promise<LifecycleReport> {
  const { services, skipped: edgeSkips } = edgeFilter(selection, action, options.force);
  let levels = dependencyLevels(ops.fleet, services);
  if (action === 'stop') levels = [...levels].reverse();
  const key = (s: { id: string }) => `${action}:${s.id}`;
  progress.plan([
    ...levels.flat().map((s) => ({ key: key(s), host: s.host!, title: s.id })),
    ...edgeSkips.map((s) => ({ key: key(s), host: s.host, title: s.id })),
  ]);
  if (action !== 'stop') {
    for (const level of levels.slice(1)) {
      for (const s of level)
        progress.task(key(s)).update(
          `waits for ${
            selectedDependencies(ops.fleet, s, services)
              .map((d) => d.id)
              .join(', ') || 'the level before'
          }`,
        );
    }
  }
  const results: ActionResult[] = edgeSkips.map((s) => ({
    id: s.id,
    host: s.host,
    action,
    outcome: 'skipped',
    ok: true,
    detail: s.reason,
    level: -1,
    durationMs: 0,
  }));
  for (const s of edgeSkips) progress.task(key(s)).skip(s.reason);
  const walked = await walkLevels({
    levels,
    concurrency: ops.settings.concurrency,
    // start/restart: a service whose dependency did not come up is not started; stop stops what it can.
    ...(action === 'stop' ? {} : { dependencies: (service: Service) => selectedDependencies(ops.fleet, service, services) }),
    failed: (r: ActionResult) => !r.ok,
    held: (service, blockers, level): ActionResult => {
      const reason = `not ${action === 'start' ? 'started' : 'restarted'}: ${blockers.map((d) => d.id).join(', ')} did not come up`;
      progress.task(key(service)).skip(reason);
      return { id: service.id, host: service.host!, action, outcome: 'skipped', ok: false, detail: reason, level, durationMs: 0 };
    },
    run: async (service, level): Promise<ActionResult> => {
      const task = progress.task(key(service));
      let result: Omit<ActionResult, 'level'>;
      try {
        result = await runAction(ops, service, action, options, (m) => task.update(m));
      } catch (error) {
        result = {
          id: service.id,
          host: service.host!,
          action,
          outcome: 'failed',
          ok: false,
          detail: error instanceof Error ? error.message : String(error),
          durationMs: 0,
        };
      }
      if (result.ok) task.ok(`${result.outcome}${result.detail ? ` (${result.detail})` : ''} in ${(result.durationMs / 1000).toFixed(1)}s`);
      else task.fail(`${result.outcome}: ${result.detail ?? ''}`);
      return { ...result, level };
    },
  });
  await progress.close();
  results.push(...walked);
  return {
    action,
    levels: levels.map((l) => l.map((s) => s.id)),
    results,
    summary: {
      ok: results.filter((r) => r.ok && r.outcome !== 'skipped').length,
      // A service skipped because a dependency failed is not ok, but it is counted as skipped only.
      failed: results.filter((r) => !r.ok && r.outcome !== 'skipped').length,
      skipped: results.filter((r) => r.outcome === 'skipped').length,
    },
  };
}

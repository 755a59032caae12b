/**
 * start, stop, restart: in dependency order (stop walks it backwards), in parallel within a
 * level; start and restart wait until a level is ready before the next one begins. A service
 * whose dependency failed is skipped, with the reason. An `edge` is never stopped (or
 * restarted) by a bulk command: only when it is named and --force is given.
 */
import pLimit from 'p-limit';
import { UsageError } from '../errors.js';
import type { Service, Supervisor } from '../fleet/model.js';
import { pidDiagnosisScript, pidGateScript, pidStartScript, pidStopScript } from '../runtime/pid.js';
import { records } from '../runtime/shell.js';
import { actionScript, diagnosisScript, gateScript, parseDiagnosis, parseGate, type Diagnosis } from '../runtime/systemd.js';
import { failureReason, type Transport } from '../transport/types.js';
import { validName } from '../transport/quote.js';
import { composeActionScript, composeDiagnosisScript, composeUsed } from '../runtime/compose.js';
import type { RuntimeService } from '../runtime/types.js';
import { forLiveInstance, swapInstance, swapStopScript } from '../runtime/swap.js';
import type { Ops } from './context.js';
import { dependencyLevels, selectedDependencies, type Selection } from './plan.js';
import type { Progress } from './progress.js';

export type LifecycleAction = 'start' | 'stop' | 'restart';

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

export interface LifecycleReport {
  action: LifecycleAction;
  levels: string[][];
  results: ActionResult[];
  summary: { ok: number; failed: number; skipped: number };
}

const GERUND: Record<LifecycleAction, string> = { start: 'starting', stop: 'stopping', restart: 'restarting' };

const STOPPING: ReadonlySet<LifecycleAction> = new Set(['stop', 'restart']);

/** Which edges take part: named + --force only. A named edge without --force is a usage error. */
export function edgeFilter(selection: Selection, action: LifecycleAction, force: boolean): { services: Service[]; skipped: { id: string; host: string; reason: string }[] } {
  if (!STOPPING.has(action)) return { services: selection.services, skipped: [] };
  const skipped: { id: string; host: string; reason: string }[] = [];
  const services = selection.services.filter((s) => {
    if (s.kind !== 'edge') return true;
    if (selection.named.has(s.id)) {
      if (force) return true;
      throw new UsageError(`${s.id} is an edge: ${action === 'stop' ? 'stopping' : 'restarting'} it drops every connection it fronts`, `name it and pass --force to ${action} it anyway`);
    }
    skipped.push({ id: s.id, host: s.host!, reason: `edge: never ${action === 'stop' ? 'stopped' : 'restarted'} by a bulk ${action} (name it and pass --force)` });
    return false;
  });
  return { services, skipped };
}

/** The diagnosis script of each runtime (undefined: nothing to ask). */
const DIAGNOSIS: Record<Supervisor, (ops: Ops, service: Service, rs: RuntimeService, since?: number, logOffset?: number) => string | undefined> = {
  pid: (ops, service, rs, _since, logOffset) => pidDiagnosisScript(ops.stateWord(ops.host(service)!), rs, 20, logOffset),
  systemd: (_ops, _service, rs, since) => (rs.unit === undefined ? undefined : forLiveInstance(rs, (i) => diagnosisScript(i, since))),
  compose: (_ops, _service, rs, since) => composeDiagnosisScript(rs, since),
};

/** `since`: systemd, the journal from that epoch on; `logOffset`: PID mode, the log from that byte on. */
export async function diagnoseService(ops: Ops, service: Service, since?: number, logOffset?: number): Promise<Diagnosis | undefined> {
  const host = ops.host(service)!;
  const rs = ops.runtime(service);
  const script = DIAGNOSIS[service.supervisor](ops, service, rs, since, logOffset);
  if (script === undefined) return undefined;
  const r = await ops.transport(host).script(script, { timeoutMs: ops.settings.commandTimeoutMs });
  return r.unreachable === undefined ? parseDiagnosis(r.stdout) : undefined;
}

/** How long a service may take to become ready: the command line's override, else its health.timeout. */
export function readyTimeout(service: Service, options: { readyTimeoutMs?: number }): number {
  return options.readyTimeoutMs ?? service.health.timeoutMs;
}

/** Runs one action on one service; never throws for the host's answers (they become the result). */
export async function runAction(ops: Ops, service: Service, action: LifecycleAction, options: LifecycleOptions, report: (m: string) => void = () => {}): Promise<Omit<ActionResult, 'level'>> {
  const started = Date.now();
  const host = ops.host(service)!;
  const done: Done = (outcome, ok, detail, diagnosis) => ({
    id: service.id,
    host: host.name,
    action,
    outcome,
    ok,
    ...(detail === undefined ? {} : { detail }),
    durationMs: Date.now() - started,
    ...(diagnosis === undefined ? {} : { diagnosis }),
  });
  return ACTIONS[service.supervisor]({ ops, service, rs: ops.runtime(service), transport: ops.transport(host), action, options, report, done, timeout: readyTimeout(service, options), quick: ops.settings.commandTimeoutMs });
}

type Done = (outcome: Outcome, ok: boolean, detail?: string, diagnosis?: Diagnosis) => Omit<ActionResult, 'level'>;

interface ActionContext {
  ops: Ops;
  service: Service;
  rs: RuntimeService;
  transport: Transport;
  action: LifecycleAction;
  options: LifecycleOptions;
  report: (m: string) => void;
  done: Done;
  /** How long the service may take to become ready; how long a quick command may take. */
  timeout: number;
  quick: number;
}

/** start, stop and restart of each runtime. */
const ACTIONS: Record<Supervisor, (c: ActionContext) => Promise<Omit<ActionResult, 'level'>>> = {
  pid: pidAction,
  systemd: systemdAction,
  compose: composeAction,
};

async function pidAction({ ops, service, rs, transport, action, options, report, done, timeout, quick }: ActionContext): Promise<Omit<ActionResult, 'level'>> {
  const host = ops.host(service)!;
  if (rs.command === undefined) return done('failed', false, 'no command declared (service.command) to run in PID mode');
  const state = ops.stateWord(host);
  if (action !== 'start') {
    report('stopping');
    const r = await transport.script(pidStopScript(state, rs, options.graceS), { timeoutMs: quick + options.graceS * 1000 });
    if (r.unreachable) return done('unreachable', false, r.unreachable);
    const stop = records(r.stdout).find((x) => x[0] === 'stop');
    if (!stop) return done('failed', false, failureReason(r));
    if (action === 'stop') return done(stop[1] === 'stopped' || stop[1] === 'killed' ? 'stopped' : 'not-running', true, stop[1] === 'killed' ? `killed after ${options.graceS}s grace` : stop[1] === 'stale' ? 'removed a stale pid file' : undefined);
  }
  report('starting');
  const r = await transport.script(pidStartScript(state, rs), { timeoutMs: quick });
  if (r.unreachable) return done('unreachable', false, r.unreachable);
  const start = records(r.stdout).find((x) => x[0] === 'start');
  if (!start || start[1] === 'failed') return done('failed', false, start?.[2] ?? failureReason(r));
  const already = start[1] === 'already';
  if (!options.wait) return done(already ? 'running' : action === 'restart' ? 'restarted' : 'started', true, `pid ${start[2]}`);
  report(`waiting for ${service.port === undefined ? 'it to keep running' : service.health.readiness}`);
  const g = await transport.script(pidGateScript(state, rs, timeout), { timeoutMs: timeout + quick });
  if (g.unreachable) return done('unreachable', false, g.unreachable);
  const gate = parseGate(g.stdout);
  if (gate.outcome === 'ready') return done(already ? 'running' : action === 'restart' ? 'restarted' : 'started', true, `pid ${start[2]}, ready`);
  // Only what this start wrote to the log: earlier runs' errors would mislead.
  const offset = start[1] === 'started' && /^\d+$/.test(start[3] ?? '') ? Number(start[3]) : undefined;
  return done('failed', false, gateDetail(service, gate.outcome, gate.detail, timeout), await diagnoseService(ops, service, undefined, offset));
}

async function systemdAction({ ops, service, rs, transport, action, options, report, done, timeout, quick }: ActionContext): Promise<Omit<ActionResult, 'level'>> {
  if (rs.unit === undefined) return done('failed', false, 'no systemd unit declared (service.systemd_unit or service.command)');
  // A swap service: its live instance (stop: every instance), picked on the host (runtime/swap.ts).
  const label = rs.swap === undefined ? rs.unit : `the live instance of ${swapInstance(rs.unit, '')}`;
  if (action === 'stop' || !options.wait) {
    report(`${GERUND[action]} ${label}`);
    const script = action === 'stop' && rs.swap !== undefined ? swapStopScript(rs) : forLiveInstance(rs, (i) => actionScript(action, i.unit!));
    const r = await transport.script(script, { timeoutMs: quick + 90_000 });
    if (r.unreachable) return done('unreachable', false, r.unreachable);
    if (r.code !== 0) return done('failed', false, failureReason(r));
    return done(action === 'stop' ? 'stopped' : action === 'restart' ? 'restarted' : 'started', true);
  }
  report(`${GERUND[action]} ${label}, waiting for ${service.port === undefined ? 'it to keep running' : service.health.readiness}`);
  const g = await transport.script(forLiveInstance(rs, (i) => gateScript(i, timeout, { action })), { timeoutMs: timeout + quick + 90_000 });
  if (g.unreachable) return done('unreachable', false, g.unreachable);
  const gate = parseGate(g.stdout);
  const recs = records(g.stdout);
  const before = recs.find((x) => x[0] === 'before')?.[1];
  const since = Number(recs.find((x) => x[0] === 'since')?.[1] ?? '') || undefined;
  if (gate.outcome === 'ready') return done(action === 'start' && before === 'active' ? 'running' : action === 'restart' ? 'restarted' : 'started', true, 'ready');
  return done('failed', false, gateDetail(service, gate.outcome, gate.detail, timeout, gate.port), await diagnoseService(ops, service, since));
}

/** Compose: docker stop/restart of the service's container, or `up -d --no-deps` from the current release; gated like a unit. */
async function composeAction({ ops, service, rs, transport, action, options, report, done, timeout, quick }: ActionContext): Promise<Omit<ActionResult, 'level'>> {
  const wait = action !== 'stop' && options.wait;
  report(`${GERUND[action]} ${rs.compose!.project}/${rs.compose!.service}${wait ? `, waiting for ${service.port === undefined ? 'it to keep running' : service.health.readiness}` : ''}`);
  const script = composeActionScript(rs, validName('path', service.directory), action, { graceS: options.graceS, ...(wait ? { timeoutMs: timeout } : {}) });
  const r = await transport.script(script, { timeoutMs: (wait ? timeout : 0) + quick + options.graceS * 1000 + 90_000 });
  if (r.unreachable) return done('unreachable', false, r.unreachable);
  const recs = records(r.stdout);
  const before = recs.find((x) => x[0] === 'before')?.[1];
  const compose = composeUsed(r.stdout);
  const via = compose === undefined ? '' : ` (${compose})`;
  const doneRec = recs.find((x) => x[0] === 'done');
  if (!wait && doneRec?.[2] === '0') return done(action === 'stop' ? (doneRec[3] === 'no container' || before !== 'running' ? 'not-running' : 'stopped') : action === 'restart' ? 'restarted' : 'started', true, `container${via}`);
  const gate = parseGate(r.stdout);
  if (gate.outcome === 'ready') return done(action === 'start' && before === 'running' ? 'running' : action === 'restart' ? 'restarted' : 'started', true, `ready${via}`);
  const since = Number(recs.find((x) => x[0] === 'since')?.[1] ?? '') || undefined;
  return done('failed', false, gateDetail(service, gate.outcome, gate.detail, timeout), await diagnoseService(ops, service, since));
}

/** Why a gate failed; `port`: the port it probed, when the host said (a swap service's gated instance). */
export function gateDetail(service: Service, outcome: string, detail: string, timeoutMs: number, port = service.port): string {
  if (outcome === 'crashed') return `crashed on start: ${detail}`;
  if (outcome === 'timeout') {
    const code = Number(detail);
    const answer = code === 0 ? 'no answer' : `HTTP ${code}`;
    return service.port === undefined ? `not running steadily after ${timeoutMs / 1000}s` : `not ready: ${service.health.readiness} on port ${port} gave ${answer} for ${timeoutMs / 1000}s`;
  }
  return `no verdict from the host: ${detail}`;
}

export async function runLifecycle(ops: Ops, selection: Selection, action: LifecycleAction, options: LifecycleOptions, progress: Progress): Promise<LifecycleReport> {
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
      for (const s of level) progress.task(key(s)).update(`waits for ${selectedDependencies(ops.fleet, s, services).map((d) => d.id).join(', ') || 'the level before'}`);
    }
  }
  const results: ActionResult[] = edgeSkips.map((s) => ({ id: s.id, host: s.host, action, outcome: 'skipped', ok: true, detail: s.reason, level: -1, durationMs: 0 }));
  for (const s of edgeSkips) progress.task(key(s)).skip(s.reason);
  const failed = new Set<string>();
  const limit = pLimit(ops.settings.concurrency);
  for (const [index, level] of levels.entries()) {
    await Promise.all(
      level.map((service) =>
        limit(async () => {
          const task = progress.task(key(service));
          // start/restart: a service whose dependency did not come up is not started.
          const blocked = action === 'stop' ? [] : selectedDependencies(ops.fleet, service, services).filter((d) => failed.has(d.id));
          if (blocked.length > 0) {
            failed.add(service.id);
            const reason = `not ${action === 'start' ? 'started' : 'restarted'}: ${blocked.map((d) => d.id).join(', ')} did not come up`;
            task.skip(reason);
            results.push({ id: service.id, host: service.host!, action, outcome: 'skipped', ok: false, detail: reason, level: index, durationMs: 0 });
            return;
          }
          let result: Omit<ActionResult, 'level'>;
          try {
            result = await runAction(ops, service, action, options, (m) => task.update(m));
          } catch (error) {
            result = { id: service.id, host: service.host!, action, outcome: 'failed', ok: false, detail: error instanceof Error ? error.message : String(error), durationMs: 0 };
          }
          results.push({ ...result, level: index });
          if (result.ok) task.ok(`${result.outcome}${result.detail ? ` (${result.detail})` : ''} in ${(result.durationMs / 1000).toFixed(1)}s`);
          else {
            failed.add(service.id);
            task.fail(`${result.outcome}: ${result.detail ?? ''}`);
          }
        }),
      ),
    );
  }
  await progress.close();
  const order = new Map(levels.flat().map((s, i) => [s.id, i]));
  results.sort((a, b) => (order.get(a.id) ?? -1) - (order.get(b.id) ?? -1));
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

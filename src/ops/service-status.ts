/**
 * `status`: for each service its unit state (active/sub state, since, restarts) and its health
 * (readiness and liveness probed on the host's loopback). One round trip per host whatever the
 * number of services; hosts in parallel (bounded); an unreachable host is reported with the
 * reason within the timeout and never holds up the others.
 */
import pLimit from 'p-limit';
import type { Host, Service, Supervisor } from '../fleet/model.js';
import { hostStatusScript, parseHostStatus, type HostStatusInput } from '../runtime/host-status-script.js';
import { byRuntime, runtimeOf } from '../runtime/registry.js';
import type { ContainerStatus, Health, JobStatus, RevertState, UnitState } from '../runtime/types.js';
import { SshTransport } from '../transport/ssh.js';
import { failureReason, type RunResult } from '../transport/types.js';
import type { Ops } from './context.js';
import { cancelPending } from './prewarm.js';

export type Verdict = 'healthy' | 'unhealthy' | 'starting' | 'stopped' | 'failed' | 'overdue' | 'not-found' | 'stale' | 'unreachable' | 'unknown';

export interface ServiceStatus {
  id: string;
  project: string;
  environment: string;
  host: string;
  kind: string;
  supervisor: Supervisor;
  unit: string | null;
  port: number | null;
  verdict: Verdict;
  healthy: boolean;
  state: UnitState | null;
  health: Health | null;
  /** Compose services: the container (id, status, Docker's health, restarts, the image and digest it runs); null when there is none. */
  container?: ContainerStatus | null;
  /** Why the verdict, in words (unreachable: ssh's reason). */
  reason?: string;
  /** An armed or fired revert of the last deploy or rollback (the host's dead-man switch). */
  revert?: RevertState;
  /** A scheduled job (service.schedule): next run, last run, last success, skipped runs, overdue (`state` is its timer's). */
  job?: JobStatus;
}

export interface HostStatus {
  host: string;
  transport: 'ssh' | 'local';
  reachable: boolean;
  reason?: string;
  hostname?: string;
  durationMs: number;
}

export interface StatusReport {
  hosts: HostStatus[];
  services: ServiceStatus[];
  summary: { services: number; healthy: number; unhealthy: number; unreachable: number };
}

export function verdictOf(service: Service, state: UnitState | null, health: Health | null): { verdict: Verdict; reason?: string } {
  if (!state) return { verdict: 'unknown', reason: runtimeOf(service).noStateReason(service) };
  if (state.load === 'not-found')
    return {
      verdict: 'not-found',
      reason: service.compose
        ? `no container of ${service.compose.service} in compose project ${service.compose.project}`
        : `unit ${service.unit} is not installed`,
    };
  if (state.load === 'no-docker') return { verdict: 'not-found', reason: 'docker is not installed on the host' };
  if (state.sub === 'stale-pid-file') return { verdict: 'stale', reason: 'the pid file names a process that is gone' };
  if (state.active === 'failed') return { verdict: 'failed', reason: `unit failed (${state.sub})` };
  if (state.active === 'activating' || state.active === 'reloading') return { verdict: 'starting', reason: `${state.active} (${state.sub})` };
  if (state.active !== 'active')
    return state.active === 'inactive' && state.sub === 'dead'
      ? { verdict: 'stopped' }
      : { verdict: 'stopped', reason: `${state.active} (${state.sub})` };
  if (health && !(health.readiness.ok && health.liveness.ok)) {
    const bad = [health.readiness, health.liveness].filter((p) => !p.ok).map((p) => `${p.path} ${p.status === 0 ? 'no answer' : p.status}`);
    return { verdict: 'unhealthy', reason: [...new Set(bad)].join(', ') };
  }
  return { verdict: 'healthy' };
}

/**
 * A scheduled job's verdict: its timer's state first (not installed, stopped), then its last run
 * (failed, with the exit status or signal), then overdue (no success for longer than the period
 * plus grace); healthy while the timer waits and the last run succeeded (or none has run yet).
 */
export function jobVerdict(service: Service, state: UnitState | null, job: JobStatus): { verdict: Verdict; reason?: string } {
  const timer = verdictOf(service, state, null);
  if (timer.verdict === 'not-found') return { verdict: 'not-found', reason: `timer ${job.timer} is not installed` };
  if (timer.verdict !== 'healthy' && timer.verdict !== 'starting')
    return { ...timer, reason: `timer ${job.timer} ${timer.reason ?? 'is not active'}: no runs are scheduled` };
  const last = job.last;
  if (last !== null && !last.ok) {
    const how = last.signal !== null ? `killed by SIG${last.signal}` : last.exit_status !== null ? `exit status ${last.exit_status}` : '';
    return { verdict: 'failed', reason: `last run failed (${last.result}${how ? `, ${how}` : ''}) at ${last.ended ?? '?'}` };
  }
  if (job.overdue)
    return {
      verdict: 'overdue',
      reason: `${job.last_success === null ? 'no successful run yet' : `last success ${job.last_success}`}, more than ${job.period_s ?? '?'} s (period) + ${job.grace_s} s (grace) ago`,
    };
  return { verdict: 'healthy' };
}

function baseRow(service: Service): Omit<ServiceStatus, 'verdict' | 'healthy' | 'state' | 'health'> {
  return {
    id: service.id,
    project: service.project,
    environment: service.environment,
    host: service.host!,
    kind: service.kind,
    supervisor: service.supervisor,
    unit: service.unit ?? null,
    port: service.port ?? null,
  };
}

/** The host's services by runtime (registry order). */
export function statusInput(ops: Ops, services: readonly Service[]): HostStatusInput {
  return { groups: byRuntime(services).map(({ runtime, items }) => ({ runtime, services: items.map((s) => ops.runtime(s)) })) };
}

/**
 * More to ask a host in the same round trip (tunnels, …): a script part appended to the
 * status script, and what to do with the whole result.
 */
export interface StatusExtra {
  script: string;
  onResult(result: RunResult): void;
}

/** One host's status: one script, one round trip. */
export async function hostStatus(
  ops: Ops,
  host: Host,
  services: readonly Service[],
  timeoutMs: number,
  extras: readonly StatusExtra[] = [],
): Promise<{ host: HostStatus; services: ServiceStatus[] }> {
  const transport = ops.transport(host);
  const input = statusInput(ops, services);
  const pending = ops.pending.get(host.name);
  ops.pending.delete(host.name);
  const script = hostStatusScript(input) + extras.map((e) => e.script).join('');
  const result = pending ? await pending.run(script) : await transport.script(script, { timeoutMs });
  for (const e of extras) e.onResult(result);
  const hostRow: HostStatus = {
    host: host.name,
    transport: transport.kind,
    reachable: result.unreachable === undefined,
    durationMs: result.durationMs,
  };
  if (result.unreachable !== undefined) {
    hostRow.reason = result.unreachable;
    // A master connection that stopped answering is dropped, so the next command starts afresh.
    if (result.timedOut && transport instanceof SshTransport) await transport.dropMaster();
    return {
      host: hostRow,
      services: services.map((s) => ({
        ...baseRow(s),
        verdict: 'unreachable',
        healthy: false,
        state: null,
        health: null,
        reason: result.unreachable!,
      })),
    };
  }
  const report = parseHostStatus(input, result.stdout);
  if (report.hostname) hostRow.hostname = report.hostname;
  if (result.code !== 0 && report.hostname === null) {
    hostRow.reason = failureReason(result);
  }
  const byId = new Map(report.services.map((s) => [s.id, s]));
  return {
    host: hostRow,
    services: services.map((s) => {
      const r = byId.get(s.id);
      let { verdict, reason } = r?.job !== undefined ? jobVerdict(s, r.state, r.job) : verdictOf(s, r?.state ?? null, r?.health ?? null);
      // Docker's own healthcheck counts too: a container it calls unhealthy is not healthy, whatever the probe said.
      if (verdict === 'healthy' && r?.container?.health === 'unhealthy')
        ({ verdict, reason } = { verdict: 'unhealthy', reason: "Docker's healthcheck reports it unhealthy" });
      return {
        ...baseRow(s),
        ...(r?.instance === undefined ? {} : { unit: r.instance.unit, port: r.instance.port }),
        verdict,
        healthy: verdict === 'healthy',
        state: r?.state ?? null,
        health: r?.health ?? null,
        ...(r?.container === undefined ? {} : { container: r.container }),
        ...(reason === undefined ? {} : { reason }),
        ...(r?.revert === undefined ? {} : { revert: r.revert }),
        ...(r?.job === undefined ? {} : { job: r.job }),
      };
    }),
  };
}

export async function collectStatus(
  ops: Ops,
  services: readonly Service[],
  timeoutMs = ops.settings.commandTimeoutMs,
  extras: ReadonlyMap<string, readonly StatusExtra[]> = new Map(),
): Promise<StatusReport> {
  const byHost = new Map<string, Service[]>();
  for (const s of services) byHost.set(s.host!, [...(byHost.get(s.host!) ?? []), s]);
  for (const name of extras.keys()) if (!byHost.has(name)) byHost.set(name, []);
  const limit = pLimit(ops.settings.concurrency);
  for (const name of [...ops.pending.keys()]) if (!byHost.has(name)) ops.pending.get(name)?.cancel();
  // Pre-started connections are already running: they do not wait for a concurrency slot.
  const results = await Promise.all(
    [...byHost].map(([name, list]) => {
      const host = ops.fleet.hosts.find((h) => h.name === name)!;
      const more = extras.get(name) ?? [];
      return ops.pending.has(name) ? hostStatus(ops, host, list, timeoutMs, more) : limit(() => hostStatus(ops, host, list, timeoutMs, more));
    }),
  );
  cancelPending(ops);
  const hosts = results.map((r) => r.host).sort((a, b) => a.host.localeCompare(b.host));
  const order = new Map(services.map((s, i) => [s.id, i]));
  const rows = results.flatMap((r) => r.services).sort((a, b) => order.get(a.id)! - order.get(b.id)!);
  return {
    hosts,
    services: rows,
    summary: {
      services: rows.length,
      healthy: rows.filter((r) => r.healthy).length,
      unhealthy: rows.filter((r) => !r.healthy && r.verdict !== 'unreachable').length,
      unreachable: rows.filter((r) => r.verdict === 'unreachable').length,
    },
  };
}

/** Several collectors' extras for the same round trips: per host, one after the other. */
export function mergeExtras(...maps: ReadonlyMap<string, readonly StatusExtra[]>[]): Map<string, StatusExtra[]> {
  const out = new Map<string, StatusExtra[]>();
  for (const m of maps) for (const [host, list] of m) out.set(host, [...(out.get(host) ?? []), ...list]);
  return out;
}

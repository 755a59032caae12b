/**
 * The systemd runtime: a service is a unit on its host (declared, or rendered from its command
 * and installed with each release); status is one `systemctl show` for every unit of the host;
 * start/stop/restart are systemctl, gated on the host; logs are the journal. A service that
 * deploys by swapping (service.swap) runs as instances of a templated unit (systemd-swap.ts).
 */
import { quote, sh } from '../transport/quote.js';
import { failureReason } from '../transport/types.js';
import { ACTION_GERUND, type ActivationRuntime, type LifecycleCall, type LifecycleDone, type Runtime } from './runtime.js';
import { healthOf, parseGate, parseProbes, records, safePath, sections } from './shell.js';
import { forLiveInstance, swapActivation, swapCandidates, swapInstance, swapLivePart, swapStopScript } from './systemd-swap.js';
import { actionScript, body, diagnosisScript, gateScript, installUnitFunction, logsScript, parseUnitStates, showPart } from './systemd-units.js';
import type { RuntimeService, ServiceRuntimeStatus } from './types.js';
import { isJob, jobActivation, jobStatusPart, parseJobStatus, runNowScript } from './systemd-job.js';
import { jobStateDir, jobTimer } from '../fleet/schedule.js';

/** The services status asks systemd about: those with a unit. */
const withUnit = (services: readonly RuntimeService[]) => services.filter((s) => s.unit !== undefined);

/** Every unit status asks about: a swap service's instances (systemd-swap.ts) in place of its unit. */
const instances = (services: readonly RuntimeService[]) => withUnit(services).flatMap((u) => swapCandidates(u).map((c) => c.rs));

/** systemd: the unit installed with each release, `systemctl restart`, the gate of systemd-units.ts. */
export function systemdActivation(service: RuntimeService): ActivationRuntime {
  const unit = service.unit;
  if (unit === undefined) throw new Error(`${service.id}: no unit`);
  return {
    key: service.key,
    label: unit,
    functions: `u=${quote(`/etc/systemd/system/${unit}`)}
${installUnitFunction(true)}`,
    install: (release) => `if [ -f "$d/.units/$${release}.service" ]; then ma_install_unit "$d/.units/$${release}.service"; fi`,
    restartAndGate: (timeoutMs) => body(gateScript(service, timeoutMs, { action: 'restart' })),
    stop: () => `${sh`$SUDO systemctl stop -- ${unit}`.text} 2>&1`,
    diagnose: (since) => body(diagnosisScript(service, { shellVar: since })),
    // Its cgroup, read by the shell (src/runtime/shell.ts ma_unit_running); systemctl where it cannot tell.
    running: () => sh`ma_unit_running ${unit}`.text,
  };
}

async function lifecycle(call: LifecycleCall): Promise<LifecycleDone> {
  // A scheduled job is started, stopped and restarted as its timer (`run` starts a run now).
  const { service, rs, action, wait, timeoutMs, quickMs, run, report } = isJob(call.rs)
    ? { ...call, rs: { ...call.rs, unit: call.rs.job.timer } }
    : call;
  if (rs.unit === undefined) return { outcome: 'failed', ok: false, detail: 'no systemd unit declared (service.systemd_unit or service.command)' };
  // A swap service: its live instance (stop: every instance), picked on the host (systemd-swap.ts).
  const label = rs.swap === undefined ? rs.unit : `the live instance of ${swapInstance(rs.unit, '')}`;
  if (action === 'stop' || !wait) {
    report(`${ACTION_GERUND[action]} ${label}`);
    const script = action === 'stop' && rs.swap !== undefined ? swapStopScript(rs) : forLiveInstance(rs, (i) => actionScript(action, i.unit!));
    const r = await run(script, quickMs + 90_000);
    if (r.unreachable) return { outcome: 'unreachable', ok: false, detail: r.unreachable };
    if (r.code !== 0) return { outcome: 'failed', ok: false, detail: failureReason(r) };
    return { outcome: action === 'stop' ? 'stopped' : action === 'restart' ? 'restarted' : 'started', ok: true };
  }
  report(`${ACTION_GERUND[action]} ${label}, waiting for ${service.port === undefined ? 'it to keep running' : service.health.readiness}`);
  const g = await run(
    forLiveInstance(rs, (i) => gateScript(i, timeoutMs, { action })),
    timeoutMs + quickMs + 90_000,
  );
  if (g.unreachable) return { outcome: 'unreachable', ok: false, detail: g.unreachable };
  const gate = parseGate(g.stdout);
  const recs = records(g.stdout);
  const before = recs.find((x) => x[0] === 'before')?.[1];
  const since = Number(recs.find((x) => x[0] === 'since')?.[1] ?? '') || undefined;
  if (gate.outcome === 'ready')
    return {
      outcome: action === 'start' && before === 'active' ? 'running' : action === 'restart' ? 'restarted' : 'started',
      ok: true,
      detail: 'ready',
    };
  return { outcome: 'failed', ok: false, gate, diagnose: since === undefined ? {} : { since } };
}

export const systemd: Runtime<'systemd'> = {
  supervisor: 'systemd',
  ownsProcesses: false,
  noSystemdUnit: null,
  noSchedule: null,

  view(service, common) {
    const rs: RuntimeService = { ...common };
    // Only a safe directory is read (status shows its dead-man switch); deploy refuses an unsafe one itself.
    const directory = safePath(service.directory);
    if (directory !== undefined) rs.directory = directory;
    // A swap's live instance is read from <directory>/.swap/live: only with a safe directory.
    if (service.swapPorts !== undefined && rs.directory !== undefined) rs.swap = service.swapPorts;
    const job = service.schedule;
    if (job !== undefined && rs.unit !== undefined)
      rs.job = {
        timer: jobTimer(rs.unit),
        calendar: job.calendar,
        onCalendar: job.onCalendar,
        stateDir: jobStateDir(rs.unit),
        timeoutS: job.timeoutS,
        graceS: job.graceS,
      };
    return rs;
  },

  statusPart: (services) =>
    [showPart(instances(services)), swapLivePart(withUnit(services)), jobStatusPart(withUnit(services))].filter(Boolean).join('\n'),
  probed: instances,
  parseStatus(services, output) {
    const units = withUnit(services);
    const probes = parseProbes(sections(output).get('probes'));
    const byId = new Map(parseUnitStates(instances(units), output).map((s) => [s.id, s]));
    // A swap service is reported as its live instance.
    const live = new Map(
      records(output)
        .filter((r) => r[0] === 'swaplive')
        .map((r) => [r[1] ?? '', r[2] ?? '']),
    );
    const jobs = parseJobStatus(units, output);
    return units.map((u): ServiceRuntimeStatus => {
      // A scheduled job's state is its timer's; its runs are in `job`.
      const job = jobs.get(u.id);
      if (job !== undefined) return { id: u.id, state: job.state, health: null, job: job.job };
      const chosen = swapCandidates(u).find((c) => c.live === (live.get(u.id) ?? ''))!;
      const row = { ...byId.get(chosen.rs.id)!, health: healthOf(chosen.rs, probes) };
      return chosen.rs === u ? row : { ...row, id: u.id, instance: { unit: chosen.rs.unit!, port: chosen.rs.port ?? null } };
    });
  },
  noStateReason: (service) =>
    service.unit === undefined ? 'no systemd unit declared' : `systemctl gave no state for ${service.unit} (is systemd running on the host?)`,
  statusLabel: (row) => row.unit ?? '',
  declaredLabel: (row) => row.unit ?? '',

  lifecycle,
  diagnosisScript: (rs, { since }) => (rs.unit === undefined ? undefined : forLiveInstance(rs, (i) => diagnosisScript(i, since))),
  logs: (rs, lines, follow) =>
    rs.unit === undefined
      ? { error: 'no systemd unit declared' }
      : {
          script: forLiveInstance(rs, (i) => logsScript(i.unit!, lines, follow)),
          source: `journal of ${rs.swap === undefined ? rs.unit : `the live instance of ${swapInstance(rs.unit, '')}`}`,
        },

  runNow: (rs) => (isJob(rs) ? { script: runNowScript(rs) } : { error: 'not a scheduled job (no service.schedule)' }),

  releases: {
    activatable: (service) => service.unit !== undefined,
    // A swap behind an edge (service.swap) runs the release as two instances of a templated unit.
    activation: (rs, _imageRef, options) =>
      isJob(rs) ? jobActivation(rs, options) : rs.swap !== undefined ? swapActivation(rs, rs.swap) : systemdActivation(rs),
  },
};

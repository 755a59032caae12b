/**
 * PID mode, for services on this machine (and a mac): the process is started in the
 * background in its own session (so its process group can be signalled as a whole), with a
 * pid file and a log file under a state directory; stopped with SIGTERM to the group, a grace
 * period, then SIGKILL; its status is the pid file checked against the live process (pid and
 * start time, so a recycled pid reads as a stale file) plus the loopback health probes.
 *
 * State directory: `<root>/.state/` for this machine (next to the fleet it belongs to;
 * git-ignored), `$HOME/.local/state/manage-apps` on a remote PID-mode host; MANAGE_APPS_STATE_DIR
 * overrides both. Files: `<key>.pid` (pid, start epoch, ps lstart) and `<key>.log`.
 */
import { simpleCommand } from '../text/command-line.js';
import { quote, raw, sh, validName, type Shell } from '../transport/quote.js';
import { failureReason } from '../transport/types.js';
import type { LifecycleCall, LifecycleDone, Runtime } from './runtime.js';
import { healthOf, parseGate, parseProbes, PORT_CHECK, PRELUDE, records, sections } from './shell.js';
import type { RuntimeService, ServiceRuntimeStatus, UnitState } from './types.js';

/** The state directory as a shell word: a quoted absolute path, or $HOME-relative on a remote host. */
export function stateDirWord(dir: string | undefined): Shell {
  const env = process.env['MANAGE_APPS_STATE_DIR'];
  if (env !== undefined && env !== '') return sh`${env}`;
  return dir === undefined ? raw('"$HOME/.local/state/manage-apps"') : sh`${dir}`;
}

function files(state: Shell, service: RuntimeService): string {
  return `st=${state.text}
pidf="$st/"${quote(`${service.key}.pid`)}
logf="$st/"${quote(`${service.key}.log`)}
pid=''; since=''; lstart=''
if [ -f "$pidf" ]; then { read -r pid; read -r since; read -r lstart; } < "$pidf" || true; fi`;
}

/** The state directory of a service's runtime view (set by the runtime's view). */
function stateOf(s: RuntimeService): Shell {
  if (s.state === undefined) throw new Error(`${s.id}: no state directory`);
  return s.state;
}

/** "@@pid<TAB>id<TAB>running|stale|none<TAB>pid<TAB>since" for every PID-mode service (each in its view's state directory). */
export function pidPart(services: readonly RuntimeService[]): string {
  return services
    .map(
      (s) => `${files(stateOf(s), s)}
if [ -z "$pid" ]; then printf '@@pid\\t%s\\tnone\\t\\t\\n' ${quote(s.id)}
elif ma_alive "$pid" "$lstart"; then printf '@@pid\\t%s\\trunning\\t%s\\t%s\\n' ${quote(s.id)} "$pid" "$since"
else printf '@@pid\\t%s\\tstale\\t%s\\t%s\\n' ${quote(s.id)} "$pid" "$since"; fi`,
    )
    .join('\n');
}

export function parsePidStatus(services: readonly RuntimeService[], output: string): { hostname: string | null; services: ServiceRuntimeStatus[] } {
  const recs = records(output);
  const host = recs.find((r) => r[0] === 'host');
  const probes = parseProbes(sections(output).get('probes'));
  return {
    hostname: host?.[1] ?? null,
    services: services.map((s) => {
      const r = recs.find((rec) => rec[0] === 'pid' && rec[1] === s.id);
      let state: UnitState | null = null;
      if (r) {
        const kind = r[2];
        const pid = Number(r[3] ?? '');
        const since = Number(r[4] ?? '');
        state = {
          load: kind === 'none' ? 'no-pid-file' : 'pid-file',
          active: kind === 'running' ? 'active' : 'inactive',
          sub: kind === 'running' ? 'running' : kind === 'stale' ? 'stale-pid-file' : 'dead',
          since: kind === 'running' && since > 0 ? new Date(since * 1000).toISOString() : null,
          restarts: null,
          pid: kind === 'running' && pid > 0 ? pid : null,
        };
      }
      return { id: s.id, state, health: healthOf(s, probes) };
    }),
  };
}

/** `NAME='value'; export NAME`: how a PID-mode script puts a variable in the program's environment. */
const exportVar = ([name, value]: [string, string]): string => `${name}=${quote(value)}; export ${name}`;

/**
 * What `sh -c` runs for the command, with the unit's shell semantics (render/systemd-unit.ts
 * runs such commands as /bin/sh -c). A simple command, after any NAME=value assignments, is
 * exec'ed so the tracked pid is the program's own; anything else runs as written under sh.
 */
export function pidCommand(command: string): string {
  const simple = simpleCommand(command);
  if (simple === undefined) return command;
  // "exec NAME=value prog" would exec a program named "NAME=value": export them first instead.
  const env = simple.assignments.map((a) => `${exportVar(a)}; `).join('');
  return `${env}exec ${simple.argv.map((w) => quote(w)).join(' ')}`;
}

/**
 * Starts the service unless it already runs; removes a stale pid file first. Refuses when
 * something else already listens on the service's port (its probes would answer for it).
 * Prints "@@start<TAB>started<TAB>pid<TAB>log-offset", "@@start<TAB>already<TAB>pid" or
 * "@@start<TAB>failed<TAB>reason" (and "@@stale<TAB>pid"). The log offset is the log's size
 * before this start: a diagnosis shows only what came after it.
 */
export function pidStartScript(state: Shell, service: RuntimeService): string {
  if (service.command === undefined) throw new Error(`${service.id}: no command to run`);
  if (service.workdir === undefined) throw new Error(`${service.id}: no working directory`);
  const env = Object.entries(service.env ?? {})
    .map(exportVar)
    .join('\n');
  const envFile = [service.envFile, service.secretsEnvFile]
    .filter((f): f is string => f !== undefined)
    .map((f) => `if [ -r ${quote(f)} ]; then set -a; . ${quote(f)}; set +a; fi`)
    .join('\n');
  const inner = pidCommand(service.command);
  const port =
    service.port === undefined
      ? ''
      : `if ma_listening ${service.port}; then
  who=''
  command -v lsof >/dev/null 2>&1 && who=$(lsof -nP -t -iTCP:${service.port} -sTCP:LISTEN 2>/dev/null | head -n 1)
  [ -n "$who" ] && who=" (pid $who: $(ps -o comm= -p "$who" 2>/dev/null))"
  printf '@@start\\tfailed\\tport %s is already in use: another process%s listens on 127.0.0.1:%s; stop it or change service.port\\n' ${service.port} "$who" ${service.port}
  exit 1
fi`;
  return `${PRELUDE}${PORT_CHECK}
${files(state, service)}
mkdir -p "$st" || { printf '@@start\\tfailed\\tcannot create the state directory %s\\n' "$st"; exit 1; }
if [ -n "$pid" ]; then
  if ma_alive "$pid" "$lstart"; then printf '@@start\\talready\\t%s\\n' "$pid"; exit 0; fi
  printf '@@stale\\t%s\\n' "$pid"
  rm -f "$pidf"
fi
${port}
cd ${quote(service.workdir)} || { printf '@@start\\tfailed\\tno directory %s\\n' ${quote(service.workdir)}; exit 1; }
${envFile}
${env}
off=0
[ -f "$logf" ] && off=$(wc -c < "$logf")
off=$((off + 0))
printf '=== %s manage-apps start: %s\\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" ${quote(service.command)} >> "$logf"
# A new session: the process leads its own process group, so stop can signal all of it.
if command -v setsid >/dev/null 2>&1; then
  setsid sh -c ${quote(inner)} </dev/null >>"$logf" 2>&1 &
elif command -v perl >/dev/null 2>&1; then
  perl -e 'use POSIX; POSIX::setsid(); exec @ARGV or die "exec: $!"' sh -c ${quote(inner)} </dev/null >>"$logf" 2>&1 &
else
  set -m
  sh -c ${quote(inner)} </dev/null >>"$logf" 2>&1 &
  set +m
fi
pid=$!
lstart=''
command -v ps >/dev/null 2>&1 && lstart=$(ps -o lstart= -p "$pid" 2>/dev/null)
printf '%s\\n%s\\n%s\\n' "$pid" "$(date +%s)" "$lstart" > "$pidf.tmp" && mv -f "$pidf.tmp" "$pidf"
printf '@@start\\tstarted\\t%s\\t%s\\n' "$pid" "$off"
`;
}

/**
 * SIGTERM to the process group, up to `graceS` seconds, then SIGKILL. Removes the pid file.
 * Prints "@@stop<TAB>stopped|killed|not-running|stale<TAB>pid".
 */
export function pidStopScript(state: Shell, service: RuntimeService, graceS: number): string {
  const ticks = Math.max(1, Math.round(graceS * 5));
  return `${PRELUDE}
${files(state, service)}
if [ -z "$pid" ]; then printf '@@stop\\tnot-running\\t\\n'; exit 0; fi
if ! ma_alive "$pid" "$lstart"; then rm -f "$pidf"; printf '@@stop\\tstale\\t%s\\n' "$pid"; exit 0; fi
kill -s TERM -- "-$pid" 2>/dev/null || kill -s TERM "$pid" 2>/dev/null
i=0
how=stopped
while ma_alive "$pid" "$lstart"; do
  if [ "$i" -ge ${ticks} ]; then
    kill -s KILL -- "-$pid" 2>/dev/null || kill -s KILL "$pid" 2>/dev/null
    how=killed
    sleep 0.2
    break
  fi
  sleep 0.2
  i=$((i + 1))
done
rm -f "$pidf"
printf '=== %s manage-apps stop (%s)\\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$how" >> "$logf"
printf '@@stop\\t%s\\t%s\\n' "$how" "$pid"
`;
}

/** Waits for readiness (a worker: still running after a second); fails early when the process dies. */
export function pidGateScript(state: Shell, service: RuntimeService, timeoutMs: number): string {
  const ms = Math.max(200, Math.round(timeoutMs));
  const ready =
    service.port !== undefined
      ? `code=$(ma_probe ${service.port} ${quote(service.readiness)} 2)
  case $code in 2??)
    # Another process on the port could have answered: only counts while ours still runs.
    if ! ma_alive "$pid" "$lstart"; then printf '@@gate\\tcrashed\\tport %s answered, but the process exited (see its log %s)\\n' ${service.port} "$logf"; exit 1; fi
    printf '@@gate\\tready\\t%s\\n' "$code"; exit 0 ;;
  esac`
      : // Still running a second later (docs/operations.md): ten 0.1 s sleeps and a second by the
        // clock, as either alone can be fooled (a sleep without fractions, a clock in whole seconds).
        `stable=$((stable + 1))
  if [ "$stable" -gt 10 ] && [ $(( $(ma_now_ms) - t0 )) -ge 1000 ]; then printf '@@gate\\tready\\trunning\\n'; exit 0; fi`;
  return `${PRELUDE}
${files(state, service)}
stable=0
code=000
t0=$(ma_now_ms)
deadline=$(( $(ma_now_ms) + ${ms} ))
while :; do
  if ! ma_alive "$pid" "$lstart"; then printf '@@gate\\tcrashed\\tthe process exited (see its log %s)\\n' "$logf"; exit 1; fi
  ${ready}
  if [ "$(ma_now_ms)" -ge "$deadline" ]; then printf '@@gate\\ttimeout\\t%s\\n' "$code"; exit 1; fi
  sleep 0.1
done
`;
}

/** The process's state, its last log lines (from `logOffset` on: only this start's), the readiness answer. */
export function pidDiagnosisScript(state: Shell, service: RuntimeService, lines = 20, logOffset?: number): string {
  // A log smaller than the offset was truncated or rotated since: its tail is all there is.
  const log =
    logOffset === undefined || !Number.isSafeInteger(logOffset) || logOffset < 0
      ? `tail -n ${lines} "$logf" 2>&1`
      : `size=0
[ -f "$logf" ] && size=$(wc -c < "$logf")
if [ "$((size + 0))" -ge ${logOffset} ]; then tail -c +${logOffset + 1} "$logf" | tail -n ${lines}; else tail -n ${lines} "$logf" 2>&1; fi`;
  return `${PRELUDE}
${files(state, service)}
printf '@@begin\\tstatus\\n'
if [ -z "$pid" ]; then echo "no pid file ($pidf)"; elif ma_alive "$pid" "$lstart"; then echo "running, pid $pid"; else echo "not running (pid $pid from $pidf is gone)"; fi
printf '@@begin\\tjournal\\n'
${log}
${service.port === undefined ? '' : `printf '@@begin\\treadiness\\n'\nma_answer ${service.port} ${quote(service.readiness)}\nprintf '\\n'`}
printf '@@end\\n'
`;
}

export function pidLogsScript(state: Shell, service: RuntimeService, lines: number, follow: boolean): string {
  return `${PRELUDE}
${files(state, service)}
[ -f "$logf" ] || { echo "no log file yet: $logf" >&2; exit 1; }
exec tail -n ${lines} ${follow ? '-F ' : ''}"$logf"
`;
}

/** Stop (SIGTERM, grace, SIGKILL), start in its own session, then the gate: three round trips. */
async function lifecycle({ service, rs, action, wait, graceS, timeoutMs, quickMs, run, report }: LifecycleCall): Promise<LifecycleDone> {
  if (rs.command === undefined) return { outcome: 'failed', ok: false, detail: 'no command declared (service.command) to run in PID mode' };
  const state = stateOf(rs);
  if (action !== 'start') {
    report('stopping');
    const r = await run(pidStopScript(state, rs, graceS), quickMs + graceS * 1000);
    if (r.unreachable) return { outcome: 'unreachable', ok: false, detail: r.unreachable };
    const stop = records(r.stdout).find((x) => x[0] === 'stop');
    if (!stop) return { outcome: 'failed', ok: false, detail: failureReason(r) };
    if (action === 'stop') {
      const detail = stop[1] === 'killed' ? `killed after ${graceS}s grace` : stop[1] === 'stale' ? 'removed a stale pid file' : undefined;
      return {
        outcome: stop[1] === 'stopped' || stop[1] === 'killed' ? 'stopped' : 'not-running',
        ok: true,
        ...(detail === undefined ? {} : { detail }),
      };
    }
  }
  report('starting');
  const r = await run(pidStartScript(state, rs), quickMs);
  if (r.unreachable) return { outcome: 'unreachable', ok: false, detail: r.unreachable };
  const start = records(r.stdout).find((x) => x[0] === 'start');
  if (!start || start[1] === 'failed') return { outcome: 'failed', ok: false, detail: start?.[2] ?? failureReason(r) };
  const already = start[1] === 'already';
  const up = already ? 'running' : action === 'restart' ? 'restarted' : 'started';
  if (!wait) return { outcome: up, ok: true, detail: `pid ${start[2]}` };
  report(`waiting for ${service.port === undefined ? 'it to keep running' : service.health.readiness}`);
  const g = await run(pidGateScript(state, rs, timeoutMs), timeoutMs + quickMs);
  if (g.unreachable) return { outcome: 'unreachable', ok: false, detail: g.unreachable };
  const gate = parseGate(g.stdout);
  if (gate.outcome === 'ready') return { outcome: up, ok: true, detail: `pid ${start[2]}, ready` };
  // Only what this start wrote to the log: earlier runs' errors would mislead.
  const offset = start[1] === 'started' && /^\d+$/.test(start[3] ?? '') ? Number(start[3]) : undefined;
  return { outcome: 'failed', ok: false, gate, diagnose: offset === undefined ? {} : { logOffset: offset } };
}

/**
 * The PID-mode runtime: manage-apps itself starts the process (its own session, a pid file, a
 * log file) and stops it; nothing on the host supervises it, and there are no releases: it runs
 * from its working tree here, from `<directory>/current` on a remote host.
 */
export const pid: Runtime<'pid'> = {
  supervisor: 'pid',
  ownsProcesses: true,
  noSystemdUnit: 'PID mode (local or mac): no systemd unit',
  noSchedule: 'PID mode starts nothing on a schedule: a scheduled job needs a host whose supervisor runs timers (systemd)',
  noDeploy: 'PID mode (this machine or a mac): it runs from its working tree; use `manage-apps restart`',
  noReleases: 'PID mode runs it from its working tree',

  view(service, common, place) {
    const rs: RuntimeService = { ...common };
    if (service.command !== undefined) rs.command = service.command;
    rs.workdir = place.remote ? `${validName('path', service.directory)}/current` : validName('path', service.projectDir);
    rs.env = {
      MANAGE_APPS_SERVICE: service.id,
      MANAGE_APPS_PROJECT: service.project,
      MANAGE_APPS_ENV: service.environment,
      ...(service.port === undefined ? {} : { PORT: String(service.port) }),
    };
    if (place.state !== undefined) rs.state = place.state;
    return rs;
  },

  statusPart: (services) => pidPart(services),
  probed: (services) => [...services],
  parseStatus: (services, output) => parsePidStatus(services, output).services,
  noStateReason: () => 'no state',
  statusLabel: (row) => (row.state?.pid ? `pid ${row.state.pid}` : 'pid mode'),
  declaredLabel: (row) => row.unit ?? '(pid mode)',

  lifecycle,
  diagnosisScript: (rs, { logOffset }) => pidDiagnosisScript(stateOf(rs), rs, 20, logOffset),
  logs: (rs, lines, follow) => ({ script: pidLogsScript(stateOf(rs), rs, lines, follow), source: `log file ${rs.key}.log` }),
};

/**
 * systemd mode: the scripts that run on a host, and the parsers for what they print.
 *
 * status is ONE script per host, whatever the number of services on it: one `systemctl show`
 * for all units, then one loopback probe pass for every readiness and liveness path (so no app
 * port needs to be public: the probe runs on the host itself).
 */
import { quote, sh, type Shell } from '../transport/quote.js';
import { BASE_PRELUDE, httpCode, PRELUDE, records, sections } from './shell.js';
import { isOk, type Health, type RuntimeService, type ServiceRuntimeStatus, type UnitState } from './types.js';

export const SHOW_PROPERTIES = ['Id', 'LoadState', 'ActiveState', 'SubState', 'ActiveEnterTimestamp', 'NRestarts', 'MainPID', 'Result', 'ExecMainStatus'] as const;
const PROPS = SHOW_PROPERTIES.join(',');

/** Seconds each loopback probe may take in a status. */
export const PROBE_TIMEOUT_S = 2;

function uniqueUnits(services: readonly RuntimeService[]): string[] {
  return [...new Set(services.flatMap((s) => (s.unit === undefined ? [] : [s.unit])))];
}

/** `ma_probe_all` arguments for every service with a port: PORT PATH pairs (readiness, then liveness). */
export function probeArgs(services: readonly RuntimeService[]): Shell {
  const pairs = services.flatMap((s) => (s.port === undefined || s.tls !== undefined ? [] : [s.port, s.readiness, s.port, s.liveness]));
  return sh`${pairs}`;
}

/** `ma_probe_tls` lines for the edges that serve HTTPS: one per edge, its paths once each. */
function tlsProbeLines(services: readonly RuntimeService[]): string[] {
  return services.flatMap((s) => (s.port === undefined || s.tls === undefined ? [] : [sh`ma_probe_tls ${PROBE_TIMEOUT_S} ${s.port} ${s.tls.name} ${[...new Set([s.readiness, s.liveness])]}`.text]));
}

/** One `systemctl show` for every unit, between "@@begin show" and "@@end". */
export function showPart(services: readonly RuntimeService[]): string {
  const units = uniqueUnits(services);
  if (units.length === 0) return '';
  return [
    `printf '@@begin\\tshow\\n'`,
    // --timestamp=unix (systemd ≥ 248) gives "@<epoch>"; older systemd prints local time.
    sh`systemctl show --timestamp=unix -p ${PROPS} -- ${units} 2>/dev/null || systemctl show -p ${PROPS} -- ${units} 2>&1`.text,
    `printf '@@end\\n'`,
  ].join('\n');
}

/** Every readiness and liveness probe of these services in one pass, between "@@begin probes" and "@@end". */
export function probePart(services: readonly RuntimeService[]): string {
  if (!services.some((s) => s.port !== undefined)) return '';
  const plain = services.some((s) => s.port !== undefined && s.tls === undefined);
  return [`printf '@@begin\\tprobes\\n'`, ...(plain ? [`ma_probe_all ${PROBE_TIMEOUT_S} ${probeArgs(services).text}`] : []), ...tlsProbeLines(services), `printf '@@end\\n'`].join('\n');
}

// The kernel's hostname file on Linux (a read, no fork); uname elsewhere (macOS).
export const HOST_LINE = `if [ -r /proc/sys/kernel/hostname ]; then read -r ma_host </proc/sys/kernel/hostname; else ma_host=$(uname -n); fi
printf '@@host\\t%s\\n' "$ma_host"`;

/** The one status script for a systemd host. */
export function statusScript(services: readonly RuntimeService[]): string {
  return `${[BASE_PRELUDE, HOST_LINE, showPart(services), probePart(services)].filter(Boolean).join('\n')}\n`;
}

/** Parses "Key=Value" blocks separated by blank lines, in the order of the units asked for. */
export function parseShow(text: string): Map<string, string>[] {
  const blocks: Map<string, string>[] = [];
  let current = new Map<string, string>();
  for (const line of `${text}\n`.split('\n')) {
    if (line.trim() === '') {
      if (current.size > 0) blocks.push(current);
      current = new Map();
      continue;
    }
    const eq = line.indexOf('=');
    if (eq > 0) current.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return blocks;
}

/** "@1732456380" or "Sun 2024-11-24 13:53:00 UTC" → ISO 8601; null when never entered. */
export function parseTimestamp(value: string | undefined): string | null {
  if (value === undefined || value === '' || value === 'n/a' || value === '0') return null;
  const unix = /^@(\d+)$/.exec(value);
  if (unix) return Number(unix[1]) === 0 ? null : new Date(Number(unix[1]) * 1000).toISOString();
  const parsed = Date.parse(value.replace(/^[A-Za-z]{3} /, ''));
  return Number.isNaN(parsed) ? null : new Date(parsed).toISOString();
}

export function unitStateOf(block: Map<string, string> | undefined): UnitState | null {
  if (!block) return null;
  const pid = Number(block.get('MainPID') ?? '0');
  const restarts = block.get('NRestarts');
  return {
    load: block.get('LoadState') ?? 'unknown',
    active: block.get('ActiveState') ?? 'unknown',
    sub: block.get('SubState') ?? 'unknown',
    since: parseTimestamp(block.get('ActiveEnterTimestamp')),
    restarts: restarts === undefined || restarts === '' ? null : Number(restarts),
    pid: pid > 0 ? pid : null,
  };
}

/** "http://127.0.0.1:PORT/PATH CODE" (curl) or "PORT PATH CODE" lines → code by "PORT PATH". */
export function parseProbes(text: string | undefined): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of (text ?? '').split('\n')) {
    const m = /^(?:http:\/\/127\.0\.0\.1:)?(\d+) ?(\/\S*) (\d{3})$/.exec(line.trim());
    if (m) out.set(`${m[1]} ${m[2]}`, httpCode(m[3]));
  }
  return out;
}

export function healthOf(service: RuntimeService, probes: Map<string, number>): Health | null {
  if (service.port === undefined) return null;
  const probe = (path: string) => {
    const status = probes.get(`${service.port} ${path}`) ?? 0;
    // An HTTPS edge is alive when it answers at all: the status is the site's (its app's).
    return { path, status, ok: service.tls === undefined ? isOk(status) : status > 0 };
  };
  return { readiness: probe(service.readiness), liveness: probe(service.liveness) };
}

export interface HostReport {
  hostname: string | null;
  /** The host's clock (epoch seconds) when the script ran. */
  clock: number | null;
  services: ServiceRuntimeStatus[];
}

/** Parses a status script's output; services without a unit (PID mode) get state null here. */
export function parseStatus(services: readonly RuntimeService[], output: string): HostReport {
  const host = records(output).find((r) => r[0] === 'host');
  const parts = sections(output);
  const blocks = parseShow(parts.get('show') ?? '');
  const units = uniqueUnits(services);
  const byUnit = new Map<string, Map<string, string>>();
  units.forEach((unit, i) => {
    const block = blocks[i];
    if (block) byUnit.set(unit, block);
  });
  const probes = parseProbes(parts.get('probes'));
  return {
    hostname: host?.[1] ?? null,
    clock: host?.[2] === undefined ? null : Number(host[2]),
    services: services.map((s) => ({ id: s.id, state: s.unit === undefined ? null : unitStateOf(byUnit.get(s.unit)), health: healthOf(s, probes) })),
  };
}

// ---- lifecycle ------------------------------------------------------------------------------

export type Action = 'start' | 'stop' | 'restart';

/** systemctl start/stop/restart of one unit; prints "@@done<TAB>action<TAB>exit code". */
export function actionScript(action: Action, unit: string): string {
  return `${PRELUDE}
${action === 'stop' ? '' : `${sh`$SUDO systemctl reset-failed -- ${unit}`.text} 2>/dev/null`}
${sh`$SUDO systemctl ${action} -- ${unit} 2>&1`.text}
rc=$?
printf '@@done\\t%s\\t%s\\n' ${quote(action)} "$rc"
exit "$rc"
`;
}

/**
 * Waits on the host until the service is ready: HTTP 2xx on its readiness path (a worker
 * without a port: active and still running a second later). Gives up early when the unit
 * crashes (failed, or systemd restarted it: NRestarts grew, or it sits in auto-restart).
 * Prints "@@gate<TAB>ready|crashed|timeout<TAB>detail".
 */
export function gateScript(service: RuntimeService, timeoutMs: number, options: { action?: 'start' | 'restart' } = {}): string {
  if (service.unit === undefined) throw new Error(`${service.id}: no unit to gate on`);
  const unit = service.unit;
  const ms = Math.max(200, Math.round(timeoutMs));
  const state = sh`systemctl show -p ActiveState,SubState,NRestarts,Result,ExecMainStatus -- ${unit}`.text;
  // The state before the action ("@@before<TAB>active"), then the action itself.
  const action =
    options.action === undefined
      ? ''
      : `printf '@@before\\t%s\\n' "$(systemctl show -p ActiveState --value -- ${quote(unit)})"
printf '@@since\\t%s\\n' "$(date +%s)"
# An operator's start is never refused for earlier crash loops (the start rate limit).
${sh`$SUDO systemctl reset-failed -- ${unit}`.text} 2>/dev/null
out=$(${sh`$SUDO systemctl ${options.action} -- ${unit}`.text} 2>&1) || { ma_gate crashed "systemctl ${options.action} failed: $(printf '%s' "$out" | tr '\\n\\t' '  ')"; exit 1; }`;
  const ready =
    service.port !== undefined
      ? `code=$(ma_probe ${service.port} ${quote(service.readiness)} 2)
  case $code in 2??) ma_gate ready "$code"; exit 0 ;; esac`
      : unit.endsWith('.timer') || unit.endsWith('.socket') || unit.endsWith('.path')
        ? `[ "$A" = active ] && { ma_gate ready "$A"; exit 0; }`
        : `if [ "$A" = active ] && [ "$S" = running ]; then stable=$((stable + 1)); else stable=0; fi
  [ "$stable" -ge 10 ] && { ma_gate ready running; exit 0; }`;
  // Which instance this gate is about: a failure names its port, not service.port (a swap service's two instances).
  const gated = service.port === undefined ? '' : `printf '@@gated\\t%s\\t%s\\n' ${service.port} ${quote(unit)}\n`;
  return `${PRELUDE}
${gated}g0=$(ma_now_ms)
# ma_gate OUTCOME DETAIL: the verdict, with the milliseconds the action and the wait took.
ma_gate() { printf '@@gate\\t%s\\t%s\\t%s\\n' "$1" "$2" "$(( $(ma_now_ms) - g0 ))"; }
${action}
base=''
stable=0
code=000
deadline=$(( $(ma_now_ms) + ${ms} ))
while :; do
  A=''; S=''; N=''; R=''; X=''
  while IFS='=' read -r k v; do
    case $k in ActiveState) A=$v ;; SubState) S=$v ;; NRestarts) N=$v ;; Result) R=$v ;; ExecMainStatus) X=$v ;; esac
  done <<MA_EOF
$(${state})
MA_EOF
  [ -z "$base" ] && base=$N
  case $A in failed) ma_gate crashed "the unit failed ($R, exit status $X)"; exit 1 ;; esac
  case $S in auto-restart) ma_gate crashed "the main process exited ($R, exit status $X) and systemd is restarting it"; exit 1 ;; esac
  if [ -n "$N" ] && [ "$N" != "$base" ]; then ma_gate crashed "systemd restarted it $((N - base)) time(s) after it exited ($R, exit status $X)"; exit 1; fi
  if [ "$A" = inactive ]; then ma_gate crashed "the unit is not running ($R, exit status $X)"; exit 1; fi
  ${ready}
  if [ "$(ma_now_ms)" -ge "$deadline" ]; then ma_gate timeout "$code"; exit 1; fi
  sleep 0.1
done
`;
}

export interface GateResult {
  outcome: 'ready' | 'crashed' | 'timeout' | 'stopped' | 'unknown';
  detail: string;
  /** Milliseconds the action and the readiness wait took on the host. */
  elapsedMs: number | null;
  /** The port the gate probed (a swap service's new instance listens on the port that is not service.port). */
  port?: number;
}

export function parseGate(output: string): GateResult {
  const r = records(output).find((rec) => rec[0] === 'gate');
  const outcome = r?.[1];
  const elapsed = r?.[3] === undefined || r[3] === '' ? null : Number(r[3]);
  const gated = Number(records(output).find((rec) => rec[0] === 'gated')?.[1] ?? '');
  const port = Number.isInteger(gated) && gated > 0 ? { port: gated } : {};
  if (outcome === 'ready' || outcome === 'crashed' || outcome === 'timeout' || outcome === 'stopped') return { outcome, detail: r?.[2] ?? '', elapsedMs: elapsed, ...port };
  return { outcome: 'unknown', detail: output.trim().split('\n').slice(-3).join(' | '), elapsedMs: null };
}

/** Unit status, the journal since `sinceEpoch` and the readiness answer: what a failed deploy reports. */
export function diagnosisScript(service: RuntimeService, sinceEpoch: number | { shellVar: string } | undefined, lines = 20): string {
  if (service.unit === undefined) throw new Error(`${service.id}: no unit`);
  // A number, or the name of a shell variable holding one (a fragment run inside a deploy script).
  const since = sinceEpoch === undefined ? '' : typeof sinceEpoch === 'number' ? sh` --since ${`@${sinceEpoch}`}`.text : ` \${${sinceEpoch.shellVar}:+--since @\$${sinceEpoch.shellVar}}`;
  return `${PRELUDE}
printf '@@begin\\tstatus\\n'
${sh`$SUDO systemctl status --no-pager --lines=0 -- ${service.unit}`.text} 2>&1 | head -n 15
printf '@@begin\\tjournal\\n'
${sh`$SUDO journalctl --no-pager -o short-iso -n ${lines} -u ${service.unit}`.text}${since} 2>&1
${service.port === undefined ? '' : `printf '@@begin\\treadiness\\n'\nma_answer ${service.port} ${quote(service.readiness)}\nprintf '\\n'`}
printf '@@end\\n'
`;
}

export interface Diagnosis {
  status: string;
  journal: string[];
  readiness: string | null;
}

export function parseDiagnosis(output: string): Diagnosis {
  const s = sections(output);
  return {
    status: s.get('status') ?? '',
    journal: (s.get('journal') ?? '').split('\n').filter((l) => l.trim() !== '' && !l.startsWith('-- ')),
    readiness: s.has('readiness') ? (s.get('readiness') ?? '') : null,
  };
}

/** journalctl for a unit; -f follows. */
export function logsScript(unit: string, lines: number, follow: boolean): string {
  return `${PRELUDE}
exec ${sh`$SUDO journalctl --no-pager -o short-iso -n ${lines} -u ${unit}`.text}${follow ? ' -f' : ''}
`;
}

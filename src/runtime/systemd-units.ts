/**
 * The systemd runtime's scripts for one unit, and the parsers for what they print (systemd.ts
 * puts them together into the runtime; systemd-swap.ts runs a swap's instances with them).
 *
 * Its part of a host's status is ONE `systemctl show` for all units; the loopback probes of
 * every runtime are one pass of their own (shell.ts), so no app port needs to be public.
 */
import { quote, sh } from '../transport/quote.js';
import { WRITTEN_FUNCTION } from './fingerprint.js';
import { PRELUDE, records, sections } from './shell.js';
import type { RuntimeService, ServiceRuntimeStatus, UnitState } from './types.js';

export const SHOW_PROPERTIES = [
  'Id',
  'LoadState',
  'ActiveState',
  'SubState',
  'ActiveEnterTimestamp',
  'NRestarts',
  'MainPID',
  'Result',
  'ExecMainStatus',
] as const;
const PROPS = SHOW_PROPERTIES.join(',');

function uniqueUnits(services: readonly RuntimeService[]): string[] {
  return [...new Set(services.flatMap((s) => (s.unit === undefined ? [] : [s.unit])))];
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

/** The unit state of each service from the "@@begin show" section, in the order of the units asked for (its showPart). */
export function parseUnitStates(services: readonly RuntimeService[], output: string): Omit<ServiceRuntimeStatus, 'health'>[] {
  const blocks = parseShow(sections(output).get('show') ?? '');
  const units = uniqueUnits(services);
  const byUnit = new Map<string, Map<string, string>>();
  units.forEach((unit, i) => {
    const block = blocks[i];
    if (block) byUnit.set(unit, block);
  });
  return services.map((s) => ({ id: s.id, state: s.unit === undefined ? null : unitStateOf(byUnit.get(s.unit)) }));
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
 *
 * With a port, a 2xx is taken only with the unit's state read after it (active, not restarted
 * since the action): a crashed unit is never taken for ready because something else answers on
 * its port. Where the unit's cgroup can be read, that read is the shell's own: a process the
 * unit ran at the first state read (after the action) still runs in it, so systemd has not
 * restarted it since; else `systemctl show` as between probes. Between probes that fail, the
 * state is read at most every 0.25 s (each read is a `systemctl show`, a D-Bus call that costs
 * more than the probe), so a crash is still told within a quarter of a second. The clock is the
 * shell's own read of /proc/uptime (ma_clock), not `date`.
 */
export function gateScript(service: RuntimeService, timeoutMs: number, options: { action?: 'start' | 'restart' } = {}): string {
  if (service.unit === undefined) throw new Error(`${service.id}: no unit to gate on`);
  const unit = service.unit;
  const ms = Math.max(200, Math.round(timeoutMs));
  const state = sh`systemctl show -p ActiveState,SubState,NRestarts,Result,ExecMainStatus -- ${unit}`.text;
  // The action itself; a start first says the state before it ("@@before<TAB>active": a start of
  // a running unit is reported as running).
  const action =
    options.action === undefined
      ? ''
      : `${options.action === 'start' ? `printf '@@before\\t%s\\n' "$(systemctl show -p ActiveState --value -- ${quote(unit)})"\n` : ''}ma_epoch; printf '@@since\\t%s\\n' "$ma_ep"
# An operator's start is never refused for earlier crash loops (the start rate limit).
${sh`$SUDO systemctl reset-failed -- ${unit}`.text} 2>/dev/null
out=$(${sh`$SUDO systemctl ${options.action} -- ${unit}`.text} 2>&1) || { ma_gate crashed "systemctl ${options.action} failed: $(printf '%s' "$out" | tr '\\n\\t' '  ')"; exit 1; }`;
  const poll =
    service.port !== undefined
      ? `if [ $((ma_ms - checked)) -ge 250 ]; then ma_unit_state; checked=$ma_ms; fi
  code=$(ma_probe ${service.port} ${quote(service.readiness)} 2)
  case $code in 2??) ma_same_processes || ma_unit_state; ma_gate ready "$code"; exit 0 ;; esac`
      : unit.endsWith('.timer') || unit.endsWith('.socket') || unit.endsWith('.path')
        ? `ma_unit_state
  [ "$A" = active ] && { ma_gate ready "$A"; exit 0; }`
        : `ma_unit_state
  if [ "$A" = active ] && [ "$S" = running ]; then stable=$((stable + 1)); else stable=0; fi
  [ "$stable" -ge 10 ] && { ma_gate ready running; exit 0; }`;
  // Between polls: a readiness probe is asked again soon at first (a small app answers within
  // tens of milliseconds of its start; the first probe is right after systemctl returns), then
  // every 0.1 s. Without a port the gate counts ten polls of a running unit, 0.1 s apart: its
  // window of stability stays as long as it was.
  const pause =
    service.port !== undefined
      ? `polls=$((polls + 1)); if [ "$polls" -le 5 ]; then sleep 0.02; elif [ "$polls" -le 9 ]; then sleep 0.05; else sleep 0.1; fi`
      : 'sleep 0.1';
  // Which instance this gate is about: a failure names its port, not service.port (a swap service's two instances).
  const gated = service.port === undefined ? '' : `printf '@@gated\\t%s\\t%s\\n' ${service.port} ${quote(unit)}\n`;
  return `${PRELUDE}
${gated}ma_clock; g0=$ma_ms
# ma_gate OUTCOME DETAIL: the verdict, with the milliseconds the action and the wait took.
ma_gate() { ma_clock; printf '@@gate\\t%s\\t%s\\t%s\\n' "$1" "$2" "$((ma_ms - g0))"; }
# ma_unit_state: the unit's state in A S N R X; ends the gate when it crashed (the first read is the base of NRestarts).
based='' base='' bcg='' bpids=''
# ma_same_processes: one of the processes the unit ran at the first state read still runs in
# its cgroup (so systemd did not restart it since), read by the shell; false when it cannot tell.
ma_same_processes() {
  [ -n "$bcg" ] && [ -n "$bpids" ] && ma_populated "$bcg" || return 1
  while read -r ma_p; do case $bpids in *" $ma_p "*) return 0 ;; esac; done 2>/dev/null < "$bcg/cgroup.procs"
  return 1
}
ma_unit_state() {
  A=''; S=''; N=''; R=''; X=''
  while IFS='=' read -r k v; do
    case $k in ActiveState) A=$v ;; SubState) S=$v ;; NRestarts) N=$v ;; Result) R=$v ;; ExecMainStatus) X=$v ;; esac
  done <<MA_EOF
$(${state})
MA_EOF
  if [ -z "$based" ]; then
    based=1 base=$N bpids=''
    # The unit's processes now (after the action), for ma_same_processes.
    ma_cgroup ${quote(unit)}; bcg=$ma_cg
    [ -z "$bcg" ] || while read -r ma_p; do bpids="$bpids $ma_p "; done 2>/dev/null < "$bcg/cgroup.procs"
  fi
  case $A in failed) ma_gate crashed "the unit failed ($R, exit status $X)"; exit 1 ;; esac
  case $S in auto-restart) ma_gate crashed "the main process exited ($R, exit status $X) and systemd is restarting it"; exit 1 ;; esac
  if [ -n "$N" ] && [ "$N" != "$base" ]; then ma_gate crashed "systemd restarted it $((N - base)) time(s) after it exited ($R, exit status $X)"; exit 1; fi
  if [ "$A" = inactive ]; then ma_gate crashed "the unit is not running ($R, exit status $X)"; exit 1; fi
}
${action}
stable=0
polls=0
code=000
ma_clock; deadline=$((ma_ms + ${ms})); checked=$((ma_ms - 1000))
while :; do
  ma_clock
  ${poll}
  ma_clock; if [ "$ma_ms" -ge "$deadline" ]; then ma_gate timeout "$code"; exit 1; fi
  ${pause}
done
`;
}

/** Unit status, the journal since `sinceEpoch` and the readiness answer: what a failed deploy reports. */
export function diagnosisScript(service: RuntimeService, sinceEpoch: number | { shellVar: string } | undefined, lines = 20): string {
  if (service.unit === undefined) throw new Error(`${service.id}: no unit`);
  // A number, or the name of a shell variable holding one (a fragment run inside a deploy script).
  const since =
    sinceEpoch === undefined
      ? ''
      : typeof sinceEpoch === 'number'
        ? sh` --since ${`@${sinceEpoch}`}`.text
        : ` \${${sinceEpoch.shellVar}:+--since @\$${sinceEpoch.shellVar}}`;
  return `${PRELUDE}
printf '@@begin\\tstatus\\n'
${sh`$SUDO systemctl status --no-pager --lines=0 -- ${service.unit}`.text} 2>&1 | head -n 15
printf '@@begin\\tjournal\\n'
${sh`$SUDO journalctl --no-pager -o short-iso -n ${lines} -u ${service.unit}`.text}${since} 2>&1
${service.port === undefined ? '' : `printf '@@begin\\treadiness\\n'\nma_answer ${service.port} ${quote(service.readiness)}\nprintf '\\n'`}
printf '@@end\\n'
`;
}

/** journalctl for a unit; -f follows. */
export function logsScript(unit: string, lines: number, follow: boolean): string {
  return `${PRELUDE}
exec ${sh`$SUDO journalctl --no-pager -o short-iso -n ${lines} -u ${unit}`.text}${follow ? ' -f' : ''}
`;
}

/**
 * ma_install_unit FILE: installs FILE as "$u" when it differs (daemon-reload); `enable`: and
 * enables it once (a swap's template is not enabled: its confirmed instance is).
 */
export function installUnitFunction(enable: boolean): string {
  return `${WRITTEN_FUNCTION}
ma_install_unit() {
  if [ -f "$1" ] && ! cmp -s "$1" "$u" 2>/dev/null; then
    $SUDO cp "$1" "$u.manage-apps.tmp" && $SUDO mv -f "$u.manage-apps.tmp" "$u" || { printf '@@gate\\tcrashed\\tcannot install %s\\n' "$u"; exit 1; }
    $SUDO systemctl daemon-reload
    printf '@@unit\\tchanged\\n'
  else
    printf '@@unit\\tsame\\n'
  fi
  # What was written, kept on the host: drift tells a hand edit from a changed declaration by it.
  if [ -f "$u" ]; then ma_written "$u"; fi
${
  enable
    ? `  # Enabled (started at boot) once; systemctl enable is slow, so only when the link is missing.
  w="/etc/systemd/system/multi-user.target.wants/$(basename "$u")"
  [ -e "$w" ] || $SUDO systemctl enable --quiet -- "$(basename "$u")" 2>/dev/null || true
`
    : ''
}}`;
}

/** A script's body without the prelude (scripts are composed from fragments that share one). */
export const body = (script: string): string => script.replace(PRELUDE, '');

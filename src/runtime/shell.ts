/**
 * The POSIX sh prelude every host script starts with: loopback health probes (curl, else
 * python3, else bash's /dev/tcp), a sudo prefix for non-root ssh users, and a liveness test
 * for PID-mode processes that a recycled pid cannot fool. Works on dash, bash and macOS sh.
 *
 * Scripts print records as lines "@@kind<TAB>field<TAB>…"; everything else is ignored by the
 * parsers, so a noisy login shell (motd, profile echo) cannot confuse them.
 *
 * Also what every runtime's scripts share: the host line and the one loopback probe pass of a
 * host's status, the "@@gate" verdict and the diagnosis sections a failed start reports.
 */
import { sh, validName, type Shell } from '../transport/quote.js';
import { isOk, type Diagnosis, type GateResult, type Health, type RuntimeService } from './types.js';

/**
 * ma_clock: $ma_ms, milliseconds on a clock that only goes forward, for a gate's waits:
 * /proc/uptime read by the shell itself (no fork: a gate asks at every poll), else ma_now_ms.
 * (/proc/uptime has two decimals: "12.07" is 12070 ms; the leading 0 is dropped, not octal.)
 */
const CLOCK_FUNCTION = `ma_clock() {
  if [ -r /proc/uptime ] && read -r ma_up ma_rest </proc/uptime; then
    ma_cs=\${ma_up#*.}; ma_cs=\${ma_cs#0}
    ma_ms=$(( \${ma_up%.*} * 1000 + \${ma_cs:-0} * 10 ))
  else ma_ms=$(ma_now_ms); fi
}
`;

/**
 * A systemd unit's processes, read by the shell from the unified cgroup hierarchy (no
 * `systemctl`, whose start alone costs more than a gate's probe on a busy host):
 * - ma_cgroup UNIT: $ma_cg, the unit's cgroup directory, at the top or under up to three slices
 *   (a tenant's slice in a slice in a slice); '' when none is there, or the host has no unified
 *   hierarchy (ma_cg_ok says which: 1 when the host's cgroups and systemd's state can be read so).
 * - ma_populated DIR: a process runs in that cgroup (its cgroup.events).
 * - ma_unit_running UNIT: the unit runs a process, or (no cgroup, but systemd holds an invocation
 *   for it from start to stop: a oneshot that stays active after exiting, a slice nested deeper;
 *   or no unified hierarchy) `systemctl is-active`.
 */
const CGROUP_FUNCTIONS = `ma_cgroup() {
  ma_cg='' ma_cg_ok=0
  [ -f /sys/fs/cgroup/cgroup.controllers ] && [ -d /run/systemd/units ] || return 0
  ma_cg_ok=1
  for ma_g in /sys/fs/cgroup/"$1" /sys/fs/cgroup/*.slice/"$1" /sys/fs/cgroup/*.slice/*.slice/"$1" /sys/fs/cgroup/*.slice/*.slice/*.slice/"$1"; do
    [ -d "$ma_g" ] && ma_cg=$ma_g && return 0
  done
  return 0
}
ma_populated() {
  while read -r ma_k ma_v; do [ "$ma_k" = populated ] && [ "$ma_v" = 1 ] && return 0; done 2>/dev/null < "$1/cgroup.events"
  return 1
}
ma_unit_running() {
  ma_cgroup "$1"
  if [ -n "$ma_cg" ]; then ma_populated "$ma_cg"; return; fi
  if [ "$ma_cg_ok" = 1 ] && [ ! -L "/run/systemd/units/invocation:$1" ]; then return 1; fi
  systemctl is-active --quiet -- "$1" 2>/dev/null
}
`;

/**
 * ma_btime: $ma_bt, the second since the epoch the host booted (btime in /proc/stat, whole
 * seconds, kept in step with the wall clock by the kernel), '' where there is none.
 * ma_epoch: $ma_ep, seconds since the epoch now, without a `date`: ma_btime plus /proc/uptime. It
 * may read up to a second early: it only marks where a journal is read from.
 */
const EPOCH_FUNCTION = `ma_btime() {
  ma_bt=''
  while read -r ma_k ma_v; do [ "$ma_k" = btime ] && ma_bt=$ma_v && return 0; done 2>/dev/null </proc/stat
  return 0
}
ma_epoch() {
  ma_ep=''
  if [ -r /proc/uptime ]; then
    ma_btime
    [ -z "$ma_bt" ] || { ma_clock; ma_ep=$((ma_bt + ma_ms / 1000)); }
  fi
  [ -n "$ma_ep" ] || ma_ep=$(date +%s)
}
`;

export const BASE_PRELUDE = String.raw`set -u
export LC_ALL=C
# ma_nl: a newline, for matching whole lines of a command's output held in a variable.
ma_nl='
'
# ma_probe PORT PATH SECONDS: the HTTP status of GET http://127.0.0.1:PORT/PATH, 000 when no answer.
ma_probe() {
  if command -v curl >/dev/null 2>&1; then
    curl -s -o /dev/null -w '%{http_code}' --max-time "$3" "http://127.0.0.1:$1$2" 2>/dev/null
    return 0
  fi
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import sys,urllib.request,urllib.error
try:
  r=urllib.request.urlopen("http://127.0.0.1:%s%s"%(sys.argv[1],sys.argv[2]),timeout=float(sys.argv[3])); print(r.status,end="")
except urllib.error.HTTPError as e: print(e.code,end="")
except Exception: print("000",end="")' "$1" "$2" "$3" 2>/dev/null || printf 000
    return 0
  fi
  if command -v bash >/dev/null 2>&1; then
    c=$(timeout "$3" bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1; printf "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" "$2" >&3; head -n 1 <&3' _ "$1" "$2" 2>/dev/null | cut -d' ' -f2)
    [ -n "$c" ] || c=000
    printf '%s' "$c"
    return 0
  fi
  printf 000
}
# ma_probe_all SECONDS PORT PATH [PORT PATH]...: a line per probe, "http://127.0.0.1:PORT/PATH CODE" from curl
# (one process probes all in parallel; no sed or grep after it: each fork costs on a busy host), else "PORT PATH CODE".
ma_probe_all() {
  t=$1; shift
  if command -v curl >/dev/null 2>&1 && [ $# -gt 2 ]; then
    args=''
    for a in "$@"; do
      # Pairs: a port, then its path. The schema allows no spaces or quotes in a path, so the
      # word splitting of $args below is intended; set -f keeps "?" and "*" from globbing.
      case $a in /*) args="$args$a" ;; *) args="$args -o /dev/null http://127.0.0.1:$a" ;; esac
    done
    set -f
    out=$(curl -s -g -Z --max-time "$t" -w '%{url} %{http_code}\n' $args 2>/dev/null)
    set +f
    # A curl without -Z (< 7.66) or %{url} (< 7.75) prints no such lines: probe one by one instead.
    case $out in http://*) printf '%s\n' "$out"; return 0 ;; esac
  fi
  while [ $# -ge 2 ]; do
    printf '%s %s %s\n' "$1" "$2" "$(ma_probe "$1" "$2" "$t")"
    shift 2
  done
}
# ma_probe_tls SECONDS PORT NAME PATH...: an edge that serves HTTPS, asked the way clients ask it: TLS to
# 127.0.0.1:PORT with NAME as SNI and Host. The certificate is not verified (Caddy's internal CA, or one not
# issued yet): this is a liveness signal, nothing is sent but a GET. A line "PORT PATH CODE" per path.
ma_probe_tls() {
  t=$1; p=$2; n=$3; shift 3
  for path in "$@"; do
    if command -v curl >/dev/null 2>&1; then
      c=$(curl -s -k -g -o /dev/null -w '%{http_code}' --max-time "$t" --resolve "$n:$p:127.0.0.1" "https://$n:$p$path" 2>/dev/null)
    elif command -v python3 >/dev/null 2>&1; then
      c=$(python3 -c 'import sys,ssl,http.client
try:
  k=ssl.create_default_context(); k.check_hostname=False; k.verify_mode=ssl.CERT_NONE
  s=__import__("socket").create_connection(("127.0.0.1",int(sys.argv[2])),timeout=float(sys.argv[4]))
  c=http.client.HTTPSConnection(sys.argv[1],int(sys.argv[2]),timeout=float(sys.argv[4]),context=k); c.sock=k.wrap_socket(s,server_hostname=sys.argv[1])
  c.request("GET",sys.argv[3]); print(c.getresponse().status,end="")
except Exception: print("000",end="")' "$n" "$p" "$path" "$t" 2>/dev/null)
    else
      c=000
    fi
    [ -n "$c" ] || c=000
    printf '%s %s %s\n' "$p" "$path" "$c"
  done
}
# ma_answer PORT PATH: the first bytes of the full HTTP answer (status line, headers, body) for a diagnosis.
ma_answer() {
  if command -v curl >/dev/null 2>&1; then
    curl -s -S -i --max-time 3 "http://127.0.0.1:$1$2" 2>&1 | head -c 600
  else
    printf 'HTTP status %s' "$(ma_probe "$1" "$2" 3)"
  fi
}
# ma_now_ms: milliseconds since the epoch (whole seconds where date has no %N).
ma_now_ms() {
  t=$(date +%s%N 2>/dev/null)
  case $t in *N|'') echo $(( $(date +%s) * 1000 )) ;; *) echo $(( t / 1000000 )) ;; esac
}
${CLOCK_FUNCTION}${EPOCH_FUNCTION}${CGROUP_FUNCTIONS}# ma_alive PID LSTART: the process runs, is not a zombie, and started when its pid file says.
ma_alive() {
  [ -n "$1" ] || return 1
  kill -0 "$1" 2>/dev/null || return 1
  command -v ps >/dev/null 2>&1 || return 0
  s=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  case $s in Z*|'') return 1 ;; esac
  [ -z "$2" ] && return 0
  [ "$(ps -o lstart= -p "$1" 2>/dev/null)" = "$2" ]
}
`;

/**
 * ma_listening PORT: something accepts TCP connections on 127.0.0.1:PORT (any protocol, not only
 * HTTP). Without curl, python3 or bash it cannot tell, and says no. Only PID-mode start needs it.
 */
export const PORT_CHECK = String.raw`ma_listening() {
  if command -v curl >/dev/null 2>&1; then
    # Exit 7 is "could not connect"; anything else (an answer, a timeout, a non-HTTP reply) is a listener.
    curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/" 2>/dev/null
    [ $? -ne 7 ]
    return
  fi
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),1).close()' "$1" 2>/dev/null
    return
  fi
  if command -v bash >/dev/null 2>&1; then
    timeout 1 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
    return
  fi
  return 1
}
`;

/**
 * The prelude plus $SUDO ("sudo -n" for a non-root ssh user): for scripts that change things.
 * The effective uid comes from the shell's own /proc/self/status where there is one (Linux), read
 * by the shell itself: every script starts with this, and an `id -u` is a fork and an exec.
 */
export const PRELUDE = `${BASE_PRELUDE}SUDO='' ma_euid=''
if [ -r /proc/self/status ]; then
  while read -r ma_k ma_ruid ma_euid ma_rest; do [ "$ma_k" = Uid: ] && break; ma_euid=''; done </proc/self/status
fi
[ -n "$ma_euid" ] || ma_euid=$(id -u)
if [ "$ma_euid" != 0 ]; then SUDO='sudo -n'; fi
`;

/** Splits script output into records: "@@kind\tf1\tf2" → ['kind', 'f1', 'f2']; other lines are dropped. */
export function records(output: string): string[][] {
  return output
    .split('\n')
    .filter((line) => line.startsWith('@@'))
    .map((line) => line.slice(2).split('\t'));
}

/** The text between a "@@begin NAME" line and the next "@@" line. */
export function sections(output: string): Map<string, string> {
  const out = new Map<string, string>();
  let current: string | undefined;
  let buffer: string[] = [];
  const flush = () => {
    if (current !== undefined) out.set(current, buffer.join('\n').trimEnd());
  };
  for (const line of output.split('\n')) {
    if (line.startsWith('@@')) {
      flush();
      const [kind, name] = line.slice(2).split('\t');
      current = kind === 'begin' ? name : undefined;
      buffer = [];
    } else if (current !== undefined) buffer.push(line);
  }
  flush();
  return out;
}

/** HTTP status code text → number (0 = no answer). */
export function httpCode(text: string | undefined): number {
  const n = Number((text ?? '').trim());
  return Number.isInteger(n) ? n : 0;
}

/** A path that may go into a script (transport/quote.ts validName), else undefined. */
export function safePath(path: string): string | undefined {
  try {
    return validName('path', path);
  } catch {
    return undefined;
  }
}

// ---- the host line and the probes of a status ------------------------------------------------

// The kernel's hostname file on Linux (a read, no fork); uname elsewhere (macOS).
export const HOST_LINE = `if [ -r /proc/sys/kernel/hostname ]; then read -r ma_host </proc/sys/kernel/hostname; else ma_host=$(uname -n); fi
printf '@@host\\t%s\\n' "$ma_host"`;

/** Seconds each loopback probe may take in a status. */
export const PROBE_TIMEOUT_S = 2;

/** `ma_probe_all` arguments for every service with a port: PORT PATH pairs (readiness, then liveness). */
export function probeArgs(services: readonly RuntimeService[]): Shell {
  const pairs = services.flatMap((s) => (s.port === undefined || s.tls !== undefined ? [] : [s.port, s.readiness, s.port, s.liveness]));
  return sh`${pairs}`;
}

/** `ma_probe_tls` lines for the edges that serve HTTPS: one per edge, its paths once each. */
function tlsProbeLines(services: readonly RuntimeService[]): string[] {
  return services.flatMap((s) =>
    s.port === undefined || s.tls === undefined
      ? []
      : [sh`ma_probe_tls ${PROBE_TIMEOUT_S} ${s.port} ${s.tls.name} ${[...new Set([s.readiness, s.liveness])]}`.text],
  );
}

/** Every readiness and liveness probe of these services in one pass, between "@@begin probes" and "@@end". */
export function probePart(services: readonly RuntimeService[]): string {
  if (!services.some((s) => s.port !== undefined)) return '';
  const plain = services.some((s) => s.port !== undefined && s.tls === undefined);
  return [
    `printf '@@begin\\tprobes\\n'`,
    ...(plain ? [`ma_probe_all ${PROBE_TIMEOUT_S} ${probeArgs(services).text}`] : []),
    ...tlsProbeLines(services),
    `printf '@@end\\n'`,
  ].join('\n');
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

// ---- gates and diagnoses ---------------------------------------------------------------------

export function parseGate(output: string): GateResult {
  const r = records(output).find((rec) => rec[0] === 'gate');
  const outcome = r?.[1];
  const elapsed = r?.[3] === undefined || r[3] === '' ? null : Number(r[3]);
  const gated = Number(records(output).find((rec) => rec[0] === 'gated')?.[1] ?? '');
  const port = Number.isInteger(gated) && gated > 0 ? { port: gated } : {};
  if (outcome === 'ready' || outcome === 'crashed' || outcome === 'timeout' || outcome === 'stopped')
    return { outcome, detail: r?.[2] ?? '', elapsedMs: elapsed, ...port };
  return { outcome: 'unknown', detail: output.trim().split('\n').slice(-3).join(' | '), elapsedMs: null };
}

export function parseDiagnosis(output: string): Diagnosis {
  const s = sections(output);
  return {
    status: s.get('status') ?? '',
    journal: (s.get('journal') ?? '').split('\n').filter((l) => l.trim() !== '' && !l.startsWith('-- ')),
    readiness: s.has('readiness') ? (s.get('readiness') ?? '') : null,
  };
}

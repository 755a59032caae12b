/**
 * The host side of moving a scheduled job and a swap service (ops/move/jobs.ts, swap.ts).
 * Builders only: validated names and quoted values, "@@" records for the caller.
 */
import { CADDYFILE_PATH } from '../../hosts/config-install.js';
import { keepQueuedConnectionsStep } from '../../hosts/edge-kernel.js';
import { CADDY_ADMIN_SOCKET } from '../../render/caddy.js';
import { PRELUDE } from '../../runtime/shell.js';
import { quote, validName } from '../../transport/quote.js';

/** A shell function printing "pid epoch" of the unit's run in progress, nothing when none. */
function runningFunction(unit: string): string {
  const u = quote(unit);
  return `ma_job_running() {
  case "$(systemctl show -p ActiveState --value -- ${u} 2>/dev/null)" in
    activating|active|deactivating) printf '%s %s\\n' "$(systemctl show -p MainPID --value -- ${u})" "$(systemctl show --timestamp=unix -p ExecMainStartTimestamp --value -- ${u} | tr -d @)" ;;
  esac
}`;
}

/**
 * Stops the job's timer (no more runs from this host; it stays enabled, so a reboot before the
 * move goes on would start it again, as it should while the job still lives here), then waits up
 * to `waitS` for a run in progress to end: the job never runs on two hosts at once.
 * Records: @@paused<TAB>idle|waited<TAB>pid<TAB>started-epoch<TAB>ms, or @@busy<TAB>pid<TAB>started
 * (still running after waitS), or @@error<TAB>why.
 */
export function pauseJobScript(timer: string, unit: string, waitS: number): string {
  const t = quote(validName('unit', timer));
  validName('unit', unit);
  return `${PRELUDE}${runningFunction(unit)}
out=$($SUDO systemctl stop -- ${t} 2>&1) || { $SUDO systemctl cat -- ${t} >/dev/null 2>&1 && { printf '@@error\\tcannot stop %s: %s\\n' ${t} "$(printf '%s' "$out" | tail -n 2 | tr '\\n\\t' '  ')"; exit 0; }; }
ma_run=$(ma_job_running)
[ -n "$ma_run" ] || { printf '@@paused\\tidle\\n'; exit 0; }
printf '@@waiting\\t%s\\t%s\\n' "\${ma_run%% *}" "\${ma_run#* }"
ma_w0=$(date +%s)
while [ -n "$(ma_job_running)" ]; do
  [ $(( $(date +%s) - ma_w0 )) -lt ${Math.max(1, Math.round(waitS))} ] || { printf '@@busy\\t%s\\t%s\\n' "\${ma_run%% *}" "\${ma_run#* }"; exit 0; }
  sleep 0.5
done
printf '@@paused\\twaited\\t%s\\t%s\\t%s\\n' "\${ma_run%% *}" "\${ma_run#* }" "$(( $(date +%s) - ma_w0 ))"
`;
}

/**
 * Stops and disables the job's timer and waits (up to `waitS`) for a run in progress to end; the
 * unit and the timer stay installed. Records: @@stopped, @@busy<TAB>pid<TAB>started, or @@error<TAB>why.
 */
export function retireJobScript(timer: string, unit: string, waitS: number): string {
  const t = quote(validName('unit', timer));
  validName('unit', unit);
  return `${PRELUDE}${runningFunction(unit)}
if $SUDO systemctl cat -- ${t} >/dev/null 2>&1; then
  out=$($SUDO systemctl disable --now -- ${t} 2>&1) || { printf '@@error\\t%s\\n' "$(printf '%s' "$out" | tail -n 2 | tr '\\n\\t' '  ')"; exit 0; }
fi
ma_w0=$(date +%s)
while [ -n "$(ma_job_running)" ]; do
  [ $(( $(date +%s) - ma_w0 )) -lt ${Math.max(1, Math.round(waitS))} ] || { ma_run=$(ma_job_running); printf '@@busy\\t%s\\t%s\\n' "\${ma_run%% *}" "\${ma_run#* }"; exit 0; }
  sleep 0.5
done
printf '@@stopped\\n'
`;
}

/** Enables and starts the job's timer (its source again, after an abort). Records: @@started, or @@error<TAB>why. */
export function resumeJobScript(timer: string): string {
  const t = quote(validName('unit', timer));
  return `${PRELUDE}out=$($SUDO systemctl enable --now -- ${t} 2>&1) || { printf '@@error\\t%s\\n' "$(printf '%s' "$out" | tail -n 2 | tr '\\n\\t' '  ')"; exit 0; }
[ "$(systemctl show -p ActiveState --value -- ${t})" = active ] || { printf '@@error\\t%s is not active after its start\\n' ${t}; exit 0; }
printf '@@started\\n'
`;
}

/** A swap service's live port on this host ('' before its first swap). Records: @@live<TAB>port. */
export function swapLiveScript(directory: string): string {
  const f = quote(`${validName('path', directory)}/.swap/live`);
  return `${PRELUDE}printf '@@live\\t%s\\n' "$(cat ${f} 2>/dev/null | tr -cd 0-9)"
`;
}

/**
 * Stops and disables every unit of a swap service (the in-place unit and both instances; one not
 * installed is nothing to stop). Its files and releases stay. Records: @@stopped, or @@error<TAB>why.
 */
export function retireSwapScript(units: readonly string[]): string {
  const list = units.map((u) => quote(validName('unit', u))).join(' ');
  return `${PRELUDE}for u in ${list}; do
  $SUDO systemctl cat -- "$u" >/dev/null 2>&1 || continue
  out=$($SUDO systemctl disable --now --no-reload -- "$u" 2>&1) || { printf '@@error\\t%s\\n' "$(printf '%s' "$out" | tail -n 2 | tr '\\n\\t' '  ')"; exit 0; }
done
printf '@@stopped\\n'
`;
}

/** Enables the unit at boot, without starting it (a swap's live instance was just started gated). */
export function enableUnitScript(unit: string): string {
  const u = quote(validName('unit', unit));
  return `${PRELUDE}out=$($SUDO systemctl enable --quiet -- ${u} 2>&1) || { printf '@@error\\t%s\\n' "$(printf '%s' "$out" | tail -n 2 | tr '\\n\\t' '  ')"; exit 0; }
printf '@@enabled\\n'
`;
}

const escapeSed = (s: string) => s.replace(/[.[\]\\/*^$]/g, '\\$&');

/**
 * Makes an edge dial a swap service's instances on another host, in one graceful load: every
 * `[from, to]` pair ("address:port") replaced at once (through placeholders, so pairs may swap
 * ports), keeping the order of the upstreams: the one preferred before (the source's live
 * instance) becomes the target's live instance. In the Caddyfile on disk the address alone
 * changes (`fileFrom` → `fileTo`), as `net caddy` renders it for the new host.
 * Records: @@edge<TAB>switched|already|missing|error<TAB>detail.
 */
export function rerouteSwapEdgeScript(pairs: readonly (readonly [string, string])[], fileFrom: string, fileTo: string): string {
  const dial = (a: string) => `"dial":"${a}"`;
  const json = [
    ...pairs.map(([from], i) => `-e ${quote(`s/${escapeSed(dial(from))}/"dial":"MA_MOVE_${i}"/g`)}`),
    ...pairs.map(([, to], i) => `-e ${quote(`s/"dial":"MA_MOVE_${i}"/${escapeSed(dial(to))}/g`)}`),
  ].join(' ');
  // In the Caddyfile: the address followed by a port (not 110.0.0.1 for 10.0.0.1).
  const file = `s/\\(^\\|[^0-9.]\\)${escapeSed(fileFrom)}:/\\1${escapeSed(fileTo)}:/g`;
  const olds = pairs.map(([from]) => quote(dial(from)));
  const news = pairs.map(([, to]) => quote(dial(to)));
  return `${PRELUDE}sock=${quote(CADDY_ADMIN_SOCKET)}
f=${quote(CADDYFILE_PATH)}
admin() { $SUDO curl -fsS --unix-socket "$sock" -H 'Host: ' "$@"; }
$SUDO test -S "$sock" || { printf '@@edge\\terror\\t%s\\n' ${quote(`no Caddy admin socket at ${CADDY_ADMIN_SOCKET}: load the Caddyfile \`manage-apps net caddy --apply\` installs`)}; exit 0; }
cfg=$(admin --max-time 5 "http://caddy/config/" 2>&1) || { printf '@@edge\\terror\\tcannot read the Caddy config: %s\\n' "$(printf '%s' "$cfg" | head -c 200 | tr '\\n\\t' '  ')"; exit 0; }
if $SUDO grep -q -- ${quote(`${fileFrom}:`)} "$f" 2>/dev/null && [ ! -L "$f" ]; then
  tmp=$($SUDO mktemp "$(dirname "$f")/.Caddyfile.manage-apps.XXXXXX") || { printf '@@edge\\terror\\tcannot write beside %s\\n' "$f"; exit 0; }
  $SUDO sh -c 'sed -e "$1" "$2" > "$3" && chmod 644 "$3" && mv -f "$3" "$2"' sh ${quote(file)} "$f" "$tmp" || { $SUDO rm -f "$tmp"; printf '@@edge\\terror\\tcannot rewrite %s\\n' "$f"; exit 0; }
fi
ma_has() { case $cfg in *"$1"*) return 0 ;; esac; return 1; }
ma_old=0; for x in ${olds.join(' ')}; do ma_has "$x" && ma_old=1; done
if [ "$ma_old" = 0 ]; then
  ma_new=1; for x in ${news.join(' ')}; do ma_has "$x" || ma_new=0; done
  if [ "$ma_new" = 1 ]; then printf '@@edge\\talready\\n'; else printf '@@edge\\tmissing\\t%s\\n' ${quote(`the running Caddy config dials neither ${pairs.map(([f]) => f).join(', ')} nor ${pairs.map(([, t]) => t).join(', ')}: run \`manage-apps net caddy --apply\``)}; fi
  exit 0
fi
${keepQueuedConnectionsStep('$SUDO')}out=$(printf '%s' "$cfg" | sed ${json} | admin --max-time 20 -X POST -H 'Content-Type: application/json' --data-binary @- "http://caddy/load" 2>&1) || { printf '@@edge\\terror\\tCaddy refused the config: %s\\n' "$(printf '%s' "$out" | head -c 300 | tr '\\n\\t' '  ')"; exit 0; }
printf '@@edge\\tswitched\\n'
`;
}

/**
 * A compose service's release live on this host, for another host: the release's files as a tar
 * in base64 after a "@@tar" line, without its `.manage-apps/` records (the override there is this
 * host's: the target writes its own), and the image digest it runs (`.manage-apps/image`).
 * Records: @@release<TAB>id, @@image<TAB>repo@sha256:…, or @@error<TAB>why.
 */
export function readComposeReleaseScript(directory: string): string {
  const d = quote(validName('path', directory));
  return `${PRELUDE}d=${d}
c=$(readlink "$d/current" 2>/dev/null) || { printf '@@error\\tno live release: %s/current is not a link (deploy it there first)\\n' "$d"; exit 0; }
c=\${c#releases/}
case $c in */*|''|.*) printf '@@error\\t%s/current points outside its releases: %s\\n' "$d" "$c"; exit 0 ;; esac
[ -d "$d/releases/$c" ] || { printf '@@error\\tthe live release %s is missing under %s/releases\\n' "$c" "$d"; exit 0; }
i=$($SUDO cat "$d/releases/$c/.manage-apps/image" 2>/dev/null)
case $i in *@sha256:*) ;; *) printf '@@error\\tthe live release %s records no image digest (.manage-apps/image): deploy it again there first\\n' "$c"; exit 0 ;; esac
printf '@@release\\t%s\\n' "$c"
printf '@@image\\t%s\\n' "$i"
printf '@@tar\\n'
$SUDO tar -C "$d/releases/$c" --exclude=./.manage-apps -cf - . | base64
`;
}

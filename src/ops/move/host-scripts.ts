/**
 * The host side of a move: read the live release on the source, re-point an edge's route from
 * one host to another, stop and disable the old instance. Builders only: validated names and
 * quoted values, "@@" records for the caller (ops/move/execute.ts).
 */
import { CADDYFILE_PATH } from '../../hosts/config-install.js';
import { CADDY_ADMIN_SOCKET } from '../../render/caddy.js';
import { keepQueuedConnectionsStep } from '../../hosts/edge-kernel.js';
import { ENV_PRELUDE } from '../../data/envfile.js';
import { PRELUDE } from '../../runtime/shell.js';
import { quote, validName } from '../../transport/quote.js';

/**
 * The release `current` names under `directory`, as a tar in base64 after a "@@tar" line (ssh
 * carries text; the bytes are the release's, unchanged). Not compressed: a release is mostly
 * compressed already, and gzip costs the source's CPU more than the bytes cost the link.
 * Records: @@release<TAB>id, or @@error<TAB>why.
 */
export function readReleaseScript(directory: string): string {
  const d = quote(validName('path', directory));
  return `${PRELUDE}d=${d}
c=$(readlink "$d/current" 2>/dev/null) || { printf '@@error\\tno live release: %s/current is not a link (deploy it there first)\\n' "$d"; exit 0; }
c=\${c#releases/}
case $c in */*|''|.*) printf '@@error\\t%s/current points outside its releases: %s\\n' "$d" "$c"; exit 0 ;; esac
[ -d "$d/releases/$c" ] || { printf '@@error\\tthe live release %s is missing under %s/releases\\n' "$c" "$d"; exit 0; }
printf '@@release\\t%s\\n' "$c"
printf '@@tar\\n'
$SUDO tar -C "$d/releases/$c" -cf - . | base64
`;
}

const escapeSed = (s: string) => s.replace(/[.[\]\\/*^$]/g, '\\$&');

/**
 * Makes the edge dial `to` where it dialled `from` (both "address:port"): in Caddy's running
 * config through its admin socket (POST /load is graceful: requests in flight finish on the old
 * upstream, new ones go to the new one) and in the Caddyfile on disk, so a later reload keeps it.
 * Records: @@edge<TAB>switched|already|missing|error<TAB>detail.
 */
export function rerouteEdgeScript(from: string, to: string): string {
  const dial = (a: string) => `"dial":"${a}"`;
  const json = `s/${escapeSed(dial(from))}/${escapeSed(dial(to))}/g`;
  // In the Caddyfile: the address as a whole word (not 110.0.0.1:80 for 10.0.0.1:80, not :8080 for :80).
  const file = `s/\\(^\\|[^0-9.]\\)${escapeSed(from)}\\([^0-9]\\|$\\)/\\1${escapeSed(to)}\\2/g`;
  return `${PRELUDE}sock=${quote(CADDY_ADMIN_SOCKET)}
f=${quote(CADDYFILE_PATH)}
admin() { $SUDO curl -fsS --unix-socket "$sock" -H 'Host: ' "$@"; }
old=${quote(dial(from))}; new=${quote(dial(to))}
$SUDO test -S "$sock" || { printf '@@edge\\terror\\t%s\\n' ${quote(`no Caddy admin socket at ${CADDY_ADMIN_SOCKET}: load the Caddyfile \`manage-apps net caddy --apply\` installs`)}; exit 0; }
cfg=$(admin --max-time 5 "http://caddy/config/" 2>&1) || { printf '@@edge\\terror\\tcannot read the Caddy config: %s\\n' "$(printf '%s' "$cfg" | head -c 200 | tr '\\n\\t' '  ')"; exit 0; }
# The Caddyfile first: a reload after this point routes where the running config is about to.
if $SUDO grep -q -- ${quote(from)} "$f" 2>/dev/null && [ ! -L "$f" ]; then
  tmp=$($SUDO mktemp "$(dirname "$f")/.Caddyfile.manage-apps.XXXXXX") || { printf '@@edge\\terror\\tcannot write beside %s\\n' "$f"; exit 0; }
  $SUDO sh -c 'sed -e "$1" "$2" > "$3" && chmod 644 "$3" && mv -f "$3" "$2"' sh ${quote(file)} "$f" "$tmp" || { $SUDO rm -f "$tmp"; printf '@@edge\\terror\\tcannot rewrite %s\\n' "$f"; exit 0; }
fi
case $cfg in
*"$old"*) ;;
*"$new"*) printf '@@edge\\talready\\n'; exit 0 ;;
*) printf '@@edge\\tmissing\\t%s\\n' ${quote(`the running Caddy config dials neither ${from} nor ${to}: run \`manage-apps net caddy --apply\``)}; exit 0 ;;
esac
${keepQueuedConnectionsStep('$SUDO')}out=$(printf '%s' "$cfg" | sed -e ${quote(json)} | admin --max-time 20 -X POST -H 'Content-Type: application/json' --data-binary @- "http://caddy/load" 2>&1) || { printf '@@edge\\terror\\tCaddy refused the config: %s\\n' "$(printf '%s' "$out" | head -c 300 | tr '\\n\\t' '  ')"; exit 0; }
printf '@@edge\\tswitched\\n'
`;
}

/** Stops the unit and keeps it from starting at boot (its files stay). Records: @@stopped, or @@error<TAB>why. */
export function retireUnitScript(unit: string): string {
  const u = quote(validName('unit', unit));
  return `${PRELUDE}$SUDO systemctl cat -- ${u} >/dev/null 2>&1 || { printf '@@stopped\\tabsent\\n'; exit 0; }
out=$($SUDO systemctl disable --now --no-reload -- ${u} 2>&1) || { printf '@@error\\t%s\\n' "$(printf '%s' "$out" | tail -n 2 | tr '\\n\\t' '  ')"; exit 0; }
printf '@@stopped\\n'
`;
}

/**
 * A moved service's unit file on the source, once the service serves from the target: renamed
 * to `<unit>.moved` beside it. systemd no longer loads it (nothing can start a second instance by
 * its name) and `drift` does not count an undeclared unit there; an abort puts it back
 * (`putBackUnit`). Only a plain file manage-apps installed is touched. Records: @@aside.
 */
export function setAsideUnitScript(unit: string): string {
  const f = quote(`/etc/systemd/system/${validName('unit', unit)}`);
  return `${PRELUDE}if [ -f ${f} ] && [ ! -L ${f} ]; then $SUDO mv -f -- ${f} ${f}.moved && $SUDO systemctl daemon-reload; fi
printf '@@aside\\n'
`;
}

/** A unit file a move set aside, put back (nothing when it is in place). */
function putBackUnit(unit: string): string {
  const f = quote(`/etc/systemd/system/${validName('unit', unit)}`);
  return `if [ ! -e ${f} ] && [ -f ${f}.moved ] && [ ! -L ${f}.moved ]; then $SUDO mv -f -- ${f}.moved ${f} && $SUDO systemctl daemon-reload; fi
`;
}

/** A unit file a move set aside, put back (an abort, before the unit is started there). Records: @@back. */
export function putBackUnitScript(unit: string): string {
  return `${PRELUDE}${putBackUnit(unit)}printf '@@back\\n'
`;
}

/** Starts the unit again where it was retired (an abort; its file put back first if a move set it aside). Records: @@started, or @@error<TAB>why. */
export function reviveUnitScript(unit: string): string {
  const u = quote(validName('unit', unit));
  return `${PRELUDE}${putBackUnit(unit)}out=$($SUDO systemctl enable --now --no-reload -- ${u} 2>&1) || { printf '@@error\\t%s\\n' "$(printf '%s' "$out" | tail -n 2 | tr '\\n\\t' '  ')"; exit 0; }
printf '@@started\\n'
`;
}

/**
 * The env file, read as the account `ma_env_as` allows (root only where every directory on its
 * path is root's; else the service's user), in base64 after a "@@env" line. Records:
 * @@absent, or @@error<TAB>why.
 */
export function readEnvFileScript(path: string, owner: string): string {
  const f = quote(validName('path', path));
  const o = quote(validName('user', owner));
  return `${PRELUDE}${ENV_PRELUDE}if [ -L ${f} ]; then printf '@@error\\t%s is a link: not read\\n' ${f}; exit 0; fi
if [ ! -e ${f} ] && ! $SUDO test -e ${f}; then printf '@@absent\\n'; exit 0; fi
case $(ma_env_as ${f} ${o}) in
  root) out=$($SUDO cat -- ${f} | base64) ;;
  user) out=$(ma_as_user ${o} cat -- ${f} | base64) ;;
  *) printf '@@error\\t%s\\n' ${quote(`a directory on the path of ${path} is writable by an account other than root and the service runs as root: not read`)}; exit 0 ;;
esac
printf '@@env\\n%s\\n' "$out"
`;
}

/**
 * Writes the env file 0600, owned by the service's user, atomically; as the account ma_env_as
 * allows. The content travels inside this script (on ssh's stdin, fed to the writer by the
 * shell's own printf): never in any process's argv.
 */
export function writeEnvFileScript(path: string, owner: string, content: Buffer): string {
  const data = `printf '%s' ${quote(content.toString('base64'))} | base64 -d`;
  const f = quote(validName('path', path));
  const o = quote(validName('user', owner));
  const body = `set -u
umask 077
f=$1; owner=$2
d=$(dirname -- "$f")
(umask 022 && mkdir -p -- "$d") 2>/dev/null || { echo "cannot create $d"; exit 1; }
if [ -L "$f" ]; then echo "$f is a link: not written"; exit 1; fi
tmp=$(mktemp "$d/.manage-apps-env.XXXXXX") || { echo "cannot write in $d"; exit 1; }
trap 'rm -f -- "$tmp"' EXIT
cat > "$tmp" || { echo "cannot write the env file"; exit 1; }
if [ "$owner" != - ]; then chown -- "$owner:" "$tmp" 2>/dev/null || { echo "user $owner does not exist on this host"; exit 1; }; fi
mv -f -- "$tmp" "$f" || { echo "cannot replace the env file"; exit 1; }
trap - EXIT
`;
  return `${PRELUDE}${ENV_PRELUDE}case $(ma_env_as ${f} ${o}) in
  root) out=$(${data} | $SUDO sh -c ${quote(body)} sh ${f} ${o} 2>&1) ;;
  user) out=$(${data} | ma_as_user ${o} sh -c ${quote(body)} sh ${f} - 2>&1) ;;
  *) printf '@@error\\t%s\\n' ${quote(`a directory on the path of ${path} is writable by an account other than root and the service runs as root: not written`)}; exit 0 ;;
esac
[ $? = 0 ] || { printf '@@error\\t%s\\n' "$(printf '%s' "$out" | tr '\\n\\t' '  ' | cut -c1-300)"; exit 0; }
printf '@@written\\n'
`;
}

/**
 * On a tunnel's far end: ends the sshd session of tunnel account `user` that listens on any of
 * `ports` (a reverse tunnel's forwarded ports), and only that one. A lost host's session can
 * outlive it there (the host frozen, or its TCP session never reset): its port stays taken and
 * the re-pointed tunnel cannot listen. A listener is ended only when its process is an sshd
 * running as `user` (checked in /proc, never by name alone); anything else holding the port is
 * reported, never touched. TERM, then KILL if the port is still held 5 s later. Runs as root.
 * Records, per port: @@ended<TAB>port<TAB>pid<TAB>peer, @@other<TAB>port<TAB>pid<TAB>what,
 * @@free<TAB>port, @@held<TAB>port; or @@error<TAB>why.
 */
export function endStaleTunnelSessionScript(user: string, ports: readonly number[]): string {
  const u = quote(validName('user', user));
  for (const p of ports) if (!Number.isInteger(p) || p < 1 || p > 65535) throw new Error(`bad port ${p}`);
  const body = String.raw`set -u
export LC_ALL=C PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
command -v ss >/dev/null 2>&1 || { printf '@@error\tno ss (iproute2) on this host\n'; exit 0; }
uid=$(id -u ${u} 2>/dev/null) || { for port in ${ports.join(' ')}; do printf '@@free\t%s\n' "$port"; done; exit 0; }
ours() { [ "$(stat -c %u "/proc/$1" 2>/dev/null)" = "$uid" ] && case $(cat "/proc/$1/comm" 2>/dev/null) in sshd|sshd-session) true ;; *) false ;; esac; }
holders() { ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u; }
for port in ${ports.join(' ')}; do
  ended=''
  for pid in $(holders "$port"); do
    if ours "$pid"; then
      peer=$(ss -Htnp state established 2>/dev/null | grep "pid=$pid," | awk '{print $4}' | head -n 1)
      kill -TERM "$pid" 2>/dev/null && ended="$ended $pid" && printf '@@ended\t%s\t%s\t%s\n' "$port" "$pid" "$peer"
    else
      printf '@@other\t%s\t%s\t%s\n' "$port" "$pid" "$(cat "/proc/$pid/comm" 2>/dev/null)"
    fi
  done
  [ -n "$ended" ] || { [ -n "$(holders "$port")" ] && printf '@@held\t%s\n' "$port" || printf '@@free\t%s\n' "$port"; continue; }
  i=0
  while [ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  for pid in $ended; do ours "$pid" && kill -KILL "$pid" 2>/dev/null; done
  sleep 0.2
  [ -z "$(ss -Hltn "sport = :$port" 2>/dev/null)" ] && printf '@@free\t%s\n' "$port" || printf '@@held\t%s\n' "$port"
done
`;
  return `${PRELUDE}$SUDO sh -c ${quote(body)}\n`;
}

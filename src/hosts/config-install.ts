/**
 * Installing a rendered config on its host (`net caddy --apply`, `net wireguard --apply`): the one
 * script a host runs, built here and run by its caller (src/ops/install-configs.ts).
 *
 * On the host, as root, in one go: the new file is written into a private directory beside the
 * target (same file system, so the final rename is atomic), checked by its own tool there
 * (`caddy validate`, `wg-quick strip`), compared with what is installed, and only when it differs
 * the previous file is kept as `<target>.bak` and the new one renamed over it. Then the running
 * service takes it gracefully: Caddy through its admin endpoint (`caddy reload`: requests in flight
 * finish, an identical config is not even reloaded), WireGuard with `wg syncconf` (peers change in
 * place, the interface never goes down). A config the tool refuses, or the running service refuses
 * to load, leaves the file and the running config as they were (a refused reload puts the previous
 * file back). A reload runs even when the file did not change, so a run cut short between the
 * rename and the reload is finished by the next one.
 *
 * The script ignores SIGHUP and SIGPIPE once it runs: a CLI killed or a network cut mid-way never
 * stops it between two steps. Its body is one quoted word passed to `sh -c`: a script cut short
 * in transit is a syntax error, never a partial command.
 */
import { WRITTEN_FUNCTION } from '../runtime/fingerprint.js';
import { CADDY_ADMIN_SOCKET } from '../render/caddy.js';
import { PRELUDE } from '../runtime/shell.js';
import { keepQueuedConnectionsStep } from './edge-kernel.js';
import { quote, validName } from '../transport/quote.js';

export type ConfigKind = 'caddy' | 'wireguard';

export interface ConfigInstall {
  kind: ConfigKind;
  /** The rendered file's own name (`e1.Caddyfile`): the tool's messages name it instead of the temporary copy. */
  label: string;
  /** Where it is installed on the host. */
  target: string;
  content: string;
  mode: number;
  /** Caddy: the edge's unit (started when it is not running). WireGuard: the interface. */
  unit?: string;
  iface?: string;
}

/** Where the Debian/Ubuntu caddy package reads its config from (its caddy.service). */
export const CADDYFILE_PATH = '/etc/caddy/Caddyfile';
/** Caddy's own default admin endpoint: where a Caddy started from the package's Caddyfile listens. */
export const CADDY_DEFAULT_ADMIN = 'localhost:2019';

export function wireguardTarget(iface: string): string {
  return `/etc/wireguard/${validName('host', iface)}.conf`;
}

/** The tool's check of the new file `$new` (exit status and message). */
function validateStep(c: ConfigInstall): string {
  if (c.kind === 'caddy')
    // As Caddy's own account where the package made one: validating provisions the config (its
    // storage, an internal CA) the way the running Caddy will, and never as root in Caddy's home.
    return String.raw`if id caddy >/dev/null 2>&1; then
  chmod 755 "$work"
  home=$(getent passwd caddy | cut -d: -f6)
  out=$(cd / && runuser -u caddy -- env HOME="$home" caddy validate --config "$new" --adapter caddyfile 2>&1)
else
  out=$(cd "$work" && HOME="$work" caddy validate --config "$new" --adapter caddyfile 2>&1)
fi`;
  return String.raw`out=$(wg-quick strip "$new" 2>&1 >"$work/stripped")`;
}

/** The running service takes the installed file; `$installed` says whether it was just replaced. */
function reloadStep(c: ConfigInstall): string {
  if (c.kind === 'caddy') {
    const unit = quote(validName('unit', c.unit ?? 'caddy.service'));
    return String.raw`unit=${unit}
${keepQueuedConnectionsStep('')}if ! systemctl is-active --quiet "$unit"; then
  if out=$(systemctl start "$unit" 2>&1); then rec reload started "$unit was not running: started"; else rollback "$unit would not start: $(short "$out")"; exit 0; fi
else
  # The admin endpoint the running Caddy listens on: the socket the rendered config puts it on,
  # else Caddy's default (a Caddy still running the package's own Caddyfile).
  if [ -S ${quote(CADDY_ADMIN_SOCKET)} ]; then addr=${quote(`unix/${CADDY_ADMIN_SOCKET}`)}; else addr=${quote(CADDY_DEFAULT_ADMIN)}; fi
  if out=$(cd "$work" && HOME="$work" caddy reload --config "$target" --adapter caddyfile --address "$addr" 2>&1); then
    rec reload graceful "loaded through the admin endpoint $addr"
  else
    rollback "Caddy refused to load it: $(short "$out")"; exit 0
  fi
fi`;
  }
  const iface = quote(validName('host', c.iface ?? 'wg0'));
  return String.raw`iface=${iface}
if ip link show dev "$iface" >/dev/null 2>&1; then
  wg-quick strip "$target" >"$work/stripped-new" 2>/dev/null || cp "$work/stripped" "$work/stripped-new"
  # The rendered file has no private key (PostUp loads it): syncconf would clear the interface's,
  # so the running key goes into the private copy syncconf reads (a file, never an argument).
  wg show "$iface" private-key >"$work/key" 2>/dev/null || : >"$work/key"
  awk 'NR == FNR { if ($0 != "(none)") k = $0; next } { print } /^\[Interface\]/ && k != "" { print "PrivateKey = " k }' "$work/key" "$work/stripped-new" >"$work/running"
  if out=$(wg syncconf "$iface" "$work/running" 2>&1); then rec reload graceful "wg syncconf $iface: peers changed in place"
  else rollback "wg syncconf refused it: $(short "$out")"; exit 0; fi
else
  rec reload down "$iface is not up: wg-quick up $iface (or systemctl start wg-quick@$iface) starts it"
fi`;
}

/** The script for one host: `dryRun` checks and compares only (nothing installed, nothing reloaded). */
export function installConfigScript(c: ConfigInstall, dryRun: boolean): string {
  const dir = c.target.slice(0, c.target.lastIndexOf('/')) || '/';
  const base = c.target.slice(c.target.lastIndexOf('/') + 1);
  const tool = c.kind === 'caddy' ? 'caddy' : 'wg-quick';
  const program = c.kind === 'caddy' ? 'Caddy' : 'wireguard-tools';
  const body = String.raw`set -u
umask 077
trap '' HUP PIPE
rec() { printf '@@%s\t%s\t' "$1" "$2"; shift 2; printf '%s' "$*" | tr '\t\n' '  '; printf '\n'; }
step() { printf '@@step\t%s\n' "$1"; }
# A tool's message: its error lines (else its last ones), the temporary copy named as the rendered file.
short() { m=$(printf '%s\n' "$1" | grep -E '^(Error|error|\[#\]|Line|Configuration)' || printf '%s\n' "$1" | tail -n 3); printf '%s' "$m" | sed "s#$work/$base#$label#g; s#$work#.#g" | head -c 600; }
target=${quote(c.target)}; dir=${quote(dir)}; base=${quote(base)}; label=${quote(c.label)}; work=''
command -v ${tool} >/dev/null 2>&1 || { rec config refused ${quote(`no ${tool} on this host: install ${program} (manage-apps hosts prepare --apply does)`)}; exit 0; }
[ -d "$dir" ] && [ ! -L "$dir" ] || { rec config refused "$dir is not a directory: install ${program} first"; exit 0; }
if [ -L "$target" ] || { [ -e "$target" ] && [ ! -f "$target" ]; }; then rec config refused "$target is not a regular file (a link or something else): manage-apps replaces only a file of its own"; exit 0; fi
work=$(mktemp -d "$dir/.manage-apps.XXXXXX") || { rec config failed "cannot make a private directory in $dir"; exit 0; }
trap 'rm -rf "$work"' EXIT
new="$work/$base"
printf '%s' ${quote(Buffer.from(c.content).toString('base64'))} | base64 -d >"$new" && chmod ${c.mode.toString(8).padStart(4, '0')} "$new" || { rec config failed "cannot write $new"; exit 0; }
step ${quote(`checking ${c.label} with ${c.kind === 'caddy' ? 'caddy validate' : 'wg-quick strip'}`)}
${validateStep(c)}
[ $? -eq 0 ] || { rec config refused "$(short "$out")"; exit 0; }
if [ -f "$target" ] && cmp -s "$new" "$target"; then changed=0; else changed=1; fi
${
  dryRun
    ? String.raw`if [ $changed = 1 ]; then rec config would-change "$target"; else rec config unchanged "$target"; fi
exit 0`
    : String.raw`had=0; [ -f "$target" ] && had=1
# Puts the previous file back (a config the running service refused): file and service agree again.
rollback() {
  if [ $changed = 1 ]; then
    if [ $had = 1 ]; then cp -p "$target.bak" "$work/restore" && mv -fT "$work/restore" "$target"; else rm -f "$target"; fi
  fi
  rec config refused "$1"
}
if [ $changed = 1 ]; then
  if [ $had = 1 ]; then
    step "keeping the previous file as $target.bak"
    # -T: a link or directory at the .bak name is replaced or refused, never written through.
    cp -p "$target" "$work/previous" && mv -fT "$work/previous" "$target.bak" || { rec config failed "cannot keep a backup as $target.bak"; exit 0; }
    rec backup "$target.bak"
  fi
  step "installing $target"
  mv -fT "$new" "$target" || { rec config failed "cannot rename the new file over $target"; exit 0; }
fi
step ${quote(c.kind === 'caddy' ? 'reloading Caddy through its admin endpoint' : `wg syncconf ${c.iface ?? 'wg0'}`)}
${reloadStep(c)}
# What was written, kept on the host: drift tells a hand edit from a changed declaration by it.
${WRITTEN_FUNCTION}
ma_written "$target"
if [ $changed = 1 ]; then rec config changed "$target"; else rec config unchanged "$target"; fi`
}
`;
  return `${PRELUDE}$SUDO sh -c ${quote(body)}\n`;
}

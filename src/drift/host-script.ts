/**
 * `drift`'s one script per host: it only reads. Files come back whole (base64, so no text in
 * them can forge a record), with what systemd says of each unit, the manage-apps marker scan,
 * the fingerprints of what manage-apps last wrote, each released service's history (the
 * releases' own inspect script), the compose containers (the compose runtime's status part),
 * the edge's live Caddy config through its admin socket and the declared Caddyfile adapted by
 * the Caddy on that host, the clusters' pg_hba.conf (the provisioner's own inspect script), the
 * tunnels' keys, and the listening TCP sockets. Nothing is written, started, stopped or locked.
 */
import { inspectScript as clusterInspectScript } from '../data/postgres.js';
import { CADDY_ADMIN_SOCKET } from '../render/caddy.js';
import { authorizedKeysPath, keyPath, knownHostsPath, sshConfigPath } from '../render/tunnels.js';
import { containerPart } from '../runtime/compose.js';
import { fingerprint, READ_WRITTEN } from '../runtime/fingerprint.js';
import { inspectBody as releaseInspectBody } from '../runtime/release.js';
import { HOST_LINE, PRELUDE } from '../runtime/shell.js';
import type { RuntimeService } from '../runtime/types.js';
import { quote } from '../transport/quote.js';
import { SSHD_DROPIN } from '../tunnels/resolve.js';
import { ENV_FILE_NAME, PLAIN_CREDENTIALS_DIR } from '../secrets/layout.js';
import { CADDYFILE, secretsDir, secretsFingerprintsPath, UNIT_DIR, type DeclaredHost } from './declared.js';

/** Where someone adds to a unit without editing it: `systemctl edit` (/etc), runtime and `set-property` drop-ins. */
export const DROP_IN_DIRS = [UNIT_DIR, '/run/systemd/system', '/etc/systemd/system.control', '/run/systemd/system.control'];

/**
 * ma_enabled UNIT: "@@enabled<TAB>UNIT<TAB>STATE", read from the links `systemctl enable` makes
 * (no systemctl: its start alone costs more than the rest of the script on a busy host) —
 * masked (the unit's file replaced by a link to /dev/null), enabled (a .wants/ or .requires/ link
 * under /etc), enabled-runtime (only under /run), else disabled. A mask under /run does not
 * count: /etc comes first in systemd's search path, and manage-apps' units are there. The units
 * drift checks are manage-apps' own, whose [Install] section has only WantedBy=, so these links
 * are what enabling them means.
 */
const ENABLED_FUNCTION = String.raw`ma_enabled() {
  ma_s=disabled
  for ma_w in /run/systemd/system/*.wants/"$1" /run/systemd/system/*.requires/"$1"; do [ -L "$ma_w" ] && ma_s=enabled-runtime; done
  for ma_w in /etc/systemd/system/*.wants/"$1" /etc/systemd/system/*.requires/"$1"; do [ -L "$ma_w" ] && ma_s=enabled; done
  [ -L /etc/systemd/system/"$1" ] && [ -c /etc/systemd/system/"$1" ] && ma_s=masked
  printf '@@enabled\t%s\t%s\n' "$1" "$ma_s"
}`;

/** What marks a unit as installed by manage-apps (the renderers' header lines). */
export const UNIT_MARKERS = ['rendered by manage-apps', 'Rendered by manage-apps'];

export interface ScriptInput {
  declared: DeclaredHost;
  /** The runtime view of each released service of the selection here (directory, compose names). */
  released: RuntimeService[];
  /** The compose services among them. */
  composed: RuntimeService[];
}

/**
 * ma_file PATH: "@@file<TAB>PATH<TAB>=BASE64" (absent: "-", unreadable: "?"). base64 writes
 * straight into the record (no command substitution: one fork less per file); when it fails, a
 * second record for the path says "?" and the parser keeps the last one.
 */
const FILE_FUNCTION = String.raw`ma_file() {
  if [ -f "$1" ]; then
    printf '@@file\t%s\t=' "$1"
    if $SUDO base64 -w0 -- "$1" 2>/dev/null; then printf '\n'; else printf '\n@@file\t%s\t?\n' "$1"; fi
  elif [ -e "$1" ] || [ -L "$1" ]; then printf '@@file\t%s\t?\n' "$1"
  else printf '@@file\t%s\t-\n' "$1"; fi
}`;

/**
 * ma_same SHA256 PATH: "@@same<TAB>PATH" when the file's sha256 (in $ma_sums, sha256sum's lines
 * between newlines) is the declared one — the file is what was declared and need not travel —
 * else the file itself (ma_file). A name sha256sum escapes simply does not match.
 */
const SAME_FUNCTION = String.raw`ma_same() { case $ma_sums in *"$ma_nl$1  $2$ma_nl"*) printf '@@same\t%s\n' "$2" ;; *) ma_file "$2" ;; esac; }`;

/**
 * ma_envkeys PATH: the names an env file sets ("@@envkeys<TAB>PATH<TAB>file<TAB>NAME NAME …", in the
 * file's order, each once; absent: "-", a link: "link", unreadable: "?"), never a value. Read as
 * root only when it is a regular file, not a link; one awk (no sed, sort and tr per file: every
 * fork costs on a busy host; the CLI sorts).
 */
export const ENV_KEYS_FUNCTION = String.raw`ma_envkeys() {
  if [ -L "$1" ]; then printf '@@envkeys\t%s\tlink\n' "$1"
  elif [ -f "$1" ]; then
    $SUDO awk 'BEGIN {
      f = ARGV[1]; ARGV[1] = ""; out = ""
      while ((r = (getline l < f)) > 0) {
        sub(/^[ \t\r\f\v]*/, "", l)
        if (match(l, /^export[ \t\r\f\v]+/)) l = substr(l, RLENGTH + 1)
        if (match(l, /^[A-Za-z_][A-Za-z0-9_]*=/)) { k = substr(l, 1, RLENGTH - 1); if (!(k in seen)) { seen[k] = 1; out = out k " " } }
      }
      if (r < 0) printf "@@envkeys\t%s\t?\n", f; else printf "@@envkeys\t%s\tfile\t%s\n", f, out
    }' "$1" 2>/dev/null || printf '@@envkeys\t%s\t?\n' "$1"
  elif [ -e "$1" ]; then printf '@@envkeys\t%s\t?\n' "$1"
  else printf '@@envkeys\t%s\t-\n' "$1"; fi
}`;

/** The variables of a credentials env file that are not secret: their values are compared (PGPASSWORD and DATABASE_URL never leave the host). */
export const PUBLIC_ENV_VARS = ['PGHOST', 'PGPORT', 'PGDATABASE', 'PGUSER'];

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

export function driftScript(input: ScriptInput): string {
  const d = input.declared;
  const parts: string[] = [PRELUDE, HOST_LINE, FILE_FUNCTION, ENV_KEYS_FUNCTION, READ_WRITTEN];
  // Units: whether they are enabled, the files, and every drop-in someone may have added.
  const files = d.units.map((u) => u.file);
  if (files.length > 0) {
    // Only the units whose enabled state is compared: a template (a swap's, the backups') is never enabled itself.
    const names = d.units.flatMap((u) => (u.enabled === null ? [] : [u.enabled]));
    parts.push(
      ...(names.length > 0 ? [ENABLED_FUNCTION, ...names.map((n) => `ma_enabled ${quote(n)}`)] : []),
      // The unit files come back only where they differ from the declared ones (one sha256sum for all).
      `ma_sums=$($SUDO sha256sum -- ${d.units.map((u) => quote(`${UNIT_DIR}/${u.file}`)).join(' ')} 2>/dev/null) || :`,
      'ma_sums="$ma_nl$ma_sums$ma_nl"',
      SAME_FUNCTION,
      ...d.units.map((u) => `ma_same ${fingerprint(Buffer.from(u.content, 'utf8'))} ${quote(`${UNIT_DIR}/${u.file}`)}`),
      `for ma_d in ${files.flatMap((f) => DROP_IN_DIRS.map((dir) => quote(`${dir}/${f}.d`))).join(' ')}; do for ma_f in "$ma_d"/*.conf; do [ -f "$ma_f" ] && ma_file "$ma_f"; done; done`,
    );
  }
  // Units carrying manage-apps' marker (a manifest that no longer declares them leaves them behind).
  parts.push(
    `printf '@@begin\\tmarked\\n'`,
    `grep -l -s ${UNIT_MARKERS.map((m) => `-e ${quote(m)}`).join(' ')} ${UNIT_DIR}/*.service ${UNIT_DIR}/*.timer 2>/dev/null`,
    `printf '@@end\\n'`,
  );
  // Releases: the same read-only inspect script `releases` runs (its prelude already ran), in a subshell.
  if (input.released.length > 0) {
    parts.push(`(\n${releaseInspectBody(input.released.map((s) => ({ tag: s.id, directory: s.directory!, key: s.key })))})`);
  }
  // Compose: the containers (status's own part), the pinned digest and the compose file of the live release.
  if (input.composed.length > 0) {
    parts.push(containerPart(input.composed));
    for (const s of input.composed)
      parts.push(`ma_file ${quote(`${s.directory}/current/.manage-apps/image`)}`, `ma_file ${quote(`${s.directory}/current/${s.compose!.file}`)}`);
  }
  // The edge: the file, the live config (admin socket, as root; it takes only an empty Host) and the declared Caddyfile adapted by this host's Caddy.
  if (d.caddyfile !== null) {
    parts.push(
      `ma_file ${CADDYFILE}`,
      `if ma_l=$($SUDO curl -fsS --max-time 5 --unix-socket ${CADDY_ADMIN_SOCKET} -H 'Host: ' http://caddy/config/ 2>&1); then printf '@@caddy\\tlive\\t=%s\\n' "$(printf '%s' "$ma_l" | base64 -w0)"; else printf '@@caddy\\tlive\\t?%s\\n' "$(printf '%s' "$ma_l" | tr '\\n\\t' '  ' | cut -c1-200)"; fi`,
      `if ma_a=$(printf '%s' ${quote(b64(d.caddyfile))} | base64 -d | caddy adapt --config /dev/stdin --adapter caddyfile 2>/dev/null); then printf '@@caddy\\tdeclared\\t=%s\\n' "$(printf '%s' "$ma_a" | base64 -w0)"; else printf '@@caddy\\tdeclared\\t?\\n'; fi`,
    );
  }
  // Tunnels: the initiator's files and public key; the far end's sshd drop-in, authorized_keys and host keys.
  for (const t of d.initiated) parts.push(...[sshConfigPath(t), knownHostsPath(t), `${keyPath(t)}.pub`].map((p) => `ma_file ${quote(p)}`));
  if (d.served.length > 0) {
    parts.push(`ma_file ${SSHD_DROPIN}`);
    for (const user of [...new Set(d.served.map((t) => t.farUser))].sort()) parts.push(`ma_file ${quote(authorizedKeysPath(user))}`);
    parts.push(
      `for ma_k in $($SUDO sshd -T 2>/dev/null | awk '$1=="hostkey"{print $2}'); do [ -f "$ma_k.pub" ] && printf '@@hostkey\\t%s\\n' "$(cut -d' ' -f1,2 < "$ma_k.pub")"; done`,
    );
  }
  // Clusters: the provisioner's read-only inspection (roles, databases, pg_hba.conf), in a subshell.
  const clusters = [...new Map(d.databases.map((x) => [x.cluster.name, { name: x.cluster.name, port: x.cluster.port }])).values()];
  if (clusters.length > 0) parts.push(`sh -c ${quote(clusterInspectScript(clusters))}`);
  // Delivered secrets: the fingerprints file of each service's live generation, the names its env
  // file sets and its credential files (names and deliveries are compared; no value is read).
  for (const s of d.services.filter((x) => (x.secrets?.length ?? 0) > 0)) {
    const dir = secretsDir(s);
    parts.push(
      `ma_file ${quote(secretsFingerprintsPath(s))}`,
      `ma_envkeys ${quote(`${dir}/${ENV_FILE_NAME}`)}`,
      `printf '@@creds\\t%s\\t%s\\n' ${quote(dir)} "$($SUDO find ${quote(`${dir}/`)} -maxdepth 1 -name '*.cred' -printf '%f ' 2>/dev/null; $SUDO find ${quote(`${dir}/${PLAIN_CREDENTIALS_DIR}/`)} -mindepth 1 -maxdepth 1 -type f -printf '%f.cred ' 2>/dev/null)"`,
    );
  }
  // Env files holding database credentials: their names, and the values of the variables that are not secret.
  for (const e of d.envFiles)
    parts.push(
      `ma_envkeys ${quote(e.path)}`,
      `[ -f ${quote(e.path)} ] && [ ! -L ${quote(e.path)} ] && $SUDO grep -E '^(${PUBLIC_ENV_VARS.join('|')})=' -- ${quote(e.path)} 2>/dev/null | while IFS= read -r ma_l; do printf '@@envval\\t%s\\t%s\\n' ${quote(e.path)} "$ma_l"; done`,
    );
  // The mesh: the config file (its private and preshared key lines replaced on the host, never
  // sent) and the interface's peers as the kernel has them (public key, allowed IPs, keepalive).
  if (d.wireguard !== null) {
    const w = d.wireguard;
    parts.push(
      `if [ -f ${quote(w.path)} ]; then if ma_c=$($SUDO sed -E 's/^([[:space:]]*(PrivateKey|PresharedKey)[[:space:]]*=).*/\\1 (not read)/I' -- ${quote(w.path)} 2>/dev/null | base64 -w0); then printf '@@file\\t%s\\t=%s\\n' ${quote(w.path)} "$ma_c"; else printf '@@file\\t%s\\t?\\n' ${quote(w.path)}; fi; else printf '@@file\\t%s\\t-\\n' ${quote(w.path)}; fi`,
      `if ! command -v wg >/dev/null 2>&1; then printf '@@wg\\tnone\\n'; elif ma_w=$($SUDO wg show ${quote(w.iface)} dump 2>&1); then printf '@@wg\\tup\\n'; printf '%s\\n' "$ma_w" | awk -F'\\t' 'NR>1{printf "@@wgpeer\\t%s\\t%s\\t%s\\n", $1, $4, $8}'; else printf '@@wg\\tdown\\t%s\\n' "$(printf '%s' "$ma_w" | tr '\\n\\t' '  ' | cut -c1-200)"; fi`,
    );
  }
  // Listening TCP sockets, with their processes (as root: another account's too) and each process's cgroup (its unit).
  parts.push(
    `ma_ss=$($SUDO ss -Hltnp 2>/dev/null || ss -Hltn 2>/dev/null)`,
    `printf '@@begin\\tports\\n%s\\n@@end\\n' "$ma_ss"`,
    // Each listening process's cgroup (its lines joined by spaces), read by one awk: not a tr per process.
    `printf '%s\\n' "$ma_ss" | awk '{ while (match($0, /pid=[0-9]+/)) { p = substr($0, RSTART + 4, RLENGTH - 4); $0 = substr($0, RSTART + RLENGTH); if (!(p in seen)) { seen[p] = 1; c = ""; f = "/proc/" p "/cgroup"; while ((getline l < f) > 0) c = c l " "; close(f); gsub(/\\t/, " ", c); printf "@@cgroup\\t%s\\t%s\\n", p, c } } }'`,
  );
  return `${parts.join('\n')}\n`;
}

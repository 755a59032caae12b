/**
 * The app's side of its database credentials: the service's env_file on the service's host.
 * manage-apps owns six variables there (DATABASE_URL and the libpq PG* set) and keeps every
 * other line. The file is written 0600, owned by the service user, atomically (temporary file
 * + rename), with a backup of the previous one; values travel in a here-document on the
 * script's stdin, never in argv.
 */
import { isIP } from 'node:net';
import { PRELUDE, records } from '../runtime/shell.js';
import { heredoc, quote, validName } from '../transport/quote.js';

export const MANAGED_VARS = ['DATABASE_URL', 'PGHOST', 'PGPORT', 'PGDATABASE', 'PGUSER', 'PGPASSWORD'] as const;
export type ManagedVar = (typeof MANAGED_VARS)[number];
export const ENV_MARKER = '# manage-apps db provision: DATABASE_URL and PG* below are managed (db provision --rotate changes them)';

export interface Credentials {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
}

export function envValues(c: Credentials): Record<ManagedVar, string> {
  const urlHost = isIP(c.host) === 6 ? `[${c.host}]` : c.host;
  return {
    DATABASE_URL: `postgresql://${c.user}:${encodeURIComponent(c.password)}@${urlHost}:${c.port}/${c.database}`,
    PGHOST: c.host,
    PGPORT: String(c.port),
    PGDATABASE: c.database,
    PGUSER: c.user,
    PGPASSWORD: c.password,
  };
}

export interface EnvTarget {
  id: string;
  path: string;
  /** The service's user (root when it declares none): the file's owner, and who reads it when root must not. */
  owner: string;
  unit?: string;
}

export interface EnvFileState {
  id: string;
  /** 'unsafe': a directory on its path is writable by an account other than root (or is a link) and the service runs as root: neither read nor written. */
  state: 'absent' | 'file' | 'symlink' | 'other' | 'unsafe';
  owner?: string;
  mode?: string;
  vars: Partial<Record<ManagedVar, string>>;
  /** systemd ActiveState of the service's unit ('' when it has none). */
  unitActive: string;
  /** Its process started before the env file's last change. */
  unitStale: boolean;
}

const KEYS = MANAGED_VARS.join('|');

/**
 * The unit's state, and whether its process started before the env file last changed (it runs
 * with old credentials: a run cut between writing them and restarting leaves that behind).
 */
function unitPart(id: string, path: string, unit: string): string {
  const u = quote(validName('unit', unit));
  return `ma_active=$(systemctl show -p ActiveState --value -- ${u} 2>/dev/null)
ma_stale=0
ma_pid=$(systemctl show -p MainPID --value -- ${u} 2>/dev/null)
if [ "\${ma_pid:-0}" -gt 0 ] 2>/dev/null && [ -f ${quote(path)} ]; then
  ma_et=$(ps -o etimes= -p "$ma_pid" 2>/dev/null | tr -d ' '); ma_mt=$($SUDO stat -c %Y -- ${quote(path)} 2>/dev/null)
  if [ -n "$ma_et" ] && [ -n "$ma_mt" ] && [ $(( $(date +%s) - ma_et )) -lt "$ma_mt" ]; then ma_stale=1; fi
fi
printf '@@unit\\t%s\\t%s\\t%s\\n' ${quote(id)} "$ma_active" "$ma_stale"`;
}

/**
 * Shell functions for an env file's directory. Root reads and writes there only when every
 * directory from / down to it is root's and writable by no other account (no link on the way):
 * then nobody else can put a link or swap a file between a check and root's use of it. Anywhere
 * else the work is done as the service's own user, who can only reach what it could anyway.
 */
export const ENV_PRELUDE = String.raw`ma_root_path() {
  ma_p=$1
  while :; do
    if [ -L "$ma_p" ]; then return 1; fi
    if [ -e "$ma_p" ]; then
      ma_s=$($SUDO stat -c '%u %a' -- "$ma_p") || return 1
      [ "${'$'}{ma_s%% *}" = 0 ] || return 1
      case ${'$'}{ma_s#* } in *[2367]? | *[2367]) return 1 ;; esac
    fi
    [ "$ma_p" = / ] && return 0
    ma_p=$(dirname -- "$ma_p")
  done
}
ma_as_user() {
  ma_u=$1; shift
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u "$ma_u" -- "$@"); else (cd / && sudo -n -u "$ma_u" "$@"); fi
}
# ma_env_as FILE OWNER: who may touch FILE: "root", "user" (OWNER), or "none".
ma_env_as() {
  if ma_root_path "$(dirname -- "$1")"; then echo root
  elif [ "$2" != root ]; then echo user
  else echo none; fi
}
`;

/** One script per service host: which of the managed variables each env file holds, and whether each unit runs. */
export function envInspectScript(targets: readonly EnvTarget[]): string {
  const parts = targets.map((t) => {
    const f = quote(validName('path', t.path));
    const id = quote(t.id);
    const owner = quote(validName('user', t.owner));
    return `ma_as=$(ma_env_as ${f} ${owner})
if [ -L ${f} ]; then printf '@@env\\t%s\\tsymlink\\n' ${id}
elif [ "$ma_as" = none ]; then printf '@@env\\t%s\\tunsafe\\n' ${id}
elif [ -f ${f} ]; then
  printf '@@env\\t%s\\tfile\\t%s\\n' ${id} "$($SUDO stat -c '%U\t%a' -- ${f} 2>/dev/null)"
  if [ "$ma_as" = root ]; then $SUDO grep -E '^(${KEYS})=' -- ${f} 2>/dev/null; else ma_as_user ${owner} grep -E '^(${KEYS})=' -- ${f} 2>/dev/null; fi | while IFS= read -r line; do printf '@@var\\t%s\\t%s\\n' ${id} "$line"; done
elif [ -e ${f} ]; then printf '@@env\\t%s\\tother\\n' ${id}
else printf '@@env\\t%s\\tabsent\\n' ${id}; fi
${t.unit === undefined ? '' : unitPart(t.id, t.path, t.unit)}`;
  });
  return `${PRELUDE}${ENV_PRELUDE}main() {\n${parts.join('\n')}\n}\nmain\n`;
}

const unquote = (v: string) =>
  v.length >= 2 && ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'"))) ? v.slice(1, -1) : v;

export function parseEnvInspect(output: string): Map<string, EnvFileState> {
  const out = new Map<string, EnvFileState>();
  for (const [kind, id, a, b, c] of records(output)) {
    if (id === undefined) continue;
    if (kind === 'env') {
      const s: EnvFileState = { id, state: (a as EnvFileState['state']) ?? 'absent', vars: {}, unitActive: '', unitStale: false };
      if (b) s.owner = b;
      if (c) s.mode = c;
      out.set(id, s);
    } else if (kind === 'var' && a !== undefined) {
      const eq = a.indexOf('=');
      const key = a.slice(0, eq) as ManagedVar;
      const s = out.get(id);
      if (s && (MANAGED_VARS as readonly string[]).includes(key)) s.vars[key] = unquote(a.slice(eq + 1));
    } else if (kind === 'unit') {
      const s = out.get(id);
      if (s) {
        s.unitActive = a ?? '';
        s.unitStale = b === '1';
      }
    }
  }
  return out;
}

export interface EnvWrite {
  id: string;
  path: string;
  /** The unix user that owns the file (the service's user; root when it declares none). */
  owner: string;
  values: Record<ManagedVar, string>;
  /** Same values, new owner or mode: keep the file's time, so a running process is not judged older than its credentials. */
  keepTime?: boolean;
}

/**
 * The rewrite of one env file, as the account ma_env_as chose (root or the service's user):
 * every line but the managed ones (and the marker) kept in order, the managed block (on stdin)
 * appended, into a fresh temporary file renamed over the old one; the backup is a fresh file
 * renamed over the old backup, so a link planted at either name is replaced, never followed.
 */
const WRITE_BODY = `set -u
umask 077
f=$1; bak=$2; marker=$3; owner=$4; keep_time=$5
d=$(dirname -- "$f")
# A directory it makes is 0755 (the service user must reach its file in it); the files are 0600.
(umask 022 && mkdir -p -- "$d") 2>/dev/null || { echo "cannot create $d"; exit 1; }
if [ -L "$f" ]; then echo "$f is a symlink: not written"; exit 1; fi
tmp=$(mktemp "$d/.manage-apps-env.XXXXXX" 2>/dev/null) || { echo "cannot write in $d"; exit 1; }
bt=''
trap 'rm -f -- "$tmp" $bt' EXIT
if [ -f "$f" ]; then
  bt=$(mktemp "$d/.manage-apps-bak.XXXXXX") && cat -- "$f" > "$bt" && mv -f -- "$bt" "$bak" || { echo "cannot back up the env file"; exit 1; }
  bt=''
  awk -v m="$marker" '!/^(${KEYS})=/ && $0 != m' "$f" > "$tmp" || { echo "cannot read the env file"; exit 1; }
fi
cat >> "$tmp" || { echo "cannot write the env file"; exit 1; }
if [ "$owner" != - ]; then chown -- "$owner:" "$tmp" 2>/dev/null || { echo "user $owner does not exist on this host"; exit 1; }; fi
# Same values, a new owner or mode: the file keeps its time (a running process is not older than its credentials).
if [ "$keep_time" = 1 ] && [ -f "$f" ]; then touch -r "$f" -- "$tmp" 2>/dev/null || true; fi
mv -f -- "$tmp" "$f" || { echo "cannot replace the env file"; exit 1; }
`;

/** Rewrites each env file (see WRITE_BODY). Wrapped in functions so nothing runs before the whole script arrived. */
export function envWriteScript(writes: readonly EnvWrite[]): string {
  const parts = writes.map((w, i) => {
    const f = quote(validName('path', w.path));
    const owner = quote(validName('user', w.owner));
    const managed = `${ENV_MARKER}\n${MANAGED_VARS.map((k) => `${k}=${w.values[k]}`).join('\n')}\n`;
    const args = `${f} ${quote(`${w.path}.manage-apps.bak`)} ${quote(ENV_MARKER)}`;
    return `write_${i}() {
case $(ma_env_as ${f} ${owner}) in
  root) out=$(${heredoc(`$SUDO sh -c ${quote(WRITE_BODY)} sh ${args} ${owner} ${w.keepTime ? 1 : 0} 2>&1`, managed, 'MA_ENV')}
) ;;
  user) out=$(${heredoc(`ma_as_user ${owner} sh -c ${quote(WRITE_BODY)} sh ${args} - ${w.keepTime ? 1 : 0} 2>&1`, managed, 'MA_ENV')}
) ;;
  *) printf '@@fail\\t%s\\t%s\\n' ${quote(w.id)} ${quote(`a directory on the path of ${w.path} is writable by an account other than root (or is a link), and the service runs as root: not written (declare service.user, or keep the env file in a directory only root can write)`)}; return 1 ;;
esac
rc=$?
if [ "$rc" = 0 ]; then printf '@@written\\t%s\\n' ${quote(w.id)}; else printf '@@fail\\t%s\\t%s\\n' ${quote(w.id)} "$(printf '%s' "$out" | tr '\\n\\t' '  ' | cut -c1-300)"; return 1; fi
}
write_${i}`;
  });
  return `${PRELUDE}${ENV_PRELUDE}main() {\n${parts.join('\n')}\n}\nmain\n`;
}

export function parseEnvWrite(output: string): Map<string, { ok: boolean; error?: string }> {
  const out = new Map<string, { ok: boolean; error?: string }>();
  for (const [kind, id, msg] of records(output)) {
    if (id === undefined) continue;
    if (kind === 'written') out.set(id, { ok: true });
    if (kind === 'fail') out.set(id, { ok: false, error: msg ?? 'failed' });
  }
  return out;
}

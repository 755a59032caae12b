/**
 * The app's side of its database credentials: the service's env_file on the service's host.
 * manage-apps owns six variables there (DATABASE_URL and the libpq PG* set) and keeps every
 * other line. The file is written 0600, owned by the service user, atomically (temporary file
 * + rename), with a backup of the previous one; values travel in a here-document on the
 * script's stdin, never in argv.
 */
import { isIP } from 'node:net';
import { PRELUDE, records } from '../runtime/shell.js';
import { quote, validName } from '../transport/quote.js';
import { heredoc } from './postgres.js';

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
  unit?: string;
}

export interface EnvFileState {
  id: string;
  state: 'absent' | 'file' | 'symlink' | 'other';
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

/** One script per service host: which of the managed variables each env file holds, and whether each unit runs. */
export function envInspectScript(targets: readonly EnvTarget[]): string {
  const parts = targets.map((t) => {
    const f = quote(validName('path', t.path));
    const id = quote(t.id);
    return `if [ -L ${f} ]; then printf '@@env\\t%s\\tsymlink\\n' ${id}
elif [ -f ${f} ]; then
  printf '@@env\\t%s\\tfile\\t%s\\n' ${id} "$($SUDO stat -c '%U\t%a' -- ${f} 2>/dev/null)"
  $SUDO grep -E '^(${KEYS})=' -- ${f} 2>/dev/null | while IFS= read -r line; do printf '@@var\\t%s\\t%s\\n' ${id} "$line"; done
elif [ -e ${f} ]; then printf '@@env\\t%s\\tother\\n' ${id}
else printf '@@env\\t%s\\tabsent\\n' ${id}; fi
${t.unit === undefined ? '' : unitPart(t.id, t.path, t.unit)}`;
  });
  return `${PRELUDE}main() {\n${parts.join('\n')}\n}\nmain\n`;
}

const unquote = (v: string) => (v.length >= 2 && ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'"))) ? v.slice(1, -1) : v);

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
}

/**
 * Rewrites each env file: every line but the managed ones (and the marker) kept in order, the
 * managed block appended. Wrapped in functions so nothing runs before the whole script arrived.
 */
export function envWriteScript(writes: readonly EnvWrite[]): string {
  const parts = writes.map((w, i) => {
    const f = quote(validName('path', w.path));
    const managed = `${ENV_MARKER}\n${MANAGED_VARS.map((k) => `${k}=${w.values[k]}`).join('\n')}\n`;
    const fail = (msg: string) => `{ printf '@@fail\\t%s\\t%s\\n' ${quote(w.id)} ${msg}; $SUDO rm -f -- "$tmp"; return 1; }`;
    return `write_${i}() {
tmp=''
if [ -L ${f} ]; then printf '@@fail\\t%s\\t%s is a symlink: not written\\n' ${quote(w.id)} ${f}; return 1; fi
d=$(dirname -- ${f})
$SUDO mkdir -p -- "$d" || ${fail(`"cannot create $d"`)}
tmp=$($SUDO mktemp "$d/.manage-apps-env.XXXXXX") || ${fail(`"cannot write in $d"`)}
$SUDO chmod 600 -- "$tmp"
if [ -f ${f} ]; then
  $SUDO cp -p -- ${f} ${quote(`${w.path}.manage-apps.bak`)} && $SUDO chmod 600 -- ${quote(`${w.path}.manage-apps.bak`)} || ${fail('"cannot back up the env file"')}
  $SUDO sh -c 'awk -v m="$3" '"'"'!/^(${KEYS})=/ && $0 != m'"'"' "$1" > "$2"' sh ${f} "$tmp" ${quote(ENV_MARKER)} || ${fail('"cannot read the env file"')}
fi
${heredoc(`$SUDO sh -c 'cat >> "$1"' sh "$tmp"`, managed, 'MA_ENV', ` || ${fail('"cannot write the env file"')}`)}
$SUDO chown -- ${quote(`${validName('user', w.owner)}:`)} "$tmp" || ${fail(`"user ${w.owner} does not exist on this host"`)}
$SUDO mv -f -- "$tmp" ${f} || ${fail('"cannot replace the env file"')}
printf '@@written\\t%s\\n' ${quote(w.id)}
}
write_${i}`;
  });
  return `${PRELUDE}main() {\n${parts.join('\n')}\n}\nmain\n`;
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

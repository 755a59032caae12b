/**
 * PostgreSQL on a cluster host: the scripts manage-apps runs there and the parsers for what
 * they print. The admin side is the host's own `postgres` account through peer authentication
 * on the local socket (`runuser -u postgres`, or `sudo -n -u postgres` for a non-root ssh user):
 * there is no admin password anywhere. SQL travels in here-documents on the script's stdin,
 * never in argv.
 */
import { WRITTEN_FUNCTION } from '../runtime/fingerprint.js';
import { heredoc, quote } from '../transport/quote.js';
import { records, sections } from '../runtime/shell.js';
import { PINNED_PGOPTIONS } from './backup-scripts.js';

/**
 * `ma_as_pg CMD…`: runs CMD as the cluster's `postgres` account, from / (its home may be unreadable).
 * `ma_psql PORT DB …`: psql as the superuser, its search path pinned to pg_catalog (an app that
 * owns a database can set that database's search_path, and define functions and operators in it).
 */
export const PG_PRELUDE = String.raw`set -u
export LC_ALL=C
TAB=$(printf '\t')
ma_as_pg() {
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else (cd / && sudo -n -u postgres "$@"); fi
}
ma_psql() {
  port=$1; db=$2; shift 2
  ma_as_pg env PGOPTIONS='${PINNED_PGOPTIONS}' psql -X -q -A -t -F "$TAB" -v ON_ERROR_STOP=1 -p "$port" -d "$db" "$@"
}
`;

/** An identifier in double quotes (names are validated before; this is the second fence). */
export const ident = (name: string): string => `"${name.replace(/"/g, '""')}"`;
/** A string literal (standard_conforming_strings is on since 9.1: only ' needs doubling). */
export const literal = (value: string): string => `'${value.replace(/'/g, "''")}'`;

export interface RoleState {
  name: string;
  superuser: boolean;
  createdb: boolean;
  createrole: boolean;
  login: boolean;
  replication: boolean;
  bypassrls: boolean;
  /** The stored verifier (SCRAM-SHA-256$…), '' for none or not fetched. Never printed, never in --json. */
  verifier: string;
  /** The roles it is a member of (pg_read_all_data, another app's role, …). */
  memberOf: string[];
}

export interface DatabaseState {
  name: string;
  owner: string;
  bytes: number;
  connections: number;
  publicConnect: boolean;
}

export interface ClusterState {
  cluster: string;
  ok: boolean;
  error?: string;
  version?: string;
  hbaFile?: string;
  hba?: string;
  hbaSha?: string;
  roles: Map<string, RoleState>;
  databases: Map<string, DatabaseState>;
  /** Non-superuser login roles that may connect to a database (role → databases). */
  access: Map<string, string[]>;
}

/**
 * What provision and status read, as the superuser in the `postgres` database: every name
 * qualified (the search path is pinned too). A stored password verifier is fetched only for the
 * roles the caller names (the declared users provision compares against their env files), and
 * never a superuser's: nothing else's leaves the cluster host.
 */
function inspectSql(verifiersFor: readonly string[]): string {
  const wanted =
    verifiersFor.length === 0 ? 'false' : `r.rolname OPERATOR(pg_catalog.=) ANY (ARRAY[${verifiersFor.map(literal).join(', ')}]::pg_catalog.name[])`;
  return `SET search_path = pg_catalog, pg_temp;
SELECT '@@server', pg_catalog.current_setting('server_version'), pg_catalog.current_setting('hba_file');
SELECT '@@role', r.rolname, r.rolsuper, r.rolcreatedb, r.rolcreaterole, r.rolcanlogin, r.rolreplication, r.rolbypassrls, CASE WHEN ${wanted} AND NOT r.rolsuper THEN coalesce(r.rolpassword, ''::pg_catalog.text) ELSE ''::pg_catalog.text END FROM pg_catalog.pg_authid r WHERE r.rolname::pg_catalog.text OPERATOR(pg_catalog.!~) '^pg_'::pg_catalog.text ORDER BY r.rolname;
SELECT '@@member', m.rolname, g.rolname FROM pg_catalog.pg_auth_members a JOIN pg_catalog.pg_roles m ON m.oid OPERATOR(pg_catalog.=) a.member JOIN pg_catalog.pg_roles g ON g.oid OPERATOR(pg_catalog.=) a.roleid ORDER BY 2, 3;
SELECT '@@db', d.datname, pg_catalog.pg_get_userbyid(d.datdba), pg_catalog.pg_database_size(d.oid), coalesce(s.numbackends, 0), pg_catalog.has_database_privilege('public'::pg_catalog.name, d.datname::pg_catalog.text, 'CONNECT'::pg_catalog.text) FROM pg_catalog.pg_database d LEFT JOIN pg_catalog.pg_stat_database s ON s.datid OPERATOR(pg_catalog.=) d.oid WHERE NOT d.datistemplate ORDER BY d.datname;
SELECT '@@access', r.rolname, d.datname FROM pg_catalog.pg_roles r CROSS JOIN pg_catalog.pg_database d WHERE r.rolcanlogin AND NOT r.rolsuper AND NOT d.datistemplate AND pg_catalog.has_database_privilege(r.oid, d.oid, 'CONNECT'::pg_catalog.text) ORDER BY 2, 3;
`;
}

export interface ClusterRef {
  name: string;
  port: number;
  /** Roles whose stored password verifier inspect fetches (never a superuser's). */
  verifiersFor?: readonly string[];
}

/** One script for every cluster on a host: roles, databases, access, and its pg_hba.conf (content and checksum). */
export function inspectScript(clusters: readonly ClusterRef[]): string {
  const parts = clusters.map((c) => {
    const sql = heredoc(`ma_psql ${c.port} postgres 2>&1`, inspectSql(c.verifiersFor ?? []), 'MA_SQL');
    return `printf '@@cluster\\t%s\\n' ${quote(c.name)}
if out=$(${sql}
); then
  printf '%s\\n' "$out"
  hba=$(printf '%s\\n' "$out" | sed -n 's/^@@server\\t[^\\t]*\\t//p')
  printf '@@hbasha\\t%s\\n' "$(ma_as_pg sha256sum -- "$hba" | cut -c1-64)"
  printf '@@begin\\thba:%s\\n' ${quote(c.name)}
  ma_as_pg cat -- "$hba"
  printf '@@end\\n'
else
  printf '@@down\\t%s\\n' "$(printf '%s' "$out" | tr '\\n\\t' '  ' | cut -c1-300)"
fi`;
  });
  return `${PG_PRELUDE}main() {\n${parts.join('\n')}\n}\nmain\n`;
}

const bool = (v: string | undefined) => v === 't';

export function parseInspect(output: string): Map<string, ClusterState> {
  const out = new Map<string, ClusterState>();
  const texts = sections(output);
  let current: ClusterState | undefined;
  for (const r of records(output)) {
    const [kind, ...f] = r;
    if (kind === 'cluster') {
      current = { cluster: f[0] ?? '', ok: true, roles: new Map(), databases: new Map(), access: new Map() };
      out.set(current.cluster, current);
      const hba = texts.get(`hba:${current.cluster}`);
      if (hba !== undefined) current.hba = hba;
      continue;
    }
    if (!current) continue;
    if (kind === 'down') {
      current.ok = false;
      current.error = (f[0] ?? '').trim() || 'psql failed';
    } else if (kind === 'server') {
      current.version = f[0];
      current.hbaFile = f[1];
    } else if (kind === 'hbasha') current.hbaSha = f[0];
    else if (kind === 'role' && f[0]) {
      current.roles.set(f[0], {
        name: f[0],
        superuser: bool(f[1]),
        createdb: bool(f[2]),
        createrole: bool(f[3]),
        login: bool(f[4]),
        replication: bool(f[5]),
        bypassrls: bool(f[6]),
        verifier: f[7] ?? '',
        memberOf: [],
      });
    } else if (kind === 'member' && f[0] && f[1]) {
      current.roles.get(f[0])?.memberOf.push(f[1]);
    } else if (kind === 'db' && f[0]) {
      current.databases.set(f[0], {
        name: f[0],
        owner: f[1] ?? '',
        bytes: Number(f[2] ?? 0),
        connections: Number(f[3] ?? 0),
        publicConnect: bool(f[4]),
      });
    } else if (kind === 'access' && f[0] && f[1]) {
      current.access.set(f[0], [...(current.access.get(f[0]) ?? []), f[1]]);
    }
  }
  return out;
}

export interface ClusterChange {
  cluster: ClusterRef;
  /** Statements, each on its own (CREATE DATABASE cannot run in a transaction block). */
  sql: string[];
  /** The new pg_hba.conf, with the checksum of the file it was computed from (refused if the file changed since). */
  hba?: { file: string; content: string; expectSha: string };
}

/**
 * Applies the SQL, then the pg_hba.conf: backup next to it (`<file>.manage-apps.bak`), a
 * temporary copy with the original's owner and mode, checked by the server's own parser
 * (pg_hba_file_rules) before it replaces the file, then `pg_reload_conf()` (never a restart).
 * Wrapped in a function so nothing runs until the whole script has arrived.
 */
export function applyScript(changes: readonly ClusterChange[]): string {
  const parts = changes.map((c) => {
    const lines = [`printf '@@cluster\\t%s\\n' ${quote(c.cluster.name)}`];
    if (c.sql.length > 0) {
      lines.push(
        `if ! err=$(${heredoc(`ma_psql ${c.cluster.port} postgres 2>&1`, `${c.sql.join('\n')}\n`, 'MA_SQL')}\n); then printf '@@fail\\tsql\\t%s\\n' "$(printf '%s' "$err" | tr '\\n\\t' '  ' | cut -c1-400)"; return 1; fi`,
        `printf '@@sql\\tok\\n'`,
      );
    }
    if (c.hba) {
      const f = quote(c.hba.file);
      lines.push(
        `cur=$(ma_as_pg sha256sum -- ${f} | cut -c1-64)`,
        `if [ "$cur" != ${quote(c.hba.expectSha)} ]; then printf '@@fail\\thba\\t%s changed while provisioning: run again\\n' ${f}; return 1; fi`,
        `ma_as_pg cp -p -- ${f} ${quote(`${c.hba.file}.manage-apps.bak`)} || { printf '@@fail\\thba\\tcannot back up %s\\n' ${f}; return 1; }`,
        `tmp=${quote(`${c.hba.file}.manage-apps.tmp`)}`,
        `ma_as_pg cp -p -- ${f} "$tmp" || { printf '@@fail\\thba\\tcannot write next to %s\\n' ${f}; return 1; }`,
        heredoc(
          `ma_as_pg sh -c 'cat > "$1"' sh "$tmp"`,
          c.hba.content,
          'MA_HBA',
          ` || { printf '@@fail\\thba\\tcannot write %s\\n' "$tmp"; return 1; }`,
        ),
        // Parse the candidate: pg_hba_file_rules reads the live file, so swap, check, and swap back on an error.
        `ma_as_pg mv -f -- "$tmp" ${f}`,
        `bad=$(ma_psql ${c.cluster.port} postgres -c "SELECT pg_catalog.concat(line_number, ': ', error) FROM pg_catalog.pg_hba_file_rules WHERE error IS NOT NULL" 2>&1)`,
        `if [ -n "$bad" ]; then ma_as_pg cp -p -- ${quote(`${c.hba.file}.manage-apps.bak`)} ${f}; printf '@@fail\\thba\\tthe new pg_hba.conf does not parse (restored): %s\\n' "$(printf '%s' "$bad" | tr '\\n\\t' '  ' | cut -c1-300)"; return 1; fi`,
        `ma_psql ${c.cluster.port} postgres -c 'SELECT pg_catalog.pg_reload_conf()' >/dev/null || { printf '@@fail\\thba\\treload failed\\n'; return 1; }`,
        // What was written, kept on the host: drift tells a hand edit of the block from a changed declaration by it.
        `ma_written ${f}`,
        `printf '@@hba\\tupdated\\n'`,
      );
    }
    return `apply_${c.cluster.name.replace(/[^A-Za-z0-9_]/g, '_')}() {\n${lines.join('\n')}\n}\napply_${c.cluster.name.replace(/[^A-Za-z0-9_]/g, '_')} || printf '@@failed\\t%s\\n' ${quote(c.cluster.name)}`;
  });
  return `${PG_PRELUDE}${WRITTEN_FUNCTION}\nmain() {\n${parts.join('\n')}\nprintf '@@done\\n'\n}\nmain\n`;
}

export interface ApplyOutcome {
  ok: boolean;
  error?: string;
  hbaUpdated: boolean;
}

export function parseApply(output: string): Map<string, ApplyOutcome> {
  const out = new Map<string, ApplyOutcome>();
  let current: ApplyOutcome | undefined;
  for (const [kind, ...f] of records(output)) {
    if (kind === 'cluster') {
      current = { ok: true, hbaUpdated: false };
      out.set(f[0] ?? '', current);
    } else if (!current) continue;
    else if (kind === 'fail') {
      current.ok = false;
      current.error = `${f[0] === 'sql' ? 'SQL failed: ' : ''}${(f[1] ?? '').trim()}`;
    } else if (kind === 'hba') current.hbaUpdated = true;
  }
  return out;
}

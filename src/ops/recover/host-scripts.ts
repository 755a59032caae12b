/**
 * The host side of a recovery. Builders only (the caller runs them, ops/recover/execute.ts):
 *
 *   - on the backup's target host: one database's dump of a cataloged backup, written to stdout
 *     as it is stored (restic dump, or the file), the way the drill reads it;
 *   - on the recovery target: that dump read from stdin into a fresh database owned by the
 *     app's role, and every table counted, as the drill does (its sha256 is taken by this
 *     machine as the bytes pass through it: recover/stream.ts). The
 *     restore logs in as the app's own role over loopback (its password the first line of
 *     stdin), never as the superuser: a superuser's session with `pg_restore --role` is no
 *     boundary, since the app's code the restore runs (a check constraint's function) can
 *     `RESET ROLE` (docs/threat-model.md). The count runs as the superuser, which RLS policies
 *     (the app's code) do not apply to, and searches pg_catalog only (COUNT_SQL).
 */
import { BACKUP_BASE, COUNT_SQL, PINNED_PGOPTIONS } from '../../data/backup-scripts.js';
import { ident } from '../../data/postgres.js';
import { PRELUDE } from '../../runtime/shell.js';
import { quote } from '../../transport/quote.js';

const PG_NAME = /^[a-z_][a-z0-9_]*$/;
const SAFE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

function checked(what: string, value: string, pattern: RegExp): string {
  if (!pattern.test(value)) throw new Error(`bad ${what} ${JSON.stringify(value)}`);
  return value;
}

function checkedPort(port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`bad port ${port}`);
}

/** The stored dump of `db` in backup `id` of `cluster`, on stdout, unchanged. Exit 3: not found. */
export function readDumpScript(cluster: string, id: string, db: string, snapshot: string): string {
  const c = checked('cluster', cluster, SAFE);
  const i = checked('backup id', id, SAFE);
  const d = checked('database', db, PG_NAME);
  const s = checked('snapshot', snapshot, /^[0-9a-f]*$/);
  const body = `set -eu
base=${BACKUP_BASE}/${c}
method=$(cat "$base/method" 2>/dev/null || echo files)
export RESTIC_REPOSITORY="$base/restic" RESTIC_PASSWORD_FILE="$base/restic.pass" RESTIC_CACHE_DIR="$base/.cache"
if [ "$method" = restic ]; then exec restic dump --quiet ${quote(s)} ${quote(`/${i}-${d}.dump`)}; fi
[ -f "$base/files/${i}/${d}.dump" ] || { echo "no dump of ${d} in backup ${i} on this host" >&2; exit 3; }
exec cat -- "$base/files/${i}/${d}.dump"`;
  return `${PRELUDE}exec $SUDO sh -c ${quote(body)}\n`;
}

/**
 * Reads the owner's password (the first line of stdin, read by the shell: never argv, never a
 * file), then a dump on stdin into database `db` of the cluster on `port` (dropped and created
 * again, owned by `owner`: a restore cut midway is redone from nothing), restored as `owner`. Records:
 * @@restored<TAB>pg_restore exit<TAB>ms<TAB>error, @@tables<TAB>json|null.
 */
export function restoreDumpScript(port: number, db: string, owner: string): string {
  const d = checked('database', db, PG_NAME);
  const o = checked('role', owner, PG_NAME);
  checkedPort(port);
  const body =
    String.raw`set -uo pipefail
umask 077
port=$1
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[[ -n $bin && -x $bin/pg_restore ]] || { printf '@@error\tno PostgreSQL client binaries on this host\n'; exit 0; }
IFS= read -r pw || { printf '@@error\tno password on stdin\n'; exit 0; }
as_pg() { (cd / && runuser -u postgres -- "$@"); }
sql() { as_pg env PGOPTIONS='${PINNED_PGOPTIONS}' "$bin/psql" -p "$port" -X -q -A -t -F $'\t' -v ON_ERROR_STOP=1 "$@"; }
work=$(mktemp -d /tmp/manage-apps-recover.XXXXXX) || { printf '@@error\tcannot create a private directory in /tmp\n'; exit 0; }
trap 'rm -rf -- "$work"' EXIT
now_ms() { date +%s%3N; }
t0=$(now_ms)
sql -d postgres -c ${quote(`DROP DATABASE IF EXISTS ${ident(d)} WITH (FORCE)`)} >/dev/null 2>"$work/err" &&
  sql -d postgres -c ${quote(`CREATE DATABASE ${ident(d)} OWNER ${ident(o)}`)} >/dev/null 2>>"$work/err" ||
  { printf '@@error\tcannot create the database: %s\n' "$(head -c 300 "$work/err" | tr '\n\t' '  ')"; exit 0; }
PGPASSWORD="$pw" PGPASSFILE=/dev/null PGCONNECT_TIMEOUT=10 "$bin/pg_restore" -h 127.0.0.1 -p "$port" -U ${quote(o)} -d ${quote(d)} --no-owner --no-acl --no-comments --no-publications --no-subscriptions --no-security-labels --exit-on-error 2>"$work/restore.err"
rc=$?
unset pw
tables=$(sql -d ${quote(d)} -c ${quote(COUNT_SQL)} 2>/dev/null | sed -n 's/^@@tables\t//p')
printf '@@restored\t%s\t%s\t%s\n' "$rc" "$(( $(now_ms) - t0 ))" "$(grep -v '^$' "$work/restore.err" | head -c 300 | tr '\n\t' '  ')"
printf '@@tables\t%s\n' "$` +
    '{tables:-null}' +
    String.raw`"
`;
  return `${PRELUDE}$SUDO bash -c ${quote(body)} bash ${port}\n`;
}

/** Whether a PostgreSQL cluster answers on `port` on this host. Records: @@cluster<TAB>up|down<TAB>detail. */
export function clusterUpScript(port: number): string {
  checkedPort(port);
  return `${PRELUDE}if out=$(cd / && $SUDO runuser -u postgres -- psql -X -q -A -t -p ${port} -d postgres -c 'SELECT 1' 2>&1); then printf '@@cluster\\tup\\n'; else printf '@@cluster\\tdown\\t%s\\n' "$(printf '%s' "$out" | head -c 200 | tr '\\n\\t' '  ')"; fi
`;
}

/**
 * The programs `backups install` puts on the hosts, so that a backup runs the same way from
 * `backups run` and from the systemd timer with the operator offline:
 *
 * - on the cluster host, `/usr/local/lib/manage-apps/pg-backup` (bash), run by the unit
 *   `manage-apps-backup@<cluster>.service` as the `postgres` account: per database, one
 *   REPEATABLE READ transaction exports its snapshot, counts every table's rows inside it, and
 *   `pg_dump --snapshot` dumps exactly that state, streamed over ssh straight to the target
 *   host (never through the operator's machine);
 * - on the target host, `/usr/local/lib/manage-apps/backup-receive` (bash), the forced command
 *   of the one key the cluster host holds: it can store a dump, append a catalog entry and read
 *   the catalog for its own cluster, nothing else (no shell, no forwarding: `restrict`).
 *
 * Dumps go into a restic repository on the target when the method names restic (its password
 * file is generated there and never leaves it), else into plain files; the catalog
 * (`catalog.jsonl`) gets an entry only after every dump of the run is stored, so a run killed
 * halfway leaves the previous entry the newest.
 */

import { hardenedLines } from '../render/hardening.js';

export const LIB_DIR = '/usr/local/lib/manage-apps';
export const BACKUP_BASE = '/var/backups/manage-apps';
export const CONF_DIR = '/etc/manage-apps/backup';
export const STATE_DIR = '/var/lib/manage-apps/backup';
export const KEY_DIR = '/var/lib/manage-apps/backup/ssh';
/** A declared check query's statement timeout in the drill. */
export const CHECK_TIMEOUT_S = 60;

/**
 * What every psql session manage-apps opens as the superuser inside a database starts with
 * (PGOPTIONS, applied at connection start over any `ALTER DATABASE … SET` the database's owner
 * made): only pg_catalog is searched, and pg_temp last, so no function, operator or type an app
 * defined in its schemas can be the better match for a name (issue: an app's
 * `public.format(text, name, name)` ran as the superuser inside the count query).
 */
export const PINNED_PGOPTIONS = '-c search_path=pg_catalog,pg_temp';

/**
 * Exact row counts of every ordinary table, as one JSON object, inside the current transaction's
 * snapshot. It runs as the superuser in a database an app owns: besides the pinned search_path,
 * every function, operator and type is named with its schema (pg_catalog), so it resolves the
 * same even if the search path were not pinned; the per-table count runs through
 * pg_catalog.query_to_xml with the same pinned path.
 */
export const COUNT_SQL = `SET search_path = pg_catalog, pg_temp; SELECT '@@tables', coalesce(pg_catalog.json_object_agg(n.nspname::pg_catalog.text OPERATOR(pg_catalog.||) '.'::pg_catalog.text OPERATOR(pg_catalog.||) c.relname::pg_catalog.text, ((pg_catalog.xpath('/row/c/text()'::pg_catalog.text, pg_catalog.query_to_xml(pg_catalog.format('SELECT pg_catalog.count(*) AS c FROM %I.%I'::pg_catalog.text, n.nspname, c.relname), false, true, ''::pg_catalog.text)))[1])::pg_catalog.text::pg_catalog.int8 ORDER BY n.nspname, c.relname), '{}'::pg_catalog.json) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace WHERE c.relkind OPERATOR(pg_catalog.=) 'r'::pg_catalog."char" AND n.nspname OPERATOR(pg_catalog.<>) 'pg_catalog'::pg_catalog.name AND n.nspname OPERATOR(pg_catalog.<>) 'information_schema'::pg_catalog.name AND n.nspname::pg_catalog.text OPERATOR(pg_catalog.!~) '^pg_toast'::pg_catalog.text;`;

export const RECEIVE_SCRIPT = String.raw`#!/bin/bash
# manage-apps backup receiver: the forced command of a cluster host's backup key (see docs/data.md).
set -euo pipefail
umask 077
cluster=${'$'}{1:?cluster}
[[ $cluster =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || { echo "bad cluster name" >&2; exit 2; }
base=${BACKUP_BASE}/$cluster
read -r verb a1 a2 a3 extra <<<"${'$'}{SSH_ORIGINAL_COMMAND:-}" || true
name() { [[ ${'$'}{1:-} =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || { echo "bad name: ${'$'}{1:-}" >&2; exit 2; }; }
mkdir -p "$base"
method=$(cat "$base/method" 2>/dev/null || echo files)
export RESTIC_REPOSITORY="$base/restic" RESTIC_PASSWORD_FILE="$base/restic.pass" RESTIC_CACHE_DIR="$base/.cache"
# Fault-injection hold point (the fault tests): while $base/hold names the step, wait there.
hold() { [[ -f $base/hold && $(cat "$base/hold" 2>/dev/null) == "$1" ]] || return 0; touch "$base/held"; while [[ -f $base/hold ]]; do sleep 0.1; done; rm -f "$base/held"; }
# What a run cut earlier left behind, removed at the start of the next one (a cluster's runs are
# one at a time: one systemd unit on the cluster host, so nothing here is in use now): a receiver
# whose connection died unnoticed, its temporary files, dumps of runs that never reached the
# catalog (files), and their restic snapshots (forgotten; restic prune releases the data).
prune() {
  local f p n=0 i sid id left=() alive
  for f in "$base"/.store.*.pgid; do
    [[ -f $f ]] || continue
    p=$(cat "$f" 2>/dev/null); [[ $p =~ ^[0-9]+$ ]] && kill -TERM -- "-$p" 2>/dev/null && left+=("$p")
  done
  for i in $(seq 50); do
    alive=0; for p in "${'$'}{left[@]}"; do kill -0 -- "-$p" 2>/dev/null && alive=1; done
    (( alive )) || break; sleep 0.1
  done
  rm -f "$base"/.store.*
  if [[ -d $base/files ]]; then
    for f in "$base"/files/*; do
      [[ -d $f ]] || continue
      id=${'$'}{f##*/}
      grep -qF "\"id\":\"$id\"" "$base/catalog.jsonl" || { rm -rf -- "$f"; n=$((n + 1)); }
    done
  fi
  if [[ $method == restic && -f $base/restic/config ]]; then
    restic unlock --quiet >/dev/null 2>&1 || true
    local orphans=()
    for sid in $(restic snapshots --json --quiet 2>/dev/null | grep -o '"short_id":"[0-9a-f]*"' | cut -d'"' -f4); do
      grep -qF "\"restic_snapshot\":\"$sid" "$base/catalog.jsonl" || orphans+=("$sid")
    done
    if (( ${'$'}{#orphans[@]} > 0 )); then restic forget --quiet "${'$'}{orphans[@]}" >/dev/null 2>&1 && n=$((n + ${'$'}{#orphans[@]})); fi
  fi
  printf '@@pruned\t%s\n' "$n"
}
case $verb in
  init)
    name "$a1"; [[ $a1 == restic || $a1 == files ]] || { echo "unknown method $a1" >&2; exit 2; }
    echo "$a1" > "$base/method.tmp" && mv -f "$base/method.tmp" "$base/method"
    if [[ $a1 == restic && ! -f $base/restic/config ]]; then
      [[ -s $base/restic.pass ]] || head -c 32 /dev/urandom | base64 > "$base/restic.pass"
      restic init --quiet >/dev/null
    fi
    touch "$base/catalog.jsonl"
    prune
    echo "@@ready"
    ;;
  store)
    name "$a1"; name "$a2"
    t=$(mktemp "$base/.store.XXXXXX")
    trap 'rm -f "$t" "$t.sha" "$t.pgid"' EXIT
    ps -o pgid= -p $$ | tr -d ' ' > "$t.pgid"
    if [[ $method == restic ]]; then
      tee >(sha256sum | cut -c1-64 > "$t.sha") | restic backup --quiet --json --stdin --stdin-filename "$a1-$a2.dump" --tag "manage-apps,$a1" > "$t"
      snap=$(sed -n 's/.*"snapshot_id":"\([0-9a-f]*\)".*/\1/p' "$t" | tail -n 1)
      bytes=$(sed -n 's/.*"total_bytes_processed":\([0-9]*\).*/\1/p' "$t" | tail -n 1)
    else
      mkdir -p "$base/files/$a1"
      tee >(sha256sum | cut -c1-64 > "$t.sha") > "$base/files/$a1/$a2.dump.partial"
      mv -f "$base/files/$a1/$a2.dump.partial" "$base/files/$a1/$a2.dump"
      snap=''; bytes=$(stat -c %s "$base/files/$a1/$a2.dump")
    fi
    for i in $(seq 200); do [[ -s $t.sha ]] && break; sleep 0.05; done
    printf '@@stored\t%s\t%s\t%s\t%s\n' "$a2" "${'$'}{bytes:-0}" "$(cat "$t.sha")" "$snap"
    ;;
  commit)
    IFS= read -r line
    [[ $line == '{'*'}' && $line != *$'\r'* ]] || { echo "not one JSON line" >&2; exit 2; }
    hold commit
    # A new catalog beside the old one, then a rename: a reader sees the old catalog or the new one, never half a line.
    cp -p "$base/catalog.jsonl" "$base/catalog.jsonl.tmp" && printf '%s\n' "$line" >> "$base/catalog.jsonl.tmp" && mv -f "$base/catalog.jsonl.tmp" "$base/catalog.jsonl"
    echo "@@committed"
    ;;
  catalog)
    cat "$base/catalog.jsonl" 2>/dev/null || true
    ;;
  *) echo "unknown request" >&2; exit 2 ;;
esac
`;

export const BACKUP_SCRIPT = String.raw`#!/bin/bash
# manage-apps PostgreSQL backup of one cluster (see docs/data.md); run as postgres by
# manage-apps-backup@<cluster>.service, from the timer or from 'manage-apps backups run'.
set -uo pipefail
umask 077
cluster=${'$'}{1:?cluster}
[[ $cluster =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || { echo "bad cluster name" >&2; exit 2; }
. "${CONF_DIR}/$cluster.conf"
state=${STATE_DIR}/$cluster
mkdir -p "$state"
started=$(date +%s%3N)
stamp=$(date -u +%Y%m%dT%H%M%S%3NZ)
to_target() {
  ssh -T -i "$KEY" -o IdentitiesOnly=yes -o UserKnownHostsFile="$KNOWN_HOSTS" -o GlobalKnownHostsFile=/dev/null \
    -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=10 -o ServerAliveInterval=5 -o ServerAliveCountMax=3 \
    -p "$TARGET_PORT" "$TARGET_USER@$TARGET_ADDR" "$@"
}
# The run's record for 'status' and 'backups --live': running.json when it starts, last.json when
# it ends (ok or not), last-ok.json when it succeeded; each written beside and renamed.
record() { printf '%s\n' "$2" > "$state/$1.tmp" && mv -f "$state/$1.tmp" "$state/$1"; }
record running.json "{\"id\":\"$stamp\",\"time\":\"$(date -u +%FT%TZ)\"}"
fail() {
  record last.json "$(printf '{"id":"%s","cluster":"%s","ok":false,"error":"%s","time":"%s","finished":"%s"}' "$stamp" "$cluster" "$(printf '%s' "$1" | tr -d '"\\\000-\037' | cut -c1-300)" "$(date -u -d @$((started / 1000)) +%FT%TZ)" "$(date -u +%FT%TZ)")"
  echo "backup of $cluster failed: $1" >&2
  exit 1
}
# Fault-injection hold point (the fault tests): while $state/hold names the step, wait there.
hold() { [[ -f $state/hold && $(cat "$state/hold" 2>/dev/null) == "$1" ]] || return 0; touch "$state/held"; while [[ -f $state/hold ]]; do sleep 0.1; done; rm -f "$state/held"; }
to_target init "$METHOD" | grep -q '^@@ready' || fail "the target $TARGET_ADDR did not accept the backup (init)"
work=$(mktemp -d)
trap 'exec 3>&- 2>/dev/null; rm -rf "$work"' EXIT
dbs_json=''
for db in $DATABASES; do
  mkfifo "$work/in"
  PGOPTIONS='${PINNED_PGOPTIONS}' psql -X -q -A -t -F $'\t' -v ON_ERROR_STOP=1 -p "$PORT" -d "$db" < "$work/in" > "$work/out" 2> "$work/err" &
  pp=$!
  exec 3> "$work/in"
  printf '%s\n' "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;" "SELECT '@@snap', pg_catalog.pg_export_snapshot();" "$COUNT_SQL" "SELECT '@@counted';" >&3
  for i in $(seq 6000); do grep -q '^@@counted' "$work/out" 2>/dev/null && break; kill -0 "$pp" 2>/dev/null || break; sleep 0.01; done
  snap=$(sed -n 's/^@@snap\t//p' "$work/out")
  tables=$(sed -n 's/^@@tables\t//p' "$work/out")
  [[ -n $snap && -n $tables ]] || fail "cannot open a snapshot of $db: $(head -c 300 "$work/err")"
  pg_dump -Fc -Z "${'$'}{DUMP_COMPRESS:-6}" --snapshot="$snap" -p "$PORT" -d "$db" 2> "$work/dump.err" | to_target store "$stamp" "$db" > "$work/stored"
  rc=("${'$'}{PIPESTATUS[@]}")
  printf 'COMMIT;\n' >&3; exec 3>&-; wait "$pp"
  rm -f "$work/in"
  [[ ${'$'}{rc[0]} == 0 ]] || fail "pg_dump of $db failed: $(head -c 300 "$work/dump.err")"
  stored=$(grep '^@@stored' "$work/stored")
  [[ ${'$'}{rc[1]} == 0 && -n $stored ]] || fail "the target did not store $db"
  IFS=$'\t' read -r _ _ bytes sha snapshot <<<"$stored"
  dbs_json+="${'$'}{dbs_json:+,}{\"name\":\"$db\",\"bytes\":$bytes,\"sha256\":\"$sha\",\"restic_snapshot\":\"$snapshot\",\"tables\":$tables}"
done
finished=$(date +%s%3N)
entry="{\"id\":\"$stamp\",\"cluster\":\"$cluster\",\"ok\":true,\"time\":\"$(date -u -d @$((started / 1000)) +%FT%TZ)\",\"method\":\"$METHOD\",\"target\":\"$TARGET_HOST\",\"duration_ms\":$((finished - started)),\"databases\":[$dbs_json]}"
hold landed
printf '%s\n' "$entry" | to_target commit | grep -q '^@@committed' || fail "the target did not confirm the catalog entry"
record last.json "$entry"
record last-ok.json "$entry"
printf '%s\n' "$entry"
`.replace('"$COUNT_SQL"', () => `'${COUNT_SQL.replace(/'/g, `'\\''`)}'`);

/**
 * The drill, on the target host where the backups are (the "restore drill into a scratch
 * DB on apricot"): a throw-away PostgreSQL cluster in a private temporary directory (unix socket
 * only, never the source), each dump read back (restic dump, or the file), hashed while it is
 * restored, its tables counted, and everything removed again.
 */
export const DRILL_SCRIPT = String.raw`#!/bin/bash
# manage-apps restore drill (see docs/data.md): pg-drill CLUSTER ID DB:SNAPSHOT...
set -uo pipefail
umask 077
cluster=${'$'}{1:?cluster}; id=${'$'}{2:?backup id}; shift 2
[[ $cluster =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ && $id =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || { echo "@@error	bad arguments"; exit 2; }
base=${BACKUP_BASE}/$cluster
method=$(cat "$base/method" 2>/dev/null || echo files)
export RESTIC_REPOSITORY="$base/restic" RESTIC_PASSWORD_FILE="$base/restic.pass" RESTIC_CACHE_DIR="$base/.cache"
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[[ -n $bin && -x $bin/initdb ]] || { echo "@@error	no PostgreSQL server binaries on this host (apt-get install postgresql): nowhere to restore"; exit 1; }
# Declared check queries on stdin, one line per database: DB<TAB>base64(query).
declare -A checks=()
while IFS=$'\t' read -r cdb cq; do [[ $cdb =~ ^[a-z_][a-z0-9_]*$ && -n $cq ]] && checks[$cdb]=$cq; done
now_ms() { date +%s%3N; }
t0=$(now_ms)
# Two places, so that root never writes where another account can put a link: $work is root's
# (0711: postgres may only pass through), and every file root writes or reads is there; $pg, inside
# it, is the postgres account's, with the scratch cluster's data directory and socket.
work=$(mktemp -d /tmp/manage-apps-drill.XXXXXX) || { echo "@@error	cannot create a private directory in /tmp"; exit 1; }
chmod 711 "$work"
pg=$work/pg
mkdir -m 700 "$pg" && chown postgres: "$pg" || { echo "@@error	cannot create $pg"; exit 1; }
as_pg() { (cd / && runuser -u postgres -- "$@"); }
# Every session: only pg_catalog is searched (names a restored app defined never resolve first).
sql() { as_pg env PGOPTIONS='${PINNED_PGOPTIONS}' "$bin/psql" -h "$pg" -X -q -A -t -F $'\t' -v ON_ERROR_STOP=1 "$@"; }
cleanup() { as_pg "$bin/pg_ctl" -D "$pg/data" -m immediate stop >/dev/null 2>&1; rm -rf -- "$work"; }
trap cleanup EXIT
as_pg "$bin/initdb" -D "$pg/data" -A trust -U postgres --no-sync >/dev/null 2>"$work/initdb.err" || { echo "@@error	initdb failed: $(head -c 200 "$work/initdb.err" | tr '\n\t' '  ')"; exit 1; }
as_pg "$bin/pg_ctl" -D "$pg/data" -o "-k $pg -c listen_addresses= -c fsync=off -c full_page_writes=off" -w start >/dev/null 2>&1 || { echo "@@error	the scratch cluster did not start"; exit 1; }
printf '@@scratch\t%s\t%s\n' "$work" "$(( $(now_ms) - t0 ))"
# The restored copy is an app's database: what it defines (functions, CHECK constraints, index
# expressions) runs while it is restored and counted. So the restore, and the count, run as
# ma_restore, a role without any right but owning its scratch database, never as the superuser.
# The check queries run as ma_check, which can read everything and write nothing (pg_read_all_data),
# in read-only transactions with a statement timeout. Both exist in this throw-away cluster only.
sql -d postgres -c "CREATE ROLE ma_restore LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS; CREATE ROLE ma_check LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS; GRANT pg_read_all_data TO ma_check" >/dev/null 2>"$work/err" || { echo "@@error	cannot create the drill roles: $(head -c 200 "$work/err" | tr '\n\t' '  ')"; exit 1; }
clean() { tr '\n\t\r' '   ' | tr -d '\000-\037' | head -c "$1"; }
for pair in "$@"; do
  db=${'$'}{pair%%:*}; snap=${'$'}{pair#*:}
  [[ $db =~ ^[a-z_][a-z0-9_]*$ && $snap =~ ^[0-9a-f]*$ ]] || { echo "@@error	bad database $db"; exit 2; }
  t1=$(now_ms)
  as_pg "$bin/createdb" -h "$pg" -O ma_restore "drill_$db" 2>"$work/err" || { printf '@@db\t%s\t1\t1\t\t0\tcreatedb: %s\n' "$db" "$(head -c 200 "$work/err" | tr '\n\t' '  ')"; continue; }
  if [[ $method == restic ]]; then
    restic dump --quiet "$snap" "/$id-$db.dump" 2>"$work/fetch.err"
  else
    cat -- "$base/files/$id/$db.dump" 2>"$work/fetch.err"
  fi | tee >(sha256sum | cut -c1-64 > "$work/$db.sha") | as_pg "$bin/pg_restore" -h "$pg" -U ma_restore -d "drill_$db" --no-owner --no-acl --no-comments --no-publications --no-subscriptions --no-security-labels --exit-on-error 2>"$work/restore.err"
  rc=("${'$'}{PIPESTATUS[@]}")
  for i in $(seq 200); do [[ -s $work/$db.sha ]] && break; sleep 0.05; done
  tables=$(sql -U ma_restore -d "drill_$db" -c "$COUNT_SQL" 2>/dev/null | sed -n 's/^@@tables\t//p')
  t2=$(now_ms)
  err="$(grep -v 'retrying after' "$work/fetch.err" | tail -n 2 | head -c 300 | tr '\n\t' '  ')"
  [[ -n $err ]] || err="$(grep -v '^$' "$work/restore.err" | head -c 300 | tr '\n\t' '  ')"
  printf '@@db\t%s\t%s\t%s\t%s\t%s\t%s\n' "$db" "${'$'}{rc[0]}" "${'$'}{rc[2]}" "$(cat "$work/$db.sha" 2>/dev/null)" "$((t2 - t1))" "$err"
  printf '@@tables\t%s\t%s\n' "$db" "${'$'}{tables:-null}"
  if [[ -n ${'$'}{checks[$db]:-} ]]; then
    # The query reaches psql on its stdin, opened by root from root's directory.
    printf '%s' "${'$'}{checks[$db]}" | base64 -d > "$work/check.sql" 2>/dev/null
    as_pg env PGOPTIONS="-c default_transaction_read_only=on -c statement_timeout=${CHECK_TIMEOUT_S}s" "$bin/psql" -h "$pg" -U ma_check -d "drill_$db" -X -q -A -t -F $'\t' -v ON_ERROR_STOP=1 < "$work/check.sql" > "$work/check.out" 2> "$work/check.err"
    crc=$?
    printf '@@check\t%s\t%s\t%s\t%s\t%s\n' "$db" "$crc" "$(grep -c '' "$work/check.out")" "$(head -n 1 "$work/check.out" | cut -f1 | tr -d '\000-\037' | head -c 200)" "$(grep -v '^$' "$work/check.err" | clean 300)"
  fi
  as_pg "$bin/dropdb" -h "$pg" "drill_$db" >/dev/null 2>&1
done
printf '@@done\t%s\n' "$(( $(now_ms) - t0 ))"
`.replace('"$COUNT_SQL"', () => `'${COUNT_SQL.replace(/'/g, `'\\''`)}'`);

/**
 * The unit and timer: a oneshot as postgres; the timer's period is the declared RPO. Hardened as
 * far as its job allows (docs/render.md#hardening): it reads its config and key, talks to the
 * cluster over its unix socket and to the target over ssh, writes only its state directory
 * (the key directory inside it stays read-only) and its private /tmp. PrivateUsers is set: the
 * cluster authenticates postgres by its peer uid, which the kernel reports as the real one.
 */
export function backupUnit(): string {
  const hardening = hardenedLines({
    header: '# Hardening (docs/render.md#hardening): psql/pg_dump over the unix socket, ssh to the target; writes only its state.',
    account: ['User=postgres', 'Group=postgres'],
    writes: [STATE_DIR],
    ports: [],
    paths: [],
    relax: [],
  });
  return `[Unit]
Description=manage-apps PostgreSQL backup of cluster %i
After=network-online.target

[Service]
Type=oneshot
ExecStart=${LIB_DIR}/pg-backup %i
Nice=10
IOSchedulingClass=best-effort
IOSchedulingPriority=7
${hardening.join('\n')}
ReadOnlyPaths=-${KEY_DIR}
`;
}

export function backupTimer(cluster: string, periodSec: number): string {
  return `[Unit]
Description=manage-apps PostgreSQL backup of cluster ${cluster}, every ${periodSec}s (the declared RPO)

[Timer]
OnActiveSec=${periodSec}s
OnUnitActiveSec=${periodSec}s
AccuracySec=${Math.max(1, Math.min(60, Math.floor(periodSec / 10)))}s
Unit=manage-apps-backup@${cluster}.service

[Install]
WantedBy=timers.target
`;
}

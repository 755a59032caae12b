/**
 * `backups run`, `backups install`, `backups drill`: a cluster's declared backup, executed on
 * its hosts. The cluster host dumps and streams to the declared target host over ssh with a key
 * of its own that the target accepts for one forced command (backup-scripts.ts); the drill runs
 * on the target, where the backups are, into a throw-away cluster. The operator's machine only
 * sends scripts and reads results: no dump passes through it.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { durationMs, type Cluster, type Fleet, type Host } from '../fleet/model.js';
import type { BackupPolicy } from '../manifest/types.js';
import type { Ops } from '../ops/context.js';
import { PRELUDE, records } from '../runtime/shell.js';
import { heredoc, quote } from '../transport/quote.js';
import { failureReason } from '../transport/types.js';
import {
  BACKUP_BASE,
  BACKUP_SCRIPT,
  backupTimer,
  backupUnit,
  CONF_DIR,
  DRILL_SCRIPT,
  KEY_DIR,
  LIB_DIR,
  RECEIVE_SCRIPT,
  STATE_DIR,
} from './backup-scripts.js';
import { DRIVEN_ENGINES, notDrivenReason, pgName, resolveDatabase, type DeclaredDatabase } from './declared.js';
import { EVIDENCE_FILE } from './evidence.js';
import { PG_PRELUDE } from './postgres.js';

export interface BackupPlan {
  cluster: Cluster;
  host: Host;
  target?: Host;
  policy?: BackupPolicy;
  method: 'restic' | 'files';
  databases: string[];
  /** Declared check queries (database → SQL) the drill runs on the restored copy. */
  checks: Map<string, string>;
  /** Why this cluster's backup cannot run as declared. */
  problem?: string;
}

const ipOf = (h: Host): string | undefined => h.meshIp ?? h.address;

export function planBackups(fleet: Fleet, names: readonly string[]): { plans: BackupPlan[]; notDriven: { cluster: string; reason: string }[] } {
  const plans: BackupPlan[] = [];
  const notDriven: { cluster: string; reason: string }[] = [];
  for (const c of fleet.clusters) {
    if (names.length > 0 && !names.includes(c.name)) continue;
    if (!DRIVEN_ENGINES.has(c.engine)) {
      notDriven.push({ cluster: c.name, reason: notDrivenReason(c) });
      continue;
    }
    const host = fleet.hosts.find((h) => h.name === c.host);
    if (!host) continue;
    const dbs = fleet.databases
      .map((d) => resolveDatabase(fleet, d))
      .filter((d): d is DeclaredDatabase => 'clusterHost' in d && d.cluster.name === c.name);
    const policy = c.backup ?? dbs.find((d) => d.backup)?.backup;
    const plan: BackupPlan = {
      cluster: c,
      host,
      method: policy && /restic/i.test(policy.method) ? 'restic' : 'files',
      databases: dbs.map((d) => d.name),
      checks: new Map(dbs.flatMap((d) => (d.check === undefined ? [] : [[d.name, d.check] as [string, string]]))),
    };
    if (policy) plan.policy = policy;
    const target = policy?.target === undefined ? undefined : fleet.hosts.find((h) => h.name === policy.target);
    if (target) plan.target = target;
    try {
      for (const d of plan.databases) pgName('database', d);
    } catch (e) {
      plan.problem = (e as Error).message;
    }
    if (!policy) plan.problem = `cluster ${c.name} declares no backup policy (clusters.${c.name}.backup or database.backup)`;
    else if (policy.target === undefined)
      plan.problem = `the backup of ${c.name} names no target host: a backup kept only on ${c.host}, the host it protects, is not a backup`;
    else if (!target) plan.problem = `backup target ${policy.target} is not in the inventory`;
    else if (target.name === host.name)
      plan.problem = `the backup of ${c.name} targets ${c.host}, the host it protects: losing ${c.host} would lose both`;
    else if (ipOf(target) === undefined) plan.problem = `target host ${target.name} has no mesh_ip or address for ${c.host} to reach it`;
    else if (plan.databases.length === 0) plan.problem = `no manifest declares a database on ${c.name}: nothing to back up`;
    plans.push(plan);
  }
  return { plans, notDriven };
}

/** The timer period: the declared RPO (a duration), at least a minute; none for continuous/n/a. */
export function periodSeconds(policy: BackupPolicy | undefined): number | undefined {
  if (!policy || !/^\d+(ms|s|m|h|d)$/.test(policy.rpo)) return undefined;
  return Math.max(60, Math.round(durationMs(policy.rpo, 0) / 1000));
}

const confText = (p: BackupPlan) =>
  [
    `PORT=${p.cluster.port}`,
    `DATABASES=${quote(p.databases.join(' '))}`,
    `METHOD=${p.method}`,
    // restic compresses (zstd) and deduplicates unchanged data across runs only when the dump is not compressed already.
    `DUMP_COMPRESS=${p.method === 'restic' ? 0 : 6}`,
    `TARGET_HOST=${quote(p.target!.name)}`,
    `TARGET_ADDR=${quote(ipOf(p.target!)!)}`,
    `TARGET_PORT=${p.target!.port ?? 22}`,
    'TARGET_USER=root',
    `KEY=${KEY_DIR}/${p.cluster.name}`,
    `KNOWN_HOSTS=${KEY_DIR}/${p.cluster.name}.known_hosts`,
    '',
  ].join('\n');

const writeFile = (path: string, text: string, mode: string, owner = 'root:root', after = '') =>
  heredoc(
    `$SUDO sh -c 'cat > "$1.tmp" && chmod ${mode} "$1.tmp" && chown ${owner} "$1.tmp" && mv -f "$1.tmp" "$1"' sh ${quote(path)}`,
    text,
    'MA_FILE',
    after,
  );

export interface InstallResult {
  cluster: string;
  ok: boolean;
  reason?: string;
  timer: { unit: string; period_s: number } | null;
}

/**
 * Puts the programs, the cluster host's key, its authorization on the target (one forced
 * command) and the target's host key (read through the operator's own checked ssh session) in
 * place. Idempotent. With `timer`, also enables the timer whose period is the declared RPO.
 */
export async function install(ops: Ops, plan: BackupPlan, timer: boolean): Promise<InstallResult> {
  const c = plan.cluster.name;
  const res: InstallResult = { cluster: c, ok: false, timer: null };
  const period = periodSeconds(plan.policy);
  const timerUnit = `manage-apps-backup@${c}.timer`;
  // Root creates and writes only root's directories; the key directory is the postgres account's
  // (the unit runs as postgres and reads its key there), so everything inside it is done as
  // postgres: a link postgres planted there reaches nothing postgres could not reach itself.
  const keyDir = quote(KEY_DIR);
  const a = await ops.transport(plan.host).script(
    `${PRELUDE}${PG_PRELUDE}main() {
id postgres >/dev/null 2>&1 || { printf '@@fail\\tno postgres account on this host\\n'; return; }
$SUDO mkdir -p ${LIB_DIR} ${CONF_DIR} ${STATE_DIR}
if [ -L ${STATE_DIR} ] || [ "$($SUDO stat -c %U -- /var/lib/manage-apps)" != root ]; then printf '@@fail\\t%s is a symlink, or its parent is not root-owned: not used\\n' ${STATE_DIR}; return; fi
$SUDO chown -h postgres:postgres ${STATE_DIR}
if [ -L ${keyDir} ] || { [ -e ${keyDir} ] && [ ! -d ${keyDir} ]; }; then printf '@@fail\\t%s is a symlink or not a directory: not used (remove it, then run backups install again)\\n' ${keyDir}; return; fi
if [ -d ${keyDir} ] && [ "$($SUDO stat -c %U -- ${keyDir})" != postgres ]; then printf '@@fail\\t%s is owned by %s, not postgres: not used\\n' ${keyDir} "$($SUDO stat -c %U -- ${keyDir})"; return; fi
ma_as_pg mkdir -p -m 700 ${keyDir} && ma_as_pg chmod 700 ${keyDir} || { printf '@@fail\\tcannot create %s as postgres\\n' ${keyDir}; return; }
${writeFile(`${LIB_DIR}/pg-backup`, BACKUP_SCRIPT, '755')}
${writeFile(`${CONF_DIR}/${c}.conf`, confText(plan), '644')}
${writeFile('/etc/systemd/system/manage-apps-backup@.service', backupUnit(), '644')}
${timer && period !== undefined ? writeFile(`/etc/systemd/system/manage-apps-backup@${c}.timer`, backupTimer(c, period), '644') : ''}
ma_as_pg test -f ${KEY_DIR}/${c} || ma_as_pg ssh-keygen -q -t ed25519 -N '' -C ${quote(`manage-apps-backup:${c}@${plan.host.name}`)} -f ${KEY_DIR}/${c} >/dev/null
$SUDO systemctl daemon-reload
${timer && period !== undefined ? `$SUDO systemctl enable --now ${timerUnit} >/dev/null 2>&1 || { printf '@@fail\\tcannot enable ${timerUnit}\\n'; return; }` : ''}
printf '@@pubkey\\t%s\\n' "$(ma_as_pg head -c 4096 -- ${KEY_DIR}/${c}.pub)"
}
main
`,
    { timeoutMs: ops.settings.commandTimeoutMs },
  );
  const pub = records(a.stdout).find((r) => r[0] === 'pubkey')?.[1];
  const failA = records(a.stdout).find((r) => r[0] === 'fail')?.[1];
  if (!pub || failA) return { ...res, reason: `on ${plan.host.name}: ${failA ?? failureReason(a)}` };
  if (!/^ssh-ed25519 [A-Za-z0-9+/=]+ [\w.@:-]+$/.test(pub.trim())) return { ...res, reason: `unexpected public key from ${plan.host.name}` };
  const line = `restrict,command="${LIB_DIR}/backup-receive ${c}" ${pub.trim()}`;
  const marker = `manage-apps-backup:${c}@${plan.host.name}`;
  const b = await ops.transport(plan.target!).script(
    `${PRELUDE}main() {
command -v restic >/dev/null 2>&1 || [ ${quote(plan.method)} != restic ] || { printf '@@fail\\trestic is not installed on this host (apt-get install restic)\\n'; return; }
$SUDO mkdir -p ${LIB_DIR} ${BACKUP_BASE} /root/.ssh; $SUDO chmod 700 ${BACKUP_BASE} /root/.ssh
${writeFile(`${LIB_DIR}/backup-receive`, RECEIVE_SCRIPT, '755')}
${writeFile(`${LIB_DIR}/pg-drill`, DRILL_SCRIPT, '755')}
ak=/root/.ssh/authorized_keys
$SUDO touch "$ak"; $SUDO chmod 600 "$ak"
if ! $SUDO grep -qxF ${quote(line)} "$ak"; then
  $SUDO sh -c 'grep -vF "$2" "$1" > "$1.tmp"; printf "%s\\n" "$3" >> "$1.tmp"; chmod 600 "$1.tmp"; mv -f "$1.tmp" "$1"' sh "$ak" ${quote(marker)} ${quote(line)}
fi
for k in $($SUDO sshd -T 2>/dev/null | awk '$1=="hostkey"{print $2}'); do [ -f "$k.pub" ] && printf '@@hostkey\\t%s\\n' "$($SUDO cut -d' ' -f1,2 "$k.pub")"; done
}
main
`,
    { timeoutMs: ops.settings.commandTimeoutMs },
  );
  const failB = records(b.stdout).find((r) => r[0] === 'fail')?.[1];
  const hostKeys = records(b.stdout)
    .filter((r) => r[0] === 'hostkey' && /^[\w-]+ [A-Za-z0-9+/=]+$/.test(r[1] ?? ''))
    .map((r) => r[1]!);
  if (failB || hostKeys.length === 0)
    return { ...res, reason: `on ${plan.target!.name}: ${failB ?? (b.code === 0 ? 'no sshd host key found' : failureReason(b))}` };
  const addr = ipOf(plan.target!)!;
  const port = plan.target!.port ?? 22;
  const known = hostKeys.map((k) => `${port === 22 ? addr : `[${addr}]:${port}`} ${k}`).join('\n') + '\n';
  const cr = await ops
    .transport(plan.host)
    .script(
      `${PRELUDE}${PG_PRELUDE}main() {\n${heredoc(`ma_as_pg sh -c 'umask 022; t=$(mktemp "$1.XXXXXX") && cat > "$t" && chmod 644 "$t" && mv -f "$t" "$1"' sh ${quote(`${KEY_DIR}/${c}.known_hosts`)}`, known, 'MA_FILE', ` && printf '@@ok\\n'`)}\n}\nmain\n`,
      { timeoutMs: ops.settings.commandTimeoutMs },
    );
  if (!records(cr.stdout).some((r) => r[0] === 'ok')) return { ...res, reason: `on ${plan.host.name}: ${failureReason(cr)}` };
  return { cluster: c, ok: true, timer: timer && period !== undefined ? { unit: timerUnit, period_s: period } : null };
}

export interface CatalogDatabase {
  name: string;
  bytes: number;
  sha256: string;
  restic_snapshot: string;
  tables: Record<string, number>;
}

export interface CatalogEntry {
  id: string;
  cluster: string;
  ok: boolean;
  time: string;
  method?: string;
  target?: string;
  duration_ms?: number;
  databases?: CatalogDatabase[];
  error?: string;
}

export interface RunResult {
  cluster: string;
  host: string;
  target: string | null;
  ok: boolean;
  reason?: string;
  backup: CatalogEntry | null;
}

/** Runs the installed unit now (the same program the timer runs) and reads its outcome. */
export async function runBackup(ops: Ops, plan: BackupPlan, timeoutMs: number): Promise<RunResult> {
  const base: RunResult = { cluster: plan.cluster.name, host: plan.host.name, target: plan.target?.name ?? null, ok: false, backup: null };
  const unit = `manage-apps-backup@${plan.cluster.name}.service`;
  const r = await ops.transport(plan.host).script(
    `${PRELUDE}${PG_PRELUDE}main() {
ma_as_pg rm -f ${STATE_DIR}/${plan.cluster.name}/last.json
$SUDO systemctl start ${unit} 2>/dev/null; rc=$?
printf '@@rc\\t%s\\n' "$rc"
ma_as_pg test -f ${STATE_DIR}/${plan.cluster.name}/last.json && printf '@@last\\t%s\\n' "$(ma_as_pg head -c 65536 ${STATE_DIR}/${plan.cluster.name}/last.json)"
[ "$rc" = 0 ] || $SUDO journalctl -u ${unit} -n 5 --no-pager -o cat 2>/dev/null | while IFS= read -r l; do printf '@@log\\t%s\\n' "$l"; done
}
main
`,
    { timeoutMs },
  );
  if (r.unreachable) return { ...base, reason: r.unreachable };
  const last = records(r.stdout).find((x) => x[0] === 'last')?.[1];
  let entry: CatalogEntry | null = null;
  try {
    entry = last ? (JSON.parse(last) as CatalogEntry) : null;
  } catch {
    entry = null;
  }
  const rc = records(r.stdout).find((x) => x[0] === 'rc')?.[1];
  if (rc === '0' && entry?.ok) return { ...base, ok: true, backup: entry };
  const log = records(r.stdout)
    .filter((x) => x[0] === 'log')
    .map((x) => x[1])
    .join(' | ');
  return { ...base, backup: entry, reason: entry?.error ?? (log || failureReason(r)) };
}

export interface DrillDatabase {
  name: string;
  ok: boolean;
  restore_ms: number;
  bytes: number;
  checksum_ok: boolean;
  tables_ok: boolean;
  /** What was compared, table by table: the catalog's row count and the restored copy's (null: the table is missing on that side). */
  tables: { name: string; backed_up: number | null; restored: number | null }[];
  mismatches: string[];
  /** The declared check query's outcome on the restored copy; null when none is declared. */
  check: CheckOutcome | null;
  reason?: string;
}

export interface CheckOutcome {
  query: string;
  ok: boolean;
  /** Rows it returned (output lines), and the first row's first column (at most 200 characters). */
  rows: number;
  value: string | null;
  reason?: string;
}

/**
 * A check passes when the query runs (read-only, within the statement timeout) and returns at
 * least one row whose first column is not false, 0, NULL or empty.
 */
export function judgeCheck(query: string, rec: readonly string[] | undefined): CheckOutcome {
  if (!rec) return { query, ok: false, rows: 0, value: null, reason: 'the check query did not run' };
  const [, , rc, rows, value, err] = rec;
  const out: CheckOutcome = { query, ok: false, rows: Number(rows ?? 0), value: value ?? null };
  if (rc !== '0') out.reason = `the check query failed: ${err?.trim() || `psql exit ${rc}`}`;
  else if (out.rows === 0) out.reason = 'the check query returned no rows';
  else if (['f', 'false', '0', ''].includes((value ?? '').trim().toLowerCase()))
    out.reason = `the check query returned ${value?.trim() ? JSON.stringify(value.trim()) : 'NULL or empty'}`;
  else out.ok = true;
  return out;
}

export interface DrillRecord {
  kind: 'drill';
  time: string;
  cluster: string;
  host: string;
  target: string | null;
  backup_id: string | null;
  backup_time: string | null;
  ok: boolean;
  reason?: string;
  databases: DrillDatabase[];
  /** Achieved: the backup's age when drilled (RPO) and the time to restore it (RTO). */
  achieved: { rpo_s: number | null; rto_s: number | null };
  declared: { rpo: string | null; rto: string | null; drill: string | null };
  met: { rpo: boolean | null; rto: boolean | null };
}

const secondsOf = (objective: string | null): number | undefined =>
  objective && /^\d+(ms|s|m|h|d)$/.test(objective) ? durationMs(objective, 0) / 1000 : undefined;

/**
 * A drill that failed proves no objective: each declared one is not met (false), an undeclared
 * one stays null. Never `true` beside `ok: false`.
 */
export function failedObjectives(declared: DrillRecord['declared']): DrillRecord['met'] {
  return { rpo: declared.rpo === null ? null : false, rto: declared.rto === null ? null : false };
}

/** How a comparison of row counts names its two sides (the drill: the catalog and the restored copy). */
export interface CountWords {
  /** After the expected count: "rows backed up". */
  expected: string;
  /** After the actual count: "restored". */
  actual: string;
  /** A table only the actual side has: "restored but not in the catalog". */
  extra: string;
}

const DRILL_COUNT_WORDS: CountWords = { expected: 'rows backed up', actual: 'restored', extra: 'restored but not in the catalog' };

/**
 * Exact per-table row counts compared (COUNT_SQL's output on both sides): every table expected
 * with its exact count, none missing, none extra. What differs, in words; empty when they match.
 * The drill and a database move (ops/move/database.ts) judge a restored copy by this.
 */
export function compareRowCounts(expected: Record<string, number>, actual: Record<string, number> | null, words: CountWords): string[] {
  const out: string[] = [];
  for (const [t, n] of Object.entries(expected))
    if (actual?.[t] !== n) out.push(`${t}: ${n} ${words.expected}, ${actual?.[t] ?? 'no table'} ${words.actual}`);
  for (const t of Object.keys(actual ?? {})) if (!(t in expected)) out.push(`${t}: ${words.extra}`);
  return out;
}

/** The newest good backup of the plan's cluster, from the catalog on its target host (what the drill and `recover` restore). */
export async function newestBackup(ops: Ops, plan: BackupPlan): Promise<{ entry: CatalogEntry } | { reason: string }> {
  const cat = await ops
    .transport(plan.target!)
    .script(
      `${PRELUDE}$SUDO cat ${BACKUP_BASE}/${plan.cluster.name}/catalog.jsonl 2>/dev/null | while IFS= read -r l; do printf '@@entry\\t%s\\n' "$l"; done\n`,
      { timeoutMs: ops.settings.commandTimeoutMs },
    );
  if (cat.unreachable) return { reason: `target ${plan.target!.name}: ${cat.unreachable}` };
  const entries = records(cat.stdout)
    .filter((r) => r[0] === 'entry')
    .flatMap((r) => {
      try {
        return [JSON.parse(r.slice(1).join('\t')) as CatalogEntry];
      } catch {
        return [];
      }
    })
    .filter((e) => e.ok && Array.isArray(e.databases));
  const entry = entries[entries.length - 1];
  if (!entry)
    return {
      reason: `no backup of ${plan.cluster.name} in the catalog on ${plan.target!.name}: run \`manage-apps backups run ${plan.cluster.name}\``,
    };
  return { entry };
}

/** Restores the newest cataloged backup into a throw-away cluster on the target and checks it against the catalog. */
export async function drill(ops: Ops, plan: BackupPlan, timeoutMs: number, now: () => Date = () => new Date()): Promise<DrillRecord> {
  const rec = await drillOnce(ops, plan, timeoutMs, now);
  return rec.ok ? rec : { ...rec, met: failedObjectives(rec.declared) };
}

async function drillOnce(ops: Ops, plan: BackupPlan, timeoutMs: number, now: () => Date): Promise<DrillRecord> {
  const rec: DrillRecord = {
    kind: 'drill',
    time: now().toISOString(),
    cluster: plan.cluster.name,
    host: plan.host.name,
    target: plan.target?.name ?? null,
    backup_id: null,
    backup_time: null,
    ok: false,
    databases: [],
    achieved: { rpo_s: null, rto_s: null },
    declared: { rpo: plan.policy?.rpo ?? null, rto: plan.policy?.rto ?? null, drill: plan.policy?.drill ?? null },
    met: { rpo: null, rto: null },
  };
  const target = ops.transport(plan.target!);
  const newest = await newestBackup(ops, plan);
  if ('reason' in newest) return { ...rec, reason: newest.reason };
  const entry = newest.entry;
  rec.backup_id = entry.id;
  rec.backup_time = entry.time;
  const pairs = entry.databases!.map((d) => `${d.name}:${d.restic_snapshot}`);
  // The check queries travel on pg-drill's stdin (a here-document, base64: no quoting, no control characters), never argv.
  const checkLines = [...plan.checks]
    .filter(([db]) => entry.databases!.some((d) => d.name === db))
    .map(([db, sql]) => `${db}\t${Buffer.from(sql).toString('base64')}`)
    .join('\n');
  const r = await target.script(
    `${PRELUDE}main() {\n${heredoc(`$SUDO ${LIB_DIR}/pg-drill ${quote(plan.cluster.name)} ${quote(entry.id)} ${pairs.map(quote).join(' ')}`, checkLines, 'MA_CHECKS')}\n}\nmain\n`,
    { timeoutMs },
  );
  if (r.unreachable) return { ...rec, reason: `target ${plan.target!.name}: ${r.unreachable}` };
  const recs = records(r.stdout);
  const error = recs.find((x) => x[0] === 'error')?.[1];
  if (error) return { ...rec, reason: error };
  const done = recs.find((x) => x[0] === 'done');
  if (!done) return { ...rec, reason: `the drill did not finish: ${failureReason(r)}` };
  for (const d of entry.databases!) {
    const row = recs.find((x) => x[0] === 'db' && x[1] === d.name);
    const tablesText = recs.find((x) => x[0] === 'tables' && x[1] === d.name)?.[2];
    let tables: Record<string, number> | null = null;
    try {
      tables = tablesText && tablesText !== 'null' ? (JSON.parse(tablesText) as Record<string, number>) : null;
    } catch {
      tables = null;
    }
    const [, , fetchRc, restoreRc, sha, ms, err] = row ?? [];
    const mismatches = compareRowCounts(d.tables, tables, DRILL_COUNT_WORDS);
    const checksumOk = sha === d.sha256;
    const query = plan.checks.get(d.name);
    const check =
      query === undefined
        ? null
        : judgeCheck(
            query,
            recs.find((x) => x[0] === 'check' && x[1] === d.name),
          );
    const compared = [...new Set([...Object.keys(d.tables), ...Object.keys(tables ?? {})])]
      .sort()
      .map((t) => ({ name: t, backed_up: d.tables[t] ?? null, restored: tables?.[t] ?? null }));
    const db: DrillDatabase = {
      name: d.name,
      ok: false,
      restore_ms: Number(ms ?? 0),
      bytes: d.bytes,
      checksum_ok: checksumOk,
      tables_ok: tables !== null && mismatches.length === 0,
      tables: compared,
      mismatches,
      check,
    };
    if (!row) db.reason = 'not restored';
    else if (fetchRc !== '0') db.reason = `reading the backup failed: ${err || `exit ${fetchRc}`}`;
    else if (!checksumOk)
      db.reason = `the stored dump differs from what was backed up (sha256 ${sha ? `${sha.slice(0, 12)}…` : 'none'} ≠ ${d.sha256.slice(0, 12)}…)${restoreRc !== '0' && err ? `; pg_restore: ${err}` : ''}`;
    else if (restoreRc !== '0') db.reason = `pg_restore failed: ${err || `exit ${restoreRc}`}`;
    else if (!db.tables_ok) db.reason = `row counts differ from the catalog: ${mismatches.slice(0, 3).join('; ')}`;
    else if (check && !check.ok) db.reason = check.reason;
    db.ok = db.reason === undefined;
    rec.databases.push(db);
  }
  rec.achieved.rto_s = Math.round(Number(done[1] ?? 0)) / 1000;
  rec.achieved.rpo_s = Math.max(0, Math.round((Date.parse(rec.time) - Date.parse(entry.time)) / 1000));
  const rpo = secondsOf(rec.declared.rpo);
  const rto = secondsOf(rec.declared.rto);
  rec.met = { rpo: rpo === undefined ? null : rec.achieved.rpo_s <= rpo, rto: rto === undefined ? null : rec.achieved.rto_s <= rto };
  const failedDbs = rec.databases.filter((d) => !d.ok);
  rec.ok = failedDbs.length === 0;
  if (!rec.ok) rec.reason = failedDbs.map((d) => `${d.name}: ${d.reason}`).join('; ');
  return rec;
}

/**
 * Appends one record to the evidence file: created 0600 (a check query's first value is in it),
 * never through a link (O_NOFOLLOW), and a file an older version left readable to others is
 * made 0600 again.
 */
export async function appendEvidence(root: string, record: object): Promise<string> {
  const path = join(root, EVIDENCE_FILE);
  const file = await open(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  try {
    if (((await file.stat()).mode & 0o077) !== 0) await file.chmod(0o600);
    await file.appendFile(`${JSON.stringify(record)}\n`);
  } finally {
    await file.close();
  }
  return path;
}

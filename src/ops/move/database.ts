/**
 * A database cluster's move, for the databases its services declare (each project's service is
 * the one writer of its database: own_db refuses two). The steps, each recorded in the journal
 * before the next, each safe to run again:
 *
 *   cluster    on the target, the cluster made when none answers on its port (cluster.ts:
 *              `hosts prepare`'s path), while the writers still serve from the source;
 *   freeze     the writers stopped on the source; each database's role made NOLOGIN there, its
 *              sessions ended, the database read-only by default: nothing writes to the source
 *              from here on (an app cannot give its role LOGIN back); the writers' env files
 *              read in the same round trip;
 *   env        each writer's env file written on the target (carried through memory), and the
 *              target's copies of the databases dropped (stale, or partial from a restore cut
 *              midway), in one round trip;
 *   provision  the role, the database (afresh) and pg_hba on the target's cluster, and the env
 *              file's DATABASE_URL/PG* pointed at it (`db provision`'s path, the password kept);
 *   restore    per database: its tables counted on the source (frozen) while `pg_dump` there
 *              streams through this machine into `pg_restore` on the target (as the app's own
 *              role, never the superuser: what the app defined runs as the app; a superuser's
 *              `pg_restore --role` is no boundary, the app's code can RESET ROLE), its tables
 *              counted there at the stream's end in the same session, every count compared
 *              exactly (the drill's comparison); a difference fails the step with the source
 *              authoritative;
 *   edit       once every writer serves from the target: the inventory's clusters.<name>.host.
 *
 * Two writable primaries never serve one service: the writers start on the target only after
 * `freeze`; an abort freezes the target's copy before the source is thawed.
 *
 * `provisionAt` and the scripts are the pieces `recover` shares (a cluster's roles, pg_hba and
 * the writers' env on another host).
 */
import { readIfExists, writeFileSafely } from '../../files/write.js';
import type { Cluster, Fleet, ProjectDatabase, Service } from '../../fleet/model.js';
import { compareRowCounts } from '../../data/backup.js';
import { COUNT_SQL, PINNED_PGOPTIONS } from '../../data/backup-scripts.js';
import { DRIVEN_ENGINES, pgName } from '../../data/declared.js';
import { provision, provisionReadScripts, type ProvisionOptions } from '../../data/provision.js';
import { applyScript, ident, literal, parseApply, PG_PRELUDE } from '../../data/postgres.js';
import { records } from '../../runtime/shell.js';
import { setScalar } from '../../source/edit.js';
import { pipeBetween } from '../../transport/pipe.js';
import { heredoc, quote, sh } from '../../transport/quote.js';
import { failureReason, type RunResult } from '../../transport/types.js';
import { Ops } from '../context.js';
import { SilentProgress } from '../progress.js';
import { ensureClusterOn } from './cluster.js';
import { readEnvFileScript, retireUnitScript, reviveUnitScript, writeEnvFileScript } from './host-scripts.js';
import type { JournalItem } from './journal.js';
import { hostOf, StepFailed, unitOf, unitScript, type MoveContext } from './steps.js';
import type { MovedDatabase } from './types.js';

/** A database of the cluster and its one writer (the project's service). */
export interface ClusterDatabase {
  database: ProjectDatabase;
  writer: Service | undefined;
}

export function clusterDatabases(fleet: Fleet, cluster: string): ClusterDatabase[] {
  return fleet.databases
    .filter((d) => d.cluster === cluster)
    .map((d) => ({ database: d, writer: fleet.services.find((s) => s.project === d.project && s.environment === d.environment) }));
}

/** Why this cluster cannot be moved with its writers (undefined: it can). `moving`: the service ids in this move. */
export function clusterBlocked(
  fleet: Fleet,
  cluster: Cluster,
  to: string,
  moving: ReadonlySet<string>,
  wave: ReadonlySet<string>,
): string | undefined {
  if (cluster.host === to) return undefined;
  if (!DRIVEN_ENGINES.has(cluster.engine)) return `a ${cluster.engine} cluster: only PostgreSQL databases are moved`;
  const dbs = clusterDatabases(fleet, cluster.name);
  if (dbs.length === 0) return 'no manifest declares a database on it: nothing says what to move (move its data by hand)';
  for (const { database, writer } of dbs) {
    if (writer === undefined) return `${database.name}: project ${database.project} has no service to write it`;
    if (!moving.has(writer.id)) return `${database.name} is written by ${writer.id}, which is not in this move: move them together`;
    if (!wave.has(writer.id))
      return `${database.name} is written by ${writer.id}, which moves in another wave: a cluster moves in one wave with every service writing to it`;
    if (writer.host !== cluster.host)
      return `${database.name} is written by ${writer.id} on ${writer.host}, not beside the cluster: moving a cluster its writers reach across hosts is not carried out yet`;
    if (writer.envFile === undefined) return `${writer.id} declares no service.env_file: its credentials have nowhere to go on ${to}`;
  }
  return undefined;
}

/** The fleet as it is once the cluster and these services run on `to`. */
export function fleetMovedTo(fleet: Fleet, cluster: string, services: readonly string[], to: string): Fleet {
  return {
    ...fleet,
    clusters: fleet.clusters.map((c) => (c.name === cluster ? { ...c, host: to } : c)),
    services: fleet.services.map((s) => (services.includes(s.id) ? { ...s, host: to } : s)),
  };
}

/**
 * On `to`: each project's role (its password the one its env file there holds), its database,
 * its pg_hba entry, and its env file's DATABASE_URL/PG* pointed at the cluster there: `db
 * provision` for those projects on the fleet as it is once they run there. A failure, in words.
 */
export async function provisionAt(
  ops: Ops,
  fleet: Fleet,
  cluster: string,
  projects: readonly string[],
  services: readonly string[],
  to: string,
  preread?: ProvisionOptions['preread'],
): Promise<string | undefined> {
  const moved = fleetMovedTo(fleet, cluster, services, to);
  const report = await provision(
    moved,
    new Ops(moved, ops.settings),
    { targets: projects, rotate: false, dryRun: false, ...(preread === undefined ? {} : { preread }) },
    new SilentProgress(),
  );
  const bad = [
    ...report.databases.filter((d) => !d.ok).map((d) => `${d.id}: ${d.reason ?? 'failed'}`),
    ...report.clusters.filter((c) => !c.ok).map((c) => `cluster ${c.name} on ${c.host}: ${c.reason ?? 'failed'}`),
    ...report.not_driven.map((n) => `${n.id ?? n.cluster}: ${n.reason}`),
  ];
  return bad.length > 0 ? bad.join('; ') : undefined;
}

/** The SQL that freezes (or thaws) databases on a cluster: their roles' LOGIN, their default read-only, their sessions. */
export function freezeSql(dbs: readonly { name: string; user: string }[], frozen: boolean): string[] {
  const sql = ['SET search_path = pg_catalog, pg_temp;'];
  // The roles first: a role without LOGIN is what an app cannot undo.
  for (const d of dbs) sql.push(`ALTER ROLE ${ident(d.user)} ${frozen ? 'NOLOGIN' : 'LOGIN'};`);
  for (const d of dbs)
    sql.push(
      frozen
        ? `ALTER DATABASE ${ident(d.name)} SET default_transaction_read_only = on;`
        : `ALTER DATABASE ${ident(d.name)} RESET default_transaction_read_only;`,
    );
  if (frozen)
    for (const d of dbs)
      sql.push(
        `SELECT pg_catalog.count(pg_catalog.pg_terminate_backend(a.pid)) FROM pg_catalog.pg_stat_activity a WHERE a.datname OPERATOR(pg_catalog.=) ${literal(d.name)}::pg_catalog.name AND a.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid();`,
      );
  return sql;
}

/** The target's copies dropped (stale, or partial from a restore cut midway): `db provision` creates them afresh, owned by the app's role. */
export function dropDatabasesSql(dbs: readonly { name: string }[]): string[] {
  return ['SET search_path = pg_catalog, pg_temp;', ...dbs.map((d) => `DROP DATABASE IF EXISTS ${ident(d.name)} WITH (FORCE);`)];
}

/** The target's copy made afresh (a restore cut midway leaves a partial one), owned by the app's role, CONNECT only for it. */
export function freshDatabaseSql(d: { name: string; user: string }): string[] {
  return [
    'SET search_path = pg_catalog, pg_temp;',
    `DROP DATABASE IF EXISTS ${ident(d.name)} WITH (FORCE);`,
    `CREATE DATABASE ${ident(d.name)} OWNER ${ident(d.user)};`,
    `REVOKE CONNECT, TEMPORARY ON DATABASE ${ident(d.name)} FROM PUBLIC;`,
  ];
}

/** Exact row counts of every table of a database, as the superuser (COUNT_SQL, the backup's). Records: @@tables<TAB>json, or @@error. */
export function countScript(port: number, database: string): string {
  const db = pgName('database', database);
  return `${PG_PRELUDE}if ! out=$(${heredoc(`ma_psql ${port} ${quote(db)} 2>&1`, `${COUNT_SQL}\n`, 'MA_SQL')}
); then printf '@@error\\t%s\\n' "$(printf '%s' "$out" | tr '\\n\\t' '  ' | cut -c1-300)"; exit 0; fi
printf '%s\\n' "$out"
`;
}

/** `pg_dump` of one database on the source, to stdout (custom format, uncompressed: the link is cheaper than the CPU), as the postgres account. */
export function dumpCommand(port: number, database: string) {
  const db = pgName('database', database);
  const script = `${PG_PRELUDE}ma_as_pg env PGOPTIONS='${PINNED_PGOPTIONS}' pg_dump -Fc -Z0 -p ${port} -d ${quote(db)}\n`;
  return sh`sh -c ${script}`;
}

/**
 * `pg_restore` on the target from stdin, connected as the app's own role over loopback (its
 * password the first line of stdin, read by the shell's `read`: never argv, never a file), then,
 * in the same session on the host, every table of the restored copy counted as the superuser
 * (countScript's query): no round trip after the stream. Records: @@restored<TAB>exit<TAB>last
 * error lines, then @@tables<TAB>json or @@counterror<TAB>why.
 */
export function restoreCommand(port: number, database: string, user: string) {
  const db = pgName('database', database);
  const u = pgName('user', user);
  const script = `${PG_PRELUDE}IFS= read -r pw || { printf '@@restored\\t2\\tno password on stdin\\n'; exit 0; }
err=$(mktemp) || exit 1
PGPASSWORD="$pw" PGPASSFILE=/dev/null PGCONNECT_TIMEOUT=10 pg_restore -h 127.0.0.1 -p ${port} -U ${quote(u)} -d ${quote(db)} --no-owner --no-acl --no-comments --no-publications --no-subscriptions --no-security-labels --exit-on-error 2>"$err"
rc=$?
unset pw
printf '@@restored\\t%s\\t%s\\n' "$rc" "$(grep -v '^$' "$err" | tail -n 3 | tr '\\n\\t' '  ' | cut -c1-400)"
rm -f -- "$err"
[ "$rc" = 0 ] || exit 0
if ! out=$(${heredoc(`ma_psql ${port} ${quote(db)} 2>&1`, `${COUNT_SQL}\n`, 'MA_SQL')}
); then printf '@@counterror\\t%s\\n' "$(printf '%s' "$out" | tr '\\n\\t' '  ' | cut -c1-300)"; exit 0; fi
printf '%s\\n' "$out"
`;
  return sh`sh -c ${script}`;
}

/** A record part of a script made of several (`@@part<TAB>name` before each): the text of each part, by name. */
export function scriptParts(output: string): Map<string, string> {
  const out = new Map<string, string>();
  let current: string | undefined;
  for (const line of output.split('\n')) {
    if (line.startsWith('@@part\t')) {
      current = line.slice(7);
      out.set(current, '');
    } else if (current !== undefined) out.set(current, `${out.get(current)!}${line}\n`);
  }
  return out;
}

/**
 * Several scripts as one (one round trip), each in its own subshell after a `@@part<TAB>name`
 * record; a part whose output has an @@error or @@fail record ends the whole (what follows it
 * must not run after it failed: the cluster is not frozen while its writer may still run).
 */
export function partsScript(parts: readonly { name: string; script: string }[]): string {
  // A function: nothing runs until the whole script has arrived.
  return `main() {\n${parts
    .map(
      (p) => `printf '@@part\\t%s\\n' ${quote(p.name)}
out=$( (
${p.script}
)
)
printf '%s\\n' "$out"
case $out in *@@error*|*@@fail*) return 0 ;; esac`,
    )
    .join('\n')}\n}\nmain\n`;
}

/** The env file's content from readEnvFileScript's output: undefined when absent, or the error. */
export function envFileContent(output: string): { content?: Buffer; error?: string } {
  const error = records(output).find((r) => r[0] === 'error')?.[1];
  if (error !== undefined) return { error };
  if (records(output).some((r) => r[0] === 'absent')) return {};
  const lines = output.split('\n');
  const at = lines.indexOf('@@env');
  if (at < 0) return { error: 'no answer' };
  const body: string[] = [];
  for (const line of lines.slice(at + 1)) {
    if (line.startsWith('@@')) break;
    body.push(line);
  }
  return { content: Buffer.from(body.join(''), 'base64') };
}

/** The value of one variable in an env file's text (unquoted as `db provision` writes it). */
function envVar(text: string, name: string): string | undefined {
  for (const line of text.split('\n')) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (m?.[1] !== name) continue;
    const v = m[2]!.trim();
    return /^(['"]).*\1$/.test(v) ? v.slice(1, -1) : v;
  }
  return undefined;
}

async function sqlOn(ctx: MoveContext, hostName: string, cluster: Cluster, sql: string[], what: string): Promise<void> {
  const res = await ctx.ops
    .transport(hostOf(ctx.fleet, hostName))
    .script(applyScript([{ cluster: { name: cluster.name, port: cluster.port }, sql }]), { timeoutMs: 120_000 });
  const o = parseApply(res.stdout).get(cluster.name);
  if (res.unreachable || !o?.ok || !res.stdout.includes('@@done'))
    throw new StepFailed(`cannot ${what} on ${hostName}: ${o?.error ?? failureReason(res)}`);
}

/** The @@tables record of a count (countScript's or the restore's), or the reason there is none. */
function parseCounts(rec: string[][], database: string, hostName: string, res: RunResult): Record<string, number> {
  const err = rec.find((r) => r[0] === 'error' || r[0] === 'counterror')?.[1];
  const text = rec.find((r) => r[0] === 'tables')?.[1];
  if (res.unreachable || err !== undefined || text === undefined)
    throw new StepFailed(`cannot count the rows of ${database} on ${hostName}: ${err ?? failureReason(res)}`);
  try {
    return JSON.parse(text) as Record<string, number>;
  } catch {
    throw new StepFailed(`the row counts of ${database} on ${hostName} do not parse`);
  }
}

async function counts(ctx: MoveContext, hostName: string, cluster: Cluster, database: string): Promise<Record<string, number>> {
  const res = await ctx.ops.transport(hostOf(ctx.fleet, hostName)).script(countScript(cluster.port, database), { timeoutMs: 30 * 60_000 });
  return parseCounts(records(res.stdout), database, hostName, res);
}

/** The app's password, from its env file on `hostName` (read as `db provision` reads it). */
export async function passwordOn(ctx: MoveContext, writer: Service, hostName: string, user: string): Promise<string> {
  const res = await ctx.ops
    .transport(hostOf(ctx.fleet, hostName))
    .script(readEnvFileScript(writer.envFile!, writer.runAs ?? 'root'), { timeoutMs: 60_000 });
  const at = res.stdout.indexOf('@@env\n');
  if (res.unreachable || at < 0)
    throw new StepFailed(
      `cannot read ${writer.envFile} on ${hostName}: ${records(res.stdout).find((r) => r[0] === 'error')?.[1] ?? failureReason(res)}`,
    );
  const text = Buffer.from(res.stdout.slice(at + 6), 'base64').toString('utf8');
  const pw = envVar(text, 'PGPASSWORD');
  if (envVar(text, 'PGUSER') !== user || pw === undefined || pw === '' || /[\n\r]/.test(pw))
    throw new StepFailed(`${writer.envFile} on ${hostName} holds no password for ${user}: run \`manage-apps db provision ${writer.project}\` there`);
  return pw;
}

export interface ClusterMoveRefs {
  cluster: Cluster;
  dbs: { name: string; user: string; project: string; writer: Service }[];
}

export function clusterMoveRefs(fleet: Fleet, name: string): ClusterMoveRefs {
  const cluster = fleet.clusters.find((c) => c.name === name);
  if (cluster === undefined) throw new StepFailed(`cluster ${name} is not in the inventory any more`);
  const dbs = clusterDatabases(fleet, name).flatMap(({ database, writer }) =>
    writer === undefined ? [] : [{ name: database.name, user: database.user, project: database.project, writer }],
  );
  return { cluster, dbs };
}

/** The source's one round trip of a freeze: the writers stopped, then the cluster frozen, then the writers' env files read. */
export function freezeSourceScript(
  units: readonly { id: string; unit: string }[],
  freeze: string,
  envReads: readonly { id: string; script: string }[],
): string {
  return partsScript([
    ...units.map((u) => ({ name: `stop:${u.id}`, script: retireUnitScript(u.unit) })),
    { name: 'freeze', script: freeze },
    ...envReads.map((e) => ({ name: `env:${e.id}`, script: e.script })),
  ]);
}

/** What a freeze said of one part: its failure in words, or undefined. */
function partFailure(parts: Map<string, string>, name: string): string | undefined {
  const text = parts.get(name);
  if (text === undefined) return 'no answer';
  return records(text).find((r) => r[0] === 'error')?.[1];
}

/** The app's password in an env file's text, when it is the one `user` logs in with. */
function passwordIn(text: string, user: string): string | undefined {
  const pw = envVar(text, 'PGPASSWORD');
  return envVar(text, 'PGUSER') === user && pw !== undefined && pw !== '' && !/[\n\r]/.test(pw) ? pw : undefined;
}

/**
 * freeze, env, provision, restore (see the top of this file); the inventory is edited by
 * `finishClusterMove` once the writers serve from the target. One round trip on the source for
 * the freeze (the writers stopped, the roles frozen, the env files read), one on the target for
 * the env files (written, and the target's stale copies dropped: `db provision` then creates
 * them afresh), `db provision`'s own, then the stream with the target's counts at its end.
 */
export async function moveCluster(ctx: MoveContext, refs: ClusterMoveRefs, item: JournalItem): Promise<void> {
  const { cluster, dbs } = refs;
  const source = () => ctx.ops.transport(hostOf(ctx.fleet, item.from));
  const target = () => ctx.ops.transport(hostOf(ctx.fleet, item.to));
  /** The writers' env files as read on the source in this run (writer id → content; absent: no file). */
  let carried: Map<string, Buffer | undefined> | undefined;
  /** The target's copies dropped, then created by `db provision`, in this run: fresh already. */
  let dropped = false;
  let fresh = false;
  /** `db provision`'s reads of the target, made in the env step's round trip of this run. */
  let preread: ProvisionOptions['preread'];
  try {
    // Continued after a failure: the item is under way again (a failed one stops its wave).
    if (item.state !== 'moving') await ctx.journal.set(item, { state: 'moving', reason: null });
    // Before the freeze: making a cluster takes a while, and the writers still serve from the source.
    if (!item.done.includes('cluster') && !item.done.includes('freeze')) {
      const moved = fleetMovedTo(
        ctx.fleet,
        cluster.name,
        dbs.map((d) => d.writer.id),
        item.to,
      );
      if ((await ensureClusterOn(ctx.ops, moved, cluster.name, item.to, ctx.report)) === 'created')
        ctx.report(`${item.name}: cluster created on ${item.to}`);
      await ctx.journal.step(item, 'cluster', { state: 'moving' });
    }
    if (!item.done.includes('freeze')) {
      ctx.report(`${item.name}: freezing writes on ${item.from} (${dbs.map((d) => d.writer.id).join(', ')} stopped, roles NOLOGIN)`);
      const res = await source().script(
        freezeSourceScript(
          dbs.map((d) => ({ id: d.writer.id, unit: unitOf(ctx, d.writer, item.from) })),
          applyScript([{ cluster: { name: cluster.name, port: cluster.port }, sql: freezeSql(dbs, true) }]),
          dbs.map((d) => ({ id: d.writer.id, script: readEnvFileScript(d.writer.envFile!, d.writer.runAs ?? 'root') })),
        ),
        { timeoutMs: 120_000 },
      );
      const parts = scriptParts(res.stdout);
      for (const d of dbs) {
        const why = partFailure(parts, `stop:${d.writer.id}`);
        if (res.unreachable || why !== undefined)
          throw new StepFailed(`cannot stop ${d.writer.id} on ${item.from}: ${res.unreachable ? failureReason(res) : why}`);
      }
      const frozen = parseApply(parts.get('freeze') ?? '').get(cluster.name);
      if (!frozen?.ok || !(parts.get('freeze') ?? '').includes('@@done'))
        throw new StepFailed(`cannot freeze ${cluster.name} on ${item.from}: ${frozen?.error ?? failureReason(res)}`);
      await ctx.journal.step(item, 'freeze', { state: 'moving' });
      const read = dbs.map((d) => [d.writer.id, envFileContent(parts.get(`env:${d.writer.id}`) ?? '@@error\tno answer')] as const);
      // An env file not read here is read again by the env step (and its failure said there).
      if (read.every(([, r]) => r.error === undefined)) carried = new Map(read.map(([id, r]) => [id, r.content]));
    }
    if (!item.done.includes('env')) {
      ctx.report(`${item.name}: carrying the writers' env files to ${item.to}`);
      if (carried === undefined) {
        carried = new Map();
        for (const d of dbs) {
          const res = await source().script(readEnvFileScript(d.writer.envFile!, d.writer.runAs ?? 'root'), { timeoutMs: 60_000 });
          const r = envFileContent(res.stdout);
          if (res.unreachable || r.error !== undefined)
            throw new StepFailed(`cannot read ${d.writer.envFile} on ${item.from}: ${res.unreachable ? failureReason(res) : r.error}`);
          carried.set(d.writer.id, r.content);
        }
      }
      const writes = dbs.flatMap((d) => {
        const content = carried!.get(d.writer.id);
        return content === undefined
          ? []
          : [{ name: `env:${d.writer.id}`, script: writeEnvFileScript(d.writer.envFile!, d.writer.runAs ?? 'root', content) }];
      });
      const drop = applyScript([{ cluster: { name: cluster.name, port: cluster.port }, sql: dropDatabasesSql(dbs) }]);
      // What `db provision` reads first, read here after the drop: one round trip less.
      const reads = provisionReadScripts(
        fleetMovedTo(
          ctx.fleet,
          cluster.name,
          dbs.map((d) => d.writer.id),
          item.to,
        ),
        { targets: dbs.map((d) => d.project) },
      ).get(item.to);
      const res = await target().script(
        partsScript([
          ...writes,
          { name: 'drop', script: drop },
          ...(reads?.cluster === undefined ? [] : [{ name: 'read:cluster', script: reads.cluster }]),
          ...(reads?.env === undefined ? [] : [{ name: 'read:env', script: reads.env }]),
        ]),
        { timeoutMs: 120_000 },
      );
      const parts = scriptParts(res.stdout);
      for (const w of writes) {
        const text = parts.get(w.name);
        const why = res.unreachable ? failureReason(res) : text === undefined ? 'no answer' : records(text).find((r) => r[0] === 'error')?.[1];
        if (why !== undefined || !records(text!).some((r) => r[0] === 'written'))
          throw new StepFailed(`cannot write ${w.name.slice(4)}'s env file on ${item.to}: ${why ?? 'no answer'}`);
      }
      // A target whose cluster is down: `db provision` says so in its own words next.
      dropped = parseApply(parts.get('drop') ?? '').get(cluster.name)?.ok === true && (parts.get('drop') ?? '').includes('@@done');
      const answer = (text: string | undefined): RunResult | undefined =>
        text === undefined || res.unreachable
          ? undefined
          : { code: 0, stdout: text, stderr: '', timedOut: false, durationMs: 0, unreachable: undefined };
      if (dropped) preread = new Map([[item.to, { cluster: answer(parts.get('read:cluster')), env: answer(parts.get('read:env')) }]]);
      await ctx.journal.step(item, 'env');
    }
    if (!item.done.includes('provision')) {
      ctx.report(`${item.name}: provisioning roles, databases and pg_hba on ${item.to}`);
      const failed = await provisionAt(
        ctx.ops,
        ctx.fleet,
        cluster.name,
        dbs.map((d) => d.project),
        dbs.map((d) => d.writer.id),
        item.to,
        preread,
      );
      if (failed !== undefined) throw new StepFailed(`provisioning on ${item.to}: ${failed}`);
      fresh = dropped;
      await ctx.journal.step(item, 'provision');
    }
    if (!item.done.includes('restore')) {
      const moved: MovedDatabase[] = [];
      for (const d of dbs) {
        ctx.report(`${item.name}: restoring ${d.name} from ${item.from} on ${item.to}`);
        // The password the env file carried in this run is the one `db provision` gave the role there (it keeps it).
        const known = carried?.get(d.writer.id);
        const ready = await Promise.all([
          (known === undefined ? undefined : passwordIn(known.toString('utf8'), d.user)) ?? passwordOn(ctx, d.writer, item.to, d.user),
          fresh ? undefined : sqlOn(ctx, item.to, cluster, freshDatabaseSql(d), `create ${d.name} afresh`),
        ]);
        const password = ready[0];
        const started = Date.now();
        // The source is frozen: its counts are final, taken while it is dumped (the same rows).
        // Both settle before either's failure is reported: no stream is left running behind a failed count.
        const [countedSource, streamed] = await Promise.allSettled([
          counts(ctx, item.from, cluster, d.name),
          pipeBetween(source(), dumpCommand(cluster.port, d.name), target(), restoreCommand(cluster.port, d.name, d.user), {
            timeoutMs: 6 * 3600_000,
            head: password,
          }),
        ]);
        if (countedSource.status === 'rejected') throw countedSource.reason;
        if (streamed.status === 'rejected') throw streamed.reason;
        const expected = countedSource.value;
        const piped = streamed.value;
        const recs = records(piped.to.stdout);
        const restored = recs.find((r) => r[0] === 'restored');
        if (piped.from.unreachable || piped.from.code !== 0)
          throw new StepFailed(`pg_dump of ${d.name} on ${item.from} failed: ${failureReason(piped.from)}`);
        if (piped.to.unreachable || restored === undefined || restored[1] !== '0')
          throw new StepFailed(`pg_restore of ${d.name} on ${item.to} failed: ${restored?.[2] || failureReason(piped.to)}`);
        const actual = parseCounts(recs, d.name, item.to, piped.to);
        const mismatches = compareRowCounts(expected, actual, {
          expected: `rows on ${item.from}`,
          actual: `on ${item.to}`,
          extra: `on ${item.to} only`,
        });
        const tables = Object.keys(expected)
          .sort()
          .map((t) => ({ name: t, source: expected[t]!, target: actual[t] ?? null }));
        if (mismatches.length > 0)
          throw new StepFailed(`the row counts of ${d.name} differ (${item.from} still authoritative): ${mismatches.slice(0, 3).join('; ')}`);
        moved.push({ name: d.name, bytes: piped.bytes, seconds: Math.round((Date.now() - started) / 100) / 10, tables });
        ctx.report(
          `${item.name}: ${d.name}: ${tables.length} tables, ${tables.reduce((n, t) => n + t.source, 0)} rows, every count equal on ${item.to} (${(piped.bytes / 1024 / 1024).toFixed(1)} MiB in ${((Date.now() - started) / 1000).toFixed(1)}s)`,
        );
      }
      await ctx.journal.step(item, 'restore', { databases: moved });
    }
  } catch (error) {
    if (!(error instanceof StepFailed)) throw error;
    await ctx.journal.set(item, { state: 'failed', reason: error.message });
  }
}

async function editClusterHost(ctx: MoveContext, name: string, host: string): Promise<void> {
  const path = ctx.inventoryPath;
  const text = await readIfExists(path);
  if (text === undefined) throw new StepFailed(`cannot read ${path}`);
  await writeFileSafely(path, setScalar(text, ['clusters', name, 'host'], host, { json: path.endsWith('.json') }));
}

/** Once every writer serves from the target: the inventory says where the cluster runs. */
export async function finishClusterMove(ctx: MoveContext, item: JournalItem): Promise<void> {
  try {
    await editClusterHost(ctx, item.name, item.to);
    await ctx.journal.step(item, 'edit', { state: 'moved', reason: null });
    ctx.report(`${item.name}: moved to ${item.to} (its databases on ${item.from} stay there, frozen: drop them once you no longer want them)`);
  } catch (error) {
    if (!(error instanceof StepFailed)) throw error;
    await ctx.journal.set(item, { state: 'failed', reason: error.message });
  }
}

/** Whether a writer may have written to the target's copy (its deploy there began). */
export const writersStartedOnTarget = (writers: readonly (JournalItem | undefined)[]): boolean =>
  writers.some((w) => w !== undefined && (w.done.includes('deploying') || w.done.includes('start')));

/**
 * Back to the source: the target's copy frozen (its writers stopped there), the source thawed
 * and its writers started. Refused once a writer may have written on the target, unless
 * `force`: the source's data is as it was at the freeze, and what was written on the target
 * since stays only in the target's (frozen) copy.
 */
export async function returnCluster(
  ctx: MoveContext,
  refs: ClusterMoveRefs,
  item: JournalItem,
  writers: readonly (JournalItem | undefined)[],
  force: boolean,
): Promise<void> {
  const { cluster, dbs } = refs;
  try {
    if (writersStartedOnTarget(writers) && !force)
      throw new StepFailed(
        `${dbs.map((d) => d.writer.id).join(', ')} started on ${item.to} and may have written to its copy of ${dbs.map((d) => d.name).join(', ')}: going back serves the data as it was on ${item.from} at the freeze (${item.at}), and what was written on ${item.to} since stays only in its copy there. Continue the move instead, or --abort --force to go back anyway`,
      );
    if (item.done.includes('edit')) {
      await editClusterHost(ctx, item.name, item.from);
      await ctx.journal.set(item, { done: item.done.filter((s) => s !== 'edit') });
    }
    if (item.done.length > 0 || item.state !== 'pending') {
      ctx.report(`${item.name}: freezing the copy on ${item.to}, thawing ${item.from}`);
      for (const d of dbs) await unitScript(ctx, item.to, retireUnitScript(unitOf(ctx, d.writer, item.to)), `stop ${d.writer.id}`);
      // A target whose cluster never had the roles has nothing to freeze.
      if (item.done.includes('provision') || item.done.includes('env'))
        await sqlOn(ctx, item.to, cluster, freezeSql(dbs, true), `freeze ${cluster.name}`).catch((e) => {
          if (!(e instanceof StepFailed) || item.done.includes('provision')) throw e;
        });
      await sqlOn(ctx, item.from, cluster, freezeSql(dbs, false), `thaw ${cluster.name}`);
      for (const d of dbs) await unitScript(ctx, item.from, reviveUnitScript(unitOf(ctx, d.writer, item.from)), `start ${d.writer.id}`);
    }
    await ctx.journal.set(item, { done: [], state: 'returned', reason: null });
  } catch (error) {
    if (!(error instanceof StepFailed)) throw error;
    await ctx.journal.set(item, { reason: `abort: ${error.message}` });
  }
}

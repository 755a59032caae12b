/**
 * `db provision`: for every declared PostgreSQL database, its own login role (no superuser,
 * createdb or createrole rights), a database that role owns with CONNECT revoked from PUBLIC,
 * the service host admitted for that database and user only (pg_hba.conf managed block,
 * scram-sha-256, reloaded), and the app's credentials in the service's env_file.
 *
 * Order, so that a run cut anywhere converges on the next one: (1) read both sides, one script
 * per host; (2) write the env files (the env file is where the password lives: it is the source
 * of truth); (3) create/alter roles and databases, set the hba block; (4) restart a running
 * service whose credentials changed, through its readiness gate. A rerun after a cut at (2) or
 * (3) finds the env file's password not matching the role's verifier and sets it.
 */
import pLimit from 'p-limit';
import { serviceId, type Fleet, type Host, type Service } from '../fleet/model.js';
import { Ops } from '../ops/context.js';
import { runAction } from '../ops/lifecycle.js';
import type { Progress } from '../ops/progress.js';
import { failureReason, type RunResult } from '../transport/types.js';
import { databaseConflicts } from '../fleet/databases.js';
import { pgNameIssue } from '../names.js';
import { byClusterHost, DRIVEN_ENGINES, selectDatabases, type DeclaredDatabase } from './declared.js';
import {
  envInspectScript,
  envValues,
  envWriteScript,
  MANAGED_VARS,
  parseEnvInspect,
  parseEnvWrite,
  type EnvFileState,
  type EnvWrite,
} from './envfile.js';
import { HBA_BEGIN, HBA_END, hbaUnquote, withManagedBlock, type HbaEntry } from './hba.js';
import {
  applyScript,
  ident,
  inspectScript,
  literal,
  parseApply,
  parseInspect,
  type ClusterChange,
  type ClusterRef,
  type ClusterState,
} from './postgres.js';
import { generatePassword, scramVerifier, verifierMatches } from './scram.js';

export interface ProvisionOptions {
  targets: readonly string[];
  env?: string;
  rotate: boolean;
  dryRun: boolean;
  readyTimeoutMs?: number;
  /**
   * Step 1's answers already read by the caller, by host (`provisionReadScripts` built them; a
   * caller that has a round trip to the host anyway runs them in it): that host is not read again.
   */
  preread?: ReadonlyMap<string, { cluster?: RunResult; env?: RunResult }>;
  /** Where a manifest declares a field (file:line:column in refusals), when the caller has the sources. */
  locate?: (manifest: string, path: (string | number)[]) => { line: number; column: number } | undefined;
}

export type CredentialsOutcome = 'kept' | 'created' | 'rotated' | 'repaired' | 'not-delivered';

export interface DatabaseResult {
  id: string;
  project: string;
  environment: string;
  cluster: string;
  host: string;
  database: string;
  user: string;
  service_host: string | null;
  env_file: string | null;
  /** What was done (or, with --dry-run, would be): never a password. */
  changes: string[];
  credentials: CredentialsOutcome;
  restart: { outcome: string; ok: boolean; detail?: string } | null;
  ok: boolean;
  reason?: string;
}

export interface ClusterResult {
  name: string;
  host: string;
  ok: boolean;
  hba_file: string | null;
  hba: 'unchanged' | 'updated' | 'would-update' | 'not-applied';
  hba_backup: string | null;
  reason?: string;
}

export interface ProvisionReport {
  dry_run: boolean;
  databases: DatabaseResult[];
  clusters: ClusterResult[];
  not_driven: { id: string | null; cluster: string; reason: string }[];
  /**
   * Databases changed / unchanged / failed; clusters whose pg_hba.conf block changed;
   * databases whose project has a service the credentials cannot reach (no env_file, no address
   * to admit): the role and database exist but the app cannot log in, a problem (exit 1).
   */
  summary: { changed: number; unchanged: number; failed: number; clusters_changed: number; not_delivered: number };
}

interface Planned {
  d: DeclaredDatabase;
  result: DatabaseResult;
  sql: string[];
  envWrite?: EnvWrite;
  /** The password the role will have (only in memory). */
  password?: string;
  credentialsChanged: boolean;
  unitActive: boolean;
}

const ROLE_RIGHTS = 'LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS';

/** Runs one script per host in parallel; unreachable hosts come back as results too. */
export async function perHost<T>(
  ops: Ops,
  hosts: readonly Host[],
  script: (h: Host) => string,
  timeoutMs: number,
  parse: (h: Host, r: RunResult) => T,
  preread?: (h: Host) => RunResult | undefined,
): Promise<Map<string, T>> {
  const limit = pLimit(ops.settings.concurrency);
  const out = new Map<string, T>();
  await Promise.all(
    hosts.map((h) => limit(async () => out.set(h.name, parse(h, preread?.(h) ?? (await ops.transport(h).script(script(h), { timeoutMs })))))),
  );
  return out;
}

const uniqueHosts = (hosts: (Host | undefined)[]): Host[] => [
  ...new Map(hosts.filter((h): h is Host => h !== undefined).map((h) => [h.name, h])).values(),
];

export interface ClusterInspection {
  reachable: boolean;
  reason?: string;
  clusters: Map<string, ClusterState>;
}

/** Inspects every cluster host of these databases: one round trip per host. */
export async function inspectClusters(
  ops: Ops,
  databases: readonly DeclaredDatabase[],
  extra: readonly { host: Host; ref: ClusterRef }[] = [],
  preread?: (h: Host) => RunResult | undefined,
): Promise<Map<string, ClusterInspection>> {
  const { hosts, refs } = inspectionRefs(databases, extra);
  return perHost(
    ops,
    [...hosts.values()],
    (h) => inspectScript(refs.get(h.name)!),
    ops.settings.commandTimeoutMs,
    (_h, r) => {
      if (r.unreachable || r.code !== 0) return { reachable: false, reason: failureReason(r), clusters: new Map() };
      return { reachable: true, clusters: parseInspect(r.stdout) };
    },
    preread,
  );
}

/** Which clusters each host's inspection reads, and for which users' verifiers. */
function inspectionRefs(databases: readonly DeclaredDatabase[], extra: readonly { host: Host; ref: ClusterRef }[]) {
  const refs = new Map<string, ClusterRef[]>();
  const hosts = new Map<string, Host>();
  for (const d of databases) {
    hosts.set(d.clusterHost.name, d.clusterHost);
    const list = refs.get(d.clusterHost.name) ?? [];
    let ref = list.find((r) => r.name === d.cluster.name);
    if (!ref) list.push((ref = { name: d.cluster.name, port: d.cluster.port, verifiersFor: [] }));
    // Only the declared users' verifiers are read (provision compares them with the env files).
    ref.verifiersFor = [...new Set([...(ref.verifiersFor ?? []), d.user])];
    refs.set(d.clusterHost.name, list);
  }
  for (const e of extra) {
    hosts.set(e.host.name, e.host);
    const list = refs.get(e.host.name) ?? [];
    if (!list.some((r) => r.name === e.ref.name)) list.push(e.ref);
    refs.set(e.host.name, list);
  }
  return { hosts, refs };
}

/**
 * The scripts of `provision`'s step 1 (what it reads), by host: a caller with a round trip to
 * a host anyway runs them in it and hands their answers back as `preread`.
 */
export function provisionReadScripts(
  fleet: Fleet,
  options: Pick<ProvisionOptions, 'targets' | 'env'>,
): Map<string, { cluster?: string; env?: string }> {
  const dbs = selectDatabases(fleet, options.targets, options.env).databases;
  const out = new Map<string, { cluster?: string; env?: string }>();
  const { refs } = inspectionRefs(dbs, []);
  for (const [host, list] of refs) out.set(host, { cluster: inspectScript(list) });
  for (const h of uniqueHosts(dbs.filter((d) => d.undeliverable === undefined).map((d) => d.serviceHost)))
    out.set(h.name, { ...out.get(h.name), env: envInspectScript(envTargets(dbs, h)) });
  return out;
}

function envTargets(planned: readonly DeclaredDatabase[], host: Host) {
  return planned
    .filter((d) => d.undeliverable === undefined && d.serviceHost?.name === host.name)
    .map((d) => ({
      id: d.id,
      path: d.service!.envFile!,
      owner: d.service!.runAs ?? 'root',
      ...(d.service!.unit === undefined ? {} : { unit: d.service!.unit }),
    }));
}

/** Entries the previous block had for databases not in this run, kept; this run's, set. */
function hbaEntries(previous: string[], planned: readonly Planned[]): HbaEntry[] {
  const mine = new Set(planned.map((p) => `${p.d.name} ${p.d.user}`));
  const kept: HbaEntry[] = [];
  for (const line of previous) {
    const f = line.trim().split(/\s+/);
    if (f[0] !== 'host' || f.length < 5) continue;
    const [database, user] = [hbaUnquote(f[1]!), hbaUnquote(f[2]!)];
    // An entry of an earlier run is kept only when its names are still names (never a keyword).
    if (!mine.has(`${database} ${user}`) && pgNameIssue('database', database) === undefined && pgNameIssue('user', user) === undefined)
      kept.push({ database, user, address: f[3]! });
  }
  return [
    ...kept,
    ...planned.filter((p) => p.d.clientCidr !== undefined).map((p) => ({ database: p.d.name, user: p.d.user, address: p.d.clientCidr! })),
  ];
}

function currentBlock(hba: string): string[] {
  const lines = hba.split('\n');
  const b = lines.indexOf(HBA_BEGIN);
  const e = b < 0 ? -1 : lines.indexOf(HBA_END, b + 1);
  return b < 0 || e < 0 ? [] : lines.slice(b + 1, e);
}

function planDatabase(d: DeclaredDatabase, state: ClusterState, env: EnvFileState | undefined, rotate: boolean): Planned {
  const result: DatabaseResult = { ...resultOf(d), credentials: 'kept', restart: null, ok: true };
  const p: Planned = { d, result, sql: [], credentialsChanged: false, unitActive: env?.unitActive === 'active' };
  const fail = (reason: string) => {
    result.ok = false;
    result.reason = reason;
    return p;
  };
  const role = state.roles.get(d.user);
  if (role?.superuser) return fail(`${d.user} is a superuser on ${d.cluster.name}: an app never uses the admin role; declare a user of its own`);
  // An existing role is adopted only when it has nothing an app's role must not have: a role that
  // can create roles, replicate, bypass row security or holds another role's rights (pg_read_all_data,
  // another app's role) is refused, and nothing is changed for this project.
  if (role) {
    const rights = [
      ...(['createrole', 'replication', 'bypassrls'] as const).filter((k) => role[k]).map((k) => k.toUpperCase()),
      ...role.memberOf.map((g) => `member of ${g}`),
    ];
    if (rights.length > 0)
      return fail(
        `role ${d.user} already exists on ${d.cluster.name} with rights an app's role must not have (${rights.join(', ')}): not adopted, nothing changed; revoke them by hand or declare a user of its own`,
      );
  }

  // The password: the env file's when it has one for this user (kept), a new one otherwise.
  let password: string | undefined;
  if (d.undeliverable === undefined) {
    if (!env) return fail(`cannot read ${d.service!.envFile} on ${d.serviceHost!.name}`);
    if (env.state === 'symlink' || env.state === 'other')
      return fail(`${d.service!.envFile} on ${d.serviceHost!.name} is ${env.state === 'symlink' ? 'a symlink' : 'not a regular file'}: not written`);
    if (env.state === 'unsafe')
      return fail(
        `a directory on the path of ${d.service!.envFile} on ${d.serviceHost!.name} is writable by an account other than root (or is a link), and ${d.id} runs as root: neither read nor written (declare service.user, or keep the env file in a directory only root can write)`,
      );
    const existing = env.vars.PGUSER === d.user ? env.vars.PGPASSWORD : undefined;
    password = rotate || existing === undefined || existing === '' ? generatePassword() : existing;
    const values = envValues({ host: d.connectHost!, port: d.cluster.port, database: d.name, user: d.user, password });
    const stale = MANAGED_VARS.some((k) => env.vars[k] !== values[k]);
    const owner = d.service!.runAs ?? 'root';
    if (rotate || stale || env.state === 'absent') {
      p.envWrite = { id: d.id, path: d.service!.envFile!, owner, values };
      result.changes.push(
        existing === undefined
          ? `write DATABASE_URL and PG* into ${d.service!.envFile} on ${d.serviceHost!.name}`
          : rotate
            ? `write the new password into ${d.service!.envFile} on ${d.serviceHost!.name}`
            : `update DATABASE_URL and PG* in ${d.service!.envFile} on ${d.serviceHost!.name}`,
      );
      result.credentials = rotate && existing !== undefined ? 'rotated' : existing === undefined ? 'created' : 'repaired';
      p.credentialsChanged = true;
    } else if (env.owner !== owner || env.mode !== '600') {
      // The right values, the wrong owner (service.user declared after a first provision) or mode:
      // the service's own user could not read it (its migrations would run without it). Rewritten
      // as the service's, 0600; the running process keeps its values (systemd read them as root).
      p.envWrite = { id: d.id, path: d.service!.envFile!, owner, values, keepTime: true };
      result.changes.push(
        `give ${d.service!.envFile} on ${d.serviceHost!.name} to ${owner}, mode 0600 (was ${env.owner ?? '?'}, mode ${env.mode ?? '?'})`,
      );
    }
    p.password = password;
    if (!p.credentialsChanged && env.unitStale && p.unitActive) {
      // Cut between writing the env file and restarting: the running process has the old credentials.
      p.credentialsChanged = true;
      result.changes.push(`${d.id} runs since before ${d.service!.envFile} last changed`);
    }
  } else {
    result.credentials = 'not-delivered';
  }

  const pw = password === undefined ? 'PASSWORD NULL' : `PASSWORD ${literal(scramVerifier(password))}`;
  if (!role) {
    p.sql.push(`CREATE ROLE ${ident(d.user)} ${ROLE_RIGHTS} ${pw};`);
    result.changes.push(`create role ${d.user} (login; no superuser, createdb, createrole)`);
  } else {
    const extra = (['createdb', 'createrole', 'replication', 'bypassrls'] as const).filter((k) => role[k]);
    if (extra.length > 0 || !role.login) {
      p.sql.push(`ALTER ROLE ${ident(d.user)} ${ROLE_RIGHTS};`);
      result.changes.push(`restrict role ${d.user}${extra.length > 0 ? ` (drop ${extra.join(', ')})` : ''}${role.login ? '' : ' (allow login)'}`);
    }
    if (password !== undefined && !verifierMatches(role.verifier, password)) {
      p.sql.push(`ALTER ROLE ${ident(d.user)} ${pw};`);
      result.changes.push(`set the password of role ${d.user}${p.envWrite ? '' : ` (to the one in ${d.service!.envFile})`}`);
      if (!p.credentialsChanged) result.credentials = 'repaired';
      p.credentialsChanged = true;
    }
  }
  const db = state.databases.get(d.name);
  if (!db) {
    p.sql.push(`CREATE DATABASE ${ident(d.name)} OWNER ${ident(d.user)};`);
    result.changes.push(`create database ${d.name} owned by ${d.user}`);
  } else if (db.owner !== d.user) {
    p.sql.push(`ALTER DATABASE ${ident(d.name)} OWNER TO ${ident(d.user)};`);
    result.changes.push(`make ${d.user} the owner of ${d.name} (was ${db.owner})`);
  }
  if (!db || db.publicConnect) {
    p.sql.push(`REVOKE CONNECT, TEMPORARY ON DATABASE ${ident(d.name)} FROM PUBLIC;`);
    if (db) result.changes.push(`revoke CONNECT on ${d.name} from PUBLIC`);
  }
  if (d.undeliverable !== undefined) result.reason = d.undeliverable;
  return p;
}

/**
 * What validate refuses in a declaration, refused here before anything is read or changed for
 * it: a name that is not plain or has a meaning of its own (db_name), and a database or user two
 * projects declare (own_db). Every party of a conflict is refused: manifests cannot say which one
 * rightfully owns the database, and giving it to the wrong one hands over its data or password.
 */
function refusals(fleet: Fleet, locate: ProvisionOptions['locate']): Map<string, string> {
  const out = new Map<string, string>();
  const where = (manifest: string, field: string) => {
    const at = locate?.(manifest, ['database', field]);
    return at ? `${manifest}:${at.line}:${at.column}` : manifest;
  };
  const add = (id: string, reason: string) => out.set(id, out.has(id) ? `${out.get(id)}; ${reason}` : reason);
  for (const d of fleet.databases) {
    const cluster = fleet.clusters.find((c) => c.name === d.cluster);
    if (cluster && !DRIVEN_ENGINES.has(cluster.engine)) continue;
    const id = serviceId(d.project, d.environment);
    for (const field of ['name', 'user'] as const) {
      const issue = pgNameIssue(field === 'name' ? 'database' : 'user', d[field]);
      if (issue !== undefined) add(id, `${where(d.manifest, field)}: database ${field} ${JSON.stringify(d[field])} ${issue} (db_name): nothing done`);
    }
  }
  for (const c of databaseConflicts(fleet.databases)) {
    for (const d of c.declarations) {
      const others = c.declarations.filter((o) => o.project !== d.project).map((o) => `${o.project} (${where(o.manifest, c.field)})`);
      add(
        serviceId(d.project, d.environment),
        `${where(d.manifest, c.field)}: ${c.field === 'name' ? 'database' : 'database user'} "${c.value}" on cluster "${c.cluster}" is also declared by ${others.join(', ')} (own_db): nothing done for any of them until one is renamed`,
      );
    }
  }
  return out;
}

export async function provision(fleet: Fleet, ops: Ops, options: ProvisionOptions, progress: Progress): Promise<ProvisionReport> {
  const selection = selectDatabases(fleet, options.targets, options.env);
  const report: ProvisionReport = {
    dry_run: options.dryRun,
    databases: [],
    clusters: [],
    not_driven: selection.notDriven,
    summary: { changed: 0, unchanged: 0, failed: 0, clusters_changed: 0, not_delivered: 0 },
  };
  const dbs = selection.databases;
  const serviceHosts = uniqueHosts(dbs.filter((d) => d.undeliverable === undefined).map((d) => d.serviceHost));

  progress.note(`step 1/4: reading ${byClusterHost(dbs).size} cluster host(s) and ${serviceHosts.length} service host(s)`);
  const [clusters, envs] = await Promise.all([
    inspectClusters(ops, dbs, [], (h) => options.preread?.get(h.name)?.cluster),
    perHost(
      ops,
      serviceHosts,
      (h) => envInspectScript(envTargets(dbs, h)),
      ops.settings.commandTimeoutMs,
      (_h, r) => (r.unreachable || r.code !== 0 ? { error: failureReason(r) } : { states: parseEnvInspect(r.stdout) }),
      (h) => options.preread?.get(h.name)?.env,
    ),
  ]);

  // Plan every database against what its cluster and its service host said.
  const planned: Planned[] = [];
  const byCluster = new Map<string, Planned[]>();
  const refused = refusals(fleet, options.locate);
  for (const d of dbs) {
    const refusal = refused.get(d.id);
    if (refusal !== undefined) {
      planned.push(failed(d, refusal));
      continue;
    }
    const hostState = clusters.get(d.clusterHost.name)!;
    const state = hostState.clusters.get(d.cluster.name);
    const env = d.undeliverable === undefined ? envs.get(d.serviceHost!.name) : undefined;
    let p: Planned;
    if (!hostState.reachable || !state) p = failed(d, `cluster host ${d.clusterHost.name}: ${hostState.reason ?? 'no answer'}`);
    else if (!state.ok) p = failed(d, `cluster ${d.cluster.name} on ${d.clusterHost.name}: ${state.error}`);
    else if (env && 'error' in env) p = failed(d, `service host ${d.serviceHost!.name}: ${env.error}`);
    else p = planDatabase(d, state, env?.states?.get(d.id), options.rotate);
    planned.push(p);
    if (p.result.ok) byCluster.set(d.cluster.name, [...(byCluster.get(d.cluster.name) ?? []), p]);
  }

  // The hba block per cluster.
  const changes = new Map<string, ClusterChange>();
  for (const [name, ps] of byCluster) {
    const d = ps[0]!.d;
    const state = clusters.get(d.clusterHost.name)!.clusters.get(name)!;
    const cr: ClusterResult = { name, host: d.clusterHost.name, ok: true, hba_file: state.hbaFile ?? null, hba: 'unchanged', hba_backup: null };
    report.clusters.push(cr);
    const change: ClusterChange = { cluster: { name, port: d.cluster.port }, sql: [] };
    changes.set(name, change);
    if (state.hba === undefined || state.hbaFile === undefined || !state.hbaSha) {
      cr.ok = false;
      cr.hba = 'not-applied';
      cr.reason = `cannot read pg_hba.conf of ${name}`;
      continue;
    }
    try {
      const edit = withManagedBlock(`${state.hba}\n`, hbaEntries(currentBlock(state.hba), ps));
      if (edit.changed) {
        change.hba = { file: state.hbaFile, content: edit.content, expectSha: state.hbaSha };
        cr.hba = options.dryRun ? 'would-update' : 'updated';
        cr.hba_backup = `${state.hbaFile}.manage-apps.bak`;
      }
    } catch (e) {
      cr.ok = false;
      cr.hba = 'not-applied';
      cr.reason = (e as Error).message;
    }
  }

  if (!options.dryRun) {
    // (2) env files first: the password exists where the app reads it before the role has it.
    const writes = planned.filter((p) => p.result.ok && p.envWrite);
    const writeHosts = uniqueHosts(writes.map((p) => p.d.serviceHost));
    if (writeHosts.length > 0) progress.note(`step 2/4: writing credentials on ${writeHosts.map((h) => h.name).join(', ')}`);
    const written = await perHost(
      ops,
      writeHosts,
      (h) => envWriteScript(writes.filter((p) => p.d.serviceHost!.name === h.name).map((p) => p.envWrite!)),
      ops.settings.commandTimeoutMs,
      (_h, r) => ({ r, outcomes: parseEnvWrite(r.stdout) }),
    );
    for (const p of writes) {
      const w = written.get(p.d.serviceHost!.name)!;
      const o = w.outcomes.get(p.d.id);
      if (!o?.ok) markFailed(p, `env file not written on ${p.d.serviceHost!.name}: ${o?.error ?? failureReason(w.r)}`);
    }

    // (3) roles, databases, hba: one script per cluster host.
    for (const p of planned) if (p.result.ok) changes.get(p.d.cluster.name)!.sql.push(...p.sql);
    const toApply = [...changes.values()].filter((c) => c.sql.length > 0 || c.hba);
    const applyHosts = uniqueHosts(toApply.map((c) => dbs.find((d) => d.cluster.name === c.cluster.name)!.clusterHost));
    if (applyHosts.length > 0) progress.note(`step 3/4: applying on ${applyHosts.map((h) => h.name).join(', ')}`);
    const applied = await perHost(
      ops,
      applyHosts,
      (h) => applyScript(toApply.filter((c) => dbs.find((d) => d.cluster.name === c.cluster.name)!.clusterHost.name === h.name)),
      ops.settings.commandTimeoutMs * 2,
      (_h, r) => ({ r, outcomes: parseApply(r.stdout) }),
    );
    for (const c of toApply) {
      const host = dbs.find((d) => d.cluster.name === c.cluster.name)!.clusterHost.name;
      const a = applied.get(host)!;
      const o = a.outcomes.get(c.cluster.name);
      const cr = report.clusters.find((x) => x.name === c.cluster.name)!;
      if (!o?.ok) {
        const reason = o?.error ?? failureReason(a.r);
        cr.ok = false;
        if (c.hba) cr.hba = 'not-applied';
        cr.reason = reason;
        for (const p of planned)
          if (p.result.ok && p.d.cluster.name === c.cluster.name && (p.sql.length > 0 || c.hba))
            markFailed(p, `cluster ${c.cluster.name}: ${reason}`);
      }
    }

    // (4) a running service whose credentials changed restarts through its readiness gate.
    const restarts = planned.filter((p) => p.result.ok && p.credentialsChanged && p.unitActive && p.d.service !== undefined);
    if (restarts.length > 0) progress.note(`step 4/4: restarting ${restarts.map((p) => p.d.id).join(', ')}`);
    await Promise.all(
      restarts.map(async (p) => {
        const r = await runAction(ops, p.d.service as Service, 'restart', {
          wait: true,
          force: true,
          graceS: 10,
          ...(options.readyTimeoutMs === undefined ? {} : { readyTimeoutMs: options.readyTimeoutMs }),
        });
        p.result.restart = { outcome: r.outcome, ok: r.ok, ...(r.detail === undefined ? {} : { detail: r.detail }) };
        p.result.changes.push(`restart ${p.d.id} (${r.outcome})`);
        if (!r.ok) markFailed(p, `restart after the credential change: ${r.outcome}${r.detail ? ` (${r.detail})` : ''}`);
      }),
    );
  }

  for (const p of planned) {
    report.databases.push(p.result);
    if (!p.result.ok) report.summary.failed++;
    else if (p.result.changes.length > 0) report.summary.changed++;
    else report.summary.unchanged++;
    if (p.result.ok && p.result.credentials === 'not-delivered' && p.d.service !== undefined) report.summary.not_delivered++;
  }
  report.summary.clusters_changed = report.clusters.filter((c) => c.hba === 'updated' || c.hba === 'would-update').length;
  return report;
}

function failed(d: DeclaredDatabase, reason: string): Planned {
  return {
    d,
    sql: [],
    credentialsChanged: false,
    unitActive: false,
    result: { ...resultOf(d), credentials: d.undeliverable === undefined ? 'kept' : 'not-delivered', restart: null, ok: false, reason },
  };
}

/** What every database's result says of it, before anything is planned. */
function resultOf(d: DeclaredDatabase): Omit<DatabaseResult, 'credentials' | 'restart' | 'ok'> {
  return {
    id: d.id,
    project: d.project,
    environment: d.environment,
    cluster: d.cluster.name,
    host: d.clusterHost.name,
    database: d.name,
    user: d.user,
    service_host: d.serviceHost?.name ?? null,
    env_file: d.service?.envFile ?? null,
    changes: [],
  };
}

function markFailed(p: Planned, reason: string): void {
  p.result.ok = false;
  p.result.reason = reason;
}

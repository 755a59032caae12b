/**
 * `db status`: per PostgreSQL cluster, the declared databases and users and whether they exist,
 * their owner, size and connections; what the cluster has that no manifest declares (drift);
 * and any login role with rights on another project's database (a live `own_db` violation).
 * One script per cluster host.
 */
import type { Cluster, Fleet, Host } from '../fleet/model.js';
import type { Ops } from '../ops/context.js';
import { DRIVEN_ENGINES, notDrivenReason, resolveDatabase, type DeclaredDatabase } from './declared.js';
import { inspectClusters } from './provision.js';

export interface DeclaredRow {
  id: string;
  database: string;
  user: string;
  exists: boolean;
  user_exists: boolean;
  owner: string | null;
  owner_ok: boolean;
  /** The role has none of superuser, createdb, createrole. */
  user_limited: boolean;
  public_connect: boolean;
  bytes: number | null;
  connections: number | null;
}

export interface Violation {
  role: string;
  role_project: string | null;
  database: string;
  database_project: string;
  message: string;
}

export interface ClusterStatus {
  name: string;
  host: string;
  engine: string;
  port: number;
  reachable: boolean;
  reason?: string;
  version: string | null;
  declared: DeclaredRow[];
  drift: { databases: string[]; roles: string[] };
  violations: Violation[];
}

export interface DbStatusReport {
  clusters: ClusterStatus[];
  not_driven: { cluster: string; engine: string; reason: string }[];
  summary: { declared: number; missing: number; drift: number; violations: number; unreachable: number };
}

const SYSTEM_DATABASES = new Set(['postgres']);
const SYSTEM_ROLES = new Set(['postgres']);

export async function dbStatus(fleet: Fleet, ops: Ops, clusterNames: readonly string[]): Promise<DbStatusReport> {
  const wanted = (c: Cluster) => clusterNames.length === 0 || clusterNames.includes(c.name);
  const clusters = fleet.clusters.filter(wanted);
  const report: DbStatusReport = { clusters: [], not_driven: [], summary: { declared: 0, missing: 0, drift: 0, violations: 0, unreachable: 0 } };
  const driven = clusters.filter((c) => DRIVEN_ENGINES.has(c.engine));
  for (const c of clusters)
    if (!DRIVEN_ENGINES.has(c.engine)) report.not_driven.push({ cluster: c.name, engine: c.engine, reason: notDrivenReason(c) });
  const declared = fleet.databases.map((d) => resolveDatabase(fleet, d)).filter((d): d is DeclaredDatabase => 'clusterHost' in d);
  const hostOf = (c: Cluster) => fleet.hosts.find((h) => h.name === c.host);
  const extra = driven.flatMap((c) => (hostOf(c) ? [{ host: hostOf(c) as Host, ref: { name: c.name, port: c.port } }] : []));
  const inspected = await inspectClusters(ops, [], extra);
  for (const c of driven) {
    const mine = declared.filter((d) => d.cluster.name === c.name);
    const byUser = new Map(mine.map((d) => [d.user, d]));
    const byDb = new Map(mine.map((d) => [d.name, d]));
    const row: ClusterStatus = {
      name: c.name,
      host: c.host,
      engine: c.engine,
      port: c.port,
      reachable: false,
      version: null,
      declared: [],
      drift: { databases: [], roles: [] },
      violations: [],
    };
    report.clusters.push(row);
    const host = inspected.get(c.host);
    const state = host?.clusters.get(c.name);
    if (!hostOf(c)) row.reason = `host ${c.host} is not in the inventory`;
    else if (!host?.reachable) row.reason = host?.reason ?? 'no answer';
    else if (!state?.ok) row.reason = state?.error ?? 'no answer';
    if (row.reason !== undefined || !state) {
      report.summary.unreachable++;
      row.declared = mine.map((d) => ({
        id: d.id,
        database: d.name,
        user: d.user,
        exists: false,
        user_exists: false,
        owner: null,
        owner_ok: false,
        user_limited: false,
        public_connect: false,
        bytes: null,
        connections: null,
      }));
      report.summary.declared += mine.length;
      continue;
    }
    row.reachable = true;
    row.version = state.version ?? null;
    for (const d of mine) {
      const db = state.databases.get(d.name);
      const role = state.roles.get(d.user);
      const r: DeclaredRow = {
        id: d.id,
        database: d.name,
        user: d.user,
        exists: db !== undefined,
        user_exists: role !== undefined,
        owner: db?.owner ?? null,
        owner_ok: db?.owner === d.user,
        user_limited: role !== undefined && !role.superuser && !role.createdb && !role.createrole,
        public_connect: db?.publicConnect ?? false,
        bytes: db?.bytes ?? null,
        connections: db?.connections ?? null,
      };
      row.declared.push(r);
      report.summary.declared++;
      if (!r.exists || !r.user_exists) report.summary.missing++;
    }
    row.drift.databases = [...state.databases.keys()].filter((n) => !byDb.has(n) && !SYSTEM_DATABASES.has(n));
    row.drift.roles = [...state.roles.keys()].filter((n) => !byUser.has(n) && !SYSTEM_ROLES.has(n));
    report.summary.drift += row.drift.databases.length + row.drift.roles.length;
    for (const [role, dbs] of state.access) {
      for (const database of dbs) {
        const owner = byDb.get(database);
        if (!owner || owner.user === role) continue;
        const roleProject = byUser.get(role)?.id ?? null;
        row.violations.push({
          role,
          role_project: roleProject,
          database,
          database_project: owner.id,
          message: `role ${role}${roleProject ? ` (${roleProject})` : ''} can connect to ${database}, the database of ${owner.id} (own_db)`,
        });
      }
    }
    report.summary.violations += row.violations.length;
  }
  return report;
}

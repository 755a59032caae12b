/**
 * `backups`: declared RPO / RTO / method per database cluster (inventory `clusters.*.backup`),
 * per logical database (infra/v2 `database.backup`) and per stateful service (`service.backup`);
 * stateful things with none; and the host-loss table teams keep by hand.
 */
import type { BackupPolicy } from '../manifest/types.js';
import { durationMs, serviceId, type ProjectDatabase } from '../fleet/model.js';
import type { FleetIndex } from './topology.js';

export interface PolicyJson {
  rpo: string;
  rto: string;
  method: string;
  target: string | null;
  drill: string | null;
}

export interface DatabaseRow {
  project: string;
  environment: string;
  /** The project's service id, or null for a project that declares a database and no service. */
  service: string | null;
  name: string;
  /** Its own database.backup, else the cluster's. */
  policy: PolicyJson | null;
  source: 'database.backup' | 'cluster' | null;
}

export type BackupStatus = 'ok' | 'cache' | 'missing';

export interface ClusterBackup {
  name: string;
  host: string;
  engine: string;
  role: string;
  production: boolean;
  policy: PolicyJson | null;
  databases: DatabaseRow[];
  status: BackupStatus;
}

export interface ServiceBackup {
  id: string;
  project: string;
  environment: string;
  host: string | null;
  production: boolean;
  policy: PolicyJson | null;
  status: BackupStatus;
}

export interface Missing {
  kind: 'cluster' | 'database' | 'service';
  name: string;
  host: string | null;
  production: boolean;
  severity: 'error' | 'warning';
  message: string;
}

export interface HostLossRow {
  host: string;
  role: string;
  data: { kind: 'cluster' | 'service'; name: string; rpo: string; rto: string; method: string | null }[];
  /** Worst over its data: a duration, "continuous", "n/a" (nothing to lose), "none" (no policy), or null (no data). */
  worst_rpo: string | null;
  worst_rto: string | null;
  /** Data there with no backup policy (what makes the worst "none"). */
  undeclared: string[];
  /** Data there whose only backup is kept on this same host: gone with it (also "none"). */
  backup_on_same_host: string[];
  /** Data on other hosts whose backups are kept here (lost with it until re-made). */
  holds_backups_of: string[];
}

export interface BackupReport {
  clusters: ClusterBackup[];
  services: ServiceBackup[];
  missing: Missing[];
  warnings: string[];
  host_loss: HostLossRow[];
  ok: boolean;
}

export const NONE = 'none';

/** Severity order of an objective: n/a < continuous < durations < none (no policy). */
export function objectiveRank(value: string): number {
  if (value === 'n/a') return 0;
  if (value === 'continuous') return 1;
  if (value === NONE) return Number.POSITIVE_INFINITY;
  return 2 + durationMs(value, Number.MAX_SAFE_INTEGER);
}

export function worst(values: readonly string[]): string | null {
  let best: string | null = null;
  for (const v of values) if (best === null || objectiveRank(v) > objectiveRank(best)) best = v;
  return best;
}

const json = (p: BackupPolicy | undefined): PolicyJson | null =>
  p ? { rpo: p.rpo, rto: p.rto, method: p.method, target: p.target ?? null, drill: p.drill ?? null } : null;

export function backupReport(index: FleetIndex): BackupReport {
  const { fleet } = index;
  const missing: Missing[] = [];
  const warnings: string[] = [];
  const clusters: ClusterBackup[] = [];
  const hostData = new Map<string, HostLossRow['data']>();
  const holds = new Map<string, string[]>();
  const addData = (host: string, row: HostLossRow['data'][number]) => hostData.set(host, [...(hostData.get(host) ?? []), row]);
  const sameHost = new Map<string, string[]>();
  const noteTarget = (what: string, host: string | null, p: PolicyJson | null) => {
    if (!p?.target) return;
    if (p.target === host) warnings.push(`the backup of ${what} is kept on ${host}, the host it protects: losing ${host} loses both`);
    else if (index.hosts.has(p.target)) holds.set(p.target, [...(holds.get(p.target) ?? []), what]);
  };

  // Every declared logical database (fleet.databases: also projects with no service block).
  const declared = new Map<string, ProjectDatabase[]>();
  for (const d of fleet.databases ?? []) declared.set(d.cluster, [...(declared.get(d.cluster) ?? []), d]);
  for (const c of fleet.clusters) {
    const users = declared.get(c.name) ?? [];
    const host = index.hosts.get(c.host);
    const production = users.length === 0 ? host?.role === 'production' || host?.role === 'legacy' : users.some((d) => d.environment === 'prod');
    const policy = json(c.backup);
    const databases: DatabaseRow[] = users.map((d) => {
      const own = json(d.backup);
      const id = serviceId(d.project, d.environment);
      return {
        project: d.project,
        environment: d.environment,
        service: index.services.has(id) ? id : null,
        name: d.name,
        policy: own ?? policy,
        source: own ? 'database.backup' : policy ? 'cluster' : null,
      };
    });
    const cache = c.role === 'cache';
    const uncovered = databases.filter((d) => d.policy === null);
    let status: BackupStatus = 'ok';
    if (policy === null && (databases.length === 0 || uncovered.length > 0)) status = cache ? 'cache' : 'missing';
    if (status === 'missing') {
      const severity = production ? 'error' : 'warning';
      if (databases.length === 0 || uncovered.length === databases.length) {
        missing.push({
          kind: 'cluster',
          name: c.name,
          host: c.host,
          production,
          severity,
          message: `${production ? 'production ' : ''}database cluster ${c.name} (${c.engine} on ${c.host}) has no backup policy`,
        });
      } else {
        for (const d of uncovered)
          missing.push({
            kind: 'database',
            name: `${c.name}/${d.name}`,
            host: c.host,
            production: d.environment === 'prod',
            severity: d.environment === 'prod' ? 'error' : 'warning',
            message: `database ${d.name} of ${d.service ?? d.project} on cluster ${c.name} has no backup policy (neither database.backup nor the cluster's)`,
          });
      }
    }
    noteTarget(`cluster ${c.name}`, c.host, policy);
    for (const d of databases)
      if (d.source === 'database.backup' && d.policy?.target !== policy?.target) noteTarget(`database ${d.name} (${c.name})`, c.host, d.policy);
    clusters.push({ name: c.name, host: c.host, engine: c.engine, role: c.role ?? 'primary', production, policy, databases, status });

    // A backup kept on the host it protects is lost with that host: it does not count for the host-loss view.
    const policies = [policy, ...databases.map((d) => d.policy)].filter((p): p is PolicyJson => p !== null && p.target !== c.host);
    const onlyOnHost = policies.length === 0 && [policy, ...databases.map((d) => d.policy)].some((p) => p !== null && p.target === c.host);
    if (onlyOnHost) sameHost.set(c.host, [...(sameHost.get(c.host) ?? []), c.name]);
    const covered = status !== 'missing' && !onlyOnHost;
    addData(c.host, {
      kind: 'cluster',
      name: c.name,
      rpo: covered ? (policies.length > 0 ? worst(policies.map((p) => p.rpo))! : 'n/a') : NONE,
      rto: covered ? (policies.length > 0 ? worst(policies.map((p) => p.rto))! : 'n/a') : NONE,
      method: policy?.method ?? (policies.length > 0 ? [...new Set(policies.map((p) => p.method))].join('; ') : cache ? 'none (cache)' : null),
    });
  }

  const services: ServiceBackup[] = [];
  for (const s of fleet.services) {
    if (!s.stateful) continue;
    // The server of a cluster (service.cluster) keeps the cluster's data: the cluster's policy covers it (listed with the clusters).
    if (s.cluster !== undefined && fleet.clusters.some((c) => c.name === s.cluster)) continue;
    const production = s.environment === 'prod';
    const policy = json(s.backup);
    const status: BackupStatus = policy ? 'ok' : 'missing';
    if (!policy)
      missing.push({
        kind: 'service',
        name: s.id,
        host: s.host ?? null,
        production,
        severity: production ? 'error' : 'warning',
        message: `${production ? 'production ' : ''}stateful service ${s.id}${s.host ? ` on ${s.host}` : ''} has no backup policy (service.backup)`,
      });
    noteTarget(`service ${s.id}`, s.host ?? null, policy);
    services.push({ id: s.id, project: s.project, environment: s.environment, host: s.host ?? null, production, policy, status });
    const lostWithHost = s.host !== undefined && policy?.target === s.host;
    if (lostWithHost) sameHost.set(s.host!, [...(sameHost.get(s.host!) ?? []), s.id]);
    if (s.host !== undefined)
      addData(s.host, {
        kind: 'service',
        name: s.id,
        rpo: lostWithHost ? NONE : (policy?.rpo ?? NONE),
        rto: lostWithHost ? NONE : (policy?.rto ?? NONE),
        method: policy?.method ?? null,
      });
  }

  const host_loss: HostLossRow[] = fleet.hosts.map((h) => {
    const data = hostData.get(h.name) ?? [];
    return {
      host: h.name,
      role: h.role,
      data,
      worst_rpo: worst(data.map((d) => d.rpo)),
      worst_rto: worst(data.map((d) => d.rto)),
      undeclared: data.filter((d) => d.rpo === NONE && !(sameHost.get(h.name) ?? []).includes(d.name)).map((d) => d.name),
      backup_on_same_host: sameHost.get(h.name) ?? [],
      holds_backups_of: [...new Set(holds.get(h.name) ?? [])],
    };
  });
  return { clusters, services, missing, warnings, host_loss, ok: !missing.some((m) => m.severity === 'error') };
}

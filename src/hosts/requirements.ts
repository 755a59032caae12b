/**
 * What each host must have, derived from the resolved fleet model and nothing else: the edge's
 * web server, the PostgreSQL clusters the inventory declares (and the server binaries a drill
 * restores with), Docker Engine and Compose where a compose service runs, restic where backups
 * are kept, the accounts services and tunnels run as, and the directories services declare.
 * `hosts prepare` checks and installs exactly this list: it is not a general configuration
 * manager, so anything the model does not name is never looked at.
 */
import { runtimeOf } from '../runtime/registry.js';
import { isIP } from 'node:net';
import type { Cluster, Fleet, Host } from '../fleet/model.js';
import { DRIVEN_ENGINES, resolveDatabase, type DeclaredDatabase } from '../data/declared.js';
import { planBackups } from '../data/backup.js';
import { INITIATOR_USER, type ResolvedTunnel } from '../tunnels/resolve.js';

/** A program a host needs, by what it is for (the package names differ per platform). */
export type Capability = 'caddy' | 'postgresql' | 'docker' | 'compose' | 'restic';

export type Need =
  /** A program, from the platform's packages. `version`: a PostgreSQL major version when declared. */
  | { kind: 'program'; capability: Capability; version?: string }
  /** A unit enabled and running (unmasked first if a mask hides it, with the units it cannot start without). */
  | { kind: 'unit'; unit: string; requires?: string[] }
  /** A system account without a login shell; `home` root-owned for tunnel accounts (their authorized_keys live there). */
  | { kind: 'account'; user: string; home: string; homeOwner: 'self' | 'root' }
  /** A directory, created root:root 0755 when missing (an existing one is left as it is). */
  | { kind: 'directory'; path: string }
  /** A PostgreSQL cluster: created with pg_createcluster, its unit enabled and running, listening on exactly `listen`. */
  | { kind: 'cluster'; cluster: string; version?: string; port: number; listen: string[] };

export interface Requirement {
  /** Stable id within a host: program:caddy, unit:docker.service, account:app, directory:/srv/api, cluster:main. */
  id: string;
  need: Need;
  /** Who in the model asks for it (services, clusters, tunnels). */
  why: string[];
}

export interface HostRequirements {
  host: Host;
  /** Debian/Ubuntu hosts get apt; a Mac is told what to install (never brew as root). */
  platform: 'apt' | 'mac';
  requirements: Requirement[];
}

export interface RequirementNote {
  host: string | null;
  message: string;
}

/** A PostgreSQL cluster name pg_createcluster and its systemd unit (postgresql@VERSION-NAME) take as they are. */
const PG_CLUSTER_NAME = /^[a-z0-9][a-z0-9_.-]{0,62}$/;
const ACCOUNT = /^[a-z_][a-z0-9_-]{0,31}$/;

class HostList {
  private readonly byId = new Map<string, Requirement>();
  constructor(readonly host: Host) {}
  add(need: Need, why: string): void {
    const id = requirementId(need);
    const had = this.byId.get(id);
    if (had) {
      if (!had.why.includes(why)) had.why.push(why);
      return;
    }
    this.byId.set(id, { id, need, why: [why] });
  }
  list(): Requirement[] {
    const order: Need['kind'][] = ['program', 'account', 'directory', 'cluster', 'unit'];
    return [...this.byId.values()].sort(
      (a, b) => order.indexOf(a.need.kind) - order.indexOf(b.need.kind) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
    );
  }
}

export function requirementId(need: Need): string {
  switch (need.kind) {
    case 'program':
      return `program:${need.capability}`;
    case 'unit':
      return `unit:${need.unit}`;
    case 'account':
      return `account:${need.user}`;
    case 'directory':
      return `directory:${need.path}`;
    case 'cluster':
      return `cluster:${need.cluster}`;
  }
}

/** Addresses a cluster must listen on: loopback, and the address each service on another host dials (DATABASE_URL's host). */
export function clusterListen(fleet: Fleet, cluster: Cluster): string[] {
  const remote = fleet.databases
    .map((d) => resolveDatabase(fleet, d))
    .filter((d): d is DeclaredDatabase => 'clusterHost' in d && d.cluster.name === cluster.name)
    .map((d) => d.connectHost)
    .filter((a): a is string => a !== undefined && a !== '127.0.0.1' && isIP(a) !== 0);
  return ['localhost', ...[...new Set(remote)].sort()];
}

/** An edge is served by Caddy unless its unit names another program. */
const isCaddyEdge = (unit: string | undefined) => unit === undefined || /^caddy([@.-]|$)/.test(unit);

/**
 * Every host's requirements (hosts that need nothing are listed with an empty list), and notes
 * for what the model declares but this command does not prepare (another engine, a this-machine host).
 */
export function hostRequirements(fleet: Fleet, tunnels: readonly ResolvedTunnel[]): { hosts: HostRequirements[]; notes: RequirementNote[] } {
  const lists = new Map(fleet.hosts.map((h) => [h.name, new HostList(h)]));
  const notes: RequirementNote[] = [];
  const on = (host: string | undefined) => (host === undefined ? undefined : lists.get(host));

  for (const s of fleet.services) {
    const list = on(s.host);
    // PID mode (manage-apps itself runs the process, on this machine or a mac): nothing here prepares its host.
    if (!list || runtimeOf(s).ownsProcesses) continue;
    const why = `service ${s.id}`;
    if (s.kind === 'edge') {
      if (isCaddyEdge(s.unit)) {
        list.add({ kind: 'program', capability: 'caddy' }, why);
        list.add({ kind: 'unit', unit: s.unit ?? 'caddy.service' }, why);
      } else notes.push({ host: list.host.name, message: `${s.id} is an edge run by ${s.unit}: only Caddy edges are prepared` });
    }
    if (s.compose !== undefined) {
      list.add({ kind: 'program', capability: 'docker' }, why);
      list.add({ kind: 'program', capability: 'compose' }, why);
      list.add({ kind: 'unit', unit: 'docker.service', requires: ['docker.socket', 'containerd.service'] }, why);
    }
    if (s.runAs !== undefined && s.runAs !== 'root') {
      if (ACCOUNT.test(s.runAs)) list.add({ kind: 'account', user: s.runAs, home: `/var/lib/${s.runAs}`, homeOwner: 'self' }, why);
      else notes.push({ host: list.host.name, message: `${s.id}: service.user ${JSON.stringify(s.runAs)} is not a plain account name: not created` });
    }
    // A cluster's own supervisor (service.cluster) runs from the cluster's directories, not a release directory.
    if (s.cluster === undefined && s.kind !== 'edge') list.add({ kind: 'directory', path: s.directory }, why);
  }

  for (const c of fleet.clusters) {
    const list = on(c.host);
    if (!list) continue;
    if (!DRIVEN_ENGINES.has(c.engine)) {
      notes.push({ host: c.host, message: `cluster ${c.name} is ${c.engine}: only PostgreSQL clusters are prepared` });
      continue;
    }
    if (!PG_CLUSTER_NAME.test(c.name)) {
      notes.push({
        host: c.host,
        message: `cluster ${c.name}: pg_createcluster takes lower-case letters, digits, ".", "_" and "-" only: not created`,
      });
      continue;
    }
    const why = `cluster ${c.name}`;
    list.add({ kind: 'program', capability: 'postgresql', ...(c.version === undefined ? {} : { version: c.version }) }, why);
    list.add(
      { kind: 'cluster', cluster: c.name, ...(c.version === undefined ? {} : { version: c.version }), port: c.port, listen: clusterListen(fleet, c) },
      why,
    );
  }

  // Backups: the target keeps the restic repository, and restore drills run a throw-away cluster there.
  for (const plan of planBackups(fleet, []).plans) {
    if (plan.target === undefined || plan.target.name === plan.host.name) continue;
    const list = on(plan.target.name);
    if (!list) continue;
    const why = `backups of cluster ${plan.cluster.name}`;
    if (plan.method === 'restic') list.add({ kind: 'program', capability: 'restic' }, why);
    list.add(
      { kind: 'program', capability: 'postgresql', ...(plan.cluster.version === undefined ? {} : { version: plan.cluster.version }) },
      `restore drills of cluster ${plan.cluster.name}`,
    );
  }

  for (const t of tunnels) {
    const why = `tunnel ${t.name}`;
    on(t.initiator)?.add({ kind: 'account', user: INITIATOR_USER, home: `/var/lib/${INITIATOR_USER}`, homeOwner: 'root' }, why);
    on(t.far)?.add({ kind: 'account', user: t.farUser, home: `/var/lib/${t.farUser}`, homeOwner: 'root' }, why);
  }

  const hosts: HostRequirements[] = [];
  for (const h of fleet.hosts) {
    const list = lists.get(h.name)!;
    const requirements = list.list();
    if (h.local && requirements.length > 0) {
      notes.push({ host: h.name, message: `${h.name} is this machine (local): prepare it yourself` });
      continue;
    }
    // A Mac has no systemd: Docker Desktop or colima, and launchd, run what units run elsewhere.
    const mac = h.provider === 'mac';
    hosts.push({
      host: h,
      platform: mac ? 'mac' : 'apt',
      requirements: h.local ? [] : mac ? requirements.filter((r) => r.need.kind !== 'unit') : requirements,
    });
  }
  return { hosts, notes };
}

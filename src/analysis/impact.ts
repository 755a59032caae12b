/**
 * `impact <host>...`: what happens when these hosts go offline.
 * Down: services and clusters on an offline host. Degraded: services that rely on something
 * down or degraded (depends_on, their database cluster), or whose route to it needs an
 * offline host; each with the chain of steps that explains it (multi-source BFS over the
 * reversed dependency graph: the shortest explanation, O(services + edges)).
 */
import { routingEdges, type Tunnel } from '../fleet/model.js';
import { backupReport, type BackupReport } from './backups.js';
import {
  clusterKey,
  hopJson,
  lanesThrough,
  Reachability,
  routeHosts,
  serviceKey,
  type DepEdge,
  type FleetIndex,
  type Hop,
  type HopJson,
  type NodeKey,
} from './topology.js';

export type StepState = 'down' | 'degraded' | 'unreachable';

/** One link of an explanation: `from` relies on `to`, which is down, degraded, or out of reach. */
export interface Step {
  from: string;
  kind: 'depends_on' | 'database';
  to: string;
  to_kind: 'service' | 'cluster';
  to_host: string | null;
  state: StepState;
  /** For `unreachable`: the route that served it with every host up, and what broke it. */
  route?: { hops: HopJson[]; offline: string[]; tunnels: string[]; observed_down?: string[] };
}

export interface DownService {
  id: string;
  project: string;
  environment: string;
  host: string;
  kind: string;
}

export interface DegradedService extends DownService {
  /** The shortest chain from this service to a root cause. */
  via: Step[];
  /** Every direct dependency of this service that fails, one step each (via[0] is one of them). */
  failing: Step[];
}

export interface DataLoss {
  kind: 'cluster' | 'service';
  name: string;
  host: string;
  engine?: string;
  /** host-offline: the data lives on an offline host; no-route: it is up but some consumers cannot reach it. */
  reason: 'host-offline' | 'no-route';
  consumers: string[];
  unreachable_from?: string[];
  /** What `backups` counts for it (the cluster's policy, else its databases'): null when nothing protects it. */
  backup: { rpo: string; rto: string; method: string } | null;
  /** As `backups` sees it: ok; cache (nothing to lose); missing (no policy); lost-with-host (its backup is kept on its own host). */
  backup_status: 'ok' | 'cache' | 'missing' | 'lost-with-host';
}

/** A tunnel as the analysis commands report it. */
export interface TunnelView {
  name: string;
  from: string;
  to: string;
  direction: 'forward' | 'reverse';
  carries: string | null;
  critical: boolean;
}

export interface BrokenTunnel extends TunnelView {
  offline_ends: string[];
  /** assumed: an end is offline in this what-if; observed: --live saw it down (its reason in observed). */
  basis?: 'assumed' | 'observed';
  observed?: string;
}

export interface BrokenLane {
  carries: string;
  from: string;
  through: string;
  to: string;
  tunnels: string[];
  critical: boolean;
}

/** A domain no edge serves any more: its edges are offline or cannot reach it, or its service is down. */
export interface DarkDomain {
  domain: string;
  service: string;
  /** The hosts of the edges that route it (routingEdges, as `net caddy` renders them). */
  edges: string[];
  /** edge-offline: every edge that routes it is on an offline host; no-route: the edges that are up cannot reach its host; service-down: it runs on an offline host. */
  reason: 'edge-offline' | 'no-route' | 'service-down';
}

/** Backups kept on an offline host (`backups`' holds_backups_of): the data is up, its backups are gone until re-made. */
export interface LostBackup {
  /** The host that keeps them. */
  host: string;
  /** What they protect: "cluster NAME", "database NAME (CLUSTER)" or "service ID". */
  of: string;
}

export interface ImpactReport {
  offline: string[];
  down: DownService[];
  degraded: DegradedService[];
  /** Domains that go dark. */
  domains: DarkDomain[];
  /** Backups that are lost with the offline hosts (the data they protect lives elsewhere). */
  backups: LostBackup[];
  data: DataLoss[];
  tunnels: BrokenTunnel[];
  lanes: BrokenLane[];
  notes: string[];
}

interface Mark {
  state: 'down' | 'degraded';
  /** How this node was reached: the edge from it to what it relies on, and that node. */
  edge?: DepEdge;
  cause?: NodeKey;
  /** For a root cause found on a route: the baseline route. */
  route?: Step['route'];
}

export interface ImpactOptions {
  /** Reuse a baseline (nothing offline) across queries on one fleet. */
  baseline?: Reachability;
  /** --live: tunnels observed down (name → why): they carry nothing, whatever hosts are up. */
  observedDown?: ReadonlyMap<string, string>;
}

export function analyzeImpact(index: FleetIndex, offlineHosts: readonly string[], options: ImpactOptions = {}): ImpactReport {
  const offline = new Set(offlineHosts);
  const observed = options.observedDown ?? new Map<string, string>();
  const after = new Reachability(index, offline, new Set(observed.keys()));
  const before = options.baseline ?? new Reachability(index);
  const marks = new Map<NodeKey, Mark>();

  // Layer 0: everything on an offline host.
  let frontier: NodeKey[] = [];
  for (const host of offline) {
    for (const s of index.servicesOnHost.get(host) ?? []) {
      const key = serviceKey(s.id);
      marks.set(key, { state: 'down' });
      frontier.push(key);
    }
    for (const c of index.clustersOnHost.get(host) ?? []) {
      const key = clusterKey(c.name);
      marks.set(key, { state: 'down' });
      frontier.push(key);
    }
  }

  // Routes broken by the loss: both ends up, served before, not served now.
  const broken: { edge: DepEdge; route: Step['route'] }[] = [];
  const notes: string[] = [];
  const unrouted = new Set<string>();
  for (const e of index.edges) {
    const a = e.from.host;
    const b = e.toHost;
    if (a === undefined || b === undefined || a === b) continue;
    if (!index.hosts.has(a) || !index.hosts.has(b)) continue;
    if (offline.has(a) || offline.has(b)) continue;
    if (after.reaches(a, b)) continue;
    const hops = before.route(a, b, e.carries);
    if (!hops) {
      const pair = `${a} → ${b}`;
      if (!unrouted.has(pair)) {
        unrouted.add(pair);
        notes.push(`no route from ${a} to ${b} even with every host up (${e.from.id} → ${e.toName}): not caused by this loss`);
      }
      continue;
    }
    broken.push({ edge: e, route: describeRoute(hops, offline, observed) });
  }

  // Layer by layer, consumers of what failed fail; broken routes join at depth 1.
  const visit = (key: NodeKey, layer: NodeKey[]): void => {
    for (const e of index.consumersOf.get(key) ?? []) {
      const c = serviceKey(e.from.id);
      if (marks.has(c)) continue;
      marks.set(c, { state: 'degraded', edge: e, cause: key });
      layer.push(c);
    }
  };
  let next: NodeKey[] = [];
  for (const key of frontier) visit(key, next);
  for (const b of broken) {
    const c = serviceKey(b.edge.from.id);
    if (marks.has(c)) continue;
    marks.set(c, { state: 'degraded', edge: b.edge, route: b.route });
    next.push(c);
  }
  frontier = next;
  while (frontier.length > 0) {
    next = [];
    for (const key of frontier) visit(key, next);
    frontier = next;
  }

  const brokenRoute = new Map<DepEdge, Step['route']>();
  for (const b of broken) brokenRoute.set(b.edge, b.route);

  const down: DownService[] = [];
  const degraded: DegradedService[] = [];
  for (const s of index.fleet.services) {
    const m = marks.get(serviceKey(s.id));
    if (!m || s.host === undefined) continue;
    const base = { id: s.id, project: s.project, environment: s.environment, host: s.host, kind: s.kind };
    if (m.state === 'down') {
      down.push(base);
      continue;
    }
    const failing: Step[] = [];
    for (const e of index.edgesFrom.get(s.id) ?? []) {
      const target = marks.get(e.to);
      const route = brokenRoute.get(e);
      if (target) failing.push(stepOf(index, e, target.state));
      else if (route) failing.push({ ...stepOf(index, e, 'unreachable'), route });
    }
    degraded.push({ ...base, via: explain(index, marks, serviceKey(s.id)), failing });
  }

  return {
    offline: [...offline],
    down,
    degraded,
    domains: darkDomains(index, offline, after),
    backups: lostBackups(index, offline),
    data: dataLoss(index, offline, broken),
    tunnels: brokenTunnels(index.fleet.tunnels, offline, options.observedDown),
    lanes: [...offline]
      .flatMap((h) => lanesThrough(index.fleet, h))
      .map((l) => ({ carries: l.carries, from: l.from, through: l.through, to: l.to, tunnels: l.tunnels.map((t) => t.name), critical: l.critical })),
    notes: [...meshHubNotes(index, offline), ...notes],
  };
}

/** Domains whose every routing edge is offline or out of reach of the service, or whose service is down. */
function darkDomains(index: FleetIndex, offline: ReadonlySet<string>, after: Reachability): DarkDomain[] {
  const out: DarkDomain[] = [];
  for (const s of index.fleet.services) {
    if (s.domains.length === 0 || s.kind === 'edge' || s.host === undefined) continue;
    const edges = routingEdges(index.fleet, s).map((e) => e.host!);
    if (edges.length === 0) continue;
    let reason: DarkDomain['reason'] | undefined;
    if (offline.has(s.host)) reason = 'service-down';
    else if (edges.every((e) => offline.has(e))) reason = 'edge-offline';
    else if (!edges.some((e) => after.reaches(e, s.host!))) reason = 'no-route';
    if (reason === undefined) continue;
    for (const domain of s.domains) out.push({ domain, service: s.id, edges, reason });
  }
  return out;
}

function lostBackups(index: FleetIndex, offline: ReadonlySet<string>): LostBackup[] {
  if (offline.size === 0) return [];
  return backupReport(index)
    .host_loss.filter((h) => offline.has(h.host))
    .flatMap((h) => h.holds_backups_of.map((of) => ({ host: h.host, of })));
}

function describeRoute(hops: Hop[], offline: ReadonlySet<string>, observed: ReadonlyMap<string, string>): NonNullable<Step['route']> {
  const hosts = routeHosts(hops);
  const route: NonNullable<Step['route']> = {
    hops: hops.map(hopJson),
    offline: hosts.filter((h) => offline.has(h)),
    tunnels: hops.flatMap((h) =>
      h.via === 'tunnel' && (offline.has(h.from) || offline.has(h.to) || observed.has(h.tunnel.name)) ? [h.tunnel.name] : [],
    ),
  };
  const down = hops.flatMap((h) => (h.via === 'tunnel' && observed.has(h.tunnel.name) ? [h.tunnel.name] : []));
  if (down.length > 0) route.observed_down = down;
  return route;
}

function explain(index: FleetIndex, marks: Map<NodeKey, Mark>, start: NodeKey): Step[] {
  const steps: Step[] = [];
  let key: NodeKey | undefined = start;
  for (let guard = 0; key !== undefined && guard <= marks.size; guard++) {
    const m = marks.get(key);
    if (!m || m.state === 'down' || !m.edge) break;
    const to = m.edge.to;
    const target = marks.get(to);
    const step = stepOf(index, m.edge, m.route ? 'unreachable' : target?.state === 'down' ? 'down' : 'degraded');
    if (m.route) step.route = m.route;
    steps.push(step);
    key = m.route ? undefined : m.cause;
  }
  return steps;
}

function stepOf(index: FleetIndex, e: DepEdge, state: StepState): Step {
  return {
    from: e.from.id,
    kind: e.kind,
    to: e.toName,
    to_kind: e.to.startsWith('s:') ? 'service' : 'cluster',
    to_host: index.hostOf(e.to) ?? null,
    state,
  };
}

function dataLoss(index: FleetIndex, offline: ReadonlySet<string>, broken: { edge: DepEdge }[]): DataLoss[] {
  const out: DataLoss[] = [];
  const consumers = (key: NodeKey) => (index.consumersOf.get(key) ?? []).map((e) => e.from.id);
  // The same judgement as `backups` (database.backup counts, a cache has nothing to lose), computed once if needed.
  let report: BackupReport | undefined;
  const protection = (kind: 'cluster' | 'service', name: string, host: string): Pick<DataLoss, 'backup' | 'backup_status'> => {
    report ??= backupReport(index);
    const row = report.host_loss.find((h) => h.host === host);
    const entry = row?.data.find((d) => d.kind === kind && d.name === name);
    if (row?.backup_on_same_host.includes(name)) return { backup: null, backup_status: 'lost-with-host' };
    if (!entry || entry.rpo === 'none') return { backup: null, backup_status: 'missing' };
    if (entry.rpo === 'n/a') return { backup: null, backup_status: 'cache' };
    return { backup: { rpo: entry.rpo, rto: entry.rto, method: entry.method ?? '' }, backup_status: 'ok' };
  };
  for (const c of index.fleet.clusters) {
    if (!offline.has(c.host)) continue;
    out.push({
      kind: 'cluster',
      name: c.name,
      host: c.host,
      engine: c.engine,
      reason: 'host-offline',
      consumers: consumers(clusterKey(c.name)),
      ...protection('cluster', c.name, c.host),
    });
  }
  for (const s of index.fleet.services) {
    if (!s.stateful || s.host === undefined || !offline.has(s.host)) continue;
    out.push({
      kind: 'service',
      name: s.id,
      host: s.host,
      reason: 'host-offline',
      consumers: consumers(serviceKey(s.id)),
      ...protection('service', s.id, s.host),
    });
  }
  const noRoute = new Map<string, Set<string>>();
  for (const b of broken) {
    if (b.edge.kind !== 'database') continue;
    let set = noRoute.get(b.edge.toName);
    if (!set) noRoute.set(b.edge.toName, (set = new Set()));
    set.add(b.edge.from.host!);
  }
  for (const [name, hosts] of noRoute) {
    const c = index.clusters.get(name)!;
    out.push({
      kind: 'cluster',
      name,
      host: c.host,
      engine: c.engine,
      reason: 'no-route',
      consumers: consumers(clusterKey(name)),
      unreachable_from: [...hosts].sort(),
      ...protection('cluster', name, c.host),
    });
  }
  return out;
}

/** A tunnel of the inventory with its defaults filled in, as the analysis commands report it. */
export function tunnelView(t: Tunnel): TunnelView {
  return { name: t.name, from: t.from, to: t.to, direction: t.direction ?? 'forward', carries: t.carries ?? null, critical: t.critical === true };
}

/** Tunnels with an offline end; with --live (observed given) also those observed down, each with its basis. */
function brokenTunnels(tunnels: readonly Tunnel[], offline: ReadonlySet<string>, observed: ReadonlyMap<string, string> | undefined): BrokenTunnel[] {
  return tunnels
    .filter((t) => offline.has(t.from) || offline.has(t.to) || observed?.has(t.name))
    .map((t) => {
      const row: BrokenTunnel = { ...tunnelView(t), offline_ends: [t.from, t.to].filter((h) => offline.has(h)) };
      if (observed === undefined) return row;
      const why = observed.get(t.name);
      return why === undefined ? { ...row, basis: 'assumed' } : { ...row, basis: 'observed', observed: why };
    });
}

/** The analysis treats the mesh as direct; say so when the lost host is a hub-and-spoke hub. */
function meshHubNotes(index: FleetIndex, offline: ReadonlySet<string>): string[] {
  const mesh = index.fleet.mesh;
  if (!mesh?.hub || mesh.topology !== 'hub-and-spoke' || !offline.has(mesh.hub)) return [];
  return [
    `${mesh.hub} is the mesh hub (hub-and-spoke): this analysis treats mesh members as reaching each other directly; if spokes route to each other through the hub, they lose the mesh too`,
  ];
}

/** One line per step, for terminals: "a → b (host): state …". */
export function stepText(step: Step): string {
  const target = `${step.to_kind === 'cluster' ? 'database ' : ''}${step.to}${step.to_host ? ` (${step.to_host})` : ''}`;
  if (step.state === 'down') return `${step.from} → ${target}: down`;
  if (step.state === 'degraded') return `${step.from} → ${target}: degraded`;
  const r = step.route!;
  const path = r.hops.length > 0 ? [r.hops[0]!.from, ...r.hops.map((h) => h.to)].join(' ⇢ ') : '';
  const tunnels = r.hops.filter((h) => h.tunnel).map((h) => `${h.tunnel}${h.direction === 'reverse' ? ' [reverse]' : ''}`);
  const why = [
    r.offline.length > 0 ? `passes through ${r.offline.join(', ')}, offline` : '',
    r.observed_down && r.observed_down.length > 0 ? `uses ${r.observed_down.join(', ')}, observed down` : '',
  ]
    .filter(Boolean)
    .join(' and ');
  return `${step.from} → ${target}: unreachable: its route ${path}${tunnels.length > 0 ? ` (${tunnels.length === 1 ? 'tunnel' : 'tunnels'} ${tunnels.join(', ')})` : ''} ${why}`;
}

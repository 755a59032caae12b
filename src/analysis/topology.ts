/**
 * The fleet as a graph, built once per command: who consumes what (depends_on and
 * database use), where everything runs, and which hosts reach which (the declared networks + tunnels).
 *
 * Reachability (docs/analysis.md, "When is a dependency served?"):
 * - services on the same host always reach each other;
 * - two hosts on one network the inventory declares reach each other directly (fleet/networks.ts:
 *   the mesh, a provider's private network, a LAN; a host's public address from anywhere), the
 *   mesh preferred;
 * - a tunnel lets the clients of its `from` host reach its `to` host, while both ends are up;
 * - hops compose: A→W over a tunnel and W→C over another (or over the mesh) lets A reach C
 *   through W (for example railiance01 → workstation → coulombcore);
 * - a dependency is served while its consumer's host reaches the provider's host over hosts
 *   that are all online.
 * One BFS per source host over (hosts + one virtual node per network), cached: O(H + N + T) per source,
 * never per service pair.
 */
import { UsageError } from '../errors.js';
import type { Cluster, Fleet, Host, Service, Tunnel } from '../fleet/model.js';
import { directLink, networksOf, type NetworkKind } from '../fleet/networks.js';
import { closest } from '../text/suggest.js';

/** A node of the dependency graph: a service (by id) or a database cluster (by name). */
export type NodeKey = `s:${string}` | `c:${string}`;

export const serviceKey = (id: string): NodeKey => `s:${id}`;
export const clusterKey = (name: string): NodeKey => `c:${name}`;

/** consumer → provider: a depends_on entry that resolved, or a service's database cluster. */
export interface DepEdge {
  kind: 'depends_on' | 'database';
  from: Service;
  to: NodeKey;
  /** Service id or cluster name. */
  toName: string;
  toHost: string | undefined;
  /** Names a tunnel's `carries` may give for this traffic (project, service id, cluster). */
  carries: string[];
}

export interface Unresolved {
  from: string;
  kind: 'depends_on' | 'database';
  name: string;
}

export class FleetIndex {
  readonly fleet: Fleet;
  readonly hosts = new Map<string, Host>();
  readonly services = new Map<string, Service>();
  readonly clusters = new Map<string, Cluster>();
  readonly servicesOnHost = new Map<string, Service[]>();
  readonly clustersOnHost = new Map<string, Cluster[]>();
  readonly edges: DepEdge[] = [];
  readonly edgesFrom = new Map<string, DepEdge[]>();
  readonly consumersOf = new Map<NodeKey, DepEdge[]>();
  readonly unresolved: Unresolved[] = [];

  constructor(fleet: Fleet) {
    this.fleet = fleet;
    for (const h of fleet.hosts) this.hosts.set(h.name, h);
    for (const c of fleet.clusters) {
      this.clusters.set(c.name, c);
      push(this.clustersOnHost, c.host, c);
    }
    const byProject = new Map<string, Map<string, Service>>();
    for (const s of fleet.services) {
      this.services.set(s.id, s);
      if (s.host !== undefined) push(this.servicesOnHost, s.host, s);
      let envs = byProject.get(s.project);
      if (!envs) byProject.set(s.project, (envs = new Map()));
      if (!envs.has(s.environment)) envs.set(s.environment, s);
    }
    for (const s of fleet.services) {
      const out: DepEdge[] = [];
      const seen = new Set<NodeKey>();
      for (const dep of s.dependsOn) {
        // The same environment's instance, else prod's (fleet/model.ts resolveDependency).
        const envs = byProject.get(dep);
        const target = envs?.get(s.environment) ?? envs?.get('prod');
        if (!target) {
          this.unresolved.push({ from: s.id, kind: 'depends_on', name: dep });
          continue;
        }
        const key = serviceKey(target.id);
        if (target === s || seen.has(key)) continue;
        seen.add(key);
        out.push({ kind: 'depends_on', from: s, to: key, toName: target.id, toHost: target.host, carries: uniq([target.project, target.id]) });
      }
      if (s.database) {
        const c = this.clusters.get(s.database.cluster);
        if (!c) this.unresolved.push({ from: s.id, kind: 'database', name: s.database.cluster });
        else out.push({ kind: 'database', from: s, to: clusterKey(c.name), toName: c.name, toHost: c.host, carries: [c.name] });
      }
      if (out.length > 0) this.edgesFrom.set(s.id, out);
      for (const e of out) {
        this.edges.push(e);
        push(this.consumersOf, e.to, e);
      }
    }
  }

  hostOf(key: NodeKey): string | undefined {
    return key.startsWith('s:') ? this.services.get(key.slice(2))?.host : this.clusters.get(key.slice(2))?.host;
  }

  nameOf(key: NodeKey): string {
    return key.slice(2);
  }

  /** Host names given on the command line: every one must be in the inventory. */
  resolveHosts(names: readonly string[]): string[] {
    const known = [...this.hosts.keys()];
    for (const name of names) {
      if (this.hosts.has(name)) continue;
      const guess = closest(name, known);
      throw new UsageError(
        `unknown host "${name}"`,
        `${guess ? `did you mean "${guess}"? ` : ''}known hosts: ${known.join(', ') || '(none: the inventory lists no hosts)'}`,
      );
    }
    return uniq([...names]);
  }
}

/** One hop of a route between hosts. */
export type Hop = { via: NetworkKind; from: string; to: string } | { via: 'tunnel'; from: string; to: string; tunnel: Tunnel };

export interface HopJson {
  via: NetworkKind | 'tunnel';
  from: string;
  to: string;
  tunnel?: string;
  direction?: 'forward' | 'reverse';
  carries?: string | null;
  critical?: boolean;
}

export function hopJson(h: Hop): HopJson {
  if (h.via !== 'tunnel') return { via: h.via, from: h.from, to: h.to };
  return {
    via: 'tunnel',
    from: h.from,
    to: h.to,
    tunnel: h.tunnel.name,
    direction: h.tunnel.direction ?? 'forward',
    carries: h.tunnel.carries ?? null,
    critical: h.tunnel.critical === true,
  };
}

/** Hosts a route passes through, in order, ends included. */
export function routeHosts(hops: readonly Hop[]): string[] {
  if (hops.length === 0) return [];
  return [hops[0]!.from, ...hops.map((h) => h.to)];
}

interface Arc {
  to: number;
  tunnel?: Tunnel;
}

/**
 * Which hosts reach which, with a set of hosts offline. Lazily computes and caches one
 * BFS per source host (and per preferred `carries` set for explanations).
 */
export class Reachability {
  private readonly names: string[];
  private readonly indexOf = new Map<string, number>();
  private readonly adj: Arc[][];
  /** The networks (by key) and their kind; node H + j is network j. */
  private readonly networkKinds: NetworkKind[] = [];
  /** Arcs from network j to its online members. */
  private readonly networkArcs: Arc[][] = [];
  /** Networks each host can send into: its own, and the public internet. */
  private readonly entries: number[][];
  private readonly online: boolean[];
  private readonly parentCache = new Map<string, { parent: Int32Array; arc: (Arc | undefined)[] }>();

  constructor(
    readonly index: FleetIndex,
    readonly offline: ReadonlySet<string> = new Set(),
    /** Tunnels that do not count (observed down by --live, or the tunnel whose own route is asked). */
    readonly brokenTunnels: ReadonlySet<string> = new Set(),
  ) {
    this.names = [...index.hosts.keys()];
    this.names.forEach((n, i) => this.indexOf.set(n, i));
    this.adj = this.names.map(() => []);
    this.online = this.names.map((n) => !offline.has(n));
    const networkIndex = new Map<string, number>();
    const memberships = this.names.map((n, i) =>
      networksOf(index.hosts.get(n)!).map((net) => {
        let j = networkIndex.get(net.key);
        if (j === undefined) {
          networkIndex.set(net.key, (j = this.networkKinds.length));
          this.networkKinds.push(net.kind);
          this.networkArcs.push([]);
        }
        if (this.online[i]) this.networkArcs[j]!.push({ to: i });
        return j;
      }),
    );
    const publicNet = networkIndex.get('public');
    this.entries = memberships.map((own) => (publicNet === undefined || own.includes(publicNet) ? own : [...own, publicNet]));
    for (const t of index.fleet.tunnels) {
      const a = this.indexOf.get(t.from);
      const b = this.indexOf.get(t.to);
      if (a === undefined || b === undefined || a === b) continue;
      // A tunnel works only while both ends are up (one end runs ssh, the other sshd).
      if (!this.online[a] || !this.online[b]) continue;
      if (brokenTunnels.has(t.name)) continue;
      this.adj[a]!.push({ to: b, tunnel: t });
    }
  }

  isOnline(host: string): boolean {
    return !this.offline.has(host);
  }

  /** Can clients on `from` reach a port on `to`? (Same host: yes, while it is up.) */
  reaches(from: string, to: string): boolean {
    if (this.offline.has(from) || this.offline.has(to)) return false;
    if (from === to) return true;
    const a = this.indexOf.get(from);
    const b = this.indexOf.get(to);
    if (a === undefined || b === undefined) return false;
    if (directLink(this.index.hosts.get(from)!, this.index.hosts.get(to)!) !== undefined) return true;
    return this.search(a, undefined).parent[b] !== -2;
  }

  /**
   * The shortest route from → to (fewest hops), preferring one whose tunnels all carry one
   * of `prefer` (a tunnel declared for this traffic explains a dependency better than any
   * tunnel that happens to connect the hosts). undefined when there is none; [] on one host.
   */
  route(from: string, to: string, prefer: readonly string[] = []): Hop[] | undefined {
    if (this.offline.has(from) || this.offline.has(to)) return undefined;
    if (from === to) return [];
    const a = this.indexOf.get(from);
    const b = this.indexOf.get(to);
    if (a === undefined || b === undefined) return undefined;
    const direct = directLink(this.index.hosts.get(from)!, this.index.hosts.get(to)!);
    if (direct !== undefined) return [{ via: direct.kind, from, to }];
    if (prefer.length > 0) {
      const preferred = this.path(a, b, prefer);
      if (preferred) return preferred;
    }
    return this.path(a, b, undefined);
  }

  private path(a: number, b: number, prefer: readonly string[] | undefined): Hop[] | undefined {
    const { parent, arc } = this.search(a, prefer);
    if (parent[b] === -2) return undefined;
    const nodes: { node: number; arc: Arc | undefined }[] = [];
    for (let n = b; n !== a; n = parent[n]!) nodes.push({ node: n, arc: arc[n] });
    nodes.reverse();
    // Collapse host → network → host into one hop over that network.
    const H = this.names.length;
    const hops: Hop[] = [];
    let prev = a;
    let through: NetworkKind | undefined;
    for (const step of nodes) {
      if (step.node >= H) {
        through = this.networkKinds[step.node - H];
        continue;
      }
      const fromName = this.names[prev]!;
      const toName = this.names[step.node]!;
      if (step.arc?.tunnel) hops.push({ via: 'tunnel', from: fromName, to: toName, tunnel: step.arc.tunnel });
      else hops.push({ via: through ?? 'mesh', from: fromName, to: toName });
      prev = step.node;
    }
    return hops;
  }

  /** BFS from a; parent[n] = -2 when unreached. Network j is node H + j (H = names.length). */
  private search(a: number, prefer: readonly string[] | undefined): { parent: Int32Array; arc: (Arc | undefined)[] } {
    const cacheKey = `${a}\u0000${prefer ? prefer.join('\u0001') : ''}\u0000${prefer ? 'p' : 'g'}`;
    const cached = this.parentCache.get(cacheKey);
    if (cached) return cached;
    const H = this.names.length;
    const parent = new Int32Array(H + this.networkKinds.length).fill(-2);
    const arc: (Arc | undefined)[] = new Array(H + this.networkKinds.length);
    const allowed = prefer ? new Set(prefer) : undefined;
    parent[a] = -1;
    const queue = [a];
    for (let qi = 0; qi < queue.length; qi++) {
      const n = queue[qi]!;
      const arcs: Arc[] = n >= H ? this.networkArcs[n - H]! : this.adj[n]!;
      for (const e of arcs) {
        if (allowed && e.tunnel && (e.tunnel.carries === undefined || !allowed.has(e.tunnel.carries))) continue;
        if (parent[e.to] !== -2) continue;
        parent[e.to] = n;
        arc[e.to] = e;
        queue.push(e.to);
      }
      if (n < H && this.online[n]) {
        for (const j of this.entries[n]!) {
          if (parent[H + j] !== -2) continue;
          parent[H + j] = n;
          queue.push(H + j);
        }
      }
    }
    const result = { parent, arc };
    this.parentCache.set(cacheKey, result);
    return result;
  }
}

/** A lane chains through a host: one tunnel arrives at it and another leaves it carrying the same thing. */
export interface Lane {
  carries: string;
  from: string;
  through: string;
  to: string;
  tunnels: [Tunnel, Tunnel];
  critical: boolean;
}

export function lanesThrough(fleet: Fleet, host: string): Lane[] {
  const arriving = fleet.tunnels.filter((t) => t.to === host && t.carries !== undefined);
  const leaving = fleet.tunnels.filter((t) => t.from === host && t.carries !== undefined);
  const lanes: Lane[] = [];
  for (const a of arriving) {
    for (const b of leaving) {
      if (a.carries !== b.carries || a.from === b.to) continue;
      // A production lane is critical end to end: one critical leg and one legacy or dev leg is not one.
      lanes.push({
        carries: a.carries!,
        from: a.from,
        through: host,
        to: b.to,
        tunnels: [a, b],
        critical: a.critical === true && b.critical === true,
      });
    }
  }
  return lanes;
}

export function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

export function uniq<T>(items: readonly T[]): T[] {
  return [...new Set(items)];
}

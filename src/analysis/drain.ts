/**
 * `drain <host> --to <host>`: a team's dependency register and drain sequence, computed.
 *
 * Order (the waves of a hand-written drain plan: "Wave 1 Forge", "GitOps follows forge move", "CNPG databases …
 * migrate with workload", "OpenBao + identity (LAST)"): a thing moves after what it relies on
 * on the drained host (providers first), and a database cluster only one project uses moves
 * in that project's wave. What everything depends on (core.ts) goes after the rest: shared
 * databases and widely used services in their own waves, identity and secrets (and what they
 * rely on on that host) together in the last wave. Cycles are condensed (Tarjan) and flagged:
 * they cannot move one at a time.
 */
import type { Host } from '../fleet/model.js';
import { coreVerdict, transitiveDependants, type CoreVerdict } from './core.js';
import { clusterKey, Reachability, routeHosts, serviceKey, type FleetIndex, type NodeKey } from './topology.js';
import { tunnelView, type TunnelView } from './impact.js';

export type BlockReason = 'cycle' | 'port_taken' | 'target_frozen' | 'target_not_production' | 'unreachable';

export interface Block {
  reason: BlockReason;
  message: string;
}

export interface RegisterRow {
  kind: 'service' | 'cluster';
  name: string;
  project: string | null;
  environment: string | null;
  port: number | null;
  current: string;
  target: string;
  owner: string | null;
  production: boolean;
  /** Direct consumers (service ids), wherever they run. */
  consumers: string[];
  /** Services that rely on it directly or not, fleet-wide. */
  dependants: number;
  core: CoreVerdict | null;
  wave: number;
  blocked: Block[];
}

export interface Wave {
  wave: number;
  label: string;
  items: { kind: 'service' | 'cluster'; name: string }[];
}

export interface DrainWarning {
  kind: 'during_drain' | 'through_workstation' | 'unreachable' | 'no_owner';
  message: string;
  items?: string[];
}

export interface DrainTunnel extends TunnelView {
  suggestion: string;
}

export interface DrainPlan {
  host: string;
  to: string;
  register: RegisterRow[];
  waves: Wave[];
  tunnels: DrainTunnel[];
  warnings: DrainWarning[];
  blocked: { kind: 'service' | 'cluster'; name: string; reason: BlockReason; message: string }[];
  ok: boolean;
}

interface Item {
  key: NodeKey;
  row: RegisterRow;
  /** On-host providers (consumer → provider edges restricted to the drained host). */
  providers: Item[];
  consumersOnHost: Item[];
  tier: number;
  scc: number;
  /** A cluster only one project uses, all of it on this host: it moves in that project's wave. */
  with?: Item;
}

const TIER_LABEL = [
  '',
  'what many rely on (shared databases, widely used services)',
  'identity and secrets: last, everything authenticates through them',
];

export function planDrain(index: FleetIndex, source: string, target: string, options: { baseline?: Reachability } = {}): DrainPlan {
  const reach = options.baseline ?? new Reachability(index);
  const targetHost = index.hosts.get(target)!;
  const items = new Map<NodeKey, Item>();
  const add = (key: NodeKey, row: Omit<RegisterRow, 'dependants' | 'core' | 'wave' | 'blocked' | 'consumers' | 'target' | 'current'>) => {
    const deps = transitiveDependants(index, key);
    const consumers = (index.consumersOf.get(key) ?? []).map((e) => e.from.id);
    items.set(key, {
      key,
      row: {
        ...row,
        current: source,
        target,
        consumers,
        dependants: deps.size,
        core: coreVerdict(index, key, deps.size) ?? null,
        wave: 0,
        blocked: [],
      },
      providers: [],
      consumersOnHost: [],
      tier: 0,
      scc: -1,
    });
  };
  for (const s of index.servicesOnHost.get(source) ?? []) {
    add(serviceKey(s.id), {
      kind: 'service',
      name: s.id,
      project: s.project,
      environment: s.environment,
      port: s.port ?? null,
      owner: s.owner ?? null,
      production: s.environment === 'prod',
    });
  }
  for (const c of index.clustersOnHost.get(source) ?? []) {
    const consumers = index.consumersOf.get(clusterKey(c.name)) ?? [];
    const production = consumers.length === 0 ? isProductionRole(index.hosts.get(source)) : consumers.some((e) => e.from.environment === 'prod');
    add(clusterKey(c.name), { kind: 'cluster', name: c.name, project: null, environment: null, port: c.port, owner: c.owner ?? null, production });
  }
  for (const item of items.values()) {
    // Clusters too: a database many projects share goes after the ordinary waves.
    const core = item.row.core;
    item.tier = core === null ? 0 : core.reason === 'identity' || core.reason === 'secrets' ? 2 : 1;
    if (!item.key.startsWith('s:')) continue;
    for (const e of index.edgesFrom.get(item.key.slice(2)) ?? []) {
      const p = items.get(e.to);
      if (!p) continue;
      item.providers.push(p);
      p.consumersOnHost.push(item);
    }
  }

  // Strongly connected components; Tarjan emits providers before their consumers.
  const sccs = tarjan([...items.values()]);
  const consumerFirst = [...sccs].reverse();
  // What a later tier relies on goes with it (providers of tier k are tier >= k).
  for (const scc of consumerFirst) {
    const tier = Math.max(...scc.map((i) => i.tier));
    for (const i of scc) i.tier = tier;
    for (const i of scc) for (const p of i.providers) if (p.scc !== i.scc) p.tier = Math.max(p.tier, tier);
  }
  // A cluster whose every consumer, fleet-wide, is one project's services on this host moves with them.
  for (const c of items.values()) {
    if (!c.key.startsWith('c:') || c.consumersOnHost.length === 0) continue;
    const consumers = index.consumersOf.get(c.key) ?? [];
    const projects = new Set(consumers.map((e) => e.from.project));
    const first = c.consumersOnHost[0]!;
    if (
      projects.size === 1 &&
      consumers.length === c.consumersOnHost.length &&
      c.consumersOnHost.every((i) => i.scc === first.scc && i.tier === c.tier)
    )
      c.with = first;
  }
  // Waves: providers first within a tier; each tier after the ones before; tier 2 is one wave.
  let start = 1;
  for (const tier of [0, 1, 2]) {
    let max = start - 1;
    for (const scc of sccs) {
      if (scc[0]!.tier !== tier || scc.every((i) => i.with)) continue;
      let wave = start;
      if (tier < 2)
        for (const i of scc) for (const p of i.providers) if (p.scc !== i.scc && p.tier === tier && !p.with) wave = Math.max(wave, p.row.wave + 1);
      for (const i of scc) i.row.wave = wave;
      max = Math.max(max, wave);
    }
    start = max + 1;
  }
  for (const c of items.values()) if (c.with) c.row.wave = c.with.row.wave;

  // Order within a wave: what is relied on most first (a cluster before the project it moves with), then by name.
  const ordered = [...items.values()].sort(
    (a, b) => a.row.wave - b.row.wave || b.row.dependants - a.row.dependants || a.row.name.localeCompare(b.row.name),
  );

  const warnings: DrainWarning[] = [];
  blockers(index, reach, source, targetHost, ordered, sccs, warnings);
  duringDrain(index, reach, source, target, ordered, warnings);
  const unowned = ordered.filter((i) => i.row.owner === null).map((i) => i.row.name);
  if (unowned.length > 0)
    warnings.push({
      kind: 'no_owner',
      message: `no owner declared for ${unowned.join(', ')}: every row of the register needs a migration owner`,
      items: unowned,
    });

  const waves: Wave[] = [];
  for (const i of ordered) {
    let w = waves.find((x) => x.wave === i.row.wave);
    if (!w) waves.push((w = { wave: i.row.wave, label: TIER_LABEL[i.tier] ?? '', items: [] }));
    w.items.push({ kind: i.row.kind, name: i.row.name });
  }
  const register = ordered.map((i) => i.row);
  const blocked = register.flatMap((r) => r.blocked.map((b) => ({ kind: r.kind, name: r.name, reason: b.reason, message: b.message })));
  return {
    host: source,
    to: target,
    register,
    waves,
    tunnels: index.fleet.tunnels
      .filter((t) => t.from === source || t.to === source)
      .map((t) => {
        const from = t.from === source ? target : t.from;
        const to = t.to === source ? target : t.to;
        return {
          ...tunnelView(t),
          suggestion: from === to ? `retire it: ${from} would tunnel to itself once the drain is done` : `re-point it: ${from} → ${to}`,
        };
      }),
    warnings,
    blocked,
    ok: blocked.length === 0,
  };
}

function isProductionRole(host: Host | undefined): boolean {
  return host !== undefined && (host.role === 'production' || host.role === 'legacy');
}

function blockers(
  index: FleetIndex,
  reach: Reachability,
  source: string,
  target: Host,
  ordered: Item[],
  sccs: Item[][],
  warnings: DrainWarning[],
): void {
  for (const scc of sccs) {
    if (scc.length < 2) continue;
    const names = scc.map((i) => i.row.name).sort();
    for (const i of scc)
      i.row.blocked.push({
        reason: 'cycle',
        message: `${names.join(', ')} rely on each other (a cycle): they cannot move one at a time; break the cycle or move them together in one window`,
      });
  }
  for (const i of ordered) {
    if (!i.row.production) continue;
    if (target.frozen)
      i.row.blocked.push({
        reason: 'target_frozen',
        message: `${target.name} is frozen${target.frozen.reason ? ` (${target.frozen.reason})` : ''}: it takes no new production`,
      });
    else if (target.role !== 'production')
      i.row.blocked.push({
        reason: 'target_not_production',
        message: `${target.name} is a ${target.role} host: production moves to a production host`,
      });
  }
  // One listener per port on the target: what is there already, then what moved before.
  const taken = new Map<number, string>();
  for (const s of index.servicesOnHost.get(target.name) ?? []) if (s.port !== undefined) taken.set(s.port, `"${s.id}"`);
  for (const c of index.clustersOnHost.get(target.name) ?? []) taken.set(c.port, `cluster "${c.name}"`);
  for (const i of ordered) {
    const port = i.row.port;
    if (port === null) continue;
    const owner = taken.get(port);
    if (owner !== undefined) i.row.blocked.push({ reason: 'port_taken', message: `port ${port} on ${target.name} is already taken by ${owner}` });
    else taken.set(port, `"${i.row.name}" (moved from ${source})`);
  }
  // After the move, consumers elsewhere reach it on the target, and it reaches what it relies on;
  // judged with the drained host gone (a route through it ends with the drain).
  const gone = new Reachability(index, new Set([source]));
  const soft = new Map<string, string[]>();
  for (const i of ordered) {
    const problems: { message: string; production: boolean }[] = [];
    for (const e of index.consumersOf.get(i.key) ?? []) {
      const h = e.from.host;
      if (h === undefined || h === source || h === target.name || !index.hosts.has(h)) continue;
      if (!gone.reaches(h, target.name))
        problems.push({
          message: `its consumer ${e.from.id} on ${h} cannot reach ${target.name}${reach.reaches(h, target.name) ? ` once ${source} is gone` : ''}`,
          production: e.from.environment === 'prod',
        });
    }
    if (i.key.startsWith('s:')) {
      const s = index.services.get(i.key.slice(2))!;
      for (const e of index.edgesFrom.get(s.id) ?? []) {
        const h = e.toHost;
        if (h === undefined || h === source || h === target.name || !index.hosts.has(h)) continue;
        if (!gone.reaches(target.name, h))
          problems.push({
            message: `${target.name} cannot reach ${e.toName} on ${h}, which it relies on${reach.reaches(target.name, h) ? ` once ${source} is gone` : ''}`,
            production: s.environment === 'prod',
          });
      }
    }
    for (const p of problems) {
      if (p.production && i.row.production)
        i.row.blocked.push({ reason: 'unreachable', message: `${p.message}: add a route (mesh or tunnel) first` });
      else soft.set(i.row.name, [...(soft.get(i.row.name) ?? []), p.message]);
    }
  }
  for (const [name, messages] of soft) warnings.push({ kind: 'unreachable', message: `${name}: ${messages.join('; ')}`, items: [name] });
}

/**
 * While the drain runs, both sides of an edge split by the waves must still reach each other:
 * a consumer left behind reaches a provider that moved (source → target), and one that moved
 * reaches a provider still to come (target → source: identity and secrets go last).
 */
function duringDrain(index: FleetIndex, reach: Reachability, source: string, target: string, ordered: Item[], warnings: DrainWarning[]): void {
  const leftBehind: string[] = [];
  const movedAhead: string[] = [];
  for (const i of ordered)
    for (const p of i.providers) {
      if (p.row.wave < i.row.wave) leftBehind.push(`${i.row.name} → ${p.row.name}`);
      if (p.row.wave > i.row.wave) movedAhead.push(`${i.row.name} → ${p.row.name}`);
    }
  crossingRoute(index, reach, source, target, leftBehind, 'what is left behind reaches what has moved', warnings);
  crossingRoute(index, reach, target, source, movedAhead, 'what has moved reaches what is left behind', warnings);
}

function crossingRoute(
  index: FleetIndex,
  reach: Reachability,
  from: string,
  to: string,
  crossing: string[],
  what: string,
  warnings: DrainWarning[],
): void {
  if (crossing.length === 0) return;
  const route = reach.route(from, to);
  if (!route) {
    warnings.push({
      kind: 'during_drain',
      message: `${from} cannot reach ${to}: while the drain runs, ${what} (${crossing.join(', ')}); add a route from ${from} to ${to} first`,
      items: crossing,
    });
    return;
  }
  // Only when every route needs a personal host: with them all offline, is there still one?
  const personal = [...index.hosts.values()]
    .filter((h) => (h.role === 'workstation' || h.role === 'dev') && h.name !== from && h.name !== to)
    .map((h) => h.name);
  if (personal.length === 0 || new Reachability(index, new Set(personal)).route(from, to)) return;
  // The personal hosts that offer a route: with only that one of them on, it gets through.
  const needed = personal.filter((p) => new Reachability(index, new Set(personal.filter((o) => o !== p))).route(from, to));
  if (needed.length === 0)
    needed.push(
      ...routeHosts(route)
        .slice(1, -1)
        .filter((h) => personal.includes(h)),
    );
  const which =
    needed.length === 1 ? `${needed[0]} (${index.hosts.get(needed[0]!)!.role})` : `one of ${needed.join(', ')} (workstation or dev hosts)`;
  warnings.push({
    kind: 'through_workstation',
    message: `${from} reaches ${to} only through ${which}: while the drain runs, ${what} (${crossing.join(', ')}) over it; keep it on, or add a direct route`,
    items: crossing,
  });
}

/** Iterative Tarjan: components in reverse topological order (providers before consumers). */
function tarjan(nodes: Item[]): Item[][] {
  const index = new Map<Item, number>();
  const low = new Map<Item, number>();
  const onStack = new Set<Item>();
  const stack: Item[] = [];
  const out: Item[][] = [];
  let counter = 0;
  for (const root of nodes) {
    if (index.has(root)) continue;
    const work: { node: Item; next: number }[] = [{ node: root, next: 0 }];
    index.set(root, counter);
    low.set(root, counter++);
    stack.push(root);
    onStack.add(root);
    while (work.length > 0) {
      const frame = work[work.length - 1]!;
      const v = frame.node;
      if (frame.next < v.providers.length) {
        const w = v.providers[frame.next++]!;
        if (!index.has(w)) {
          index.set(w, counter);
          low.set(w, counter++);
          stack.push(w);
          onStack.add(w);
          work.push({ node: w, next: 0 });
        } else if (onStack.has(w)) {
          low.set(v, Math.min(low.get(v)!, index.get(w)!));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent.node, Math.min(low.get(parent.node)!, low.get(v)!));
      if (low.get(v) === index.get(v)) {
        const scc: Item[] = [];
        let w: Item;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          w.scc = out.length;
          scc.push(w);
        } while (w !== v);
        out.push(scc);
      }
    }
  }
  return out;
}

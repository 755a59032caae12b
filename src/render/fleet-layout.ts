/**
 * The picture's geometry: `graph`'s FleetGraph laid out by ELK (elkjs, the Eclipse Layout
 * Kernel compiled to JavaScript), on the server, for the page, `graph --format html` and
 * `graph --format svg` alike. Groups (role × provider) hold host cards; a card lists its
 * services and database clusters one per row, as hand-drawn fleet diagrams do. ELK places
 * the groups, the cards and the domain pills and routes every edge between cards (from the
 * row that uses to the row that is used, through fixed ports on the rows); an edge between
 * two rows of one card is drawn as an arc in the card's left gutter instead.
 */
import type { FleetGraph, GraphEdge } from '../analysis/graph.js';

/** Monospace 12 px: every width below is characters × this (the SVG sets that font). */
export const CHAR_W = 7.3;
export const ROW_H = 18;
export const HEADER_H = 40;
export const GUTTER = 12;
const PAD = 8;

export type Point = [number, number];
export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface LaidRow {
  kind: 'service' | 'cluster';
  /** Service id or cluster name. */
  id: string;
  label: string;
  /** Port, kind, engine: the dim part after the name. */
  detail: string;
  /** Row centre, absolute. */
  y: number;
}

export interface LaidHost {
  name: string;
  role: string;
  provider: string;
  mesh_ip: string | null;
  frozen: boolean;
  box: Box;
  rows: LaidRow[];
}

export interface LaidEdge {
  kind: GraphEdge['kind'];
  from: string;
  to: string;
  /** A tunnel's name, a route's edge service. */
  label: string | null;
  critical: boolean;
  /** The host whose card both ends sit in: the edge is an arc in that card's gutter. */
  within: string | null;
  points: Point[];
}

export interface FleetLayout {
  /** false: too many edges for ELK to route in time; cards are packed and edges drawn straight, shown on demand. */
  routed: boolean;
  width: number;
  height: number;
  groups: { id: string; role: string; provider: string; box: Box }[];
  hosts: LaidHost[];
  domains: { name: string; box: Box }[];
  edges: LaidEdge[];
}

interface ElkShape {
  id: string;
  x?: number;
  y?: number;
  width?: number;
  height?: number;
  children?: ElkShape[];
  ports?: ElkShape[];
  labels?: { text: string; width: number; height: number }[];
  layoutOptions?: Record<string, string>;
}
interface ElkEdgeOut {
  id: string;
  sources: string[];
  targets: string[];
  sections?: { startPoint: { x: number; y: number }; endPoint: { x: number; y: number }; bendPoints?: { x: number; y: number }[] }[];
}
interface Elk {
  layout(graph: ElkShape & { edges: ElkEdgeOut[] }): Promise<ElkShape & { edges: ElkEdgeOut[] }>;
}

/**
 * Above this many edges between cards, ELK routing them all takes minutes (measured: 5,000
 * services, ~7,500 edges, over 5 min); the cards are packed instead and edges drawn straight.
 */
export const ROUTED_EDGE_LIMIT = 600;

/** Where a card's "unknown host" services go: not a host in the inventory. */
export const UNPLACED = '(not placed)';

export const groupId = (role: string, provider: string) => `${role} · ${provider}`;

/** Lays the graph out; `elk` is an ELK instance (elkjs's bundled build). */
export async function layoutFleet(elk: Elk, g: FleetGraph): Promise<FleetLayout> {
  const serviceById = new Map(g.services.map((s) => [s.id, s]));
  const clusterByName = new Map(g.clusters.map((c) => [c.name, c]));
  const hostNames = new Set(g.hosts.map((h) => h.name));
  const hosts = g.hosts.map((h) => ({ ...h }));
  const orphans = g.services.filter((s) => s.host === null || !hostNames.has(s.host));
  if (orphans.length > 0)
    hosts.push({
      name: UNPLACED,
      role: 'unknown',
      provider: 'unknown',
      mesh_ip: null,
      frozen: false,
      services: orphans.map((s) => s.id),
      clusters: [],
    });

  // Which card each row sits in, and its index there.
  const rowOf = new Map<string, { host: string; index: number }>();
  const cards = new Map<string, { rows: Omit<LaidRow, 'y'>[]; w: number; h: number }>();
  for (const h of hosts) {
    const rows: Omit<LaidRow, 'y'>[] = [];
    for (const id of h.services) {
      const s = serviceById.get(id);
      if (!s) continue;
      const detail = [
        s.port === null ? '' : `:${s.port}`,
        s.kind === 'app' ? '' : s.kind,
        s.environment === 'prod' ? '' : s.environment,
        s.stateful ? 'stateful' : '',
      ]
        .filter(Boolean)
        .join(' ');
      rows.push({ kind: 'service', id, label: id, detail });
    }
    for (const name of h.clusters) {
      const c = clusterByName.get(name);
      if (!c) continue;
      rows.push({ kind: 'cluster', id: name, label: name, detail: `${c.engine} :${c.port}${c.role === 'primary' ? '' : ` ${c.role}`}` });
    }
    rows.forEach((r, index) => rowOf.set(`${r.kind}:${r.id}`, { host: h.name, index }));
    const sub = `${h.role}${h.frozen ? ' (frozen)' : ''} · ${h.provider}${h.mesh_ip ? ` · mesh ${h.mesh_ip}` : ''}`;
    const chars = Math.max(h.name.length + 2, sub.length, ...rows.map((r) => r.label.length + r.detail.length + 1));
    // 24: room at the right end of a row for a drain wave badge.
    const w = Math.ceil(GUTTER + 16 + chars * CHAR_W + PAD + 24);
    const h_ = HEADER_H + rows.length * ROW_H + (rows.some((r) => r.kind === 'cluster') ? 6 : 0) + PAD;
    cards.set(h.name, { rows, w, h: h_ });
  }
  const rowY = (host: string, index: number) => {
    const card = cards.get(host)!;
    const clusterGap = card.rows[index]?.kind === 'cluster' ? 6 : 0;
    return HEADER_H + index * ROW_H + ROW_H / 2 + clusterGap;
  };
  const portId = (side: 'in' | 'out', key: string) => `${side}|${key}`;

  const edges: (ElkEdgeOut & { graph: GraphEdge; within: string | null; rows?: [string, string] })[] = [];
  const usedPorts = new Set<string>();
  const rowEdge = (graphEdge: GraphEdge, fromKey: string, toKey: string, n: number | string) => {
    const a = rowOf.get(fromKey);
    const b = rowOf.get(toKey);
    if (!a || !b) return;
    if (a.host === b.host) {
      edges.push({ id: `e${n}`, sources: [], targets: [], graph: graphEdge, within: a.host, rows: [fromKey, toKey] });
      return;
    }
    usedPorts.add(portId('out', fromKey)).add(portId('in', toKey));
    edges.push({ id: `e${n}`, sources: [portId('out', fromKey)], targets: [portId('in', toKey)], graph: graphEdge, within: null });
  };
  // A domain reaches its app through its edge: domain → edge, then edge → app (once per edge and app).
  const edgeToApp = new Set<string>();
  const domains = new Set<string>();
  g.edges.forEach((e, n) => {
    if (e.kind === 'depends_on') rowEdge(e, `service:${e.from}`, `service:${e.to}`, n);
    else if (e.kind === 'database') rowEdge(e, `service:${e.from}`, `cluster:${e.to}`, n);
    else if (e.kind === 'tunnel') {
      if (cards.has(e.from) && cards.has(e.to) && e.from !== e.to)
        edges.push({ id: `e${n}`, sources: [`host|${e.from}`], targets: [`host|${e.to}`], graph: e, within: null });
    } else if (rowOf.has(`service:${e.to}`)) {
      domains.add(e.from);
      const via = e.edge !== null && rowOf.has(`service:${e.edge}`) ? e.edge : undefined;
      const first = via ?? e.to;
      usedPorts.add(portId('in', `service:${first}`));
      edges.push({
        id: `e${n}`,
        sources: [`domain|${e.from}`],
        targets: [portId('in', `service:${first}`)],
        graph: via === undefined ? e : { ...e, to: via },
        within: null,
      });
      if (via !== undefined && via !== e.to && !edgeToApp.has(`${via}\u0000${e.to}`)) {
        edgeToApp.add(`${via}\u0000${e.to}`);
        rowEdge({ kind: 'route', from: via, to: e.to, edge: via, edges: [via] }, `service:${via}`, `service:${e.to}`, `${n}r`);
      }
    }
  });

  const groups = new Map<string, { role: string; provider: string; hosts: string[] }>();
  for (const h of hosts) {
    const id = groupId(h.role, h.provider);
    const group = groups.get(id) ?? { role: h.role, provider: h.provider, hosts: [] };
    group.hosts.push(h.name);
    groups.set(id, group);
  }
  const routed = edges.filter((e) => e.sources.length > 0).length <= ROUTED_EDGE_LIMIT;
  const hostNode = (name: string): ElkShape => {
    const card = cards.get(name)!;
    if (!routed) return { id: `host|${name}`, width: card.w, height: card.h };
    const ports: ElkShape[] = [];
    card.rows.forEach((r, index) => {
      const key = `${r.kind}:${r.id}`;
      const y = rowY(name, index);
      for (const side of ['in', 'out'] as const) {
        const id = portId(side, key);
        if (!usedPorts.has(id)) continue;
        ports.push({
          id,
          width: 1,
          height: 1,
          x: side === 'in' ? -1 : card.w,
          y,
          layoutOptions: { 'elk.port.side': side === 'in' ? 'WEST' : 'EAST' },
        });
      }
    });
    return { id: `host|${name}`, width: card.w, height: card.h, ports, layoutOptions: { 'elk.portConstraints': 'FIXED_POS' } };
  };
  const packed: Record<string, string> = routed ? {} : { 'elk.algorithm': 'box', 'elk.aspectRatio': '1.6' };
  const spacing: Record<string, string> = {
    'elk.spacing.nodeNode': '24',
    'elk.layered.spacing.nodeNodeBetweenLayers': '48',
    'elk.spacing.edgeNode': '12',
    'elk.spacing.edgeEdge': '6',
  };
  const children: ElkShape[] = [...groups].map(([id, group]) => ({
    id: `group|${id}`,
    labels: [{ text: id, width: id.length * CHAR_W, height: 16 }],
    layoutOptions: { 'elk.padding': '[top=30,left=14,bottom=14,right=14]', 'elk.nodeLabels.placement': 'H_LEFT V_TOP INSIDE', ...spacing, ...packed },
    children: group.hosts.map(hostNode),
  }));
  if (domains.size > 0) {
    children.unshift({
      id: 'group|internet',
      labels: [{ text: 'domains', width: 60, height: 16 }],
      layoutOptions: { 'elk.padding': '[top=30,left=14,bottom=14,right=14]', ...spacing, ...packed },
      children: [...domains].sort().map((d) => ({ id: `domain|${d}`, width: Math.ceil(d.length * CHAR_W + 20), height: 22 })),
    });
  }
  const root = {
    id: 'root',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'RIGHT',
      'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
      'elk.edgeRouting': 'ORTHOGONAL',
      'elk.json.edgeCoords': 'ROOT',
      'elk.layered.considerModelOrder.strategy': 'NODES_AND_EDGES',
      'elk.padding': '[top=16,left=16,bottom=16,right=16]',
      ...spacing,
      ...(routed ? {} : { 'elk.algorithm': 'box', 'elk.aspectRatio': '1.6', 'elk.hierarchyHandling': 'SEPARATE_CHILDREN' }),
    },
    children,
    edges: routed ? edges.filter((e) => e.sources.length > 0).map(({ id, sources, targets }) => ({ id, sources, targets })) : [],
  };
  const out = await elk.layout(root);

  // Absolute positions: ELK gives children relative to their parent.
  const abs = new Map<string, Box>();
  const walk = (node: ElkShape, dx: number, dy: number) => {
    for (const c of node.children ?? []) {
      const box = { x: dx + (c.x ?? 0), y: dy + (c.y ?? 0), w: c.width ?? 0, h: c.height ?? 0 };
      abs.set(c.id, box);
      walk(c, box.x, box.y);
    }
  };
  walk(out, 0, 0);
  const sections = new Map(out.edges.map((e) => [e.id, e.sections ?? []]));

  const laidHosts: LaidHost[] = hosts.map((h) => {
    const box = abs.get(`host|${h.name}`)!;
    const card = cards.get(h.name)!;
    return {
      name: h.name,
      role: h.role,
      provider: h.provider,
      mesh_ip: h.mesh_ip,
      frozen: h.frozen,
      box,
      rows: card.rows.map((r, i) => ({ ...r, y: box.y + rowY(h.name, i) })),
    };
  });
  const hostBox = new Map(laidHosts.map((h) => [h.name, h]));
  /** Unrouted: from the right end of the using row (or card) to the left end of the used one. */
  const anchor = (id: string, side: 'in' | 'out'): Point => {
    const [kind, ...rest] = id.split('|');
    const name = rest.join('|');
    if (kind === 'domain') {
      const b = abs.get(id)!;
      return [b.x + b.w, b.y + b.h / 2];
    }
    if (kind === 'host') {
      const b = abs.get(id)!;
      return [b.x + b.w / 2, b.y + (side === 'out' ? b.h : 0)];
    }
    const at = rowOf.get(name)!;
    const b = hostBox.get(at.host)!.box;
    return [side === 'out' ? b.x + b.w : b.x, b.y + rowY(at.host, at.index)];
  };
  const straight = (source: string, target: string): Point[] => [anchor(source, 'out'), anchor(target, 'in')];
  const laidEdges: LaidEdge[] = edges.map((e) => {
    const ge = e.graph;
    // A route's segments are drawn through the edge's own row: the edge names itself, no label.
    const label = ge.kind === 'tunnel' ? ge.name : ge.kind === 'route' && ge.to !== ge.edge && ge.from !== ge.edge ? ge.edge : null;
    const base = { kind: ge.kind, from: ge.from, to: ge.to, label, critical: ge.kind === 'tunnel' && ge.critical, within: e.within };
    if (e.within !== null) {
      const host = hostBox.get(e.within)!;
      const [fromKey, toKey] = e.rows!;
      const y1 = host.box.y + rowY(e.within, rowOf.get(fromKey)!.index);
      const y2 = host.box.y + rowY(e.within, rowOf.get(toKey)!.index);
      const x = host.box.x + GUTTER;
      return {
        ...base,
        points: [
          [x, y1],
          [x - 9, y1],
          [x - 9, y2],
          [x, y2],
        ],
      };
    }
    if (!routed) return { ...base, points: straight(e.sources[0]!, e.targets[0]!) };
    const points: Point[] = [];
    for (const s of sections.get(e.id) ?? []) {
      points.push([s.startPoint.x, s.startPoint.y], ...(s.bendPoints ?? []).map((p): Point => [p.x, p.y]), [s.endPoint.x, s.endPoint.y]);
    }
    return { ...base, points };
  });
  return {
    routed,
    width: Math.ceil(out.width ?? 0),
    height: Math.ceil(out.height ?? 0),
    groups: [...groups].map(([id, group]) => ({ id, role: group.role, provider: group.provider, box: abs.get(`group|${id}`)! })),
    hosts: laidHosts,
    domains: [...domains].sort().map((name) => ({ name, box: abs.get(`domain|${name}`)! })),
    edges: laidEdges,
  };
}

/** ELK's bundled build (runs in-process, no worker). Loaded only on the ui/html/svg paths. */
export async function loadElk(): Promise<Elk> {
  const { default: ELK } = (await import('elkjs/lib/elk.bundled.js')) as unknown as { default: new () => Elk };
  return new ELK();
}

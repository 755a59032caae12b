/**
 * `graph`: hosts containing their services and database clusters; edges for depends_on,
 * database use, tunnels, and edge routes (domain → service). One JSON document, rendered as
 * terminal text, Mermaid (flowchart) or Graphviz (dot).
 */
import { dropletServices, routingEdges } from '../fleet/model.js';
import { push, type FleetIndex, type Unresolved } from './topology.js';

export type GraphEdge =
  | { kind: 'depends_on'; from: string; to: string }
  | { kind: 'database'; from: string; to: string }
  | {
      kind: 'tunnel';
      name: string;
      from: string;
      to: string;
      direction: 'forward' | 'reverse';
      carries: string | null;
      critical: boolean;
      ports: number[];
    }
  /** `edge`: the first of `edges` (kept for readers of the first shape); `edges`: every edge that routes it. */
  | { kind: 'route'; from: string; to: string; edge: string | null; edges: string[] };

export interface FleetGraph {
  hosts: { name: string; role: string; provider: string; mesh_ip: string | null; frozen: boolean; services: string[]; clusters: string[] }[];
  /** `droplet`: the droplet a producer-root manifest lists the service under (null for a manifest's own service). */
  services: {
    id: string;
    project: string;
    environment: string;
    host: string | null;
    kind: string;
    port: number | null;
    domains: string[];
    stateful: boolean;
    droplet: string | null;
  }[];
  clusters: { name: string; host: string; engine: string; port: number; role: string }[];
  edges: GraphEdge[];
  unresolved: Unresolved[];
}

export function buildGraph(index: FleetIndex): FleetGraph {
  const { fleet } = index;
  const edges: GraphEdge[] = [];
  for (const e of index.edges) edges.push({ kind: e.kind, from: e.from.id, to: e.toName });
  for (const t of fleet.tunnels) {
    edges.push({
      kind: 'tunnel',
      name: t.name,
      from: t.from,
      to: t.to,
      direction: t.direction ?? 'forward',
      carries: t.carries ?? null,
      critical: t.critical === true,
      ports: t.ports ?? [],
    });
  }
  // A domain reaches its service through the edges that route it, as `net caddy` renders them.
  for (const s of fleet.services) {
    if (s.domains.length === 0) continue;
    const via = routingEdges(fleet, s).map((e) => e.id);
    for (const d of s.domains) edges.push({ kind: 'route', from: d, to: s.id, edge: via[0] ?? null, edges: via });
  }
  // Services a droplet lists run on its first registered host; their domain is served on the droplet itself.
  const onDroplets = dropletServices(fleet);
  for (const d of onDroplets) if (d.domain !== undefined) edges.push({ kind: 'route', from: d.domain, to: d.id, edge: null, edges: [] });
  return {
    hosts: fleet.hosts.map((h) => ({
      name: h.name,
      role: h.role,
      provider: h.provider,
      mesh_ip: h.meshIp ?? null,
      frozen: h.frozen !== undefined,
      services: [...(index.servicesOnHost.get(h.name) ?? []).map((s) => s.id), ...onDroplets.filter((d) => d.host === h.name).map((d) => d.id)],
      clusters: (index.clustersOnHost.get(h.name) ?? []).map((c) => c.name),
    })),
    services: [
      ...fleet.services.map((s) => ({
        id: s.id,
        project: s.project,
        environment: s.environment,
        host: s.host ?? null,
        kind: s.kind,
        port: s.port ?? null,
        domains: s.domains,
        stateful: s.stateful,
        droplet: null,
      })),
      ...onDroplets.map((d) => ({
        id: d.id,
        project: d.name,
        environment: 'prod',
        host: d.host ?? null,
        kind: d.kind,
        port: d.port ?? null,
        domains: d.domain === undefined ? [] : [d.domain],
        stateful: false,
        droplet: d.droplet,
      })),
    ],
    clusters: fleet.clusters.map((c) => ({ name: c.name, host: c.host, engine: c.engine, port: c.port, role: c.role ?? 'primary' })),
    edges,
    unresolved: index.unresolved,
  };
}

// ---------------------------------------------------------------- text

export interface TextStyle {
  bold: (s: string) => string;
  dim: (s: string) => string;
  yellow: (s: string) => string;
  red: (s: string) => string;
}

const plainStyle: TextStyle = { bold: (s) => s, dim: (s) => s, yellow: (s) => s, red: (s) => s };

/** A terminal view: one block per host, then tunnels and routes. */
export function renderText(g: FleetGraph, st: TextStyle = plainStyle): string {
  const hostOfService = new Map(g.services.map((s) => [s.id, s.host]));
  const hostOfCluster = new Map(g.clusters.map((c) => [c.name, c.host]));
  const out = new Map<string, string[]>();
  const into = new Map<string, string[]>();
  for (const e of g.edges) {
    if (e.kind === 'depends_on') {
      push(out, e.from, placed(e.to, hostOfService.get(e.to) ?? null, hostOfService.get(e.from) ?? null));
    } else if (e.kind === 'database') {
      push(out, e.from, `db ${placed(e.to, hostOfCluster.get(e.to) ?? null, hostOfService.get(e.from) ?? null)}`);
      push(into, e.to, e.from);
    }
  }
  const serviceById = new Map(g.services.map((s) => [s.id, s]));
  const clusterByName = new Map(g.clusters.map((c) => [c.name, c]));
  const lines: string[] = [];
  const block = (rows: string[][]) => lines.push(...align(rows, '    '));
  for (const h of g.hosts) {
    const facts = [h.role + (h.frozen ? ' (frozen)' : ''), h.provider, h.mesh_ip ? `mesh ${h.mesh_ip}` : 'not on the mesh'];
    lines.push(`${st.bold(h.name)}  ${st.dim(facts.join(' · '))}`);
    if (h.services.length === 0 && h.clusters.length === 0) lines.push(st.dim('    (nothing runs here)'));
    if (h.services.length > 0) {
      lines.push(st.dim('  services'));
      block(
        h.services.map((id) => {
          const s = serviceById.get(id)!;
          const label = `${id}${s.port === null ? '' : ` :${s.port}`}${s.kind === 'app' ? '' : ` [${s.kind}]`}${s.stateful ? ' [stateful]' : ''}`;
          const deps = out.get(id);
          return [label, deps ? `→ ${deps.join(', ')}` : ''];
        }),
      );
    }
    if (h.clusters.length > 0) {
      lines.push(st.dim('  database clusters'));
      block(
        h.clusters.map((name) => {
          const c = clusterByName.get(name)!;
          const users = into.get(name);
          return [
            name,
            `${c.engine} :${c.port}${c.role === 'primary' ? '' : ` [${c.role}]`}`,
            users ? `← ${users.join(', ')}` : st.dim('(no consumers)'),
          ];
        }),
      );
    }
    lines.push('');
  }
  const hostNames = new Set(g.hosts.map((h) => h.name));
  const orphans = g.services.filter((s) => s.host === null || !hostNames.has(s.host));
  if (orphans.length > 0) {
    lines.push(st.yellow('not placed on a known host'));
    for (const s of orphans) lines.push(`    ${s.id}${s.host ? ` (host "${s.host}")` : ''}`);
    lines.push('');
  }
  const tunnels = g.edges.filter((e): e is Extract<GraphEdge, { kind: 'tunnel' }> => e.kind === 'tunnel');
  if (tunnels.length > 0) {
    lines.push(st.bold('tunnels') + st.dim('  (from: whose clients use it → to: whose port it reaches)'));
    block(
      tunnels.map((t) => [
        t.name,
        `${t.from} → ${t.to}`,
        t.direction,
        t.carries ? `carries ${t.carries}` : '',
        t.critical ? st.yellow('critical') : '',
      ]),
    );
    lines.push('');
  }
  const routes = g.edges.filter((e): e is Extract<GraphEdge, { kind: 'route' }> => e.kind === 'route');
  if (routes.length > 0) {
    lines.push(st.bold('routes') + st.dim('  (domain → service)'));
    block(
      routes.map((r) => [r.from, `→ ${r.to} (${hostOfService.get(r.to) ?? '?'})`, r.edges.length > 0 ? st.dim(`via ${r.edges.join(', ')}`) : '']),
    );
    lines.push('');
  }
  if (g.unresolved.length > 0) {
    lines.push(st.red('unresolved'));
    for (const u of g.unresolved) lines.push(`    ${u.from} → ${u.kind === 'database' ? 'cluster ' : ''}${u.name}: not found`);
    lines.push('');
  }
  return lines.join('\n').trimEnd();
}

const ANSI = /\u001b\[[0-9;]*m/g;
const width = (s: string) => s.replace(ANSI, '').length;

/** Columns padded to their widest cell (ANSI styling ignored), blank trailing cells dropped. */
function align(rows: string[][], indent: string): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, width(c))));
  return rows.map((r) => {
    const last = r.reduce((n, c, i) => (c === '' ? n : i), -1);
    return (
      indent +
      r
        .slice(0, last + 1)
        .map((c, i) => (i === last ? c : c + ' '.repeat(widths[i]! - width(c))))
        .join('  ')
    );
  });
}

function placed(name: string, host: string | null, from: string | null): string {
  return host === null || host === from ? name : `${name} (${host})`;
}

// ---------------------------------------------------------------- mermaid

/** Mermaid flowchart: subgraph per host; ids sanitized and unique; every label quoted. */
export function renderMermaid(g: FleetGraph): string {
  const ids = idMaker((s) => s.replace(/[^A-Za-z0-9_]/g, '_'));
  const q = (s: string) => `"${s.replace(/"/g, '#quot;').replace(/</g, '#lt;').replace(/>/g, '#gt;')}"`;
  const hostId = (h: string) => ids(`h_${h}`, `h:${h}`);
  const svcId = (s: string) => ids(`s_${s}`, `s:${s}`);
  const dbId = (c: string) => ids(`c_${c}`, `c:${c}`);
  const domId = (d: string) => ids(`d_${d}`, `d:${d}`);
  const lines = ['flowchart LR'];
  const serviceById = new Map(g.services.map((s) => [s.id, s]));
  const clusterByName = new Map(g.clusters.map((c) => [c.name, c]));
  const hostNames = new Set(g.hosts.map((h) => h.name));
  for (const h of g.hosts) {
    lines.push(`  subgraph ${hostId(h.name)}[${q(`${h.name} · ${h.role}${h.frozen ? ' (frozen)' : ''}${h.mesh_ip ? ` · mesh ${h.mesh_ip}` : ''}`)}]`);
    lines.push('    direction TB');
    for (const id of h.services) lines.push(`    ${svcId(id)}[${q(serviceLabel(serviceById.get(id)!))}]`);
    for (const name of h.clusters) {
      const c = clusterByName.get(name)!;
      lines.push(`    ${dbId(name)}[(${q(`${name} · ${c.engine} :${c.port}`)})]`);
    }
    lines.push('  end');
  }
  for (const s of g.services) if (s.host === null || !hostNames.has(s.host)) lines.push(`  ${svcId(s.id)}[${q(serviceLabel(s))}]`);
  for (const e of g.edges) {
    if (e.kind === 'depends_on') lines.push(`  ${svcId(e.from)} --> ${svcId(e.to)}`);
    else if (e.kind === 'database') lines.push(`  ${svcId(e.from)} -.->|${q('db')}| ${dbId(e.to)}`);
    else if (e.kind === 'tunnel')
      lines.push(
        `  ${hostId(e.from)} ==>|${q(`tunnel ${e.name}${e.direction === 'reverse' ? ' (reverse)' : ''}${e.carries ? `: ${e.carries}` : ''}`)}| ${hostId(e.to)}`,
      );
    else {
      lines.push(`  ${domId(e.from)}([${q(e.from)}])`);
      lines.push(`  ${domId(e.from)} --> ${svcId(e.to)}`);
    }
  }
  return lines.join('\n');
}

function serviceLabel(s: FleetGraph['services'][number]): string {
  return `${s.id}${s.port === null ? '' : ` :${s.port}`}${s.kind === 'app' ? '' : ` (${s.kind})`}`;
}

/** Maps each key to one id derived from `base`, unique across keys (suffix _2, _3 …). */
function idMaker(sanitize: (s: string) => string): (base: string, key: string) => string {
  const byKey = new Map<string, string>();
  const used = new Set<string>();
  return (base, key) => {
    const known = byKey.get(key);
    if (known) return known;
    const clean = sanitize(base);
    let id = clean;
    for (let n = 2; used.has(id); n++) id = `${clean}_${n}`;
    used.add(id);
    byKey.set(key, id);
    return id;
  };
}

// ---------------------------------------------------------------- dot

/** Graphviz: a cluster subgraph per host; tunnels join host clusters (compound edges). */
export function renderDot(g: FleetGraph): string {
  const q = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
  const anchor = (h: string) => q(`h:${h}`);
  const lines = [
    'digraph fleet {',
    '  graph [rankdir=LR, compound=true, fontname="Helvetica"];',
    '  node [shape=box, fontname="Helvetica"];',
    '  edge [fontname="Helvetica", fontsize=10];',
  ];
  const serviceById = new Map(g.services.map((s) => [s.id, s]));
  const clusterByName = new Map(g.clusters.map((c) => [c.name, c]));
  const hostNames = new Set(g.hosts.map((h) => h.name));
  for (const h of g.hosts) {
    lines.push(`  subgraph ${q(`cluster_h:${h.name}`)} {`);
    lines.push(`    label=${q(`${h.name} · ${h.role}${h.frozen ? ' (frozen)' : ''}${h.mesh_ip ? ` · mesh ${h.mesh_ip}` : ''}`)};`);
    lines.push(`    style=${h.role === 'workstation' || h.role === 'dev' ? 'dashed' : 'solid'};`);
    lines.push(`    ${anchor(h.name)} [shape=point, style=invis, width=0];`);
    for (const id of h.services) {
      const s = serviceById.get(id)!;
      lines.push(
        `    ${q(`s:${id}`)} [label=${q(serviceLabel(s))}${s.kind === 'edge' ? ', shape=hexagon' : s.kind === 'worker' ? ', shape=component' : ''}];`,
      );
    }
    for (const name of h.clusters) {
      const c = clusterByName.get(name)!;
      lines.push(`    ${q(`c:${name}`)} [label=${q(`${name}\n${c.engine} :${c.port}`)}, shape=cylinder];`);
    }
    lines.push('  }');
  }
  for (const s of g.services)
    if (s.host === null || !hostNames.has(s.host)) lines.push(`  ${q(`s:${s.id}`)} [label=${q(serviceLabel(s))}, color=red];`);
  for (const e of g.edges) {
    if (e.kind === 'depends_on') lines.push(`  ${q(`s:${e.from}`)} -> ${q(`s:${e.to}`)};`);
    else if (e.kind === 'database') lines.push(`  ${q(`s:${e.from}`)} -> ${q(`c:${e.to}`)} [style=dashed, label="db"];`);
    else if (e.kind === 'tunnel') {
      lines.push(
        `  ${anchor(e.from)} -> ${anchor(e.to)} [ltail=${q(`cluster_h:${e.from}`)}, lhead=${q(`cluster_h:${e.to}`)}, penwidth=${e.critical ? 2.5 : 1}, color=${e.critical ? 'firebrick' : 'gray40'}, label=${q(`${e.name}${e.direction === 'reverse' ? ' (reverse)' : ''}`)}];`,
      );
    } else {
      lines.push(`  ${q(`d:${e.from}`)} [label=${q(e.from)}, shape=ellipse];`);
      lines.push(`  ${q(`d:${e.from}`)} -> ${q(`s:${e.to}`)};`);
    }
  }
  lines.push('}');
  return lines.join('\n');
}

/**
 * Loads mesh-hosts.json with positions and checks it on its own: schema, mesh
 * addresses (inside the CIDR, used once), and references between its sections.
 */
import { readFile } from 'node:fs/promises';
import { problem, type Problem } from '../problems.js';
import { SourceDocument } from '../source/document.js';
import { checkSchema } from '../source/schema-check.js';
import type { Inventory } from './types.js';

export interface LoadedInventory {
  path: string;
  file: string;
  source: SourceDocument | undefined;
  /** Present when it parsed (it may still have problems); rules skip inventory checks without it. */
  inventory: Inventory | undefined;
  valid: boolean;
  problems: Problem[];
}

export async function loadInventory(path: string, file: string): Promise<LoadedInventory> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    const message = code === 'ENOENT' ? 'host inventory not found' : `cannot read the host inventory (${code})`;
    return {
      path, file, source: undefined, inventory: undefined, valid: false,
      problems: [problem('inventory', { file, line: 1, column: 1 }, message, 'create mesh-hosts.json at the root (see docs/inventory.md), or pass --inventory FILE')],
    };
  }
  return parseInventory(path, file, text);
}

export function parseInventory(path: string, file: string, text: string): LoadedInventory {
  const source = SourceDocument.parseJson(file, text);
  if (source.syntaxProblems.length > 0) return { path, file, source, inventory: undefined, valid: false, problems: source.syntaxProblems };
  const value = source.value;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { path, file, source, inventory: undefined, valid: false, problems: [problem('schema', source.locate([]), 'the inventory must be a JSON object with a "hosts" key')] };
  }
  const problems = checkSchema('mesh-hosts', source, value);
  const valid = problems.length === 0;
  const inventory = value as Inventory;
  if (valid) problems.push(...checkInventory(inventory, source));
  return { path, file, source, inventory, valid, problems };
}

/** Checks that need the inventory alone (types are known to be right). */
function checkInventory(inv: Inventory, source: SourceDocument): Problem[] {
  const out: Problem[] = [];
  const hosts = inv.hosts;
  const known = (name: string) => Object.prototype.hasOwnProperty.call(hosts, name);
  const hint = `known hosts: ${Object.keys(hosts).join(', ')}`;

  if (inv.mesh?.hub !== undefined && !known(inv.mesh.hub)) {
    out.push(problem('inventory', source.locate(['mesh', 'hub']), `mesh hub "${inv.mesh.hub}" is not a host of the inventory`, hint));
  }
  const cidr = inv.mesh ? parseCidr(inv.mesh.cidr) : undefined;
  if (inv.mesh && !cidr) out.push(problem('mesh_address', source.locate(['mesh', 'cidr']), `mesh CIDR "${inv.mesh.cidr}" is not a valid IPv4 range`, 'write it as a.b.c.d/nn, e.g. 10.9.0.0/24'));
  const byIp = new Map<string, string>();
  for (const [name, host] of Object.entries(hosts)) {
    if (host.mesh_ip === undefined) continue;
    const ip = ipToNumber(host.mesh_ip);
    if (!inv.mesh) {
      out.push(problem('mesh_address', source.locate(['hosts', name, 'mesh_ip']), `host "${name}" has a mesh IP but the inventory has no mesh section`, 'add "mesh": {"cidr": "10.9.0.0/24", "hub": "<host>"}'));
    } else if (cidr && ip !== undefined && !inCidr(ip, cidr)) {
      out.push(problem('mesh_address', source.locate(['hosts', name, 'mesh_ip']), `mesh IP ${host.mesh_ip} of "${name}" is outside the mesh ${inv.mesh.cidr}`));
    } else if (cidr && ip !== undefined && (ip === cidr.network || ip === cidr.broadcast) && cidr.bits < 31) {
      out.push(problem('mesh_address', source.locate(['hosts', name, 'mesh_ip']), `mesh IP ${host.mesh_ip} of "${name}" is the ${ip === cidr.network ? 'network' : 'broadcast'} address of ${inv.mesh.cidr}`));
    }
    const other = byIp.get(host.mesh_ip);
    if (other !== undefined) {
      out.push(problem('mesh_address', source.locate(['hosts', name, 'mesh_ip']), `mesh IP ${host.mesh_ip} of "${name}" is already used by "${other}"`, 'each host needs its own mesh address'));
    } else {
      byIp.set(host.mesh_ip, name);
    }
  }
  if (inv.mesh?.hub !== undefined && known(inv.mesh.hub) && hosts[inv.mesh.hub]!.mesh_ip === undefined) {
    out.push(problem('inventory', source.locate(['mesh', 'hub']), `mesh hub "${inv.mesh.hub}" has no mesh_ip`, 'the hub must be on the mesh'));
  }
  for (const [name, cluster] of Object.entries(inv.clusters ?? {})) {
    if (!known(cluster.host)) out.push(problem('inventory', source.locate(['clusters', name, 'host']), `cluster "${name}" is on unknown host "${cluster.host}"`, hint));
  }
  const tunnelNames = new Set<string>();
  (inv.tunnels ?? []).forEach((tunnel, i) => {
    for (const end of ['from', 'to'] as const) {
      if (!known(tunnel[end])) out.push(problem('inventory', source.locate(['tunnels', i, end]), `tunnel "${tunnel.name}" ${end} unknown host "${tunnel[end]}"`, hint));
    }
    if (tunnel.from === tunnel.to) out.push(problem('inventory', source.locate(['tunnels', i, 'to']), `tunnel "${tunnel.name}" goes from "${tunnel.from}" to itself`));
    if (tunnelNames.has(tunnel.name)) out.push(problem('inventory', source.locate(['tunnels', i, 'name']), `tunnel name "${tunnel.name}" is used twice`));
    tunnelNames.add(tunnel.name);
  });
  return out;
}

export interface Cidr {
  network: number;
  broadcast: number;
  bits: number;
}

export function ipToNumber(ip: string): number | undefined {
  const parts = ip.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return undefined;
    const v = Number(part);
    if (v > 255) return undefined;
    n = n * 256 + v;
  }
  return n;
}

export function parseCidr(text: string): Cidr | undefined {
  const [ip, bitsText] = text.split('/');
  if (ip === undefined || bitsText === undefined || !/^\d{1,2}$/.test(bitsText)) return undefined;
  const base = ipToNumber(ip);
  const bits = Number(bitsText);
  if (base === undefined || bits > 32) return undefined;
  const size = 2 ** (32 - bits);
  const network = base - (base % size);
  return { network, broadcast: network + size - 1, bits };
}

export function inCidr(ip: number, cidr: Cidr): boolean {
  return ip >= cidr.network && ip <= cidr.broadcast;
}

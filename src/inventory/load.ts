/**
 * Loads mesh-hosts.json with positions and checks it on its own: schema, mesh
 * addresses (inside the CIDR, used once), and references between its sections.
 */
import { MAX_INVENTORY_BYTES, readRegularFileSync, type ReadOutcome } from '../files/read.js';
import { problem, type Problem } from '../problems.js';
import { SourceDocument, type PathSegment } from '../source/document.js';
import { looksLikeSecret, SECRET_KEY } from '../text/secrets.js';
import { schemaProblems } from '../source/schema-check.js';
import { DEFAULT_INVENTORY, type Inventory } from './types.js';

export interface LoadedInventory {
  path: string;
  file: string;
  source: SourceDocument | undefined;
  /**
   * What can be used: present when the file parsed as an object, with every entry that failed
   * the schema left out (see `omitted`), so its types are right. Without it, rules skip
   * inventory checks and the fleet has no hosts.
   */
  inventory: Inventory | undefined;
  /** True when the whole file passed its schema (nothing was left out). */
  valid: boolean;
  /** Entries left out for a schema problem of their own (reported in `problems`). */
  omitted: Omitted;
  problems: Problem[];
}

export interface Omitted {
  hosts: ReadonlySet<string>;
  clusters: ReadonlySet<string>;
  tunnels: ReadonlySet<string>;
  services: ReadonlySet<string>;
  /** Top-level keys left out whole (e.g. a malformed mesh section). */
  sections: ReadonlySet<string>;
}

const NOTHING_OMITTED: Omitted = { hosts: new Set(), clusters: new Set(), tunnels: new Set(), services: new Set(), sections: new Set() };

export async function loadInventory(path: string, file: string, options: { explicit?: boolean } = {}): Promise<LoadedInventory> {
  // Synchronous: one small file (at most MAX_INVENTORY_BYTES), opened so that a FIFO cannot block.
  return inventoryFrom(path, file, options, readRegularFileSync(path, MAX_INVENTORY_BYTES));
}

/** The inventory from the file as already read (`loadInventory` reads it; the resolved-fleet cache hashed that very text). */
export function inventoryFrom(path: string, file: string, options: { explicit?: boolean }, read: ReadOutcome): LoadedInventory {
  if (!('text' in read)) {
    const { code, error } = read;
    const at = { file, line: 1, column: 1 };
    const found =
      code === 'EFBIG'
        ? problem(
            'file_size',
            at,
            `the host inventory is too large: ${error}`,
            'an inventory of thousands of hosts is well under the limit (docs/inventory.md, "Limits"): is this the right file?',
          )
        : code === 'ENOTREG'
          ? problem('inventory', at, `cannot read the host inventory: ${error}`, 'give the inventory file itself (a regular JSON file)')
          : problem(
              'inventory',
              at,
              code === 'ENOENT' ? 'host inventory not found' : `cannot read the host inventory (${code})`,
              inventoryReadHint(code, options.explicit === true),
            );
    return { path, file, source: undefined, inventory: undefined, valid: false, omitted: NOTHING_OMITTED, problems: [found] };
  }
  return parseInventory(path, file, read.text);
}

/** Only a missing default inventory is fixed by creating one at the root. */
export function inventoryReadHint(code: string, explicit: boolean): string {
  if (code === 'ENOENT')
    return explicit
      ? 'check the path given to --inventory'
      : `create ${DEFAULT_INVENTORY} at the root (see docs/inventory.md), or pass --inventory FILE`;
  if (code === 'EACCES' || code === 'EPERM') return 'the file exists but this user may not read it: check its permissions (ls -l)';
  if (code === 'EISDIR') return 'that path is a directory: give the inventory file itself';
  return 'check that the file exists and is readable';
}

export function parseInventory(path: string, file: string, text: string): LoadedInventory {
  if (text.length > MAX_INVENTORY_BYTES) {
    return {
      path,
      file,
      source: undefined,
      inventory: undefined,
      valid: false,
      omitted: NOTHING_OMITTED,
      problems: [
        problem(
          'file_size',
          { file, line: 1, column: 1 },
          `the host inventory is too large: it is larger than the limit of ${MAX_INVENTORY_BYTES / 1024 / 1024} MiB`,
        ),
      ],
    };
  }
  const source = SourceDocument.parseJson(file, text);
  if (source.syntaxProblems.length > 0)
    return { path, file, source, inventory: undefined, valid: false, omitted: NOTHING_OMITTED, problems: source.syntaxProblems };
  const value = source.value;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return {
      path,
      file,
      source,
      inventory: undefined,
      valid: false,
      omitted: NOTHING_OMITTED,
      problems: [problem('schema', source.locate([]), 'the inventory must be a JSON object with a "hosts" key')],
    };
  }
  const findings = schemaProblems('mesh-hosts', source, value);
  const problems = findings.map((f) => f.problem);
  const valid = findings.length === 0;
  const { inventory, omitted } = valid
    ? { inventory: value as Inventory, omitted: NOTHING_OMITTED }
    : usablePart(
        value as Record<string, unknown>,
        findings.map((f) => f.path),
      );
  problems.push(...checkInventory(inventory, source, omitted));
  return { path, file, source, inventory, valid, omitted, problems };
}

const MAPS = new Set(['hosts', 'clusters', 'services']);

/**
 * The inventory without what failed the schema: an entry of hosts, clusters, services or tunnels
 * with a problem of its own is left out alone; any other problem drops its top-level key (a
 * malformed mesh, an unknown key). One bad host must not hide the rest of the fleet.
 */
function usablePart(value: Record<string, unknown>, paths: readonly PathSegment[][]): { inventory: Inventory; omitted: Omitted } {
  const omitted = {
    hosts: new Set<string>(),
    clusters: new Set<string>(),
    tunnels: new Set<string>(),
    services: new Set<string>(),
    sections: new Set<string>(),
  };
  const badTunnels = new Set<number>();
  for (const path of paths) {
    const [section, entry] = path;
    if (section === undefined) continue; // the root's own type is checked before the schema
    if (entry !== undefined && MAPS.has(String(section))) omitted[section as 'hosts' | 'clusters' | 'services'].add(String(entry));
    else if (entry !== undefined && section === 'tunnels' && typeof entry === 'number') badTunnels.add(entry);
    else omitted.sections.add(String(section));
  }
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (omitted.sections.has(key)) continue;
    if (MAPS.has(key)) {
      const left = omitted[key as 'hosts' | 'clusters' | 'services'];
      out[key] = Object.fromEntries(Object.entries(v as Record<string, unknown>).filter(([name]) => !left.has(name)));
    } else if (key === 'tunnels') {
      const tunnels = v as { name?: unknown }[];
      tunnels.forEach((t, i) => {
        if (badTunnels.has(i)) omitted.tunnels.add(typeof t?.name === 'string' ? t.name : `#${i + 1}`);
      });
      out[key] = tunnels.filter((_, i) => !badTunnels.has(i));
    } else {
      out[key] = v;
    }
  }
  // hosts is required: a missing or malformed one leaves a fleet without hosts, not without a model.
  out['hosts'] ??= {};
  return { inventory: out as unknown as Inventory, omitted };
}

/**
 * Lines of the inventory that hold a secret (a key naming one with a value, or a value shaped
 * like a credential): code frames mask them as they mask a manifest's. The inventory is usually
 * in git too, and a frame shown for a neighbouring problem must not print a token.
 */
export function secretLines(source: SourceDocument): Set<number> {
  const out = new Set<number>();
  source.lines.forEach((line, i) => {
    if (lineHoldsSecret(line)) out.add(i + 1);
  });
  return out;
}

function lineHoldsSecret(line: string): boolean {
  if (looksLikeSecret(line)) return true;
  // "private_key": "…" (several pairs may share a line in hand-written JSON).
  for (const m of line.matchAll(/"([^"\\]+)"\s*:\s*(?:"([^"]*)"|([^\s,{}[\]]+))/g)) {
    const value = m[2] ?? m[3] ?? '';
    if (SECRET_KEY.test(m[1]!) && value.trim() !== '' && value !== 'null') return true;
  }
  return false;
}

/** Checks that need the inventory alone (types are known to be right). */
function checkInventory(inv: Inventory, source: SourceDocument, omitted: Omitted): Problem[] {
  const out: Problem[] = [];
  const hosts = inv.hosts;
  // A reference to a host left out for its own problem is not a second problem.
  const known = (name: string) => Object.prototype.hasOwnProperty.call(hosts, name) || omitted.hosts.has(name);
  const hint = `known hosts: ${Object.keys(hosts).join(', ')}`;

  if (inv.mesh?.hub !== undefined && !known(inv.mesh.hub)) {
    out.push(problem('inventory', source.locate(['mesh', 'hub']), `mesh hub "${inv.mesh.hub}" is not a host of the inventory`, hint));
  }
  const cidr = inv.mesh ? parseCidr(inv.mesh.cidr) : undefined;
  if (inv.mesh && !cidr)
    out.push(
      problem(
        'mesh_address',
        source.locate(['mesh', 'cidr']),
        `mesh CIDR "${inv.mesh.cidr}" is not a valid IPv4 range`,
        'write it as a.b.c.d/nn, e.g. 10.9.0.0/24',
      ),
    );
  const byIp = new Map<string, string>();
  for (const [name, host] of Object.entries(hosts)) {
    if (host.mesh_ip === undefined) continue;
    const ip = ipToNumber(host.mesh_ip);
    if (!inv.mesh) {
      if (omitted.sections.has('mesh')) continue; // the mesh section's own problem says it
      out.push(
        problem(
          'mesh_address',
          source.locate(['hosts', name, 'mesh_ip']),
          `host "${name}" has a mesh IP but the inventory has no mesh section`,
          'add "mesh": {"cidr": "10.9.0.0/24", "hub": "<host>"}',
        ),
      );
    } else if (cidr && ip !== undefined && !inCidr(ip, cidr)) {
      out.push(
        problem(
          'mesh_address',
          source.locate(['hosts', name, 'mesh_ip']),
          `mesh IP ${host.mesh_ip} of "${name}" is outside the mesh ${inv.mesh.cidr}`,
        ),
      );
    } else if (cidr && ip !== undefined && (ip === cidr.network || ip === cidr.broadcast) && cidr.bits < 31) {
      out.push(
        problem(
          'mesh_address',
          source.locate(['hosts', name, 'mesh_ip']),
          `mesh IP ${host.mesh_ip} of "${name}" is the ${ip === cidr.network ? 'network' : 'broadcast'} address of ${inv.mesh.cidr}`,
        ),
      );
    }
    const other = byIp.get(host.mesh_ip);
    if (other !== undefined) {
      out.push(
        problem(
          'mesh_address',
          source.locate(['hosts', name, 'mesh_ip']),
          `mesh IP ${host.mesh_ip} of "${name}" is already used by "${other}"`,
          'each host needs its own mesh address',
        ),
      );
    } else {
      byIp.set(host.mesh_ip, name);
    }
  }
  // A mesh laid over a network the hosts already use (a LAN or provider network declared as the
  // mesh): wg-quick would route that range into the tunnel and cut the hosts off it.
  if (inv.mesh && cidr) {
    for (const [name, host] of Object.entries(hosts)) {
      // Not `address`: ssh over the mesh (address = its mesh_ip) is ordinary.
      for (const field of ['lan', 'private_ip', 'public_ip'] as const) {
        const value = host[field];
        const ip = value === undefined ? undefined : ipToNumber(value);
        if (ip === undefined || !inCidr(ip, cidr)) continue;
        out.push(
          problem(
            'mesh_address',
            source.locate(['hosts', name, field]),
            `${field} ${value} of "${name}" is inside the mesh ${inv.mesh.cidr}: a WireGuard interface for that range would take the host's own network into the tunnel and cut it off`,
            'a LAN or private network is declared as such (lan, private_ip), not as a mesh: drop "mesh" and the mesh_ip entries, or give the mesh a range of its own',
          ),
        );
        break;
      }
    }
  }
  if (inv.mesh?.hub !== undefined && Object.hasOwn(hosts, inv.mesh.hub) && hosts[inv.mesh.hub]!.mesh_ip === undefined) {
    out.push(problem('inventory', source.locate(['mesh', 'hub']), `mesh hub "${inv.mesh.hub}" has no mesh_ip`, 'the hub must be on the mesh'));
  }
  for (const [name, cluster] of Object.entries(inv.clusters ?? {})) {
    if (!known(cluster.host))
      out.push(problem('inventory', source.locate(['clusters', name, 'host']), `cluster "${name}" is on unknown host "${cluster.host}"`, hint));
  }
  const tunnelNames = new Set<string>();
  (inv.tunnels ?? []).forEach((tunnel, i) => {
    for (const end of ['from', 'to'] as const) {
      if (!known(tunnel[end]))
        out.push(problem('inventory', source.locate(['tunnels', i, end]), `tunnel "${tunnel.name}" ${end} unknown host "${tunnel[end]}"`, hint));
    }
    if (tunnel.from === tunnel.to)
      out.push(problem('inventory', source.locate(['tunnels', i, 'to']), `tunnel "${tunnel.name}" goes from "${tunnel.from}" to itself`));
    if (tunnelNames.has(tunnel.name))
      out.push(problem('inventory', source.locate(['tunnels', i, 'name']), `tunnel name "${tunnel.name}" is used twice`));
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

/**
 * wg-quick configs for the mesh, one per host on it. Hub-and-spoke: the hub lists
 * every spoke (AllowedIPs = the spoke's /32), each spoke lists the hub (AllowedIPs =
 * the whole mesh CIDR, Endpoint = the hub's). Full mesh: everyone lists everyone.
 * No private key is ever rendered: PostUp loads it from a path on the host.
 */
import type { Fleet, Host } from '../fleet/model.js';
import { inCidr, ipToNumber, parseCidr } from '../inventory/load.js';
import type { Problem } from '../problems.js';
import { problem } from '../problems.js';
import { printable } from '../text/control.js';
import { byCodePoint, renderProblem, type RenderOutput, type Skipped } from './common.js';
import { defaultLocator, type Locator } from '../source/locator.js';
import { shown } from '../text/plain.js';

export const DEFAULT_PRIVATE_KEY_PATH = '/etc/wireguard/private.key';
export const KEEPALIVE_SECONDS = 25;
const PUBLIC_KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;
const ENDPOINT = /^[A-Za-z0-9.-]+:[0-9]{1,5}$/;
const KEY_PATH = /^\/[A-Za-z0-9._/@+-]*$/;

interface Peer {
  host: Host;
  role: string;
  allowedIps: string;
  endpoint: string | undefined;
}

function numberToIp(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

/**
 * Every problem is located in mesh-hosts.json: duplicate or out-of-range mesh
 * addresses (rule mesh_address, as `validate` reports them), missing public keys,
 * a hub without an endpoint, values that cannot be written into the config.
 */
export function renderWireguard(fleet: Fleet, locator: Locator = defaultLocator(fleet.inventoryFile)): RenderOutput {
  const problems: Problem[] = [];
  const skipped: Skipped[] = [];
  const mesh = fleet.mesh;
  if (!mesh) {
    problems.push(
      renderProblem(
        locator.inventory([]),
        'the inventory has no "mesh" section: there is no WireGuard mesh to render',
        'add "mesh": {"cidr": "10.9.0.0/24", "hub": "<host>"}',
      ),
    );
    return { files: [], problems, skipped };
  }
  const cidr = parseCidr(mesh.cidr);
  if (!cidr) {
    problems.push(
      problem(
        'mesh_address',
        locator.inventory(['mesh', 'cidr']),
        `mesh CIDR "${mesh.cidr}" is not a valid IPv4 range`,
        'write it as a.b.c.d/nn, e.g. 10.9.0.0/24',
      ),
    );
    return { files: [], problems, skipped };
  }
  const network = `${numberToIp(cidr.network)}/${cidr.bits}`;

  const hosts = [...fleet.hosts].sort((a, b) => byCodePoint(a.name, b.name));
  const members: Host[] = [];
  const byIp = new Map<string, string>();
  for (const host of hosts) {
    if (host.meshIp === undefined) {
      skipped.push({ name: host.name, reason: 'not on the mesh (no mesh_ip)' });
      continue;
    }
    const at = locator.inventory(['hosts', host.name, 'mesh_ip']);
    const ip = ipToNumber(host.meshIp);
    if (ip === undefined || !inCidr(ip, cidr)) {
      problems.push(problem('mesh_address', at, `mesh IP ${host.meshIp} of "${host.name}" is outside the mesh ${mesh.cidr}`));
      continue;
    }
    if ((ip === cidr.network || ip === cidr.broadcast) && cidr.bits < 31) {
      problems.push(
        problem(
          'mesh_address',
          at,
          `mesh IP ${host.meshIp} of "${host.name}" is the ${ip === cidr.network ? 'network' : 'broadcast'} address of ${mesh.cidr}`,
        ),
      );
      continue;
    }
    const other = byIp.get(host.meshIp);
    if (other !== undefined) {
      problems.push(
        problem('mesh_address', at, `mesh IP ${host.meshIp} of "${host.name}" is already used by "${other}"`, 'each host needs its own mesh address'),
      );
      continue;
    }
    byIp.set(host.meshIp, host.name);
    members.push(host);
  }

  // Keys, endpoints and key paths: checked once per host, before anything is rendered.
  const wgAt = (h: Host, field?: string) =>
    locator.inventory(['hosts', h.name, ...(h.wireguard ? ['wireguard', ...(field === undefined ? [] : [field])] : [])]);
  for (const host of members) {
    const wg = host.wireguard;
    if (wg?.public_key === undefined) {
      problems.push(
        renderProblem(
          wgAt(host),
          `host "${host.name}" is on the mesh but has no WireGuard public key`,
          `add "wireguard": {"public_key": "…"} (on the host: wg pubkey < ${wg?.private_key_path ?? DEFAULT_PRIVATE_KEY_PATH})`,
        ),
      );
    } else if (!PUBLIC_KEY.test(wg.public_key)) {
      problems.push(
        renderProblem(
          wgAt(host, 'public_key'),
          `the WireGuard public key of "${host.name}" is not a base64 Curve25519 key`,
          'paste the output of `wg pubkey`: 44 characters ending in "="',
        ),
      );
    }
    if (wg?.endpoint !== undefined && !ENDPOINT.test(wg.endpoint)) {
      problems.push(renderProblem(wgAt(host, 'endpoint'), `the WireGuard endpoint of "${host.name}" is not host:port: ${shown(wg.endpoint)}`));
    }
    if (wg?.private_key_path !== undefined && !KEY_PATH.test(wg.private_key_path)) {
      problems.push(
        renderProblem(
          wgAt(host, 'private_key_path'),
          `private_key_path of "${host.name}" cannot be written into a PostUp command: ${shown(wg.private_key_path)}`,
          'use an absolute path of letters, digits, ".", "_", "-", "@", "+" and "/"',
        ),
      );
    }
  }

  let hub: Host | undefined;
  if (mesh.topology === 'hub-and-spoke') {
    if (mesh.hub === undefined) {
      if (members.length > 1)
        problems.push(
          renderProblem(
            locator.inventory(['mesh']),
            'a hub-and-spoke mesh needs a hub',
            'add "hub": "<host>" to "mesh", or set "topology": "full-mesh"',
          ),
        );
    } else {
      hub = members.find((h) => h.name === mesh.hub);
      if (!hub) {
        problems.push(
          renderProblem(
            locator.inventory(['mesh', 'hub']),
            `mesh hub "${mesh.hub}" is not a host on the mesh`,
            'the hub must be an inventory host with a mesh_ip',
          ),
        );
      } else if (hub.wireguard?.endpoint === undefined && members.length > 1) {
        problems.push(
          renderProblem(
            wgAt(hub),
            `mesh hub "${hub.name}" has no WireGuard endpoint: spokes cannot reach it`,
            'add "endpoint": "<public address>:<port>" under the hub\'s "wireguard"',
          ),
        );
      }
    }
  } else {
    // Two hosts that both sit behind NAT without an endpoint never find each other.
    const blind = members.filter((h) => h.wireguard?.endpoint === undefined);
    for (let i = 0; i < blind.length; i++) {
      for (let j = i + 1; j < blind.length; j++) {
        problems.push(
          renderProblem(
            wgAt(blind[j]!),
            `"${blind[i]!.name}" and "${blind[j]!.name}" have no endpoint: in a full mesh they cannot reach each other directly`,
            'give one of them an endpoint, or use topology "hub-and-spoke"',
            'warning',
          ),
        );
      }
    }
  }
  if (problems.some((p) => p.severity === 'error')) return { files: [], problems, skipped };

  const files = members.map((host) => {
    let peers: Peer[];
    let role: string;
    if (mesh.topology === 'full-mesh') {
      role = 'full mesh';
      peers = members
        .filter((p) => p !== host)
        .map((p) => ({ host: p, role: 'peer', allowedIps: `${p.meshIp}/32`, endpoint: p.wireguard?.endpoint }));
    } else if (host === hub) {
      role = 'hub';
      peers = members
        .filter((p) => p !== host)
        .map((p) => ({ host: p, role: 'spoke', allowedIps: `${p.meshIp}/32`, endpoint: p.wireguard?.endpoint }));
    } else {
      role = hub ? `spoke of ${hub.name}` : 'alone on the mesh';
      peers = hub ? [{ host: hub, role: 'hub', allowedIps: network, endpoint: hub.wireguard?.endpoint }] : [];
    }
    return { path: `${host.name}.conf`, content: renderConfig(fleet, host, role, peers, cidr.bits, mesh.listenPort, mesh.interface), mode: 0o600 };
  });
  return { files, problems, skipped };
}

function renderConfig(fleet: Fleet, host: Host, role: string, peers: Peer[], bits: number, listenPort: number, iface: string): string {
  const keyPath = host.wireguard?.private_key_path ?? DEFAULT_PRIVATE_KEY_PATH;
  const natted = host.wireguard?.behind_nat === true;
  const out = [
    `# ${iface} on ${host.name} (${role}): rendered by manage-apps from ${printable(fleet.inventoryFile)}; do not edit by hand.`,
    `# Install as /etc/wireguard/${iface}.conf; the private key stays on the host in ${keyPath}.`,
    '[Interface]',
    `Address = ${host.meshIp}/${bits}`,
    `ListenPort = ${listenPort}`,
    `PostUp = wg set %i private-key ${keyPath}`,
  ];
  for (const peer of peers) {
    out.push(
      '',
      `# ${peer.host.name} (${peer.role})`,
      '[Peer]',
      `PublicKey = ${peer.host.wireguard!.public_key!}`,
      `AllowedIPs = ${peer.allowedIps}`,
    );
    if (peer.endpoint !== undefined) out.push(`Endpoint = ${peer.endpoint}`);
    if (natted) out.push(`PersistentKeepalive = ${KEEPALIVE_SECONDS}`);
  }
  return `${out.join('\n')}\n`;
}

/**
 * Tunnels made real: who opens each declared tunnel, where it listens, what it forwards, and
 * how the opening host dials the other end — resolved from the inventory alone, and checked
 * (both ends are hosts, the listening port is free on its host, the opener reaches the far end
 * by the same reachability `impact` uses). `net tunnels`, `tunnels up|down`, `status` and
 * `validate` all read this one resolution.
 *
 * Both directions listen on `from` (the host whose clients use the tunnel) and reach a port of
 * `to`. forward: `from` runs `ssh -L` and logs in to `to`; reverse: `to` runs `ssh -R` and logs
 * in to `from` (a LAN host opens the tunnel, so the VPS holds no key into the LAN).
 */
import { Reachability, type FleetIndex } from '../analysis/topology.js';
import type { Host, Tunnel } from '../fleet/model.js';
import { ipToNumber } from '../inventory/load.js';
import { problem, type Problem } from '../problems.js';
import { isPlainToken, shown } from '../text/plain.js';
import { type Locator } from '../source/locator.js';

export const TUNNEL_RULE = 'tunnel';
/** Runs the units on the opening host (no shell, owns only the tunnel keys). */
export const INITIATOR_USER = 'ma-tunnel';
/** The far host's accounts: one may only listen (-R), the other only open connections (-L). */
export const FAR_USER: Record<'forward' | 'reverse', string> = { forward: 'ma-tunnel-open', reverse: 'ma-tunnel-listen' };
/**
 * Every far account's name starts with this: tunnel accounts are ones manage-apps makes (the
 * Match block it installs locks an account to forwarding only, so naming the host's login user
 * or root would lock the operator out). `tunnels up` also refuses, on the host, an account that
 * exists but is not in ACCOUNT_RECORD.
 */
export const FAR_USER_PREFIX = 'ma-tunnel-';
/** Root-owned list of the accounts manage-apps made on this host, one name a line. */
export const ACCOUNT_RECORD = '/etc/manage-apps/accounts';
/** The comment (GECOS) of the accounts it makes, so `getent passwd` says whose they are. */
export const ACCOUNT_COMMENT = 'manage-apps tunnel account';
export const TUNNEL_DIR = '/etc/manage-apps/tunnels';
export const SSHD_DROPIN = '/etc/ssh/sshd_config.d/manage-apps-tunnels.conf';
/** ssh client keep-alives: a dead peer is noticed within interval × count seconds. */
export const SERVER_ALIVE = { interval: 10, count: 3 };
/** sshd keep-alives for the tunnel accounts: a dead session (and its listening port) is freed within interval × count. */
export const CLIENT_ALIVE = { interval: 10, count: 3 };
export const RESTART_SEC = 5;
export const CONNECT_TIMEOUT_S = 10;

export interface Forward {
  /** Address the listening end binds (loopback unless the inventory says otherwise). */
  bind: string;
  listen: number;
  targetHost: string;
  targetPort: number;
  /** Why a non-loopback bind publishes this port (the inventory's acknowledgement), if it does. */
  publish?: string;
}

export interface ResolvedTunnel {
  name: string;
  direction: 'forward' | 'reverse';
  /** Runs ssh (the unit lives here, the private key never leaves it). */
  initiator: string;
  /** Runs sshd for the tunnel and holds its restricted authorized_keys line. */
  far: string;
  /** Where the forwarded port listens (= `from`). */
  listenHost: string;
  /** Whose port is reached (= `to`). */
  serviceHost: string;
  forwards: Forward[];
  /** The far host's account the tunnel logs in as. */
  farUser: string;
  /** What the initiator dials, and why that address. */
  connect: { address: string; port: number; via: 'connect' | 'mesh' | 'public' | 'address' };
  unit: string;
  dir: string;
  carries: string | null;
  critical: boolean;
  /** Index in the inventory's tunnels array (for located problems). */
  index: number;
}

export interface TunnelResolution {
  tunnels: ResolvedTunnel[];
  problems: Problem[];
  /** Tunnels that cannot be made real yet (no ports), with why: not problems. */
  skipped: { name: string; reason: string }[];
}

const TUNNEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const HOST_TOKEN = /^[A-Za-z0-9]([A-Za-z0-9.:-]*[A-Za-z0-9])?$/;
const USER_TOKEN = /^[a-z_][a-z0-9_-]{0,31}$/;

export function unitName(tunnel: string): string {
  return `manage-apps-tunnel-${tunnel}.service`;
}

/** Private, loopback, link-local, CGNAT and multicast ranges are not reachable from anywhere. */
export function isPublicIpv4(text: string): boolean {
  const n = ipToNumber(text);
  if (n === undefined) return false;
  const a = Math.floor(n / 2 ** 24);
  const b = Math.floor(n / 2 ** 16) % 256;
  if (a === 0 || a === 10 || a === 127 || a >= 224) return false;
  if (a === 169 && b === 254) return false;
  if (a === 172 && b >= 16 && b <= 31) return false;
  if (a === 192 && b === 168) return false;
  if (a === 100 && b >= 64 && b <= 127) return false;
  return true;
}

export function isLoopback(bind: string): boolean {
  return bind === 'localhost' || bind.startsWith('127.') || bind === '::1' || bind === '[::1]';
}

/**
 * The forwards of a tunnel: `forwards` when given, else one per port of `ports` (the same port
 * on both ends, bound to loopback, reaching localhost — a hand-written `-R 25435:localhost:25435`).
 */
export function forwardsOf(t: Tunnel): Forward[] {
  if (t.forwards !== undefined) {
    return t.forwards.map((f) => ({
      bind: f.bind ?? '127.0.0.1',
      listen: f.listen,
      targetHost: f.target_host ?? 'localhost',
      targetPort: f.target_port ?? f.listen,
      ...(f.publish === undefined ? {} : { publish: f.publish }),
    }));
  }
  return (t.ports ?? []).map((p) => ({ bind: '127.0.0.1', listen: p, targetHost: 'localhost', targetPort: p }));
}

export function initiatorOf(t: Tunnel): string {
  return (t.direction ?? 'forward') === 'reverse' ? t.to : t.from;
}

export function resolveTunnels(index: FleetIndex, locator: Locator): TunnelResolution {
  const fleet = index.fleet;
  const problems: Problem[] = [];
  const skipped: { name: string; reason: string }[] = [];
  const tunnels: ResolvedTunnel[] = [];
  const inventoryTunnels = fleet.tunnels;
  const at = (i: number, ...path: (string | number)[]) => locator.inventory(['tunnels', i, ...path]);
  const err = (i: number, path: (string | number)[], message: string, hint?: string) =>
    problems.push(problem(TUNNEL_RULE, at(i, ...path), message, hint));

  // Listening ports already taken on each host: services, clusters, then tunnels in order.
  const taken = new Map<string, Map<number, string>>();
  const claim = (host: string, port: number, what: string): string | undefined => {
    let ports = taken.get(host);
    if (!ports) taken.set(host, (ports = new Map()));
    const owner = ports.get(port);
    if (owner === undefined) ports.set(port, what);
    return owner;
  };
  for (const s of fleet.services) if (s.host !== undefined && s.port !== undefined) claim(s.host, s.port, `service ${s.id}`);
  for (const c of fleet.clusters) claim(c.host, c.port, `cluster ${c.name}`);

  inventoryTunnels.forEach((t, i) => {
    const direction = t.direction ?? 'forward';
    const from = index.hosts.get(t.from);
    const to = index.hosts.get(t.to);
    // Unknown ends and self-tunnels are reported by the inventory's own checks.
    if (!from || !to || from === to) return;
    if (!TUNNEL_NAME.test(t.name)) {
      err(i, ['name'], `tunnel name ${shown(t.name)} cannot name a unit and a key`, 'letters, digits, ".", "_", "-", up to 64 characters');
      return;
    }
    const initiator = initiatorOf(t);
    const far = initiator === t.from ? t.to : t.from;
    if (t.initiator !== undefined && t.initiator !== initiator) {
      err(
        i,
        ['initiator'],
        `tunnel "${t.name}" is ${direction}: ${initiator} opens it, not ${t.initiator}`,
        direction === 'reverse'
          ? `a reverse tunnel is opened by "to" (${t.to}); for ${t.initiator} to open it, make it "forward"`
          : `a forward tunnel is opened by "from" (${t.from}); for ${t.initiator} to open it, make it "reverse"`,
      );
      return;
    }
    const forwards = forwardsOf(t);
    if (forwards.length === 0) {
      skipped.push({ name: t.name, reason: 'no ports declared: nothing to forward (add "ports" or "forwards")' });
      return;
    }
    let bad = false;
    forwards.forEach((f, k) => {
      const path = t.forwards !== undefined ? ['forwards', k] : ['ports', k];
      if (!HOST_TOKEN.test(f.targetHost) || !isPlainToken(f.targetHost)) {
        err(i, [...path, 'target_host'], `tunnel "${t.name}": target host ${shown(f.targetHost)} is not a plain host name or address`);
        bad = true;
      }
      if (!HOST_TOKEN.test(f.bind)) {
        err(i, [...path, 'bind'], `tunnel "${t.name}": bind address ${shown(f.bind)} is not a plain address`);
        bad = true;
      }
      if (HOST_TOKEN.test(f.bind) && !isLoopback(f.bind) && (f.publish === undefined || f.publish.trim() === '')) {
        // Not an error: some tunnels exist to publish a port. Said, located, until acknowledged.
        problems.push(
          problem(
            TUNNEL_RULE,
            at(i, ...path, 'bind'),
            `tunnel "${t.name}" publishes port ${f.listen} on ${t.from} at ${f.bind}: every host that reaches ${t.from} there can connect to ${t.to}:${f.targetPort}`,
            `bind it to 127.0.0.1, or say why it must be reachable with "publish": "<why>" on this forward`,
            'warning',
          ),
        );
      }
      const owner = claim(t.from, f.listen, `tunnel ${t.name}`);
      if (owner !== undefined && owner !== `tunnel ${t.name}`) {
        err(
          i,
          path,
          `tunnel "${t.name}" listens on ${t.from}:${f.listen}, which ${owner} already uses`,
          `pick another port for the listening end (set "forwards": [{"listen": <free port>, "target_port": ${f.targetPort}}])`,
        );
        bad = true;
      }
    });
    const farHost = initiator === t.from ? to : from;
    const farUser = t.ssh_user ?? FAR_USER[direction];
    if (!USER_TOKEN.test(farUser)) {
      err(i, ['ssh_user'], `tunnel "${t.name}": ${shown(farUser)} is not a user name`);
      bad = true;
    } else if (!farUser.startsWith(FAR_USER_PREFIX) || farUser.length === FAR_USER_PREFIX.length) {
      err(
        i,
        ['ssh_user'],
        `tunnel "${t.name}": ssh_user ${shown(farUser)} is not an account manage-apps makes: ${far} would lock it to forwarding only (no shell, no commands)`,
        `name an account of its own starting with "${FAR_USER_PREFIX}" (e.g. "${FAR_USER_PREFIX}${t.name
          .toLowerCase()
          .replace(/[^a-z0-9_-]/g, '-')
          .slice(0, 32 - FAR_USER_PREFIX.length)}"), or leave ssh_user out (${FAR_USER[direction]})`,
      );
      bad = true;
    }
    const connect = dialAddress(index, t, index.hosts.get(initiator)!, farHost);
    if (typeof connect === 'string') {
      err(
        i,
        t.connect !== undefined ? ['connect'] : [],
        connect,
        `say how ${initiator} dials ${far}: put both on the mesh (mesh_ip), give ${far} a public_ip, or set "connect" on the tunnel`,
      );
      bad = true;
    } else if (connect.warning !== undefined) {
      problems.push(
        problem(TUNNEL_RULE, at(i), connect.warning, `set "connect" on the tunnel to the address ${initiator} uses for ${far}`, 'warning'),
      );
    }
    if (bad || typeof connect === 'string') return;
    tunnels.push({
      name: t.name,
      direction,
      initiator,
      far,
      listenHost: t.from,
      serviceHost: t.to,
      forwards,
      farUser,
      connect: { address: connect.address, port: farHost.port ?? 22, via: connect.via },
      unit: unitName(t.name),
      dir: `${TUNNEL_DIR}/${t.name}`,
      carries: t.carries ?? null,
      critical: t.critical === true,
      index: i,
    });
  });
  return { tunnels, problems, skipped };
}

/**
 * The address the initiator dials: `connect` when the inventory says; the far host's mesh IP
 * when both are on the mesh (or `impact`'s reachability, without this tunnel, says the
 * initiator reaches it); its public address; else its `address` (a LAN the inventory does not
 * model). An error (string) when there is nothing to dial.
 */
function dialAddress(
  index: FleetIndex,
  t: Tunnel,
  initiator: Host,
  far: Host,
): { address: string; via: ResolvedTunnel['connect']['via']; warning?: string } | string {
  if (t.connect !== undefined) {
    if (!HOST_TOKEN.test(t.connect)) return `tunnel "${t.name}": connect ${shown(t.connect)} is not a plain host name or address`;
    return { address: t.connect, via: 'connect' };
  }
  const reach = new Reachability(index, new Set(), new Set([t.name]));
  if (initiator.meshIp !== undefined && far.meshIp !== undefined && reach.reaches(initiator.name, far.name))
    return { address: far.meshIp, via: 'mesh' };
  const pub = far.publicIp ?? (far.address !== undefined && isPublicIpv4(far.address) ? far.address : undefined);
  if (pub !== undefined) return { address: pub, via: 'public' };
  const address = far.address ?? far.lan;
  if (address === undefined)
    return `tunnel "${t.name}": ${initiator.name} has no way to reach ${far.name} (not both on the mesh, and ${far.name} has no address)`;
  if (!HOST_TOKEN.test(address)) return `tunnel "${t.name}": address ${shown(address)} of ${far.name} is not a plain host name or address`;
  // A LAN address: the inventory does not model LANs, and the operator dials it today.
  return { address, via: 'address' };
}

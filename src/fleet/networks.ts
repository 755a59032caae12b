/**
 * The networks the inventory declares, and which host reaches which on them (docs/inventory.md,
 * "Networks"). A host is on:
 * - the mesh: it has a `mesh_ip` (the WireGuard mesh; every member reaches every other);
 * - its provider's private network: it has a `private_ip` (hosts of the same provider reach each other);
 * - a LAN: it has a `lan` address; IPv4 addresses sharing the first three octets (a /24) are one LAN,
 *   and every `lan` given as a name is on one LAN with the others given as names;
 * - the public internet: it has a `public_ip`, which every host can reach.
 * Where two hosts share several, the mesh is preferred, then the private network, the LAN, and
 * the public address last (plain traffic across the internet).
 */
import type { Host } from './model.js';

export type NetworkKind = 'mesh' | 'private' | 'lan' | 'public';

/** In order of preference. */
export const NETWORK_KINDS: readonly NetworkKind[] = ['mesh', 'private', 'lan', 'public'];

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** The host's address on a kind of network, and which one of that kind it is (its key). */
export function onNetwork(host: Host, kind: NetworkKind): { key: string; address: string } | undefined {
  switch (kind) {
    case 'mesh':
      return host.meshIp === undefined ? undefined : { key: 'mesh', address: host.meshIp };
    case 'private':
      return host.privateIp === undefined ? undefined : { key: `private:${host.provider}`, address: host.privateIp };
    case 'lan': {
      if (host.lan === undefined) return undefined;
      const m = IPV4.exec(host.lan);
      return { key: m ? `lan:${m[1]}.${m[2]}.${m[3]}` : 'lan:names', address: host.lan };
    }
    case 'public':
      return host.publicIp === undefined ? undefined : { key: 'public', address: host.publicIp };
  }
}

/** Every network the host is a member of (reachable on), preferred first. */
export function networksOf(host: Host): { kind: NetworkKind; key: string; address: string }[] {
  return NETWORK_KINDS.flatMap((kind) => {
    const on = onNetwork(host, kind);
    return on === undefined ? [] : [{ kind, ...on }];
  });
}

/**
 * How `from` reaches `to` directly, preferred network first, and `to`'s address there; undefined
 * when they share no network. The public internet needs only `to` to have a public address.
 */
export function directLink(from: Host, to: Host): { kind: NetworkKind; address: string } | undefined {
  for (const kind of NETWORK_KINDS) {
    const there = onNetwork(to, kind);
    if (there === undefined) continue;
    if (kind === 'public' || onNetwork(from, kind)?.key === there.key) return { kind, address: there.address };
  }
  return undefined;
}

/** An address a reverse proxy can dial: an IPv4 address or a host name (a `lan` may be one). */
const DIALABLE = /^(\d{1,3}(\.\d{1,3}){3}|[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*)$/;

/**
 * Where an edge on `edge` dials a service on `service`: 127.0.0.1 on its own host, else the
 * service host's address on the network they share, preferred first (`net caddy` renders it,
 * a swap's deploy switches it). A reason when there is none.
 */
export function upstreamAddress(
  edge: Host,
  service: Host,
): { address: string; kind: NetworkKind | 'loopback' } | { reason: 'edge-off' | 'service-off' | 'no-shared' } {
  if (edge.name === service.name) return { address: '127.0.0.1', kind: 'loopback' };
  const link = directLink(edge, service);
  if (link !== undefined && DIALABLE.test(link.address)) return link;
  if (networksOf(service).length === 0) return { reason: 'service-off' };
  if (networksOf(edge).length === 0) return { reason: 'edge-off' };
  return { reason: 'no-shared' };
}

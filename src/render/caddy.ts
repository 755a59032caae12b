/**
 * A Caddyfile per edge host (a host that runs a service of kind "edge"): each
 * service's `domains` become one site that reverse-proxies to the service's host
 * over the network they share (fleet/networks.ts: the mesh preferred, then a provider's private
 * network, the LAN, a public address), or to 127.0.0.1 when it runs on the edge itself.
 * Names no public CA can issue for (`*.lan`, `localhost`, IPs, …) are served with `tls internal`.
 * A service that swaps (service.swap.ports) is routed to both of its ports (swapUpstream).
 * Rendered already formatted: `caddy fmt` leaves it unchanged.
 */
import { repeatedDomains, routingEdges, type Fleet, type Service } from '../fleet/model.js';
import { upstreamAddress } from '../fleet/networks.js';
import type { Problem } from '../problems.js';
import { printable } from '../text/control.js';
import { byCodePoint, renderProblem, type RenderOutput, type Skipped } from './common.js';
import { defaultLocator, type Locator } from '../source/locator.js';

/** The schema's pattern for a domain (optionally one leading wildcard label), `localhost`, or an IPv4 address. */
const DOMAIN = /^((\*\.)?([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}|localhost|\d{1,3}(\.\d{1,3}){3})$/;
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/**
 * Caddy's admin API on a unix socket, never on a TCP port: on 127.0.0.1:2019 (Caddy's default)
 * any process of the edge host — an application, another local user — could load a config of its
 * own and route every domain elsewhere (the `origins` check only stops browsers: a local process
 * sends whatever Host it likes). The socket is made by Caddy as its own user (mode 0755: only
 * that user and root can connect); it lives in the Debian/Ubuntu caddy package's home, writable
 * by Caddy under its unit's ProtectSystem=full. `caddy reload` finds it in this file.
 */
export const CADDY_ADMIN_SOCKET = '/var/lib/caddy/admin.sock';

/**
 * Names no public CA will ever issue a certificate for: private-use suffixes (`.lan`, `.home.arpa`,
 * `.internal`, `.local`, `.localhost`), `localhost` and bare IP addresses. Their sites get
 * `tls internal` (Caddy's own CA) instead of an ACME order that can only fail.
 */
const NON_PUBLIC_SUFFIXES = ['.lan', '.internal', '.local', '.localhost', '.home.arpa'];

export function isNonPublicName(domain: string): boolean {
  return domain === 'localhost' || IPV4.test(domain) || NON_PUBLIC_SUFFIXES.some((suffix) => domain.endsWith(suffix));
}

/** The header a shared tenant service reads to know whose request it serves (set by the edge, never the client's). */
export const TENANT_HEADER = 'X-Tenant';

/** A service's domains by tenant: a shared template's routes one group per tenant, everything else one group. */
function tenantGroups(s: Service): { domains: string[]; tenant?: string }[] {
  if (s.tenantRoutes === undefined) return [{ domains: s.domains }];
  const routed = new Set(s.tenantRoutes.flatMap((r) => r.domains));
  return [{ domains: s.domains.filter((d) => !routed.has(d)) }, ...s.tenantRoutes.map((r) => ({ domains: r.domains, tenant: r.slug }))];
}

/**
 * The upstream of a tenant's route: `header_up` replaces whatever X-Tenant the client sent, so a
 * request for one tenant's name can never pass for another's.
 */
function withTenantHeader(upstream: string[], tenant: string | undefined): string[] {
  if (tenant === undefined) return upstream;
  const [first, ...rest] = upstream;
  if (rest.length === 0) return [`${first!} {`, `\theader_up ${TENANT_HEADER} ${tenant}`, '}'];
  return [first!, `\theader_up ${TENANT_HEADER} ${tenant}`, ...rest];
}

interface Site {
  /** The tenant a shared service's route is for. */
  tenant?: string;
  domains: string[];
  /** The reverse_proxy line(s), without the leading tab. */
  upstream: string[];
  service: Service;
  /** Non-public names: certificates from Caddy's internal CA. */
  internal: boolean;
}

/**
 * A swap's upstreams: both ports, service.port first. `lb_policy first` sends every request to
 * the first upstream that is up and ready (active checks of the readiness path, a refused dial
 * marks it down at once and the request is retried on the other), so the edge follows whichever
 * instance runs — before the first swap, after any number of them, after the host went back on
 * its own — and a reload of this file never points it at a stopped instance. A deploy makes the
 * edge prefer the new port through Caddy's admin API (ops/deploy/edge-swap.ts).
 */
export function swapUpstream(address: string, port: number, ports: readonly [number, number], readiness: string): string[] {
  const other = ports[0] === port ? ports[1] : ports[0];
  return [
    `reverse_proxy ${address}:${port} ${address}:${other} {`,
    '\tlb_policy first',
    '\tlb_try_duration 5s',
    '\tlb_try_interval 100ms',
    '\tfail_duration 2s',
    `\thealth_uri ${readiness}`,
    '\thealth_interval 1s',
    '\thealth_timeout 2s',
    '}',
  ];
}

/** Which edges route a service: `routingEdges` (shared with `graph`). */
export function renderCaddy(fleet: Fleet, locator: Locator = defaultLocator(fleet.inventoryFile)): RenderOutput {
  const problems: Problem[] = [];
  const skipped: Skipped[] = [];
  const hostByName = new Map(fleet.hosts.map((h) => [h.name, h]));
  const edgeHosts = [...new Set(fleet.services.filter((s) => s.kind === 'edge' && s.host !== undefined).map((s) => s.host!))].sort(byCodePoint);
  const sites = new Map<string, Site[]>(edgeHosts.map((h) => [h, []]));
  const services = [...fleet.services].filter((s) => s.domains.length > 0 && s.kind !== 'edge').sort((a, b) => byCodePoint(a.id, b.id));
  const repeated = new Map(repeatedDomains(fleet, services).map((r) => [`${r.service.id}\u0000${r.index}`, r.first]));
  for (const s of services) {
    const at = (path: (string | number)[]) => locator.manifest(s.manifest, path);
    let ok = true;
    s.domains.forEach((domain, i) => {
      if (!DOMAIN.test(domain)) {
        problems.push(
          renderProblem(
            at(['service', 'domains', i]),
            `domain ${JSON.stringify(domain)} of "${s.id}" is not a plain host name`,
            'e.g. api.example.com or *.example.com',
          ),
        );
        ok = false;
        return;
      }
      const first = repeated.get(`${s.id}\u0000${i}`);
      if (first) {
        problems.push(
          renderProblem(
            at(['service', 'domains', i]),
            `domain "${domain}" is already routed to "${first.id}" (${first.manifest})`,
            'a domain goes to one service',
          ),
        );
        ok = false;
      }
    });
    if (s.port === undefined) {
      problems.push(renderProblem(at(['service', 'domains']), `"${s.id}" has domains but no port: the edge cannot route to it`, 'add service.port'));
      ok = false;
    }
    if (edgeHosts.length === 0) {
      skipped.push({ name: s.id, reason: 'has domains but the fleet has no edge (a service of kind "edge")' });
      continue;
    }
    if (s.host === undefined) {
      problems.push(renderProblem(at(['service']), `"${s.id}" has domains but no host`, 'add service.host'));
      continue;
    }
    if (!ok) continue;
    const host = hostByName.get(s.host);
    for (const edge of routingEdges(fleet, s).map((e) => e.host!)) {
      const up = upstreamAddress(hostByName.get(edge)!, host!);
      if ('reason' in up) {
        if (up.reason === 'service-off')
          problems.push(
            renderProblem(
              at(['service', 'host']),
              `"${s.id}" has domains but its host "${s.host}" is not on the mesh: edge "${edge}" cannot reach it`,
              `nor on any network the inventory declares for it: give "${s.host}" an address the edge shares (mesh_ip, lan, private_ip or public_ip), or run the service on the edge host`,
            ),
          );
        else if (up.reason === 'edge-off')
          problems.push(
            renderProblem(
              at(['service', 'domains']),
              `edge host "${edge}" is not on the mesh: it cannot reach "${s.id}" on ${s.host}`,
              `nor on any network the inventory declares for it: give "${edge}" an address on a network "${s.host}" is on (mesh_ip, lan, private_ip), or run the edge where it can reach its services`,
            ),
          );
        else
          problems.push(
            renderProblem(
              at(['service', 'host']),
              `edge host "${edge}" shares no network with "${s.host}": it cannot reach "${s.id}"`,
              'put both on one network the inventory declares (mesh_ip; lan addresses in one /24; private_ip of one provider; or a public_ip on the service host)',
            ),
          );
        continue;
      }
      const address = up.address;
      for (const group of tenantGroups(s)) {
        // Public and non-public names of one service are two sites: one `tls internal` must not take the public ones along.
        const publicNames = group.domains.filter((d) => !isNonPublicName(d));
        const internalNames = group.domains.filter(isNonPublicName);
        for (const [domains, internal] of [
          [publicNames, false],
          [internalNames, true],
        ] as const) {
          if (domains.length > 0)
            sites.get(edge)!.push({
              domains: [...domains],
              upstream: withTenantHeader(
                s.swapPorts === undefined ? [`reverse_proxy ${address}:${s.port}`] : swapUpstream(address, s.port!, s.swapPorts, s.health.readiness),
                group.tenant,
              ),
              service: s,
              internal,
              ...(group.tenant === undefined ? {} : { tenant: group.tenant }),
            });
        }
      }
    }
  }
  if (problems.some((p) => p.severity === 'error')) return { files: [], problems, skipped };
  const files = edgeHosts.map((edge) => {
    const list = sites.get(edge)!.sort((a, b) => byCodePoint(a.domains[0]!, b.domains[0]!));
    const out = [
      `# Caddyfile of ${printable(edge)}: rendered by manage-apps from the manifests (${list.length} ${list.length === 1 ? 'site' : 'sites'}); do not edit by hand.`,
      '',
      `# The admin API on a unix socket only root and Caddy can use (deploy's swaps go through it).`,
      '{',
      `\tadmin unix/${CADDY_ADMIN_SOCKET}`,
      '}',
    ];
    for (const site of list) {
      out.push(
        '',
        `# ${printable(site.service.id)}${site.tenant === undefined ? '' : ` for tenant ${site.tenant}`}${site.service.tenant === undefined ? '' : ` (tenant ${printable(site.service.tenant.slug)})`} (${printable(site.service.manifest)})${site.internal ? ": non-public names, certificate from Caddy's internal CA" : ''}`,
        `${site.domains.join(', ')} {`,
        ...(site.internal ? ['\ttls internal'] : []),
        ...site.upstream.map((l) => `\t${l}`),
        '}',
      );
    }
    return { path: `${edge}.Caddyfile`, content: `${out.join('\n')}\n` };
  });
  return { files, problems, skipped };
}

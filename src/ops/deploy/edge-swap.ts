/**
 * The edge side of a swap (service.swap, docs/operations.md): switching the upstream of every
 * edge that routes a service's domains (`routingEdges`, shared with `net caddy` and `graph`)
 * from one of the service's two ports to the other, through Caddy's admin API on the unix socket
 * `net caddy` renders (CADDY_ADMIN_SOCKET, as root: only root and Caddy can connect; never the
 * TCP port any local process could use). One round trip per edge: read the running config,
 * replace the dial of the service's address on either swap port by the new port, and load it
 * (`POST /load` is graceful: requests in flight finish, new ones go to the new upstream).
 */
import type { Host, Service } from '../../fleet/model.js';
import { routingEdges } from '../../fleet/model.js';
import { upstreamAddress } from '../../fleet/networks.js';
import { quote } from '../../transport/quote.js';
import { PRELUDE, records } from '../../runtime/shell.js';
import type { Transport } from '../../transport/types.js';
import { CADDY_ADMIN_SOCKET } from '../../render/caddy.js';
import { keepQueuedConnectionsStep } from '../../hosts/edge-kernel.js';
import type { Ops } from '../context.js';

export interface EdgeRoute {
  /** The edge host's name. */
  edge: string;
  transport: Transport;
  /** The address the edge dials the service at (as `net caddy` renders it). */
  address: string;
}

export interface SwapPlan {
  ports: readonly [number, number];
  edges: EdgeRoute[];
}

/** The edges a swap switches, or why the service cannot be swapped. */
export function swapPlan(ops: Ops, service: Service): SwapPlan | { error: string } | undefined {
  if (service.swapPorts === undefined) return undefined;
  const edges = routingEdges(ops.fleet, service);
  if (edges.length === 0)
    return { error: 'service.swap needs an edge routing its domains (a service of kind "edge"); without one it would only move the port' };
  const app = ops.host(service);
  const routes: EdgeRoute[] = [];
  for (const e of edges) {
    const host = ops.host(e) as Host | undefined;
    if (host === undefined) return { error: `edge ${e.id} has no host` };
    const up = app === undefined ? undefined : upstreamAddress(host, app);
    // The edge's config dials what `net caddy` rendered: the same address.
    if (up === undefined || 'reason' in up)
      return { error: `edge ${host.name} cannot reach ${service.id}: they share no network the inventory declares` };
    const address = up.address;
    routes.push({ edge: host.name, transport: ops.transport(host), address });
  }
  return { ports: service.swapPorts, edges: routes };
}

/**
 * Makes the edge prefer `to`: every edge routes to both swap ports (`lb_policy first`, as `net
 * caddy` renders it), and the first upstream is the one it uses while it is healthy; the other
 * is where it falls over to. So the switch swaps the two dials (the order of the upstreams), and
 * going back needs nothing from the edge (runtime/systemd-swap.ts swapActivation). An edge that
 * routes to one port only is refused: nothing could fall over when the app host goes back.
 * Records: @@edge switched | already | missing | single | error<TAB>detail.
 */
export function switchEdgeScript(address: string, ports: readonly [number, number], to: number): string {
  const dial = (port: number | string) => `"dial":"${address}:${port}"`;
  const sub = (from: number | string, into: number | string) => `s/"dial":"${address.replace(/\./g, '\\.')}:${from}"/${dial(into)}/g`;
  const [a, b] = ports;
  const other = to === a ? b : a;
  const hint = `route both swap ports (manage-apps net caddy renders them with lb_policy first and health checks) and reload Caddy`;
  return `${PRELUDE}
sock=${quote(CADDY_ADMIN_SOCKET)}
# Caddy's admin API on a unix socket accepts only an empty Host.
admin() { $SUDO curl -fsS --unix-socket "$sock" -H 'Host: ' "$@"; }
da=${quote(dial(a))}; db=${quote(dial(b))}
[ -S "$sock" ] || $SUDO test -S "$sock" || { printf '@@edge\\terror\\t%s\\n' ${quote(`no Caddy admin socket at ${CADDY_ADMIN_SOCKET}: load the Caddyfile manage-apps net caddy renders (its global options put the admin API there) and reload Caddy`)}; exit 0; }
cfg=$(admin --max-time 5 "http://caddy/config/" 2>&1) || { printf '@@edge\\terror\\tcannot read the Caddy config at %s: %s\\n' "$sock" "$(printf '%s' "$cfg" | head -c 200 | tr '\\n\\t' '  ')"; exit 0; }
case $cfg in *"$da"*) ha=1 ;; *) ha=0 ;; esac
case $cfg in *"$db"*) hb=1 ;; *) hb=0 ;; esac
case $ha$hb in
00) printf '@@edge\\tmissing\\tthe running Caddy config dials neither %s nor %s\\n' ${quote(`${address}:${a}`)} ${quote(`${address}:${b}`)}; exit 0 ;;
01|10) printf '@@edge\\tsingle\\t%s\\n' ${quote(`the running Caddy config dials only one of ${address}:${a} and ${address}:${b}: ${hint}`)}; exit 0 ;;
esac
case $cfg in *'"policy":"first"'*) ;; *) printf '@@edge\\tsingle\\t%s\\n' ${quote(`the running Caddy config routes to ${address}:${a}/${b} without lb_policy first: ${hint}`)}; exit 0 ;; esac
# The dial that comes first is the one the edge prefers.
pa=\${cfg%%"$da"*}; pb=\${cfg%%"$db"*}
if [ \${#pa} -lt \${#pb} ]; then first=${a}; else first=${b}; fi
[ "$first" = ${to} ] && { printf '@@edge\\talready\\n'; exit 0; }
new=$(printf '%s' "$cfg" | sed -e ${quote(sub(to, 'MA_SWAP'))} -e ${quote(sub(other, to))} -e ${quote(sub('MA_SWAP', other))})
${keepQueuedConnectionsStep('$SUDO')}out=$(printf '%s' "$new" | admin --max-time 20 -X POST -H 'Content-Type: application/json' --data-binary @- "http://caddy/load" 2>&1) || { printf '@@edge\\terror\\tCaddy refused the config: %s\\n' "$(printf '%s' "$out" | head -c 300 | tr '\\n\\t' '  ')"; exit 0; }
printf '@@edge\\tswitched\\n'
`;
}

export interface EdgeResult {
  edge: string;
  ok: boolean;
  /** switched | already | missing | single | error | unreachable */
  state: string;
  detail: string;
}

/** Switches every edge (in parallel, one round trip each). */
export async function switchEdges(
  routes: readonly EdgeRoute[],
  ports: readonly [number, number],
  to: number,
  timeoutMs: number,
): Promise<EdgeResult[]> {
  return Promise.all(
    routes.map(async (r) => {
      const res = await r.transport.script(switchEdgeScript(r.address, ports, to), { timeoutMs });
      if (res.unreachable) return { edge: r.edge, ok: false, state: 'unreachable', detail: res.unreachable };
      const rec = records(res.stdout).find((x) => x[0] === 'edge');
      const state = rec?.[1] ?? 'error';
      return {
        edge: r.edge,
        ok: state === 'switched' || state === 'already',
        state,
        detail: rec?.[2] ?? (res.stderr.trim().slice(0, 200) || `exit ${res.code}`),
      };
    }),
  );
}

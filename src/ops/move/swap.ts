/**
 * Moving a swap service (service.swap, docs/operations.md) to another host: every edge routes to
 * both of its ports with `lb_policy first` (the first upstream is the one preferred while it is
 * healthy). The steps, each journalled:
 *
 *   ship    the release live on the source, read into the journal's directory (execute.ts);
 *   start   that release deployed on the target by the swap deploy (an instance started and
 *           gated there, confirmed and enabled), the edges left alone: they still route to the
 *           source, whose live instance keeps serving;
 *   edges   every edge's two upstreams re-pointed in one graceful load, the source's live
 *           instance's dial becoming the target's live instance's (so it stays the preferred
 *           one), the other port's likewise; the Caddyfile on disk names the target's address;
 *   stop    every unit of the service on the source stopped and disabled;
 *   edit    the manifest's service.host names the target.
 *
 * `--abort`: the source's live instance started (gated) and enabled again, the edges back, the
 * target's units stopped and disabled, the manifest edited back.
 */
import { routingEdges, type Service } from '../../fleet/model.js';
import { upstreamAddress } from '../../fleet/networks.js';
import { records } from '../../runtime/shell.js';
import { swapInstance } from '../../runtime/systemd-swap.js';
import { failureReason } from '../../transport/types.js';
import { switchEdges } from '../deploy/edge-swap.js';
import { carryItem, deployOnTarget, returnItem, ship, startOn } from './execute.js';
import type { JournalItem } from './journal.js';
import { enableUnitScript, rerouteSwapEdgeScript, retireSwapScript, swapLiveScript } from './kind-scripts.js';
import { at, hostOf, opsAt, StepFailed, unitScript, type MoveContext } from './steps.js';

function swapUnits(ctx: MoveContext, service: Service, host: string): { unit: string; ports: readonly [number, number] } {
  const { ops, service: there } = opsAt(ctx, service, host);
  const unit = ops.runtime(there).unit;
  if (unit === undefined || service.swapPorts === undefined || service.port === undefined)
    throw new StepFailed(`${service.id}: not a swap service with a unit and a port`);
  return { unit, ports: service.swapPorts };
}

/** The instance serving on `host`: its port and unit (the in-place unit on service.port before its first swap). */
async function liveInstance(ctx: MoveContext, service: Service, host: string): Promise<{ port: number; unit: string }> {
  const res = await ctx.ops.transport(hostOf(ctx.fleet, host)).script(swapLiveScript(service.directory), { timeoutMs: 60_000 });
  const live = records(res.stdout).find((r) => r[0] === 'live');
  if (res.unreachable || live === undefined) throw new StepFailed(`cannot read the live instance of ${service.id} on ${host}: ${failureReason(res)}`);
  const { unit } = swapUnits(ctx, service, host);
  const port = Number(live[1]);
  return service.swapPorts!.includes(port) ? { port, unit: swapInstance(unit, port) } : { port: service.port!, unit };
}

/**
 * Every edge routing the service dials its instances on `toHost` instead of `fromHost`, the live
 * one preferred. `gone`: a host that cannot be asked which instance is live (a recovery, or its
 * abort): each port's dial is re-pointed as it is; when the host it goes to can be asked, its
 * live port is then made the preferred one the way a swap does (deploy/edge-swap.ts).
 */
export async function rerouteSwap(ctx: MoveContext, service: Service, fromHost: string, toHost: string, gone?: 'from' | 'to'): Promise<void> {
  if (service.domains.length === 0) return;
  const [a, b] = service.swapPorts!;
  const other = (p: number) => (p === a ? b : a);
  const fromGone = gone === 'from';
  // With a host gone, each port's dial keeps its port: the one the reachable host says is live.
  const liveTo = (await liveInstance(ctx, service, gone === 'to' ? fromHost : toHost)).port;
  const liveFrom = gone === undefined ? (await liveInstance(ctx, service, fromHost)).port : liveTo;
  const from = hostOf(ctx.fleet, fromHost);
  const to = hostOf(ctx.fleet, toHost);
  for (const edge of routingEdges(ctx.fleet, at(service, fromHost))) {
    const edgeHost = hostOf(ctx.fleet, edge.host!);
    const x = upstreamAddress(edgeHost, from);
    const y = upstreamAddress(edgeHost, to);
    if ('reason' in x || 'reason' in y) throw new StepFailed(`the edge ${edgeHost.name} shares no network with ${'reason' in x ? fromHost : toHost}`);
    ctx.report(`${service.id}: ${edgeHost.name} now routes to ${toHost} (port ${liveTo} preferred)`);
    const pairs = [
      [`${x.address}:${liveFrom}`, `${y.address}:${liveTo}`],
      [`${x.address}:${other(liveFrom)}`, `${y.address}:${other(liveTo)}`],
    ] as const;
    const transport = ctx.ops.transport(edgeHost);
    const res = await transport.script(rerouteSwapEdgeScript(pairs, x.address, y.address), { timeoutMs: 60_000 });
    const rec = records(res.stdout).find((r) => r[0] === 'edge');
    if (res.unreachable || rec === undefined) throw new StepFailed(`cannot switch the edge ${edgeHost.name}: ${failureReason(res)}`);
    if (rec[1] !== 'switched' && rec[1] !== 'already') throw new StepFailed(`the edge ${edgeHost.name}: ${rec[2] ?? rec[1]}`);
    if (!fromGone) continue;
    const [prefer] = await switchEdges([{ edge: edgeHost.name, transport, address: y.address }], [a, b], liveTo, 60_000);
    if (!prefer!.ok) throw new StepFailed(`the edge ${edgeHost.name}: ${prefer!.state} ${prefer!.detail}`);
  }
}

export async function retireSwap(ctx: MoveContext, service: Service, host: string): Promise<void> {
  const { unit, ports } = swapUnits(ctx, service, host);
  ctx.report(`${service.id}: stopping it on ${host}`);
  await unitScript(ctx, host, retireSwapScript([unit, swapInstance(unit, ports[0]), swapInstance(unit, ports[1])]), `stop ${service.id}`);
}

export async function moveSwap(ctx: MoveContext, service: Service, item: JournalItem): Promise<void> {
  await carryItem(ctx, service, item, async () => {
    await ship(ctx, service, item);
    if (!item.done.includes('start')) {
      const gateS = await deployOnTarget(ctx, service, item, { edgesFollowMove: true });
      ctx.report(
        `${item.name}: serving on ${item.to} (${gateS.toFixed(1)}s of it the start and readiness wait); the edges still route to ${item.from}`,
      );
      await ctx.journal.step(item, 'start');
    }
    if (!item.done.includes('edges')) {
      await rerouteSwap(ctx, service, item.from, item.to);
      await ctx.journal.step(item, 'edges');
    }
    if (!item.done.includes('stop')) {
      await retireSwap(ctx, service, item.from);
      await ctx.journal.step(item, 'stop');
    }
  });
}

/** Back to the source: its live instance started and gated before the edges dial it again. */
export async function returnSwap(ctx: MoveContext, service: Service, item: JournalItem): Promise<void> {
  await returnItem(ctx, service, item, async () => {
    ctx.report(`${item.name}: starting it again on ${item.from}`);
    await startOn(ctx, service, item.from);
    const live = await liveInstance(ctx, service, item.from);
    await unitScript(ctx, item.from, enableUnitScript(live.unit), `enable ${item.name}`);
    await rerouteSwap(ctx, service, item.to, item.from);
    await retireSwap(ctx, service, item.to);
  });
}

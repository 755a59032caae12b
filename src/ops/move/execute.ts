/**
 * Carrying out a move, one service at a time in wave order, each step recorded in the journal
 * before the next begins (journal.ts), each step safe to run again after a kill or a cut:
 *
 *   ship   the release live on the source, read into the journal's directory (the same bits);
 *   start  that release deployed on the target by the deploy path (lock, ship, unit, start,
 *          gate; a failed gate switches nothing) while the source keeps serving;
 *   edges  every edge routing its domains dials the target (graceful, host-scripts.ts);
 *   stop   the source's unit stopped and disabled;
 *   edit   its unit file on the source set aside (host-scripts.ts: systemd no longer loads
 *          it), the manifest's service.host names the target (a minimal edit).
 *
 * `abort` undoes, newest step first, what the journal says was done for items not moved (and
 * for every item of a wave not finished): the source started again, the edges dial it again,
 * the target's instance stopped, the manifest edited back.
 */
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { routingEdges, type Service } from '../../fleet/model.js';
import { upstreamAddress } from '../../fleet/networks.js';
import { readIfExists, writeFileSafely } from '../../files/write.js';
import { records } from '../../runtime/shell.js';
import { setScalar } from '../../source/edit.js';
import { failureReason } from '../../transport/types.js';
import { fileSafe } from '../../transport/quote.js';
import { runDeploy } from '../deploy.js';
import { DEPLOY_DEFAULTS, type DeployOptions } from '../deploy/types.js';
import { SilentProgress } from '../progress.js';
import { LIFECYCLE_DEFAULTS, runAction } from '../lifecycle.js';
import { putBackUnitScript, readReleaseScript, rerouteEdgeScript, retireUnitScript, reviveUnitScript, setAsideUnitScript } from './host-scripts.js';
import type { JournalItem } from './journal.js';
import { at, copyEnvFile, hostOf, opsAt, StepFailed, unitOf, unitScript, type MoveContext } from './steps.js';

export type { MoveContext } from './steps.js';

export function releaseFile(ctx: MoveContext, item: JournalItem): string {
  return join(ctx.releasesDir, `${fileSafe(item.name)}.tar`);
}

export async function ship(ctx: MoveContext, service: Service, item: JournalItem): Promise<void> {
  const file = releaseFile(ctx, item);
  if (item.done.includes('ship') && (await stat(file).catch(() => undefined))?.isFile()) return;
  ctx.report(`${item.name}: reading the live release on ${item.from}`);
  const res = await ctx.ops.transport(hostOf(ctx.fleet, item.from)).script(readReleaseScript(service.directory), { timeoutMs: 30 * 60_000 });
  if (res.unreachable || res.code !== 0) throw new StepFailed(`cannot read the release on ${item.from}: ${failureReason(res)}`);
  const error = records(res.stdout).find((r) => r[0] === 'error');
  if (error) throw new StepFailed(error[1] ?? 'cannot read the release');
  const release = records(res.stdout).find((r) => r[0] === 'release')?.[1];
  const at = res.stdout.indexOf('@@tar\n');
  if (release === undefined || at < 0) throw new StepFailed(`no release from ${item.from}: ${failureReason(res)}`);
  const bytes = Buffer.from(res.stdout.slice(at + 6), 'base64');
  // A tar is whole 512-byte blocks, ending in two empty ones: a short read is not a release.
  if (bytes.length < 1024 || bytes.length % 512 !== 0 || bytes.subarray(-1024).some((b) => b !== 0))
    throw new StepFailed(`the release read from ${item.from} is not a whole tar (${bytes.length} bytes)`);
  await mkdir(ctx.releasesDir, { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, bytes, { mode: 0o600 });
  await rename(tmp, file);
  // A writer of a database moved with its cluster: its env file went with the database (and points at the target's cluster).
  if (!ctx.databaseWriters.has(service.id)) await copyEnvFile(ctx, service, item);
  ctx.report(`${item.name}: release ${release} read (${(bytes.length / 1024 / 1024).toFixed(1)} MiB)`);
  await ctx.journal.step(item, 'ship', { state: 'moving', release });
}

/** The shipped release deployed on the target by the deploy path (lock, ship, install, start, gate); the gate's seconds. */
export async function deployOnTarget(ctx: MoveContext, service: Service, item: JournalItem, options: Partial<DeployOptions> = {}): Promise<number> {
  ctx.report(`${item.name}: deploying release ${item.release} on ${item.to} beside ${item.from}`);
  const { ops, service: moved } = opsAt(ctx, service, item.to);
  // From here a writer may write to the target's copy: an abort must know (database.ts, returnCluster).
  if (ctx.databaseWriters.has(service.id)) await ctx.journal.step(item, 'deploying');
  const report = await runDeploy(
    ops,
    { services: [moved], named: new Set([moved.id]), skipped: [] },
    { ...DEPLOY_DEFAULTS, ...ctx.deploy, ...options, dryRun: false, artifact: releaseFile(ctx, item) },
    new SilentProgress(),
  );
  const r = report.deploys[0];
  if (r === undefined || !r.ok)
    throw new StepFailed(
      `the release did not pass its gate on ${item.to} (${item.from} still serves): ${r?.outcome ?? 'no result'}: ${r?.reason ?? ''}`,
    );
  return (r.timings.gateMs ?? 0) / 1000;
}

async function start(ctx: MoveContext, service: Service, item: JournalItem): Promise<void> {
  if (item.done.includes('start')) return;
  const gateS = await deployOnTarget(ctx, service, item);
  // Started at boot there from now on (a service moved back finds its unit disabled).
  await unitScript(ctx, item.to, reviveUnitScript(unitOf(ctx, service, item.to)), `enable ${item.name}`);
  ctx.report(`${item.name}: serving on ${item.to} (${gateS.toFixed(1)}s of it the restart and readiness wait)`);
  await ctx.journal.step(item, 'start');
}

/** Every edge routing the service's domains dials `toHost` instead of `fromHost`. */
export async function reroute(ctx: MoveContext, service: Service, fromHost: string, toHost: string): Promise<void> {
  if (service.domains.length === 0 || service.port === undefined) return;
  const from = hostOf(ctx.fleet, fromHost);
  const to = hostOf(ctx.fleet, toHost);
  for (const edge of routingEdges(ctx.fleet, at(service, fromHost))) {
    const edgeHost = hostOf(ctx.fleet, edge.host!);
    const a = upstreamAddress(edgeHost, from);
    const b = upstreamAddress(edgeHost, to);
    if ('reason' in a || 'reason' in b) throw new StepFailed(`the edge ${edgeHost.name} shares no network with ${'reason' in a ? fromHost : toHost}`);
    ctx.report(`${service.id}: ${edgeHost.name} now routes to ${toHost}`);
    const res = await ctx.ops
      .transport(edgeHost)
      .script(rerouteEdgeScript(`${a.address}:${service.port}`, `${b.address}:${service.port}`), { timeoutMs: 60_000 });
    const rec = records(res.stdout).find((r) => r[0] === 'edge');
    if (res.unreachable || rec === undefined) throw new StepFailed(`cannot switch the edge ${edgeHost.name}: ${failureReason(res)}`);
    if (rec[1] !== 'switched' && rec[1] !== 'already') throw new StepFailed(`the edge ${edgeHost.name}: ${rec[2] ?? rec[1]}`);
  }
}

/** Started (and enabled) on `host`, gated on its readiness like `start`. */
/** The service started on `host` through its readiness gate (the move's own window, when it has one). */
export async function startOn(ctx: MoveContext, service: Service, host: string): Promise<void> {
  const { ops, service: there } = opsAt(ctx, service, host);
  const r = await runAction(ops, there, 'start', {
    ...LIFECYCLE_DEFAULTS,
    ...(ctx.deploy.readyTimeoutMs === undefined ? {} : { readyTimeoutMs: ctx.deploy.readyTimeoutMs }),
  });
  if (!r.ok) throw new StepFailed(`cannot start ${service.id} on ${host}: ${r.detail ?? r.outcome}`);
}

async function startGated(ctx: MoveContext, service: Service, host: string): Promise<void> {
  await startOn(ctx, service, host);
  await unitScript(ctx, host, reviveUnitScript(unitOf(ctx, service, host)), `enable ${service.id}`);
}

/**
 * An item sent back to the source, whatever its kind: the manifest first, then `undo` (the
 * kind's own: started again there, the edges back, the target's stopped) whenever a step may
 * have happened, the journal knowing it or not (each undo is harmless when there is nothing to
 * undo), then the files kept for it. A step that fails is the abort's reason; the item stays as
 * it is, to be aborted again.
 */
export async function returnItem(
  ctx: MoveContext,
  service: Service,
  item: JournalItem,
  undo: () => Promise<void>,
  files: readonly string[] = [releaseFile(ctx, item)],
): Promise<void> {
  try {
    if (item.done.includes('edit')) {
      await editHost(ctx, service, item.from);
      await ctx.journal.set(item, { done: item.done.filter((s) => s !== 'edit') });
    }
    if (item.done.length > 0 || item.state !== 'pending') await undo();
    for (const file of files) await rm(file, { force: true });
    await ctx.journal.set(item, { done: [], state: 'returned', reason: null });
  } catch (error) {
    if (!(error instanceof StepFailed)) throw error;
    await ctx.journal.set(item, { reason: `abort: ${error.message}` });
  }
}

/** The manifest's service.host set to `host` (a minimal edit; nothing written when it says so already). */
export async function editHost(ctx: MoveContext, service: Service, host: string): Promise<void> {
  const file = join(ctx.fleet.root, service.manifest);
  const text = await readIfExists(file);
  if (text === undefined) throw new StepFailed(`cannot read ${service.manifest}`);
  await writeFileSafely(file, setScalar(text, ['service', 'host'], host));
}

/**
 * An item carried to the target, whatever its kind: `steps` (the kind's own, each journaled),
 * then the last step every kind shares: the manifest names the target (after `beforeEdit`, the
 * kind's own last act on the source) and the files kept for it go. A step that fails leaves the
 * item `failed` with the reason, to which `onFailed` may add what it did about it; moving again
 * continues from the journal.
 */
export async function carryItem(
  ctx: MoveContext,
  service: Service,
  item: JournalItem,
  steps: () => Promise<void>,
  options: { files?: readonly string[]; beforeEdit?: () => Promise<void>; onFailed?: (reason: string) => Promise<string> } = {},
): Promise<void> {
  try {
    await steps();
    if (!item.done.includes('edit')) {
      await options.beforeEdit?.();
      await editHost(ctx, service, item.to);
      await ctx.journal.step(item, 'edit', { state: 'moved', reason: null });
      ctx.report(`${item.name}: moved to ${item.to}`);
    }
    for (const file of options.files ?? [releaseFile(ctx, item)]) await rm(file, { force: true });
  } catch (error) {
    if (!(error instanceof StepFailed)) throw error;
    const reason = options.onFailed === undefined ? error.message : await options.onFailed(error.message);
    await ctx.journal.set(item, { state: 'failed', reason });
  }
}

export async function moveService(ctx: MoveContext, service: Service, item: JournalItem): Promise<void> {
  await carryItem(
    ctx,
    service,
    item,
    async () => {
      await ship(ctx, service, item);
      await start(ctx, service, item);
      if (!item.done.includes('edges')) {
        await reroute(ctx, service, item.from, item.to);
        await ctx.journal.step(item, 'edges');
      }
      if (!item.done.includes('stop')) {
        ctx.report(`${item.name}: stopping it on ${item.from}`);
        await unitScript(ctx, item.from, retireUnitScript(unitOf(ctx, service, item.from)), `stop ${item.name}`);
        await ctx.journal.step(item, 'stop');
      }
    },
    {
      // Its unit file on the source set aside: nothing starts a second instance there (an abort puts it back).
      beforeEdit: () => unitScript(ctx, item.from, setAsideUnitScript(unitOf(ctx, service, item.from)), `set aside ${item.name}'s unit`),
    },
  );
}

/** Back to the source: newest step first; each undo recorded so an abort cut midway continues. */
export async function returnService(ctx: MoveContext, service: Service, item: JournalItem): Promise<void> {
  await returnItem(ctx, service, item, async () => {
    ctx.report(`${item.name}: starting it again on ${item.from}`);
    await unitScript(ctx, item.from, putBackUnitScript(unitOf(ctx, service, item.from)), `put back ${item.name}'s unit`);
    await startGated(ctx, service, item.from);
    await reroute(ctx, service, item.to, item.from);
    ctx.report(`${item.name}: stopping it on ${item.to}`);
    await unitScript(ctx, item.to, retireUnitScript(unitOf(ctx, service, item.to)), `stop ${item.name}`);
  });
}

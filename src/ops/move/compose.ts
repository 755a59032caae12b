/**
 * Moving a compose service (service.compose) to another host: the same release and the same
 * image, by digest. The steps, each journalled:
 *
 *   ship    the release live on the source (its compose files, without the source's own
 *           `.manage-apps/` records) read into the journal's directory, with the image digest it
 *           runs (`repo@sha256:…`, what its gate passed with); its env file carried through memory;
 *   start   the release deployed on the target under the same id, the image pulled there by that
 *           digest from the registry (never a tag: the same image, as a promotion pins it), the
 *           env file and the declared secrets delivered as deploy does, gated, while the source
 *           keeps serving;
 *   edges   every edge routing its domains dials the target (graceful, as for any service);
 *   stop    the source's container stopped (with `restart: unless-stopped` it stays stopped);
 *   edit    the manifest's service.host names the target.
 *
 * When the target cannot pull the digest (the registry unreachable from it, or the image gone
 * from the registry), the start fails with the source serving and the line says so; carrying the
 * image between hosts (`docker save | docker load`) is not done: a loaded image has no registry
 * digest to pin.
 */
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import type { Service } from '../../fleet/model.js';
import { records } from '../../runtime/shell.js';
import { failureReason } from '../../transport/types.js';
import { LIFECYCLE_DEFAULTS, runAction } from '../lifecycle.js';
import { carryItem, deployOnTarget, releaseFile, reroute, returnItem, startOn } from './execute.js';
import type { JournalItem } from './journal.js';
import { readComposeReleaseScript } from './kind-scripts.js';
import { copyEnvFile, hostOf, opsAt, StepFailed, type MoveContext } from './steps.js';

const imageFile = (ctx: MoveContext, item: JournalItem) => `${releaseFile(ctx, item)}.image`;

async function shipCompose(ctx: MoveContext, service: Service, item: JournalItem): Promise<string> {
  const file = releaseFile(ctx, item);
  if (item.done.includes('ship') && (await stat(file).catch(() => undefined))?.isFile()) {
    const image = (await readFile(imageFile(ctx, item), 'utf8').catch(() => '')).trim();
    if (image.includes('@sha256:')) return image;
  }
  ctx.report(`${item.name}: reading the live release and its image digest on ${item.from}`);
  const res = await ctx.ops.transport(hostOf(ctx.fleet, item.from)).script(readComposeReleaseScript(service.directory), { timeoutMs: 30 * 60_000 });
  if (res.unreachable || res.code !== 0) throw new StepFailed(`cannot read the release on ${item.from}: ${failureReason(res)}`);
  const recs = records(res.stdout);
  const error = recs.find((r) => r[0] === 'error');
  if (error) throw new StepFailed(error[1] ?? 'cannot read the release');
  const release = recs.find((r) => r[0] === 'release')?.[1];
  const image = recs.find((r) => r[0] === 'image')?.[1];
  const at = res.stdout.indexOf('@@tar\n');
  if (release === undefined || image === undefined || at < 0) throw new StepFailed(`no release from ${item.from}: ${failureReason(res)}`);
  const bytes = Buffer.from(res.stdout.slice(at + 6), 'base64');
  if (bytes.length < 1024 || bytes.length % 512 !== 0 || bytes.subarray(-1024).some((b) => b !== 0))
    throw new StepFailed(`the release read from ${item.from} is not a whole tar (${bytes.length} bytes)`);
  await mkdir(ctx.releasesDir, { recursive: true, mode: 0o700 });
  for (const [path, content] of [
    [imageFile(ctx, item), `${image}\n`],
    [file, bytes],
  ] as const) {
    const tmp = `${path}.${process.pid}.tmp`;
    await writeFile(tmp, content, { mode: 0o600 });
    await rename(tmp, path);
  }
  // A writer of a database moved with its cluster: its env file went with the database (and points at the target's cluster).
  if (!ctx.databaseWriters.has(service.id)) await copyEnvFile(ctx, service, item);
  ctx.report(`${item.name}: release ${release} read, image ${image}`);
  await ctx.journal.step(item, 'ship', { state: 'moving', release });
  return image;
}

/** The service's container stopped on `host` (none there is nothing to stop). */
export async function stopOn(ctx: MoveContext, service: Service, host: string): Promise<void> {
  const { ops, service: there } = opsAt(ctx, service, host);
  const r = await runAction(ops, there, 'stop', { ...LIFECYCLE_DEFAULTS, wait: false });
  if (!r.ok) throw new StepFailed(`cannot stop ${service.id} on ${host}: ${r.detail ?? r.outcome}`);
}

export async function moveCompose(ctx: MoveContext, service: Service, item: JournalItem): Promise<void> {
  await carryItem(
    ctx,
    service,
    item,
    async () => {
      const image = await shipCompose(ctx, service, item);
      if (!item.done.includes('start')) {
        try {
          const gateS = await deployOnTarget(ctx, service, item, { imageDigest: image, releaseBase: item.release! });
          ctx.report(`${item.name}: serving on ${item.to} from ${image} (${gateS.toFixed(1)}s of it the start and readiness wait)`);
        } catch (error) {
          if (error instanceof StepFailed && /pulling \S+ failed/.test(error.message))
            throw new StepFailed(
              `${item.to} cannot pull ${image} (the registry is unreachable from it, or no longer has that digest; ${item.from} still serves): ${error.message}`,
            );
          throw error;
        }
        await ctx.journal.step(item, 'start');
      }
      if (!item.done.includes('edges')) {
        await reroute(ctx, service, item.from, item.to);
        await ctx.journal.step(item, 'edges');
      }
      if (!item.done.includes('stop')) {
        ctx.report(`${item.name}: stopping it on ${item.from}`);
        await stopOn(ctx, service, item.from);
        await ctx.journal.step(item, 'stop');
      }
    },
    { files: [releaseFile(ctx, item), imageFile(ctx, item)] },
  );
}

/** Back to the source: its container started (gated) before the edges dial it again; the target's stopped. */
export async function returnCompose(ctx: MoveContext, service: Service, item: JournalItem): Promise<void> {
  await returnItem(
    ctx,
    service,
    item,
    async () => {
      ctx.report(`${item.name}: starting it again on ${item.from}`);
      await startOn(ctx, service, item.from);
      await reroute(ctx, service, item.to, item.from);
      ctx.report(`${item.name}: stopping it on ${item.to}`);
      await stopOn(ctx, service, item.to);
    },
    [releaseFile(ctx, item), imageFile(ctx, item)],
  );
}

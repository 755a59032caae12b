/**
 * Carrying out a recovery, item by item in wave order, each step recorded in the journal before
 * the next begins and each safe to run again after a kill or a cut. The lost host is never
 * contacted. A database cluster:
 *
 *   backup     the newest good backup in the catalog on the backup's host, chosen once (the
 *              journal keeps its id: a resumed recovery restores the same one);
 *   provision  the cluster made on the target when none answers there (move/cluster.ts: `hosts
 *              prepare`'s path); roles, databases and pg_hba on the target cluster, the env files naming it
 *              (`db provision`'s path on the fleet as it is after the recovery);
 *   restore    each database's dump streamed from the backup host into a fresh database on the
 *              target, its sha256 and every table's row count compared with the catalog (the
 *              drill's checks); a mismatch fails the item;
 *   rights     provision again (the restored databases' rights), then
 *   edit       the inventory's clusters.<name>.host names the target.
 *
 * A service: start (the release kept on this machine deployed on the target under its own id,
 * gated; a job's timer enabled and started there; a swap service's instance confirmed), edges
 * (every edge routing it dials the target; a swap's two upstreams, its live one preferred),
 * edit (its manifest's host).
 *
 * `abortItem` stops what the recovery started on the target and puts the files back.
 */
import type { CatalogEntry } from '../../data/backup.js';
import { compareRowCounts, planBackups } from '../../data/backup.js';
import { resolveDatabase, type DeclaredDatabase } from '../../data/declared.js';
import { provision } from '../../data/provision.js';
import type { Fleet, Service } from '../../fleet/model.js';
import { readIfExists, writeFileSafely } from '../../files/write.js';
import { records } from '../../runtime/shell.js';
import { setScalar } from '../../source/edit.js';
import { failureReason } from '../../transport/types.js';
import { Ops } from '../context.js';
import { runDeploy } from '../deploy.js';
import { DEPLOY_DEFAULTS } from '../deploy/types.js';
import { SilentProgress } from '../progress.js';
import { passwordOn } from '../move/database.js';
import { ensureClusterOn } from '../move/cluster.js';
import { editHost, reroute } from '../move/execute.js';
import { StepFailed, unitScript, type MoveContext } from '../move/steps.js';
import { retireUnitScript, reviveUnitScript } from '../move/host-scripts.js';
import { retireJobScript } from '../move/kind-scripts.js';
import { rerouteSwap, retireSwap } from '../move/swap.js';
import { stopOn } from '../move/compose.js';
import type { JournalItem } from '../move/journal.js';
import { readDumpScript, restoreDumpScript } from './host-scripts.js';
import { copyBetween } from './stream.js';

export interface RecoverContext extends MoveContext {
  /** The fleet as it is once everything of the lost host runs on the target (clusters and services). */
  after: Fleet;
  lost: string;
  /** The backups chosen so far, by cluster (from the journal). */
  backups: Map<string, { entry: CatalogEntry }>;
  /** Records a backup chosen for a cluster in the journal (before anything is restored from it). */
  chose: (cluster: string, entry: CatalogEntry) => Promise<void>;
  /** Records the moment a service passed its gate on the target (the RTO's end). */
  healthy: (service: string) => Promise<void>;
}

const hostOf = (fleet: Fleet, name: string) => {
  const h = fleet.hosts.find((x) => x.name === name);
  if (h === undefined) throw new StepFailed(`host ${name} is not in the inventory any more`);
  return h;
};

async function chooseBackup(ctx: RecoverContext, item: JournalItem): Promise<CatalogEntry> {
  const known = ctx.backups.get(item.name);
  if (known !== undefined) return known.entry;
  const plan = planBackups(ctx.fleet, [item.name]).plans[0];
  if (plan === undefined || plan.problem !== undefined) throw new StepFailed(`no backup to restore: ${plan?.problem ?? 'not a driven engine'}`);
  const { newestBackup } = await import('../../data/backup.js');
  const newest = await newestBackup(ctx.ops, plan);
  if ('reason' in newest) throw new StepFailed(newest.reason);
  await ctx.chose(item.name, newest.entry);
  ctx.report(`${item.name}: restoring backup ${newest.entry.id} of ${newest.entry.time} from ${plan.target!.name}`);
  return newest.entry;
}

async function provisionOn(ctx: RecoverContext, cluster: string): Promise<void> {
  const report = await provision(
    ctx.after,
    new Ops(ctx.after, ctx.ops.settings),
    { targets: [cluster], rotate: false, dryRun: false },
    new SilentProgress(),
  );
  const bad = [...report.databases.filter((d) => !d.ok), ...report.clusters.filter((c) => !c.ok)];
  if (bad.length > 0)
    throw new StepFailed(
      `provisioning on ${ctx.journal.journal.to} failed: ${bad.map((b) => `${'id' in b ? b.id : b.name}: ${b.reason ?? 'failed'}`).join('; ')}`,
    );
}

async function restoreOne(ctx: RecoverContext, item: JournalItem, entry: CatalogEntry, db: DeclaredDatabase, backupHost: string): Promise<void> {
  const stored = entry.databases!.find((d) => d.name === db.name);
  if (stored === undefined) throw new StepFailed(`backup ${entry.id} holds no dump of ${db.name}`);
  // Restored as the app's own role (host-scripts.ts says why): its password from the env file
  // provisioning just wrote on the target.
  if (db.service?.envFile === undefined)
    throw new StepFailed(`${db.name}: no service of ${db.project} keeps its credentials (service.env_file), so it cannot be restored as ${db.user}`);
  const password = await passwordOn(ctx, db.service, item.to, db.user);
  ctx.report(`${item.name}: restoring ${db.name} (${(stored.bytes / 1024 / 1024).toFixed(1)} MiB) on ${item.to}`);
  const copied = await copyBetween(
    ctx.ops,
    hostOf(ctx.fleet, backupHost),
    readDumpScript(item.name, entry.id, db.name, stored.restic_snapshot),
    hostOf(ctx.fleet, item.to),
    restoreDumpScript(db.cluster.port, db.name, db.user),
    6 * 3600_000,
    `${password}\n`,
  );
  const recs = records(copied.write.stdout);
  const error = recs.find((r) => r[0] === 'error')?.[1];
  if (copied.write.unreachable || error) throw new StepFailed(`restoring ${db.name} on ${item.to}: ${error ?? copied.write.unreachable}`);
  if (copied.read.code !== 0)
    throw new StepFailed(`reading ${db.name} of backup ${entry.id} on ${backupHost}: ${copied.read.error || `exit ${copied.read.code}`}`);
  const row = recs.find((r) => r[0] === 'restored');
  if (row === undefined) throw new StepFailed(`restoring ${db.name} on ${item.to} did not finish: ${failureReason(copied.write)}`);
  const [, rc, , err] = row;
  if (copied.read.sha256 !== stored.sha256)
    throw new StepFailed(`${db.name}: the dump read from ${backupHost} differs from what was backed up (sha256)`);
  if (rc !== '0') throw new StepFailed(`${db.name}: pg_restore failed on ${item.to}: ${err || `exit ${rc}`}`);
  let tables: Record<string, number> | null = null;
  try {
    const text = recs.find((r) => r[0] === 'tables')?.[1];
    tables = text && text !== 'null' ? (JSON.parse(text) as Record<string, number>) : null;
  } catch {
    tables = null;
  }
  const mismatches = compareRowCounts(stored.tables, tables, {
    expected: 'rows backed up',
    actual: 'restored',
    extra: 'restored but not in the catalog',
  });
  if (tables === null || mismatches.length > 0)
    throw new StepFailed(
      `${db.name}: row counts differ from the backup's catalog: ${tables === null ? 'the tables could not be counted' : mismatches.slice(0, 3).join('; ')}`,
    );
  const total = Object.values(stored.tables).reduce((a, b) => a + b, 0);
  ctx.report(`${item.name}: ${db.name} restored, ${Object.keys(stored.tables).length} tables, ${total} rows, as the catalog says`);
}

export async function recoverCluster(ctx: RecoverContext, item: JournalItem): Promise<void> {
  try {
    const cluster = ctx.after.clusters.find((c) => c.name === item.name)!;
    const entry = await chooseBackup(ctx, item);
    if (!item.done.includes('provision')) {
      // No cluster answering there: made as `hosts prepare` makes it (the fleet as it is after the recovery).
      if ((await ensureClusterOn(ctx.ops, ctx.after, item.name, item.to, ctx.report)) === 'created')
        ctx.report(`${item.name}: cluster created on ${item.to}`);
      ctx.report(`${item.name}: provisioning roles, databases and pg_hba on ${item.to}`);
      await provisionOn(ctx, item.name);
      await ctx.journal.step(item, 'provision', { state: 'moving', release: entry.id });
    }
    const plan = planBackups(ctx.fleet, [item.name]).plans[0]!;
    const dbs = ctx.after.databases
      .map((d) => resolveDatabase(ctx.after, d))
      .filter((d): d is DeclaredDatabase => 'clusterHost' in d && d.cluster.name === item.name);
    for (const db of dbs) {
      const step = `restore:${db.name}`;
      if (item.done.includes(step)) continue;
      await restoreOne(ctx, item, entry, db, plan.target!.name);
      await ctx.journal.step(item, step);
    }
    if (!item.done.includes('rights')) {
      await provisionOn(ctx, item.name);
      await ctx.journal.step(item, 'rights');
    }
    if (!item.done.includes('edit')) {
      await editInventory(ctx, item.name, item.to);
      await ctx.journal.step(item, 'edit', { state: 'moved', reason: null });
      ctx.report(`${item.name}: recovered on ${item.to}`);
    }
  } catch (error) {
    if (!(error instanceof StepFailed)) throw error;
    await ctx.journal.set(item, { state: 'failed', reason: error.message });
  }
}

async function editInventory(ctx: RecoverContext, cluster: string, host: string): Promise<void> {
  const text = await readIfExists(ctx.inventoryPath);
  if (text === undefined) throw new StepFailed(`cannot read ${ctx.inventoryPath}`);
  await writeFileSafely(ctx.inventoryPath, setScalar(text, ['clusters', cluster, 'host'], host, { json: ctx.inventoryPath.endsWith('.json') }));
}

export async function recoverService(
  ctx: RecoverContext,
  service: Service,
  item: JournalItem,
  kept: { release: string; file: string; image?: string | undefined },
): Promise<void> {
  try {
    if (!item.done.includes('start')) {
      ctx.report(`${item.name}: deploying release ${kept.release} (kept on this machine) on ${item.to}`);
      const moved = { ...service, host: item.to };
      const report = await runDeploy(
        new Ops(ctx.after, ctx.ops.settings),
        { services: [moved], named: new Set([moved.id]), skipped: [] },
        {
          ...DEPLOY_DEFAULTS,
          ...ctx.deploy,
          dryRun: false,
          artifact: kept.file,
          releaseBase: kept.release,
          // A swap service: the edges dial the lost host; the edges step points them here.
          ...(service.swapPorts === undefined ? {} : { edgesFollowMove: true }),
          // A compose service: the image it passed its gate with, pulled by digest (never a tag).
          ...(kept.image === undefined ? {} : { imageDigest: kept.image }),
        },
        new SilentProgress(),
      );
      const r = report.deploys[0];
      if (r === undefined || !r.ok) {
        const why = `${r?.outcome ?? 'no result'}: ${r?.reason ?? ''}`;
        if (kept.image !== undefined && /pulling \S+ failed/.test(why))
          throw new StepFailed(`the registry does not have ${kept.image}, or ${item.to} cannot reach it: the image cannot be pulled there (${why})`);
        throw new StepFailed(`the release did not pass its gate on ${item.to}: ${why}`);
      }
      // A job's deploy enabled its timer, a swap's its live instance; a plain unit is enabled here.
      if (service.schedule === undefined && service.swapPorts === undefined && service.compose === undefined)
        await unitScript(ctx, item.to, reviveUnitScript(new Ops(ctx.after, ctx.ops.settings).runtime(moved).unit!), `enable ${item.name}`);
      await ctx.healthy(item.name);
      ctx.report(`${item.name}: serving on ${item.to}`);
      await ctx.journal.step(item, 'start', { state: 'moving', release: kept.release });
    }
    if (!item.done.includes('edges')) {
      if (service.swapPorts !== undefined) await rerouteSwap(ctx, service, ctx.lost, item.to, 'from');
      else await reroute(ctx, service, ctx.lost, item.to);
      await ctx.journal.step(item, 'edges');
    }
    if (!item.done.includes('edit')) {
      await editHost(ctx, service, item.to);
      await ctx.journal.step(item, 'edit', { state: 'moved', reason: null });
      ctx.report(`${item.name}: recovered on ${item.to}`);
    }
  } catch (error) {
    if (!(error instanceof StepFailed)) throw error;
    await ctx.journal.set(item, { state: 'failed', reason: error.message });
  }
}

/**
 * An abort: the source is gone, so nothing goes back to it. What the recovery started on the
 * target is stopped, the edges dial the lost host's address again (as the files will say), and
 * the files name the lost host again. A restored database stays on the target cluster (data is
 * never dropped by an abort). Each undo is harmless when there is nothing to undo: a step cut
 * midway may have happened without the journal knowing.
 */
export async function abortItem(ctx: RecoverContext, service: Service | undefined, item: JournalItem): Promise<void> {
  try {
    if (item.kind === 'cluster') {
      if (item.done.includes('edit')) await editInventory(ctx, item.name, item.from);
    } else if (service !== undefined) {
      if (item.done.includes('edit')) await editHost(ctx, service, item.from);
      ctx.report(`${item.name}: stopping what the recovery started on ${item.to}`);
      const rs = new Ops(ctx.after, ctx.ops.settings).runtime({ ...service, host: item.to });
      if (service.compose !== undefined) await stopOn(ctx, service, item.to);
      else if (service.swapPorts !== undefined) await retireSwap(ctx, service, item.to);
      else if (rs.job !== undefined)
        await unitScript(ctx, item.to, retireJobScript(rs.job.timer, rs.unit!, rs.job.timeoutS + 30), `stop ${item.name}`);
      else await unitScript(ctx, item.to, retireUnitScript(rs.unit!), `stop ${item.name}`);
      if (item.done.includes('edges') || item.done.includes('start')) {
        if (service.swapPorts !== undefined) await rerouteSwap(ctx, service, item.to, item.from, 'to');
        else await reroute(ctx, service, item.to, item.from);
      }
    }
    await ctx.journal.set(item, { done: [], state: 'returned', reason: null });
  } catch (error) {
    if (!(error instanceof StepFailed)) throw error;
    await ctx.journal.set(item, { reason: `abort: ${error.message}` });
  }
}

/**
 * `deploy`: services by dependency levels, each with its strategy (deploy/plan.ts):
 *
 *   - the built-in release strategy (deploy/release-strategy.ts): lock + ship, then the
 *     activation shared with rollback (deploy/activate.ts) — the host arms its own revert,
 *     switches, restarts and gates; the CLI confirms (or switches back), prunes and unlocks;
 *   - the project's own deploy script (deploy/script-strategy.ts).
 *
 * `rollback` is deploy/rollback.ts. The host side of all of it is src/runtime (release.ts,
 * revert.ts, and the runtime's activation fragments: runtime.ts ActivationRuntime, made by each runtime).
 */
import type { Service } from '../fleet/model.js';
import type { Ops } from './context.js';
import { forget } from './deploy/lock.js';
import { deployable, deploySummary, emptyTimings, planDeploy, type Planned } from './deploy/plan.js';
import { deployRelease } from './deploy/release-strategy.js';
import { deployScript } from './deploy/script-strategy.js';
import { hookSignals } from './deploy/lock.js';
import type { DeployOptions, DeployPlanEntry, DeployReport, DeployResult } from './deploy/types.js';
import { dependencyLevels, selectedDependencies, type Selection } from './selection.js';
import { SilentProgress, type Progress } from './progress.js';
import { pushSecrets } from '../secrets/deliver.js';
import { SecretResolver } from '../secrets/resolve.js';
import { walkLevels } from './levels.js';
import { keepRelease } from './kept-releases.js';

export type { DeployOptions, DeployReport, DeployResult, RollbackResult, Strategy } from './deploy/types.js';
export { runRollback } from './deploy/rollback.js';

async function deployOne(ops: Ops, service: Service, options: DeployOptions, progress: Progress, key: string): Promise<DeployResult> {
  const started = Date.now();
  const host = ops.host(service)!;
  const task = progress.task(key);
  const timings = emptyTimings();
  const base: Omit<DeployResult, 'outcome' | 'ok'> = {
    id: service.id,
    host: host.name,
    strategy: null,
    release: null,
    previous: null,
    pruned: [],
    roundTrips: 0,
    timings,
  };
  const finish = (r: DeployResult): DeployResult => {
    timings.totalMs = Date.now() - started;
    timings.overheadMs = timings.gateMs === null ? null : Math.max(0, timings.totalMs - timings.gateMs);
    return r;
  };
  let planned: Planned;
  try {
    planned = await planDeploy(ops, service, options);
  } catch (error) {
    return finish({ ...base, outcome: 'failed', ok: false, reason: error instanceof Error ? error.message : String(error) });
  }
  if (planned.entry.skipped !== undefined)
    return finish({ ...base, outcome: planned.refused === true ? 'failed' : 'skipped', ok: false, reason: planned.entry.skipped });
  base.strategy = planned.decided!.strategy;
  const ctx = { ops, service, options, base, timings, report: (m: string) => task.update(m), note: (m: string) => progress.note(m) };
  try {
    if (planned.decided!.strategy === 'script') return finish(await deployScript(ctx));
    const result = await deployRelease(ctx, planned);
    if (result.ok && result.release !== null && planned.artifact !== undefined) await keep(ops, service, result, planned, progress);
    return finish(result);
  } catch (error) {
    forget(service);
    return finish({ ...base, outcome: 'failed', ok: false, reason: error instanceof Error ? error.message : String(error) });
  }
}

/** A copy of the release that passed its gate, on this machine: what `recover` deploys when its host is lost (kept-releases.ts). */
async function keep(ops: Ops, service: Service, result: DeployResult, planned: Planned, progress: Progress): Promise<void> {
  try {
    await keepRelease(
      ops.localStateDir,
      {
        service: service.id,
        host: result.host,
        release: result.release!,
        content: result.content ?? null,
        image: result.image === undefined ? null : { ref: result.image.ref, digest: result.image.digest },
        at: new Date().toISOString(),
      },
      planned.artifact!,
    );
  } catch (error) {
    progress.note(`${service.id}: no copy of release ${result.release} kept on this machine (recover could not use it): ${(error as Error).message}`);
  }
}

export async function runDeploy(ops: Ops, selection: Selection, options: DeployOptions, progress: Progress): Promise<DeployReport> {
  const { services, skipped: edges } = deployable(selection);
  const levels = dependencyLevels(ops.fleet, services);
  const skippedResult = (s: Service, reason: string, ok: boolean): DeployResult => ({
    id: s.id,
    host: s.host!,
    strategy: null,
    release: null,
    previous: null,
    outcome: 'skipped',
    ok,
    reason,
    pruned: [],
    roundTrips: 0,
    timings: emptyTimings(),
  });
  const edgeResults = edges.map((s) => skippedResult(s, 'edge: only deployed when named', true));
  if (options.dryRun) {
    const plan: DeployPlanEntry[] = [];
    for (const s of levels.flat()) plan.push((await planDeploy(ops, s, options)).entry);
    return {
      dry_run: true,
      levels: levels.map((l) => l.map((s) => s.id)),
      plan,
      deploys: edgeResults,
      summary: { deployed: 0, failed: 0, skipped: edgeResults.length + plan.filter((p) => p.skipped).length },
    };
  }
  hookSignals();
  const resolver = new SecretResolver();
  const key = (s: Service) => `deploy:${s.id}`;
  progress.plan(levels.flat().map((s) => ({ key: key(s), host: s.host!, title: s.id })));
  const walked = await walkLevels({
    levels,
    concurrency: ops.settings.concurrency,
    dependencies: (service) => selectedDependencies(ops.fleet, service, services),
    failed: (r: DeployResult) => !r.ok,
    held: (service, blockers) => {
      const reason = `not deployed: ${blockers.map((d) => d.id).join(', ')} failed to deploy`;
      progress.task(key(service)).skip(reason);
      return skippedResult(service, reason, false);
    },
    run: async (service) => {
      const task = progress.task(key(service));
      // Its secrets first: one that cannot be resolved (or delivered) stops this deploy before anything switches.
      const secrets = await deliverSecrets(ops, service, resolver);
      if (secrets !== undefined) {
        task.fail(secrets);
        return { ...skippedResult(service, secrets, false), outcome: 'failed' as const };
      }
      const r = await deployOne(ops, service, options, progress, key(service));
      if (r.ok) task.ok(`deployed${r.release ? ` ${r.release}` : ''} in ${(r.timings.totalMs / 1000).toFixed(1)}s`);
      else if (r.outcome === 'skipped') task.skip(r.reason ?? 'skipped');
      else task.fail(`${r.outcome}: ${r.reason ?? ''}`);
      return r;
    },
  });
  await progress.close();
  const results = [...edgeResults, ...walked];
  return { dry_run: false, levels: levels.map((l) => l.map((s) => s.id)), deploys: results, summary: deploySummary(results) };
}

/**
 * The service's declared secrets, delivered before its release switches (docs/secrets.md): the
 * reason it must not deploy, or undefined when they are on the host (or it declares none). The
 * restart that follows the switch is the one that loads them.
 */
async function deliverSecrets(ops: Ops, service: Service, resolver: SecretResolver): Promise<string | undefined> {
  if ((service.secrets ?? []).length === 0) return undefined;
  const pushed = await pushSecrets(ops, [service], { dryRun: false, restart: false, sequential: false }, new SilentProgress(), resolver);
  const r = pushed.services[0];
  if (r === undefined || r.outcome === 'failed' || r.outcome === 'held') return `secrets: ${r?.reason ?? 'not delivered'}; nothing switched`;
  return undefined;
}

export { decideStrategy, deployable, deploySummary } from './deploy/plan.js';

/**
 * The built-in release strategy, three round trips: (1) lock + ship the artifact on the same
 * connection, (2) arm the host's revert, switch, restart, gate, (3) confirm or switch back
 * (each also releases the lock). See runtime/release.ts for the host side.
 */
import { PassThrough } from 'node:stream';
import type { Service } from '../../fleet/model.js';
import { records } from '../../runtime/shell.js';
import { parseReleaseStates, scriptThenData, shipScript } from '../../runtime/release.js';
import { failureReason } from '../../transport/types.js';
import { artifactStream } from '../artifact.js';
import type { Ops } from '../context.js';
import { newOwner } from '../lock-owner.js';
import { readyTimeout } from '../lifecycle.js';
import { activateAndSettle } from './activate.js';
import { discardReleaseScript, runMigration } from './migrate.js';
import { swapPlan } from './edge-swap.js';
import { acquire, forget, unlock } from './lock.js';
import type { Planned } from './plan.js';
import type { DeployOptions, DeployResult, DeployTimings } from './types.js';

export interface StrategyContext {
  ops: Ops;
  service: Service;
  options: DeployOptions;
  report: (m: string) => void;
  note: (m: string) => void;
  base: Omit<DeployResult, 'outcome' | 'ok'>;
  timings: DeployTimings;
}

export async function deployRelease(ctx: StrategyContext, planned: Planned): Promise<DeployResult> {
  const { ops, service, options, base, timings } = ctx;
  const host = ops.host(service)!;
  const transport = ops.transport(host);
  const runtime = ops.activation(service, planned.imageRef, options.force === true ? { force: true } : {});
  const artifact = planned.artifact!;
  const owner = newOwner(`deploy ${service.id} ${planned.entry.release}`);
  const swap = options.edgesFollowMove === true ? undefined : swapPlan(ops, service);
  if (swap !== undefined && 'error' in swap) return { ...base, outcome: 'failed', ok: false, reason: swap.error };

  ctx.report(`taking the deploy lock, shipping ${artifact.kind} (${artifact.bytes} bytes)`);
  const t0 = Date.now();
  let localError: string | undefined;
  const lock = await acquire({ service, key: runtime.key, transport, owner, options, report: ctx.report, note: ctx.note }, async (request) => {
    const { command, header } = scriptThenData(
      shipScript(service.directory, runtime.key, request, {
        base: planned.entry.release!,
        gzip: artifact.kind === 'tar.gz',
        ...(planned.unit === undefined ? {} : { unitText: planned.unit }),
        ...(planned.timer === undefined ? {} : { timerText: planned.timer }),
        ...(planned.plist === undefined ? {} : { plistText: planned.plist }),
        ...(service.runAs === undefined || service.compose !== undefined
          ? {}
          : { user: service.runAs }) /* a unit's User= (systemd); compose runs as the image says */,
      }),
    );
    const art = artifactStream(artifact);
    const stdin = new PassThrough();
    stdin.write(header);
    art.stream.pipe(stdin);
    const result = await transport.command(command, { stdin, timeoutMs: 30 * 60_000 });
    // A held lock ends the script before it reads the tar: stop making it.
    art.stream.destroy();
    stdin.destroy();
    localError = await Promise.race([art.done, new Promise<undefined>((r) => setTimeout(() => r(undefined), 2000).unref())]);
    return result;
  });
  base.roundTrips = lock.attempts;
  timings.lockMs = lock.waitedMs;
  timings.shipMs = Date.now() - t0;
  base.lock = { waitedMs: lock.waitedMs, ...(lock.broke === undefined ? {} : { broke: lock.broke }) };
  if (!lock.acquired)
    return {
      ...base,
      outcome: lock.result.unreachable ? 'unreachable' : lock.owner ? 'locked' : 'failed',
      ok: false,
      reason: lock.reason ?? 'could not take the deploy lock',
    };
  const state = parseReleaseStates(lock.result.stdout).get('');
  base.previous = state?.current ?? null;
  const recs = records(lock.result.stdout);
  const leftover = recs.find((r) => r[0] === 'leftover');
  if (leftover?.[1] === 'reverted')
    ctx.note(
      `${service.id} on ${host.name}: an earlier activation was never confirmed; reverted it first (${leftover[2] || '?'} → ${leftover[3] || 'nothing'}: ${leftover[4] ?? ''})`,
    );
  const release = recs.find((r) => r[0] === 'release')?.[1];
  const shipped = recs.find((r) => r[0] === 'shipped');
  let settled = false;
  let outcome: DeployResult | undefined;
  const settle = async (): Promise<DeployResult> => {
    const noUser = recs.find((r) => r[0] === 'nouser');
    if (noUser)
      return {
        ...base,
        outcome: 'failed',
        ok: false,
        reason: `service.user ${noUser[1]} does not exist on ${host.name}: nothing was shipped or switched (${base.previous ?? 'no release'} still live); create it with \`manage-apps hosts prepare ${host.name} --apply\``,
      };
    if (!release || shipped?.[1] !== 'ok' || localError) {
      const why = localError ?? shipped?.[2] ?? recs.find((r) => r[0] === 'error')?.[1] ?? failureReason(lock.result);
      return { ...base, outcome: 'failed', ok: false, reason: `shipping the artifact failed: ${why}` };
    }
    base.release = release!;
    const content = recs.find((r) => r[0] === 'content')?.[1];
    if (content !== undefined) base.content = content;
    if (options.expectContent !== undefined && content !== options.expectContent) {
      await transport.script(discardReleaseScript(service.directory, release!), { timeoutMs: ops.settings.commandTimeoutMs });
      return {
        ...base,
        outcome: 'failed',
        ok: false,
        reason: `the shipped release's content (${content ?? 'unknown'}) is not ${options.expectContent}: discarded, nothing switched (${base.previous ?? 'no release'} still live)`,
      };
    }
    if (service.migrate !== undefined) {
      // Forward-only and backwards compatible (docs/data.md): the old release keeps serving while it runs.
      ctx.report(`migrating: ${service.migrate}`);
      const migration = await runMigration(transport, service, release!, ops.settings.commandTimeoutMs);
      base.migration = migration;
      base.roundTrips++;
      if (migration.exitCode !== 0) {
        await transport.script(discardReleaseScript(service.directory, release!), { timeoutMs: ops.settings.commandTimeoutMs });
        return {
          ...base,
          outcome: 'failed',
          ok: false,
          reason: `migration failed (${migration.exitCode === null ? 'no answer' : `exit ${migration.exitCode}`})${migration.lastLines.length ? `: ${migration.lastLines[migration.lastLines.length - 1]}` : ''}; nothing switched, ${base.previous ?? 'no release'} still live`,
        };
      }
    }
    const result = await activateAndSettle(
      {
        service,
        runtime,
        transport,
        timeoutMs: readyTimeout(service, options),
        marginMs: options.revertMarginMs,
        token: owner.token,
        by: owner.owner,
        keep: options.keep ?? service.keepReleases,
        commandTimeoutMs: ops.settings.commandTimeoutMs,
        ...(swap === undefined ? {} : { swap }),
        report: ctx.report,
      },
      release!,
    );
    settled = result.lockSettled;
    base.roundTrips += result.roundTrips;
    base.previous = result.previous ?? base.previous;
    base.pruned = result.pruned;
    base.revert = result.revert;
    timings.activateMs = result.activateMs;
    timings.gateMs = result.gate?.elapsedMs ?? null;
    const extra = {
      ...(result.diagnosis === undefined ? {} : { diagnosis: result.diagnosis }),
      ...(result.back === undefined ? {} : { rollback: result.back }),
      ...(result.reason === undefined ? {} : { reason: result.reason }),
    };
    if (planned.imageRef !== undefined) base.image = { ref: planned.imageRef, digest: result.verdict === 'passed' ? (result.digest ?? null) : null };
    if (result.compose !== undefined) base.compose = result.compose;
    if (result.jobRun !== undefined) {
      base.job_run = result.jobRun;
      const started = result.jobRun.started === null ? '' : `, started ${result.jobRun.started}`;
      ctx.note(
        result.jobRun.action === 'waited'
          ? `${service.id}: waited ${(result.jobRun.ms / 1000).toFixed(1)} s for the run in progress (pid ${result.jobRun.pid ?? '?'}${started}) to end before switching`
          : `${service.id}: --force: stopped the run in progress (pid ${result.jobRun.pid ?? '?'}${started}) before switching`,
      );
    }
    switch (result.verdict) {
      case 'passed':
        return { ...base, outcome: 'deployed', ok: true };
      case 'failed':
        return { ...base, ...extra, outcome: 'rolled-back', ok: false };
      case 'late':
        return { ...base, ...extra, outcome: 'reverted', ok: false };
      case 'unreachable':
        return { ...base, ...extra, outcome: 'unreachable', ok: false };
      default:
        return { ...base, ...extra, outcome: 'failed', ok: false };
    }
  };
  try {
    outcome = await settle();
    return outcome;
  } finally {
    if (settled) forget(service);
    else {
      await unlock(transport, service, runtime.key, owner.token);
      if (outcome) outcome.roundTrips++;
    }
  }
}

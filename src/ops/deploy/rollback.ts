/**
 * `rollback`: the lock, then the same activation as a deploy (the host's revert armed, switch,
 * restart, gate, confirm or switch back). Without --to it goes back to the newest release
 * older than the live one whose gate passed (runtime/release.ts rollbackTarget); the release
 * it leaves is recorded as `reverted`, so a second rollback goes further back.
 */
import pLimit from 'p-limit';
import { UsageError } from '../../errors.js';
import type { Service } from '../../fleet/model.js';
import { inspectScript, lockScript, parseReleaseStates, rollbackTarget, type ReleaseState } from '../../runtime/release.js';
import { validName } from '../../transport/quote.js';
import type { Ops } from '../context.js';
import { newOwner } from '../lock-owner.js';
import { readyTimeout } from '../lifecycle.js';
import type { Selection } from '../selection.js';
import type { Progress } from '../progress.js';
import { activateAndSettle } from './activate.js';
import { runtimeOf } from '../../runtime/registry.js';
import { swapPlan } from './edge-swap.js';
import { acquire, forget, hookSignals, unlock } from './lock.js';
import type { DeployOptions, RollbackResult } from './types.js';

export type RollbackOptions = DeployOptions & { to?: string };

function chooseTarget(state: ReleaseState, to: string | undefined, host: string): { target: string } | { error: string } {
  const ids = state.releases.map((r) => r.id);
  if (to !== undefined) return ids.includes(to) ? { target: to } : { error: `no release ${to} on ${host} (releases: ${ids.join(', ') || 'none'})` };
  const target = rollbackTarget(state);
  return target === undefined
    ? { error: `no release before ${state.current ?? '(none)'} passed its gate: nothing to go back to (see \`manage-apps releases\`)` }
    : { target };
}

export async function rollbackOne(ops: Ops, service: Service, options: RollbackOptions, progress: Progress, key: string): Promise<RollbackResult> {
  const host = ops.host(service)!;
  const base = { id: service.id, host: host.name, from: null, to: null, releases: [] as string[] };
  const releases = runtimeOf(service).releases;
  if (releases === undefined || !releases.activatable(service))
    return { ...base, ok: false, outcome: 'skipped', reason: 'only systemd, compose and launchd services deployed with releases can be rolled back' };
  const task = progress.task(key);
  const transport = ops.transport(host);
  const runtime = ops.activation(service);
  validName('path', service.directory);
  if (options.dryRun) {
    const r = await transport.script(inspectScript([{ tag: '', directory: service.directory, key: runtime.key }]), {
      timeoutMs: ops.settings.commandTimeoutMs,
    });
    if (r.unreachable) return { ...base, ok: false, outcome: 'unreachable', reason: r.unreachable };
    const state = parseReleaseStates(r.stdout).get('') ?? { current: null, releases: [] };
    const res = { ...base, from: state.current, releases: state.releases.map((x) => x.id) };
    const choice = chooseTarget(state, options.to, host.name);
    if ('error' in choice) return { ...res, ok: false, outcome: 'failed', reason: choice.error };
    return {
      ...res,
      to: choice.target,
      ok: true,
      outcome: 'skipped',
      reason: `dry run: would switch ${service.directory}/current from ${state.current} to ${choice.target}, ${service.compose === undefined ? `restart ${service.unit}` : `recreate ${service.compose.service} (up -d --no-deps) from the image digest pinned in ${choice.target}`} and wait for readiness`,
    };
  }
  const swap = swapPlan(ops, service);
  if (swap !== undefined && 'error' in swap) return { ...base, ok: false, outcome: 'failed', reason: swap.error };
  const owner = newOwner(`rollback ${service.id}`);
  const lock = await acquire(
    { service, key: runtime.key, transport, owner, options, report: (m) => task.update(m), note: (m) => progress.note(m) },
    (request) => transport.script(lockScript(service.directory, runtime.key, request), { timeoutMs: ops.settings.commandTimeoutMs }),
  );
  if (!lock.acquired)
    return {
      ...base,
      ok: false,
      outcome: lock.result.unreachable ? 'unreachable' : lock.owner ? 'locked' : 'failed',
      reason: lock.reason ?? 'could not take the deploy lock',
    };
  let settledLock = false;
  try {
    const state = parseReleaseStates(lock.result.stdout).get('') ?? { current: null, releases: [] };
    const res = { ...base, from: state.current, releases: state.releases.map((x) => x.id) };
    const choice = chooseTarget(state, options.to, host.name);
    if ('error' in choice) return { ...res, ok: false, outcome: 'failed', reason: choice.error };
    if (choice.target === state.current)
      return { ...res, to: choice.target, ok: false, outcome: 'failed', reason: `${choice.target} is already live` };
    const timeoutMs = readyTimeout(service, options);
    const settled = await activateAndSettle(
      {
        service,
        runtime,
        transport,
        timeoutMs,
        marginMs: options.revertMarginMs,
        token: owner.token,
        by: owner.owner,
        keep: options.keep ?? service.keepReleases,
        commandTimeoutMs: ops.settings.commandTimeoutMs,
        ...(swap === undefined ? {} : { swap }),
        report: (m) => task.update(m),
      },
      choice.target,
      state.current ?? undefined,
    );
    settledLock = settled.lockSettled;
    const extra = {
      to: choice.target,
      revert: settled.revert,
      ...(settled.diagnosis === undefined ? {} : { diagnosis: settled.diagnosis }),
      ...(settled.digest === undefined ? {} : { digest: settled.digest }),
      ...(settled.compose === undefined ? {} : { compose: settled.compose }),
    };
    switch (settled.verdict) {
      case 'passed':
        return { ...res, ...extra, ok: true, outcome: 'rolled-back' };
      case 'failed':
        return {
          ...res,
          ...extra,
          ok: false,
          outcome: 'failed',
          reason: `${choice.target} did not become ready (${settled.reason}); ${settled.back?.detail ?? `switched back to ${state.current ?? 'nothing'}`}`,
        };
      case 'late':
        return { ...res, ...extra, ok: false, outcome: 'reverted', reason: settled.reason ?? 'the host reverted first' };
      case 'unreachable':
        return { ...res, ...extra, ok: false, outcome: 'unreachable', reason: settled.reason ?? 'unreachable' };
      default:
        return { ...res, ...extra, ok: false, outcome: 'failed', reason: settled.reason ?? 'failed' };
    }
  } finally {
    if (settledLock) forget(service);
    else await unlock(transport, service, runtime.key, owner.token);
  }
}

export async function runRollback(ops: Ops, selection: Selection, options: RollbackOptions, progress: Progress): Promise<RollbackResult[]> {
  if (options.to !== undefined && selection.services.length !== 1)
    throw new UsageError('--to names a release of one service', 'name exactly one target');
  hookSignals();
  const key = (s: Service) => `rollback:${s.id}`;
  if (!options.dryRun) progress.plan(selection.services.map((s) => ({ key: key(s), host: s.host!, title: s.id })));
  const limit = pLimit(ops.settings.concurrency);
  const results = await Promise.all(
    selection.services.map((s) =>
      limit(async () => {
        const r = await rollbackOne(ops, s, options, progress, key(s));
        const task = progress.task(key(s));
        if (r.ok) task.ok(`${r.from} → ${r.to}`);
        else task.fail(r.reason ?? r.outcome);
        return r;
      }),
    ),
  );
  await progress.close();
  return results;
}

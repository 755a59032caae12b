/**
 * Taking and releasing a service's deploy lock from the CLI side (the lock itself: ops/lock-owner.ts
 * and runtime/release.ts). The first round trip of a deploy takes the lock (and ships the
 * artifact on the same connection); this module runs it again while the lock is held by
 * someone else: breaking a provably stale lock, --break-lock, or --wait.
 */
import type { Service } from '../../fleet/model.js';
import { records, sections } from '../../runtime/shell.js';
import { unlockScript, type LockRequest } from '../../runtime/release.js';
import { failureReason, type RunResult, type Transport } from '../../transport/types.js';
import { describeOwner, ownerText, parseOwner, staleness, type LockOwner } from '../lock-owner.js';
import type { DeployOptions } from './types.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface HeldLock {
  transport: Transport;
  directory: string;
  key: string;
  token: string;
}

/** Locks held by this process, released if it is interrupted. */
const heldLocks = new Map<string, HeldLock>();
let signalsHooked = false;

export function hookSignals(): void {
  if (signalsHooked) return;
  signalsHooked = true;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = () => {
      // A long-running process that runs deploys (the `ui` server) handles the signal itself:
      // holding no lock, this hook leaves the stopping to it (and stays for the next signal).
      if (heldLocks.size === 0 && process.listenerCount(signal) > 0) {
        process.once(signal, onSignal);
        return;
      }
      process.stderr.write(`\nmanage-apps: ${signal}: releasing ${heldLocks.size} deploy lock(s)…\n`);
      // An armed revert stays armed: the host switches back by itself unless the deploy confirmed.
      void Promise.all(
        [...heldLocks.values()].map((l) =>
          l.transport.script(unlockScript(l.directory, l.key, l.token, `unlock after ${signal}`), { timeoutMs: 5000 }),
        ),
      ).finally(() => process.exit(130));
    };
    process.once(signal, onSignal);
  }
}

export interface LockOutcome {
  result: RunResult;
  acquired: boolean;
  owner?: Partial<LockOwner>;
  broke?: string;
  waitedMs: number;
  reason?: string;
  /** Round trips it took. */
  attempts: number;
}

export interface LockContext {
  service: Service;
  key: string;
  transport: Transport;
  owner: LockOwner;
  options: Pick<DeployOptions, 'wait' | 'waitTimeoutMs' | 'breakLock'>;
  report: (m: string) => void;
  note: (m: string) => void;
}

/** Runs `attempt` (one round trip that tries to take the lock) until it holds it or must give up. */
export async function acquire(ctx: LockContext, attempt: (lock: LockRequest) => Promise<RunResult>): Promise<LockOutcome> {
  const { service, owner, options } = ctx;
  const started = Date.now();
  const deadline = started + options.waitTimeoutMs;
  let breakToken: string | undefined;
  let broke: string | undefined;
  let noOwnerTries = 0;
  let attempts = 0;
  for (;;) {
    attempts++;
    const result = await attempt({ ownerText: ownerText(owner), token: owner.token, ...(breakToken === undefined ? {} : { breakToken }) });
    const waitedMs = Date.now() - started;
    if (result.unreachable) return { result, acquired: false, waitedMs, reason: result.unreachable, attempts };
    const recs = records(result.stdout);
    if (recs.some((r) => r[0] === 'broke')) broke = breakToken;
    const killed = recs.find((r) => r[0] === 'killed')?.[1];
    if (killed !== undefined)
      ctx.note(`${service.id} on ${service.host}: ended the script the stale deploy left running (pid ${killed} on the host)`);
    const lock = recs.find((r) => r[0] === 'lock')?.[1];
    if (lock === 'acquired') {
      heldLocks.set(`${service.host}:${service.id}`, { transport: ctx.transport, directory: service.directory, key: ctx.key, token: owner.token });
      return { result, acquired: true, waitedMs, attempts, ...(broke === undefined ? {} : { broke }) };
    }
    if (lock !== 'held') {
      const error = recs.find((r) => r[0] === 'error')?.[1];
      return { result, acquired: false, waitedMs, reason: error ?? failureReason(result), attempts };
    }
    const holder = parseOwner(sections(result.stdout).get('owner') ?? '');
    breakToken = undefined;
    if (holder.token === undefined && noOwnerTries < 5) {
      noOwnerTries++;
      await sleep(200);
      continue;
    }
    const st = staleness(holder);
    if (st.stale && holder.token !== undefined) {
      ctx.note(`${service.id} on ${service.host}: breaking a stale deploy lock of ${describeOwner(holder)}: ${st.why}`);
      breakToken = holder.token;
      continue;
    }
    if (options.breakLock && holder.token !== undefined) {
      ctx.note(`${service.id} on ${service.host}: --break-lock: breaking the deploy lock of ${describeOwner(holder)}`);
      breakToken = holder.token;
      continue;
    }
    if (options.wait && Date.now() < deadline) {
      ctx.report(`waiting for the deploy lock held by ${describeOwner(holder)}`);
      await sleep(1000);
      continue;
    }
    const why = `the deploy lock ${service.directory}/.deploy.lock is held by ${describeOwner(holder)}: ${st.why}`;
    return {
      result,
      acquired: false,
      owner: holder,
      waitedMs,
      attempts,
      reason: options.wait ? `${why} (waited ${Math.round(waitedMs / 1000)}s)` : why,
    };
  }
}

/** The lock is no longer this process's to release (a script released it, or the host is gone). */
export function forget(service: Service): void {
  heldLocks.delete(`${service.host}:${service.id}`);
}

export async function unlock(transport: Transport, service: Service, key: string, token: string): Promise<void> {
  forget(service);
  await transport.script(unlockScript(service.directory, key, token), { timeoutMs: 15_000 });
}

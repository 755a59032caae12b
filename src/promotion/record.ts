/**
 * What deploy and rollback add to the ledger (docs/promotion.md#the-ledger), for services of
 * projects with a promotion path: only what happened on the host (a release shipped and
 * switched to, or switched back from). A deploy that never switched, or whose host stopped
 * answering before it knew, claims nothing.
 */
import type { Fleet, Service } from '../fleet/model.js';
import type { DeployResult, RollbackResult } from '../ops/deploy/types.js';
import { appendRecords, LedgerError, type NewRecord } from './ledger.js';

function onPath(fleet: Fleet, service: Service | undefined): service is Service {
  return service !== undefined && (fleet.promotions ?? []).some((p) => p.project === service.project && p.path.includes(service.environment));
}

const serviceOf = (fleet: Fleet, id: string) => fleet.services.find((s) => s.id === id);

export function deployRecords(fleet: Fleet, deploys: readonly DeployResult[]): NewRecord[] {
  const out: NewRecord[] = [];
  for (const r of deploys) {
    const service = serviceOf(fleet, r.id);
    if (!onPath(fleet, service) || r.release === null) continue;
    if (r.outcome !== 'deployed' && r.outcome !== 'rolled-back' && r.outcome !== 'reverted') continue;
    out.push({
      kind: 'deploy',
      project: service.project,
      env: service.environment,
      service: service.id,
      host: r.host,
      release: r.release,
      content: r.content ?? null,
      image_digest: r.image?.digest ?? null,
      outcome: r.outcome === 'deployed' ? 'passed' : r.outcome,
      previous: r.previous,
      ...(r.reason === undefined ? {} : { reason: r.reason }),
      ...(r.revert?.state === 'fired' ? { revert: r.revert.detail ?? 'fired' } : {}),
    });
  }
  return out;
}

export function rollbackRecords(fleet: Fleet, rollbacks: readonly RollbackResult[], reason?: string): NewRecord[] {
  const out: NewRecord[] = [];
  for (const r of rollbacks) {
    const service = serviceOf(fleet, r.id);
    if (!onPath(fleet, service) || r.to === null) continue;
    if (r.outcome !== 'rolled-back' && r.outcome !== 'reverted') continue;
    out.push({
      kind: 'rollback',
      project: service.project,
      env: service.environment,
      service: service.id,
      host: r.host,
      from: r.from,
      release: r.to,
      outcome: r.ok ? 'passed' : r.outcome,
      ...(r.digest === undefined ? {} : { image_digest: r.digest }),
      ...(reason === undefined ? {} : { reason }),
    });
  }
  return out;
}

/** Appends; a ledger that cannot be written is the command's problem to report, never a crash after the host changed. */
export function record(root: string, records: NewRecord[]): { appended: number; error?: string } {
  if (records.length === 0) return { appended: 0 };
  try {
    return { appended: appendRecords(root, () => records).length };
  } catch (error) {
    if (error instanceof LedgerError || (error as NodeJS.ErrnoException).code !== undefined) return { appended: 0, error: (error as Error).message };
    throw error;
  }
}

/**
 * What a stop leaves degraded: the services outside it that depend on what it stopped and are
 * still running. Their state comes from one status round trip per host, like `status`.
 */
import type { Service } from '../fleet/model.js';
import type { Ops } from './context.js';
import { dependentsOutside } from './selection.js';
import { collectStatus } from './service-status.js';

export interface Degraded {
  id: string;
  host: string;
  /** The stopped services it needs, directly or through others. */
  needs: string[];
  /** running: it keeps running without them; unknown: its host did not answer. */
  state: 'running' | 'unknown';
  reason?: string;
}

const RUNNING = new Set(['active', 'activating', 'reloading']);

export async function degradedBy(ops: Ops, stopped: readonly Service[]): Promise<Degraded[]> {
  const outside = dependentsOutside(ops.fleet, stopped);
  if (outside.length === 0) return [];
  const report = await collectStatus(
    ops,
    outside.map((d) => d.service),
  );
  const rows = new Map(report.services.map((r) => [r.id, r]));
  const out: Degraded[] = [];
  for (const { service, via } of outside) {
    const row = rows.get(service.id);
    if (row?.verdict === 'unreachable')
      out.push({ id: service.id, host: service.host!, needs: via, state: 'unknown', ...(row.reason === undefined ? {} : { reason: row.reason }) });
    else if (row?.state && RUNNING.has(row.state.active)) out.push({ id: service.id, host: service.host!, needs: via, state: 'running' });
  }
  return out;
}

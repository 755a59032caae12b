/**
 * Retiring instances for good (a tenant removed): each unit stopped and disabled, so a reboot
 * does not start an instance nothing routes to any more. Its files and releases stay on the host.
 * Hosts in parallel, one script per instance.
 */
import { findHost, type Service } from '../fleet/model.js';
import { records } from '../runtime/shell.js';
import { failureReason } from '../transport/types.js';
import type { Ops } from './context.js';
import { retireUnitScript } from './move/host-scripts.js';

export interface RetireResult {
  id: string;
  ok: boolean;
  /** Why not, when not ok. */
  detail?: string;
}

export async function retireUnits(ops: Ops, services: readonly Service[]): Promise<RetireResult[]> {
  return Promise.all(
    services.map(async (s): Promise<RetireResult> => {
      const unit = ops.runtime(s).unit;
      const host = findHost(ops.fleet, s.host);
      if (unit === undefined || host === undefined) return { id: s.id, ok: false, detail: 'no unit on a host to disable' };
      const res = await ops.transport(host).script(retireUnitScript(unit), { timeoutMs: 120_000 });
      const error = records(res.stdout).find((r) => r[0] === 'error');
      if (res.unreachable || res.code !== 0 || error)
        return { id: s.id, ok: false, detail: `cannot disable ${unit} on ${host.name}: ${error?.[1] ?? failureReason(res)}` };
      return { id: s.id, ok: true };
    }),
  );
}

/**
 * `logs <target> [-n N] [-f]`: journalctl for systemd units, the log file in PID mode, docker logs for a compose service.
 * Several services: each block under a header; with -f, every line prefixed by its service.
 */
import type { Service } from '../fleet/model.js';
import { runtimeOf } from '../runtime/registry.js';
import type { Ops } from './context.js';

export interface LogsResult {
  id: string;
  host: string;
  source: string;
  lines: string[];
  ok: boolean;
  error?: string;
}

function scriptFor(ops: Ops, service: Service, lines: number, follow: boolean): { script: string; source: string } | { error: string } {
  return runtimeOf(service).logs(ops.runtime(service), lines, follow);
}

export async function readLogs(ops: Ops, services: readonly Service[], lines: number): Promise<LogsResult[]> {
  return Promise.all(
    services.map(async (service) => {
      const made = scriptFor(ops, service, lines, false);
      if ('error' in made) return { id: service.id, host: service.host!, source: '', lines: [], ok: false, error: made.error };
      const r = await ops.transport(ops.host(service)!).script(made.script, { timeoutMs: ops.settings.commandTimeoutMs });
      const ok = r.unreachable === undefined && r.code === 0;
      const out: LogsResult = {
        id: service.id,
        host: service.host!,
        source: made.source,
        lines: r.stdout.split('\n').filter((l, i, all) => !(l === '' && i === all.length - 1)),
        ok,
      };
      if (!ok) out.error = r.unreachable ?? (r.stderr.trim() || `exit ${r.code}`);
      return out;
    }),
  );
}

/** Follows every service's log until interrupted; lines go to `write` as they come. */
export async function followLogs(
  ops: Ops,
  services: readonly Service[],
  lines: number,
  write: (text: string) => void,
  signal?: AbortSignal,
): Promise<{ id: string; error?: string }[]> {
  const prefix = services.length > 1;
  return Promise.all(
    services.map(async (service) => {
      const made = scriptFor(ops, service, lines, true);
      if ('error' in made) return { id: service.id, error: made.error };
      let partial = '';
      const emit = (chunk: string) => {
        const text = partial + chunk;
        const parts = text.split('\n');
        partial = parts.pop() ?? '';
        for (const line of parts) write(prefix ? `[${service.id}] ${line}\n` : `${line}\n`);
      };
      const r = await ops.transport(ops.host(service)!).script(made.script, { onStdout: emit, ...(signal === undefined ? {} : { signal }) });
      if (partial) write(prefix ? `[${service.id}] ${partial}\n` : `${partial}\n`);
      // Stopped by the user (Ctrl-C): ssh ends with 255 then, which is no lost connection. Any
      // other end is told: a follower that exits 0 by itself (`docker logs -f` of a container that
      // stopped, a journalctl that found no inotify instance left and printed its lines once) would
      // otherwise look like a quiet service.
      const failed = signal?.aborted
        ? undefined
        : (r.unreachable ??
          (r.code !== 0
            ? r.stderr.trim() || `exit ${r.code}`
            : `the ${made.source} stopped being followed on ${service.host}: its follower ended by itself (${r.stderr.trim() || "the host shutting down, or the service's container stopped"})`));
      return failed === undefined ? { id: service.id } : { id: service.id, error: failed };
    }),
  );
}

/**
 * `run <job>`: start a scheduled job now on its host and stream its output until the run ends
 * (one ssh session). A run already in progress is followed, never doubled: systemd starts a
 * unit that is running no second time, and launchd a job likewise.
 */
import type { Service } from '../fleet/model.js';
import { runtimeOf } from '../runtime/registry.js';
import { records } from '../runtime/shell.js';
import type { Ops } from './context.js';

export interface JobRunResult {
  id: string;
  host: string;
  /** started: this command started the run; joined: one was in progress, it was followed. */
  run: 'started' | 'joined' | null;
  /** systemd's result of the run (success, exit-code, timeout, …); skipped: the run did not happen; null: unknown (unreachable). */
  result: string | null;
  exit_status: number | null;
  ok: boolean;
  error?: string;
}

export async function runJobs(ops: Ops, services: readonly Service[], write: (line: string) => void): Promise<JobRunResult[]> {
  const prefix = services.length > 1;
  return Promise.all(
    services.map(async (service): Promise<JobRunResult> => {
      const base = { id: service.id, host: service.host!, run: null, result: null, exit_status: null, ok: false };
      const made = runtimeOf(service).runNow?.(ops.runtime(service)) ?? { error: 'its runtime runs no scheduled jobs' };
      if ('error' in made) return { ...base, error: made.error };
      let partial = '';
      const emit = (chunk: string) => {
        const parts = (partial + chunk).split('\n');
        partial = parts.pop() ?? '';
        for (const line of parts) if (!line.startsWith('@@')) write(prefix ? `[${service.id}] ${line}\n` : `${line}\n`);
      };
      // Bounded by the job's own timeout (systemd stops the run then), plus the usual margin.
      const timeoutMs = (service.schedule?.timeoutS ?? 3600) * 1000 + ops.settings.commandTimeoutMs + 30_000;
      const r = await ops.transport(ops.host(service)!).script(made.script, { onStdout: emit, timeoutMs });
      if (r.unreachable) return { ...base, error: r.unreachable };
      const recs = records(r.stdout);
      const run = recs.find((x) => x[0] === 'run')?.[1];
      const ran = recs.find((x) => x[0] === 'ran');
      const status = ran?.[2] ?? '';
      const out: JobRunResult = {
        ...base,
        run: run === 'started' || run === 'joined' ? run : null,
        result: ran?.[1] || null,
        exit_status: /^-?\d+$/.test(status) ? Number(status) : null,
        ok: ran?.[1] === 'success',
      };
      if (ran === undefined) out.error = r.stderr.trim() || `exit ${r.code}`;
      else if (ran[1] === 'skipped') out.error = 'the run was skipped: the previous run had ended just then (see logs)';
      return out;
    }),
  );
}

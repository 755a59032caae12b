/**
 * Moving a scheduled job (service.schedule, docs/jobs.md): its timer must never fire on two hosts,
 * and a run in progress is never cut short by a move. The steps, each journalled:
 *
 *   ship    the release live on the source, read into the journal's directory (execute.ts);
 *   pause   the source's timer stopped (still enabled there) and a run in progress waited for
 *           (up to the job's timeout; past it the move refuses with the source's timer running);
 *   start   the release deployed on the target: unit and timer installed, the timer enabled and
 *           started (the deploy's gate: the timer active);
 *   stop    the source's timer disabled (only now: the target's is enabled);
 *   edit    the manifest's service.host names the target.
 *
 * A failed step starts the source's timer again only once the target's is known stopped; when
 * the target cannot be reached it stays stopped on both and the line says so (`move` again or
 * `--abort`). `--abort` stops the target's timer (waiting for its run) before the source's starts.
 */
import type { Service } from '../../fleet/model.js';
import { records } from '../../runtime/shell.js';
import { failureReason } from '../../transport/types.js';
import { carryItem, deployOnTarget, returnItem, ship } from './execute.js';
import type { JournalItem } from './journal.js';
import { pauseJobScript, resumeJobScript, retireJobScript } from './kind-scripts.js';
import { hostOf, opsAt, StepFailed, type MoveContext } from './steps.js';

function jobUnits(ctx: MoveContext, service: Service, host: string): { unit: string; timer: string; timeoutS: number } {
  const { ops, service: there } = opsAt(ctx, service, host);
  const rs = ops.runtime(there);
  if (rs.unit === undefined || rs.job === undefined) throw new StepFailed(`${service.id}: not a scheduled job with a systemd unit`);
  return { unit: rs.unit, timer: rs.job.timer, timeoutS: rs.job.timeoutS };
}

/** How long a run in progress is waited for: its own timeout (systemd ends it then), and a margin. */
const waitS = (timeoutS: number) => timeoutS + 30;

async function jobScript(ctx: MoveContext, host: string, script: string, what: string, timeoutS: number): Promise<string[][]> {
  const res = await ctx.ops.transport(hostOf(ctx.fleet, host)).script(script, { timeoutMs: (timeoutS + 90) * 1000 });
  const recs = records(res.stdout);
  const error = recs.find((r) => r[0] === 'error');
  if (res.unreachable || res.code !== 0 || error) throw new StepFailed(`cannot ${what} on ${host}: ${error?.[1] ?? failureReason(res)}`);
  return recs;
}

const since = (epoch: string | undefined) => (epoch && /^\d+$/.test(epoch) ? new Date(Number(epoch) * 1000).toISOString() : 'an unknown time');

/** The timer stopped on `host` and its run in progress ended; `keepEnabled`: stopped only (pause), else disabled too. */
async function quiesce(ctx: MoveContext, service: Service, name: string, host: string, keepEnabled: boolean): Promise<void> {
  const { unit, timer, timeoutS } = jobUnits(ctx, service, host);
  ctx.report(`${name}: stopping its timer on ${host}${keepEnabled ? ' (a run in progress is waited for)' : ''}`);
  const recs = await jobScript(
    ctx,
    host,
    keepEnabled ? pauseJobScript(timer, unit, waitS(timeoutS)) : retireJobScript(timer, unit, waitS(timeoutS)),
    `stop ${timer}`,
    waitS(timeoutS),
  );
  const busy = recs.find((r) => r[0] === 'busy');
  if (busy)
    throw new StepFailed(
      `a run of ${name} on ${host} (pid ${busy[1]}, started ${since(busy[2])}) is still going after ${waitS(timeoutS)}s: the job never runs on two hosts at once; move again once it ends`,
    );
  const waited = recs.find((r) => r[0] === 'paused' && r[1] === 'waited');
  if (waited) ctx.report(`${name}: waited ${waited[4]}s for the run in progress on ${host} (pid ${waited[2]}, started ${since(waited[3])}) to end`);
}

async function resume(ctx: MoveContext, service: Service, name: string, host: string): Promise<void> {
  const { timer, timeoutS } = jobUnits(ctx, service, host);
  ctx.report(`${name}: starting its timer on ${host} again`);
  await jobScript(ctx, host, resumeJobScript(timer), `start ${timer}`, timeoutS);
}

export async function moveJob(ctx: MoveContext, service: Service, item: JournalItem): Promise<void> {
  let paused = false;
  await carryItem(
    ctx,
    service,
    item,
    async () => {
      await ship(ctx, service, item);
      if (!item.done.includes('start')) {
        // Run again whenever the target's timer is not known started: a failed attempt may have started the source's again.
        paused = true;
        await quiesce(ctx, service, item.name, item.from, true);
        await ctx.journal.step(item, 'pause', { state: 'moving' });
        await deployOnTarget(ctx, service, item);
        ctx.report(`${item.name}: its timer is enabled on ${item.to}`);
        await ctx.journal.step(item, 'start');
      }
      if (!item.done.includes('stop')) {
        await quiesce(ctx, service, item.name, item.from, false);
        await ctx.journal.step(item, 'stop');
      }
    },
    {
      onFailed: async (reason) => {
        // Before the target's timer is known started, the source's runs the job again, once the target's is known stopped.
        if (!paused || item.done.includes('start')) return reason;
        try {
          await quiesce(ctx, service, item.name, item.to, false);
          await resume(ctx, service, item.name, item.from);
          await ctx.journal.set(item, { done: item.done.filter((s) => s !== 'pause') });
          return `${reason}; its timer runs on ${item.from} again`;
        } catch (again) {
          if (!(again instanceof StepFailed)) throw again;
          return `${reason}; its timer is stopped on ${item.from} (${again.message}): \`move\` again continues, \`--abort\` starts it there again`;
        }
      },
    },
  );
}

/** Back to the source: the target's timer stopped and its run ended before the source's starts. */
export async function returnJob(ctx: MoveContext, service: Service, item: JournalItem): Promise<void> {
  await returnItem(ctx, service, item, async () => {
    await quiesce(ctx, service, item.name, item.to, false);
    await resume(ctx, service, item.name, item.from);
  });
}

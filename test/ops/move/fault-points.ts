// The fault loop the move and recover tests share: for every point (a step, known by the line
// the CLI prints when it begins), every fault there and every way to go on after it (continue,
// or abort), the CLI is started, interrupted at that line (killed, or a host cut off the
// network until it gives up), and the caller's own check says whether what followed ended in
// one consistent placement. Each file keeps its checks; only the running and the counting are here.
import { cutUntil, killWithChildren } from '../../harness/faults.js';
import type { TestFleet } from '../../harness/test-fleet.js';
import { sleep, startCli, type CliRun } from '../helpers.js';

/**
 * How a run is interrupted: `kill` SIGKILLs the CLI and every ssh it started (a crash mid-step),
 * `kill cli` the CLI alone; `cut` takes a host off the network until the run ends (then heals
 * it and waits until it answers ssh); null lets the run end on its own.
 */
export type Interrupt = 'kill' | 'kill cli' | { cut: string } | null;

/**
 * Starts the CLI with `args` and interrupts it as soon as a chunk of its stderr matches `at`
 * (or when it ends first). `hit`: whether the line was seen before the interrupt.
 */
export async function interruptedRun(
  fleet: TestFleet,
  args: string[],
  env: NodeJS.ProcessEnv,
  at: RegExp,
  interrupt: Interrupt,
): Promise<{ first: CliRun; hit: boolean }> {
  let hit = false;
  let run: { pid: number; done: Promise<CliRun> } | undefined;
  const seen = new Promise<void>((resolve) => {
    run = startCli(args, env, (chunk) => {
      if (!hit && at.test(chunk)) {
        hit = true;
        resolve();
      }
    });
    void run.done.then(() => resolve());
  });
  await seen;
  if (interrupt === 'kill') killWithChildren(run!.pid);
  else if (interrupt === 'kill cli') process.kill(run!.pid, 'SIGKILL');
  else if (interrupt !== null) return { first: await cutUntil(fleet, interrupt.cut, run!.done), hit };
  return { first: await run!.done, hit };
}

export interface FaultCase<P, F> {
  point: P;
  fault: F;
  then: 'continue' | 'abort';
}

/**
 * Every case of the matrix in turn (points, then their faults, then `thens`), each checked by
 * `check`: a failure in words (kept for the assertion) or undefined when it survived.
 * `summary`: "N/N fault points survived", for the caller's line.
 */
export async function faultMatrix<P extends { faults: readonly F[] }, F>(
  points: readonly P[],
  thens: (point: P) => readonly ('continue' | 'abort')[],
  check: (c: FaultCase<P, F>) => Promise<string | undefined>,
): Promise<{ survived: number; total: number; failures: string[]; summary: string }> {
  let survived = 0;
  let total = 0;
  const failures: string[] = [];
  for (const point of points)
    for (const fault of point.faults)
      for (const then of thens(point)) {
        total++;
        const failure = await check({ point, fault, then });
        if (failure === undefined) survived++;
        else failures.push(failure);
      }
  return { survived, total, failures, summary: `${survived}/${total} fault points survived` };
}

/**
 * One case of a move's fault matrix: `move <project> --to <to>` interrupted at `at`, then run
 * again (with --abort when `then` is abort and the first run failed), then where `placement`
 * says the project runs. A continued move, or an abort after a move that had already finished,
 * ends on the target; an abort of an unfinished one on the source. Prints `<tag>: <label>: …`
 * and returns the failure in words, or undefined. `mustReach`: a step the run never printed is
 * itself the failure (else it is only said).
 */
export async function moveCase(c: {
  fleet: TestFleet;
  args: (...a: string[]) => string[];
  cli: (...a: string[]) => Promise<CliRun>;
  env: NodeJS.ProcessEnv;
  project: string;
  from: string;
  to: string;
  window: readonly string[];
  at: RegExp;
  interrupt: Interrupt;
  then: 'continue' | 'abort';
  placement: () => Promise<{ host?: string | undefined; problem?: string | undefined }>;
  tag: string;
  label: string;
  mustReach?: boolean;
}): Promise<string | undefined> {
  const { first, hit } = await interruptedRun(c.fleet, c.args('move', c.project, '--to', c.to, ...c.window), c.env, c.at, c.interrupt);
  const aborted = c.then === 'abort' && first.status !== 0;
  const second = await c.cli('move', c.project, '--to', c.to, ...(aborted ? ['--abort'] : []), ...c.window);
  await sleep(500);
  const p = await c.placement();
  const expected = aborted ? c.from : c.to;
  const problem =
    (c.mustReach === true && !hit ? 'the step was never reached' : undefined) ??
    p.problem ??
    (p.host !== expected ? `it ends on ${p.host}, expected ${expected}` : undefined);
  const unreached = c.mustReach !== true && !hit ? '(the step passed before the fault) ' : '';
  console.log(`${c.tag}: ${c.label}: ${unreached}${problem ?? `consistent on ${p.host}`}`);
  return second.status !== 0 || problem !== undefined
    ? `${c.label}: exit ${second.status}: ${problem ?? ''}\n${second.stdout.slice(-800)}${second.stderr.slice(-400)}`
    : undefined;
}

/** The faults of the ops fault tests, applied to a running CLI on real test hosts. */
import type { TestFleet } from '../harness/test-fleet.js';
import { cutUntil } from '../harness/faults.js';
import type { CliProcess, CliRun } from './helpers.js';

export type Fault = { kind: 'kill' } | { kind: 'cut'; host: string };

export interface FaultResult {
  result: CliRun;
  /** When the fault began, and when it was over (the network back; = at for a kill). */
  at: number;
  backAt: number;
}

/**
 * SIGKILLs the CLI, or cuts a host's network until the CLI has ended, heals it and waits until
 * the host answers ssh again (not HTTP: that is what the tests check).
 */
export async function applyFault(fleet: TestFleet, run: CliProcess, fault: Fault): Promise<FaultResult> {
  const at = Date.now();
  if (fault.kind === 'kill') {
    process.kill(run.pid, 'SIGKILL');
    return { result: await run.done, at, backAt: at };
  }
  const result = await cutUntil(fleet, fault.host, run.done);
  return { result, at, backAt: Date.now() };
}

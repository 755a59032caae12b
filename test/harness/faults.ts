// The two faults the fault tests inject into a running CLI: the machine it runs on dies, or the
// host it talks to drops off the network until the CLI gives up.
import { readdirSync, readFileSync } from 'node:fs';
import type { TestFleet } from './test-fleet.js';

/** SIGKILL to a process and its direct children (the CLI and every ssh it started): a crash mid-step. */
export function killWithChildren(pid: number): void {
  let children: number[] = [];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`))
      children.push(...readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
  } catch {
    children = [];
  }
  for (const p of [pid, ...children]) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Cuts the host's network until `done` settles, heals it, and waits until the host answers ssh again. */
export async function cutUntil<T>(fleet: TestFleet, host: string, done: Promise<T>): Promise<T> {
  await fleet.cutNetwork(host);
  let result: T;
  try {
    result = await done;
  } finally {
    await fleet.healNetwork(host);
  }
  // The link is back once the host answers ssh again.
  const deadline = Date.now() + 30_000;
  while ((await fleet.ssh(host, 'true', { timeoutMs: 5000 })).exitCode !== 0) {
    if (Date.now() > deadline) throw new Error(`${host}: no ssh within 30 s of healing its network`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return result;
}

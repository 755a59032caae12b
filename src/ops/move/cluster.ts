/**
 * A database cluster made on the target of a move or a recovery when none answers there on its
 * port: `hosts prepare`'s own path (src/ops/prepare.ts, docs/hosts.md), restricted to what the
 * inventory's cluster asks of that host (the PostgreSQL server and the cluster: pg_createcluster
 * on its declared port, listen_addresses for the services that dial it, its unit enabled and
 * running), on the fleet as it is once the cluster runs there. Safe to run again: a creation cut
 * short leaves prepare's marker and is dropped and made again by the next run; a cluster that
 * answers is never touched (its settings are its owner's).
 *
 * Nothing here runs SQL: pg_createcluster and systemctl as root, the script built from the
 * inventory's validated names (hosts/scripts.ts).
 */
import type { Fleet } from '../../fleet/model.js';
import { records } from '../../runtime/shell.js';
import { failureReason } from '../../transport/types.js';
import type { Ops } from '../context.js';
import { prepareHosts } from '../prepare.js';
import { clusterUpScript } from '../recover/host-scripts.js';
import { StepFailed } from './steps.js';

/** 'present': a cluster answered on its port there; 'created': hosts prepare's path made it. Throws StepFailed with why not. */
export async function ensureClusterOn(
  ops: Ops,
  after: Fleet,
  name: string,
  to: string,
  report: (line: string) => void,
): Promise<'present' | 'created'> {
  const cluster = after.clusters.find((c) => c.name === name);
  const host = after.hosts.find((h) => h.name === to);
  if (cluster === undefined || host === undefined) throw new StepFailed(`cluster ${name} or host ${to} is not in the inventory any more`);
  const up = await ops.transport(host).script(clusterUpScript(cluster.port), { timeoutMs: 60_000 });
  if (up.unreachable !== undefined) throw new StepFailed(`cannot reach ${to}: ${up.unreachable}`);
  if (records(up.stdout).find((r) => r[0] === 'cluster')?.[1] === 'up') return 'present';
  report(`${name}: no cluster answers on ${to} port ${cluster.port}: creating it there (as \`hosts prepare\` does)`);
  const why = `cluster ${name}`;
  const prepared = await prepareHosts(after, { hosts: [to], mode: 'apply', ops: ops.settings, only: (r) => r.why.includes(why) }, (line) =>
    report(`${name}: ${line}`),
  );
  const there = prepared.hosts.find((h) => h.host === to);
  const clusterItem = there?.items.find((i) => i.kind === 'cluster');
  if (there === undefined || clusterItem === undefined) {
    const note = prepared.notes.find((n) => n.message.includes(why))?.message;
    throw new StepFailed(`cannot create cluster ${name} on ${to}: ${note ?? 'hosts prepare has nothing to make there for it'}`);
  }
  const bad = there.items.filter((i) => i.state === 'missing' || i.state === 'failed');
  if (there.error !== undefined || bad.length > 0)
    throw new StepFailed(
      `cannot create cluster ${name} on ${to}: ${[there.error, ...bad.map((i) => `${i.id}: ${i.detail}`)].filter(Boolean).join('; ') || failureReason(up)}`,
    );
  return 'created';
}

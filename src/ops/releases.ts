/**
 * `releases`: each released service's releases on its host — id, age, who activated it, its
 * gate outcome, which is live — and its dead-man switch (armed or fired). One script, one
 * round trip per host, hosts in parallel.
 */
import { runtimeOf } from '../runtime/registry.js';
import pLimit from 'p-limit';
import type { Service } from '../fleet/model.js';
import { inspectScript, parseReleaseStates, type Outcome } from '../runtime/release.js';
import { parseRevertStates } from '../runtime/revert.js';
import type { RevertState } from '../runtime/types.js';
import type { Ops } from './context.js';

export interface ReleaseRow {
  id: string;
  /** When it was shipped (from its id), ISO. */
  created: string | null;
  activated: string | null;
  by: string | null;
  /** null: shipped before the host kept a history, or never activated. */
  outcome: Outcome | null;
  outcome_at: string | null;
  why: string | null;
  current: boolean;
}

export interface ServiceReleases {
  id: string;
  host: string;
  directory: string;
  reachable: boolean;
  reason?: string;
  current: string | null;
  releases: ReleaseRow[];
  revert: RevertState | null;
}

/** "20261124T141924512Z-…" → its time (ISO). */
export function createdAt(id: string): string | null {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})?Z/.exec(id);
  return m ? `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${m[7] ?? '000'}Z` : null;
}

export async function collectReleases(ops: Ops, services: readonly Service[]): Promise<ServiceReleases[]> {
  const released = services.filter((s) => runtimeOf(s).releases !== undefined);
  const byHost = new Map<string, Service[]>();
  for (const s of released) byHost.set(s.host!, [...(byHost.get(s.host!) ?? []), s]);
  const limit = pLimit(ops.settings.concurrency);
  const perHost = await Promise.all(
    [...byHost].map(([name, list]) =>
      limit(async () => {
        const host = ops.fleet.hosts.find((h) => h.name === name)!;
        const inputs = list.map((s) => ({ service: s, tag: s.id, directory: ops.runtime(s).directory!, key: ops.runtime(s).key }));
        const r = await ops.transport(host).script(inspectScript(inputs), { timeoutMs: ops.settings.commandTimeoutMs });
        const states = r.unreachable === undefined ? parseReleaseStates(r.stdout) : new Map();
        const reverts = r.unreachable === undefined ? parseRevertStates(r.stdout) : new Map<string, RevertState>();
        return inputs.map(({ service, tag, directory }): ServiceReleases => {
          const state = states.get(tag) ?? { current: null, releases: [] };
          return {
            id: service.id,
            host: name,
            directory,
            reachable: r.unreachable === undefined,
            ...(r.unreachable === undefined ? {} : { reason: r.unreachable }),
            current: state.current,
            releases: [...state.releases].reverse().map((x) => ({
              id: x.id,
              created: createdAt(x.id),
              activated: x.activated,
              by: x.by,
              outcome: x.outcome,
              outcome_at: x.outcomeAt,
              why: x.why,
              current: x.id === state.current,
            })),
            revert: reverts.get(tag) ?? null,
          };
        });
      }),
    ),
  );
  const order = new Map(services.map((s, i) => [s.id, i]));
  return perHost.flat().sort((a, b) => order.get(a.id)! - order.get(b.id)!);
}

/**
 * The one executor for commands that act on services in dependency order (deploy, start,
 * stop, restart): the levels one after another, the services of a level side by side (at most
 * `concurrency` at a time). A service one of whose selected dependencies failed, or was itself
 * held back, is not run: `held` makes its result, with those dependencies. Unrelated services
 * go on. A walk where nothing waits on anything (stop walks the levels backwards and stops
 * what it can) leaves `dependencies` out.
 */
import pLimit from 'p-limit';
import type { Service } from '../fleet/model.js';

export interface LevelWalk<R> {
  /** In the order they are walked: levels[0] first. */
  levels: readonly (readonly Service[])[];
  /** At most this many services act at once. */
  concurrency: number;
  /** The services `service` waits on; left out: nothing waits on anything. */
  dependencies?: (service: Service) => readonly Service[];
  /** Acts on one service; `level` is its index in `levels`. */
  run: (service: Service, level: number) => Promise<R>;
  /** Whether a result holds back the services that wait on it. */
  failed: (result: R) => boolean;
  /** The result of a service not run because `blockers` (its dependencies) failed or were held back. */
  held: (service: Service, blockers: Service[], level: number) => R;
}

/** Every service's result, in walk order (level by level, each level in its given order), whatever finished first. */
export async function walkLevels<R>(walk: LevelWalk<R>): Promise<R[]> {
  const failed = new Set<string>();
  const results = new Map<string, R>();
  const limit = pLimit(walk.concurrency);
  for (const [index, level] of walk.levels.entries()) {
    await Promise.all(
      level.map((service) =>
        limit(async () => {
          const blockers = (walk.dependencies?.(service) ?? []).filter((d) => failed.has(d.id));
          const result = blockers.length > 0 ? walk.held(service, blockers, index) : await walk.run(service, index);
          if (blockers.length > 0 || walk.failed(result)) failed.add(service.id);
          results.set(service.id, result);
        }),
      ),
    );
  }
  return walk.levels.flat().map((s) => results.get(s.id)!);
}

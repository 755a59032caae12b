/**
 * `promote <project> --to ENV [--from ENV]`: the release live in one environment of the
 * project's promotion path goes into the next, on evidence (docs/promotion.md). The ledger is
 * the fleet's (release-ledger.jsonl under the root).
 */
import { EXIT_OK, EXIT_PROBLEMS, UsageError } from '../errors.js';
import type { Fleet, Promotion, Service } from '../fleet/model.js';
import { loadFleet, type FleetOptions } from '../load/fleet.js';
import { Ops } from '../ops/context.js';
import type { Progress } from '../ops/progress.js';
import { runPromote, type PromoteOptions, type PromoteReport } from '../ops/promote.js';
import { resolveSettings, type OpsSettings } from '../ops/settings.js';
import { readLedger } from '../promotion/ledger.js';
import { problemJson } from '../problems.js';
import type { Answer, WithProblems } from './answer.js';
import { allowedSignersOf } from './ledger.js';

export type PromoteDocument = WithProblems<PromoteReport>;

/** The step of the path: `to` and the environment before it (or `from` and the one after it). */
export function stageOf(
  fleet: Fleet,
  project: string,
  from: string | undefined,
  to: string | undefined,
): { promotion: Promotion; from: string; to: string } {
  const promotion = (fleet.promotions ?? []).find((p) => p.project === project);
  if (promotion === undefined) {
    const known = fleet.services.some((s) => s.project === project);
    throw new UsageError(
      known ? `${project} has no promotion path` : `no project ${project}`,
      known ? 'declare promotion.path in its manifest, or a fleet-wide promotion in the inventory (docs/promotion.md)' : 'see `manage-apps list`',
    );
  }
  const path = promotion.path;
  const chain = path.join(' → ');
  if (to === undefined && from === undefined) throw new UsageError('name the environment to promote into: --to ENV', `${project}'s path: ${chain}`);
  const toIndex = to === undefined ? path.indexOf(from!) + 1 : path.indexOf(to);
  if (to !== undefined && toIndex < 0) throw new UsageError(`${to} is not on ${project}'s promotion path (${chain})`);
  if (from !== undefined && !path.includes(from)) throw new UsageError(`${from} is not on ${project}'s promotion path (${chain})`);
  if (toIndex <= 0 || toIndex >= path.length)
    throw new UsageError(`nothing is promoted ${to === undefined ? `out of ${from}` : `into ${to}`}: ${project}'s path is ${chain}`);
  const expectedFrom = path[toIndex - 1]!;
  if (from !== undefined && from !== expectedFrom)
    throw new UsageError(`${project} promotes into ${path[toIndex]} from ${expectedFrom}, not ${from}`, `its path is ${chain}: one step at a time`);
  return { promotion, from: expectedFrom, to: path[toIndex]! };
}

function serviceIn(fleet: Fleet, project: string, env: string): Service {
  const s = fleet.services.find((x) => x.project === project && x.environment === env);
  if (s === undefined || s.host === undefined) throw new UsageError(`${project} has no service with a host in ${env}`, 'see `manage-apps list`');
  return s;
}

export async function promote(
  source: FleetOptions,
  stage: { project: string; from?: string; to?: string },
  given: Partial<OpsSettings>,
  options: PromoteOptions,
  progress: Progress,
): Promise<Answer<PromoteDocument>> {
  if (options.force && (options.reason ?? '').trim() === '')
    throw new UsageError('--force needs --reason "why"', 'the reason is recorded in the ledger');
  if (options.observeMs !== undefined && (options.reason ?? '').trim() === '')
    throw new UsageError('--observe overrides the declared window: give --reason "why"', 'the reason is recorded in the ledger');
  const loaded = await loadFleet(source);
  const { fleet } = loaded;
  const { promotion, from, to } = stageOf(fleet, stage.project, stage.from, stage.to);
  const ops = new Ops(fleet, resolveSettings(given));
  const report = await runPromote(
    {
      ops,
      promotion,
      source: serviceIn(fleet, stage.project, from),
      target: serviceIn(fleet, stage.project, to),
      from,
      to,
      allowedSigners: allowedSignersOf(fleet),
      readLedger: () => readLedger(fleet.root),
      progress,
    },
    options,
  );
  await progress.close();
  const ok = (report.outcome === 'promoted' || report.outcome === 'planned') && report.ledger.error === undefined;
  return { exitCode: ok ? EXIT_OK : EXIT_PROBLEMS, document: { ...report, problems: loaded.problems.map(problemJson) }, loaded };
}

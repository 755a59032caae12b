/** releases: what each service has on its host, newest first, with gate outcomes and the switch. */
import { EXIT_OK, EXIT_PROBLEMS } from '../errors.js';
import type { Fleet, Service } from '../fleet/model.js';
import type { FleetOptions } from '../load/fleet.js';
import type { SelectOptions } from '../ops/selection.js';
import { collectReleases, type ReleaseRow, type ServiceReleases } from '../ops/releases.js';
import { releaseEntries, type ReleaseLedgerEntry } from '../promotion/history.js';
import { readLedger } from '../promotion/ledger.js';
import { resolveSettings, type OpsSettings } from '../ops/settings.js';
import { problemJson } from '../problems.js';
import type { Answer, WithProblems } from './answer.js';
import { prepare } from './prepare.js';

/**
 * A release row; for a service of a project with a promotion path, also what the fleet's ledger
 * says of it (docs/promotion.md): which deploy, promotion (from where, approved by whom),
 * rollback or revert put it live or took it out, each with its line.
 */
export type ReleaseEntry = ReleaseRow & { ledger?: ReleaseLedgerEntry[] };
export type ServiceReleaseEntries = Omit<ServiceReleases, 'releases'> & { releases: ReleaseEntry[] };

/** `selected`: every service selected, with those that keep no releases on a host (PID mode), so a front end can name them. */
export async function releases(
  source: FleetOptions,
  selector: SelectOptions,
  given: Partial<OpsSettings>,
): Promise<Answer<WithProblems<{ services: ServiceReleaseEntries[] }>> & { selected: Service[] }> {
  const { loaded, ops, selection } = await prepare(source, selector, resolveSettings(given));
  const services = withLedger(loaded.fleet, await collectReleases(ops, selection.services));
  return {
    exitCode: services.every((s) => s.reachable) ? EXIT_OK : EXIT_PROBLEMS,
    document: { services, problems: loaded.problems.map(problemJson) },
    loaded,
    selected: selection.services,
  };
}

/** The ledger is read only for a fleet that declares promotion paths, and only their services' rows carry it. */
function withLedger(fleet: Fleet, services: ServiceReleases[]): ServiceReleaseEntries[] {
  const paths = fleet.promotions ?? [];
  if (paths.length === 0) return services;
  const records = readLedger(fleet.root).records;
  return services.map((s) => {
    const service = fleet.services.find((x) => x.id === s.id);
    if (service === undefined || !paths.some((p) => p.project === service.project && p.path.includes(service.environment))) return s;
    const entries = releaseEntries(records, s.id);
    return { ...s, releases: s.releases.map((r) => ({ ...r, ledger: entries.get(r.id) ?? [] })) };
  });
}

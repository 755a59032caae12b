/** drift, once its ssh connections are opening (see drift.ts): the fleet, the declared state, one read-only script per host, the findings. */
import { EXIT_OK, EXIT_PROBLEMS } from '../errors.js';
import { collectDrift } from '../drift/collect.js';
import type { DriftDocument } from '../drift/types.js';
import type { FleetOptions } from '../load/fleet.js';
import { cancelPending } from '../ops/prewarm.js';
import type { SelectOptions } from '../ops/selection.js';
import type { OpsSettings } from '../ops/settings.js';
import { problemJson } from '../problems.js';
import type { PendingScript } from '../transport/ssh.js';
import type { Answer, WithProblems } from './answer.js';
import { prepare } from './prepare.js';

/** Exit 0: no drift; 1: drift (or a host that could not be read). */
export async function driftDocument(
  source: FleetOptions,
  selector: SelectOptions,
  settings: OpsSettings,
  started: Map<string, PendingScript>,
): Promise<Answer<WithProblems<DriftDocument>>> {
  const { loaded, ops, selection } = await prepare(source, selector, settings, started);
  try {
    // Nothing named: every host of the fleet (a cluster or a tunnel's far end may run no service).
    const everything = selector.targets.length === 0 && selector.host === undefined && selector.env === undefined;
    const hosts = everything ? loaded.fleet.hosts.map((h) => h.name) : undefined;
    const run = await collectDrift(ops, selection.services, hosts);
    return {
      exitCode: run.document.findings.length === 0 ? EXIT_OK : EXIT_PROBLEMS,
      document: { ...run.document, problems: loaded.problems.map(problemJson) },
      loaded,
    };
  } finally {
    // A connection opened for a host drift did not ask (not in the fleet after all) ends unused.
    cancelPending(ops);
  }
}

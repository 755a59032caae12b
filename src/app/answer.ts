/**
 * What a use case gives both front ends: the documented --json document (docs/json.md), the
 * exit code it implies, and the load it was made from (the CLI's notes on stderr name the
 * manifests that took no part). The CLI formats the document as text; the dashboard serves it.
 */
import { EXIT_OK, EXIT_PROBLEMS } from '../errors.js';
import type { LoadedFleet } from '../load/fleet.js';

/** Where the fleet's files are, and what loading them gave: the front ends name these types through here, never loading a fleet themselves. */
export type { FleetOptions, LoadedFleet } from '../load/fleet.js';
import { countBySeverity, problemJson } from '../problems.js';

export interface Answer<D> {
  exitCode: number;
  document: D;
  loaded: LoadedFleet;
}

export type WithProblems<D> = D & { problems: Record<string, unknown>[] };

/** A read-only view over a fleet that may have problems: the view with them, exit code 1 when one is an error. */
export function viewAnswer<D extends object>(loaded: LoadedFleet, view: D, ownProblems = false): Answer<WithProblems<D>> {
  const { errors } = countBySeverity(loaded.problems);
  return { exitCode: ownProblems || errors > 0 ? EXIT_PROBLEMS : EXIT_OK, document: { ...view, problems: loaded.problems.map(problemJson) }, loaded };
}

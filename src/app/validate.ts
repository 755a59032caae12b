/** validate: every manifest and the inventory checked; the problems, located. */
import { EXIT_OK, EXIT_PROBLEMS } from '../errors.js';
import { loadFleet, type FleetOptions } from '../load/fleet.js';
import { countBySeverity, problemJson } from '../problems.js';
import type { Answer } from './answer.js';

export interface ValidateDocument {
  root: string;
  inventory: string;
  manifests: { file: string; project: string | null; environment: string; apiVersion: string | null }[];
  problems: Record<string, unknown>[];
  summary: { manifests: number; errors: number; warnings: number };
}

/** `strict`: warnings fail too. */
export async function validate(source: FleetOptions, choices: { strict: boolean }): Promise<Answer<ValidateDocument> & { failed: boolean }> {
  const loaded = await loadFleet(source);
  const { fleet, problems } = loaded;
  const { errors, warnings } = countBySeverity(problems);
  const failed = errors > 0 || (choices.strict && warnings > 0);
  return {
    exitCode: failed ? EXIT_PROBLEMS : EXIT_OK,
    document: {
      root: fleet.root,
      inventory: fleet.inventoryFile,
      manifests: fleet.manifests.map((m) => ({
        file: m.file,
        project: m.project ?? null,
        environment: m.environment,
        apiVersion: m.apiVersion ?? null,
      })),
      problems: problems.map(problemJson),
      summary: { manifests: fleet.manifests.length, errors, warnings },
    },
    loaded,
    failed,
  };
}

import { EXIT_OK, EXIT_PROBLEMS } from '../../errors.js';
import type { LoadedFleet } from '../../fleet/load.js';
import { countBySeverity, type Problem } from '../../problems.js';
import type { CommandResult } from '../context.js';
import { problemJson, problemSummary } from '../report-problems.js';
import { style } from '../style.js';

/**
 * Read-only views still show the fleet when some files have problems, but say so
 * (one line, on stderr) and exit 1 so scripts notice; `validate` shows the details.
 */
export function withProblemNote(loaded: LoadedFleet, data: Record<string, unknown>, human: () => string): CommandResult {
  const { errors } = countBySeverity(loaded.problems);
  return {
    exitCode: errors > 0 ? EXIT_PROBLEMS : EXIT_OK,
    json: { ...data, problems: loaded.problems.map(problemJson) },
    human: () => {
      if (loaded.problems.length > 0) writeProblemNote(loaded.problems);
      return human();
    },
  };
}

/** One stderr line pointing at `validate`, for commands that go on despite problems in the files. */
export function writeProblemNote(problems: readonly Problem[]): void {
  process.stderr.write(`${style.yellow('note:')} ${problemSummary(problems)} in the manifests or inventory; run \`manage-apps validate\` for details.\n`);
}

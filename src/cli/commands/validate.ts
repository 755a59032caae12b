import { loadFleet } from '../../load/fleet.js';
import { countBySeverity, problemJson } from '../../problems.js';
import { EXIT_OK, EXIT_PROBLEMS } from '../../errors.js';
import type { CommandResult, GlobalOptions } from '../context.js';
import { lineSource } from '../context.js';
import { formatProblems, problemSummary } from '../report-problems.js';
import { plural, style } from '../style.js';

export async function validate(options: GlobalOptions & { strict?: boolean }): Promise<CommandResult> {
  const loaded = await loadFleet(options);
  const { fleet, problems } = loaded;
  const { errors, warnings } = countBySeverity(problems);
  const failed = errors > 0 || (options.strict === true && warnings > 0);
  return {
    exitCode: failed ? EXIT_PROBLEMS : EXIT_OK,
    json: {
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
    human: () => {
      const out: string[] = [];
      if (problems.length > 0) out.push(formatProblems(problems, lineSource(loaded)), '');
      const projects = new Set(fleet.services.map((s) => s.project)).size;
      const scope = `${plural(fleet.manifests.length, 'manifest')} and ${fleet.inventoryFile}`;
      if (problems.length === 0) {
        out.push(
          `${style.green('✔')} ${scope} are valid: ${plural(projects, 'project')}, ${plural(fleet.services.length, 'service')} on ${plural(fleet.hosts.length, 'host')}, ${plural(fleet.clusters.length, 'database cluster')}.`,
        );
      } else {
        out.push(`${failed ? style.red('✖') : style.yellow('!')} ${problemSummary(problems)} in ${scope}.`);
      }
      return out.join('\n');
    },
  };
}

import { validate as validateUseCase } from '../../app/validate.js';
import type { CommandResult, GlobalOptions } from '../context.js';
import { lineSource } from '../context.js';
import { fleetSource } from '../ops-options.js';
import { formatProblems, problemSummary } from '../report-problems.js';
import { plural, style } from '../style.js';

export async function validate(options: GlobalOptions & { strict?: boolean }): Promise<CommandResult> {
  const answer = await validateUseCase(fleetSource(options), { strict: options.strict === true });
  const { loaded, failed } = answer;
  const { fleet, problems } = loaded;
  return {
    exitCode: answer.exitCode,
    json: answer.document,
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

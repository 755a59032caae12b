/** run <job>: start it now, print its output as it comes, then how the run ended. */
import { runNow } from '../../../app/run.js';
import type { CommandResult } from '../../context.js';
import { inert } from '../../../text/control.js';
import { fleetSource, givenSettings, selectorOf, type OpsCliOptions } from '../../ops-options.js';
import { style } from '../../style.js';

export async function run(targets: string[], options: OpsCliOptions): Promise<CommandResult> {
  // With --json the output lines go to stderr: stdout holds the document alone.
  const write = (t: string) => (options.json ? process.stderr : process.stdout).write(`${inert(t.slice(0, -1))}\n`);
  const answer = await runNow(fleetSource(options), selectorOf(targets, options), givenSettings(options), write);
  return {
    exitCode: answer.exitCode,
    json: answer.document,
    human: () =>
      answer.document.runs
        .map((r) => {
          const how = r.run === 'joined' ? ' (a run was in progress: followed it, none started)' : '';
          if (r.ok) return `${style.green('✔')} ${r.id} on ${r.host}: success${how}`;
          const status = r.exit_status === null ? '' : `, exit status ${r.exit_status}`;
          return `${style.red('✖')} ${r.id} on ${r.host}: ${inert(r.error ?? `${r.result ?? 'failed'}${status}`)}${how}`;
        })
        .join('\n'),
  };
}

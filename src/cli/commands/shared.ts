import type { Answer, LoadedFleet } from '../../app/answer.js';
import { countBySeverity, type Problem } from '../../problems.js';
import type { CommandResult } from '../context.js';
import { problemSummary } from '../report-problems.js';
import { plural, style } from '../style.js';

/**
 * A use case's answer as the CLI prints it: the document with --json, else the text. Read-only
 * views still show the fleet when some files have problems, but say so (a note on stderr; the
 * answer's exit code is 1 so scripts notice); `validate` shows the details.
 */
export function viewResult<D>(answer: Answer<D>, human: (document: D) => string): CommandResult {
  return {
    exitCode: answer.exitCode,
    json: answer.document,
    human: () => {
      if (answer.loaded.problems.length > 0) writeProblemNote(answer.loaded.problems);
      return human(answer.document);
    },
  };
}

/** How many errors a note lists one per line before it points at `validate` for the rest. */
export const NOTE_LIMIT = 10;

/**
 * A note on stderr for commands that go on despite problems in the files: the count, and
 * each error on one line (where, which rule, what), so an exit code of 1 always says why.
 */
export function writeProblemNote(problems: readonly Problem[]): void {
  const errors = problems.filter((p) => p.severity === 'error');
  const lines = [
    `${style.yellow('note:')} ${problemSummary(problems)} in the manifests or inventory${errors.length > 0 ? ' (the exit code is 1 because of them)' : ''}:`,
  ];
  for (const p of errors.slice(0, NOTE_LIMIT)) lines.push(`  ${p.file}:${p.line}:${p.column} ${style.dim(`[${p.rule}]`)} ${p.message}`);
  if (errors.length > NOTE_LIMIT) lines.push(`  … and ${errors.length - NOTE_LIMIT} more`);
  lines.push(`  run \`manage-apps validate\` for details.`);
  process.stderr.write(`${lines.join('\n')}\n`);
}

/** A verdict line's tail when the files have errors: the command's own check passed, the exit code is still 1. */
export function errorsElsewhere(loaded: LoadedFleet): string {
  const { errors } = countBySeverity(loaded.problems);
  return errors === 0 ? '' : ` ${style.red(`(exit code 1: ${plural(errors, 'error')} elsewhere in the files, listed above)`)}`;
}

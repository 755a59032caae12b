/** logs <target> [-n N] [-f]. */
import { followedLogs, logs as logsUseCase } from '../../../app/logs.js';
import { UsageError } from '../../../errors.js';
import type { CommandResult } from '../../context.js';
import { inert } from '../../../text/control.js';
import { count, fleetSource, givenSettings, selectorOf, type OpsCliOptions } from '../../ops-options.js';
import { style } from '../../style.js';

export interface LogsCliOptions extends OpsCliOptions {
  lines?: string;
  follow?: boolean;
  raw?: boolean;
}

export async function logs(targets: string[], options: LogsCliOptions): Promise<CommandResult> {
  const lines = count('-n', options.lines, 50);
  const source = fleetSource(options);
  const selector = selectorOf(targets, options);
  // The lines are the application's: inert on a terminal. --raw keeps their bytes only for a pipe or a file.
  const raw = options.raw === true && process.stdout.isTTY !== true;
  if (options.raw === true && !raw)
    process.stderr.write(
      `${style.yellow('note:')} --raw keeps the bytes only when stdout is not a terminal: escape sequences are shown, not acted on\n`,
    );
  const shown = (line: string) => (raw ? line : inert(line));
  if (options.follow) {
    if (options.json) throw new UsageError('--follow and --json do not go together', 'drop -f to get the last lines as JSON');
    // Following ends when the user interrupts it (Ctrl-C): that is its normal end, exit 0.
    const controller = new AbortController();
    const stop = () => controller.abort();
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    let answer;
    try {
      answer = await followedLogs(
        source,
        selector,
        givenSettings(options),
        lines,
        (t) => process.stdout.write(raw ? t : `${inert(t.slice(0, -1))}\n`),
        controller.signal,
      );
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
    const failed = controller.signal.aborted ? [] : answer.document.results.filter((r) => r.error !== undefined);
    return {
      exitCode: answer.exitCode,
      json: answer.document,
      human: () => failed.map((f) => `${style.red('✖')} ${f.id}: ${inert(f.error ?? '')}`).join('\n'),
    };
  }
  const answer = await logsUseCase(source, selector, givenSettings(options), lines);
  const results = answer.document.logs;
  return {
    exitCode: answer.exitCode,
    json: answer.document,
    ...(raw ? { raw: true } : {}),
    human: () =>
      results
        .map((r) => {
          const body = r.ok ? r.lines.map(shown).join('\n') : `${style.red('✖')} ${inert(r.error ?? '')}`;
          return results.length > 1 ? `${style.bold(`==> ${r.id} on ${r.host} (${r.source}) <==`)}\n${body}` : body;
        })
        .join('\n\n'),
  };
}

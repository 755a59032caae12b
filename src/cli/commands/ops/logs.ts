/** logs <target> [-n N] [-f]. */
import { EXIT_OK, EXIT_PROBLEMS, UsageError } from '../../../errors.js';
import { prepare } from '../../../ops/cli.js';
import { count, type OpsCliOptions } from '../../../ops/settings.js';
import { followLogs, readLogs } from '../../../ops/logs.js';
import type { CommandResult } from '../../context.js';
import { inert } from '../../../text/control.js';
import { style } from '../../style.js';

export interface LogsCliOptions extends OpsCliOptions {
  lines?: string;
  follow?: boolean;
  raw?: boolean;
}

export async function logs(targets: string[], options: LogsCliOptions): Promise<CommandResult> {
  const lines = count('-n', options.lines, 50);
  const { ops, selection } = await prepare(targets, options);
  // The lines are the application's: inert on a terminal. --raw keeps their bytes only for a pipe or a file.
  const raw = options.raw === true && process.stdout.isTTY !== true;
  if (options.raw === true && !raw) process.stderr.write(`${style.yellow('note:')} --raw keeps the bytes only when stdout is not a terminal: escape sequences are shown, not acted on\n`);
  const shown = (line: string) => (raw ? line : inert(line));
  if (options.follow) {
    if (options.json) throw new UsageError('--follow and --json do not go together', 'drop -f to get the last lines as JSON');
    // Following ends when the user interrupts it (Ctrl-C): that is its normal end, exit 0.
    const controller = new AbortController();
    const stop = () => controller.abort();
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    const results = await followLogs(ops, selection.services, lines, (t) => process.stdout.write(raw ? t : `${inert(t.slice(0, -1))}\n`), controller.signal);
    // Ctrl-C reaches ssh too (one process group): its exit can be seen before our own SIGINT is.
    if (!controller.signal.aborted && results.some((r) => r.error !== undefined)) await new Promise((resolve) => setTimeout(resolve, 200));
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    const failed = controller.signal.aborted ? [] : results.filter((r) => r.error !== undefined);
    return {
      exitCode: failed.length === 0 ? EXIT_OK : EXIT_PROBLEMS,
      json: { results },
      human: () => failed.map((f) => `${style.red('✖')} ${f.id}: ${inert(f.error ?? '')}`).join('\n'),
    };
  }
  const results = await readLogs(ops, selection.services, lines);
  return {
    exitCode: results.every((r) => r.ok) ? EXIT_OK : EXIT_PROBLEMS,
    json: { logs: results },
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

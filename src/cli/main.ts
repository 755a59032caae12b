/**
 * bin → src/main.ts → this → one command module. This file only declares commands and maps
 * errors to exit codes (0 ok, 1 problems found, 2 usage or internal error);
 * command modules are imported on demand so start-up stays fast.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { EXIT_USAGE, ManageAppsError, UsageError } from '../errors.js';
import { packageRoot } from '../package-root.js';
import { forTerminal, inert } from '../text/control.js';
import type { CommandResult } from './context.js';
import { styleEnabled } from './style.js';
import { ANALYSIS_COMMANDS } from './specs/analysis.js';
import { DAEMON_COMMANDS } from './specs/daemon.js';
import { DASHBOARD_COMMANDS } from './specs/dashboard.js';
import { DATA_COMMANDS } from './specs/data.js';
import { FOUNDATION_COMMANDS } from './specs/foundation.js';
import { HOSTS_COMMANDS } from './specs/hosts.js';
import { OPS_COMMANDS } from './specs/ops.js';
import { PROMOTION_COMMANDS } from './specs/promotion.js';
import { RENDER_COMMANDS } from './specs/render.js';
import { SECRETS_COMMANDS } from './specs/secrets.js';
import { TUNNEL_COMMANDS } from './specs/tunnels.js';
import { TENANTS_COMMANDS } from './specs/tenants.js';
import { commonOptions, type CliOptions, type CommandSpec, type FrontEnds } from './specs/types.js';

export const COMMANDS: CommandSpec[] = [
  ...FOUNDATION_COMMANDS,
  ...OPS_COMMANDS,
  ...PROMOTION_COMMANDS,
  ...ANALYSIS_COMMANDS,
  ...RENDER_COMMANDS,
  ...DASHBOARD_COMMANDS,
  ...DATA_COMMANDS,
  ...SECRETS_COMMANDS,
  ...TUNNEL_COMMANDS,
  ...HOSTS_COMMANDS,
  ...TENANTS_COMMANDS,
  ...DAEMON_COMMANDS,
];

function version(): string {
  return (JSON.parse(readFileSync(`${packageRoot()}/package.json`, 'utf8')) as { version: string }).version;
}

export async function main(argv: string[], frontEnds: FrontEnds): Promise<number> {
  const program = new Command('manage-apps')
    .description('Discover .infra.yaml manifests, validate them against mesh-hosts.json, and drive a small fleet over OpenSSH and systemd.')
    .version(version(), '-V, --version')
    .option('--debug', 'print stack traces of internal errors')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .showSuggestionAfterError(true);

  let result: { spec: CommandSpec; outcome: CommandResult; json: boolean } | undefined;
  const groups = new Map<string, Command>();
  for (const spec of COMMANDS) {
    // "net ssh-config" is sub-command ssh-config of a group command "net".
    const [first, sub] = spec.name.split(' ') as [string, string | undefined];
    let parent = program;
    if (sub !== undefined) {
      // A group may share its name with a command of its own ("backups" and "backups run").
      let group = groups.get(first);
      const leaf = group === undefined ? program.commands.find((c) => c.name() === first) : undefined;
      if (leaf) {
        // Its own options (--json, --root) must not swallow those given after a sub-command:
        // commander needs positional options from the program down for that (--debug is then
        // declared on every command too, see commonOptions).
        program.enablePositionalOptions();
        leaf.enablePositionalOptions();
        groups.set(first, leaf);
        group = leaf;
      }
      if (!group) {
        group = program.command(first).description(`${first} commands (see: manage-apps ${first} --help)`).exitOverride();
        groups.set(first, group);
      }
      parent = group;
    }
    const cmd = parent
      .command((sub ?? first) + (spec.args ? ` ${spec.args}` : ''))
      .description(spec.summary)
      .exitOverride();
    for (const option of [...commonOptions(), ...(spec.options ?? [])]) cmd.addOption(option);
    cmd.action(async (...params: unknown[]) => {
      const command = params[params.length - 1] as Command;
      const options = command.opts<CliOptions>();
      const args = params.slice(0, -2).flatMap((p) => (Array.isArray(p) ? p.map(String) : p === undefined ? [] : [String(p)]));
      result = { spec, outcome: await spec.run(args, options, frontEnds), json: options.json === true };
    });
  }

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    return handleError(err, argv.includes('--debug'), argv.includes('--json'));
  }
  if (!result) {
    program.outputHelp();
    return EXIT_USAGE;
  }
  const { outcome, json } = result;
  try {
    if (json) process.stdout.write(`${JSON.stringify(outcome.json, null, 2)}\n`);
    else {
      // Every human output passes the one terminal gate (src/text/control.ts): text from hosts and apps never drives the terminal.
      const text = outcome.raw === true ? outcome.human() : forTerminal(outcome.human(), styleEnabled());
      if (text !== '') process.stdout.write(`${text}\n`);
    }
  } catch (err) {
    // Output beyond what one string can hold (V8's limit is ~512 MB): say so instead of crashing.
    if (err instanceof RangeError)
      return handleError(
        new UsageError(`the output is too large to print (${err.message})`, 'narrow it down: --host, --env, or a smaller --root'),
        false,
        false,
      );
    throw err;
  }
  return outcome.exitCode;
}

function handleError(err: unknown, debug: boolean, json: boolean): number {
  if (err instanceof CommanderError) {
    // --help and --version end here too, with exit code 0. commander has already printed its
    // message on stderr; a --json caller also gets it as the documented error document.
    if (err.exitCode === 0) return 0;
    if (json) process.stdout.write(`${JSON.stringify({ error: { code: 'E_USAGE', message: err.message.replace(/^error: /, '') } }, null, 2)}\n`);
    return EXIT_USAGE;
  }
  if (err instanceof ManageAppsError) {
    if (json)
      process.stdout.write(
        `${JSON.stringify({ error: { code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}) } }, null, 2)}\n`,
      );
    process.stderr.write(inert(`manage-apps: ${err.message}\n${err.hint ? `hint: ${err.hint}\n` : ''}`));
    return err.exitCode;
  }
  const message = err instanceof Error ? err.message : String(err);
  if (json) process.stdout.write(`${JSON.stringify({ error: { code: 'E_INTERNAL', message } }, null, 2)}\n`);
  process.stderr.write(inert(`manage-apps: internal error: ${message}\n`));
  if (debug && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  else process.stderr.write('This is a bug in manage-apps; run again with --debug for details.\n');
  return EXIT_USAGE;
}

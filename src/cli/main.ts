/**
 * bin → main → one command module. This file only declares commands and maps
 * errors to exit codes (0 ok, 1 problems found, 2 usage or internal error);
 * command modules are imported on demand so start-up stays fast.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { EXIT_USAGE, ManageAppsError } from '../errors.js';
import { packageRoot } from '../package-root.js';
import type { CommandResult, GlobalOptions } from './context.js';

type Handler = (args: string[], options: Record<string, unknown>) => Promise<CommandResult>;

interface CommandSpec {
  name: string;
  summary: string;
  args?: string;
  options?: Option[];
  run: Handler;
  /** Commands that manage their own output (streaming logs, live progress). */
  streams?: boolean;
}

const common = (): Option[] => [
  new Option('--root <dir>', 'the tree to search for .infra.yaml manifests (default: the current directory)'),
  new Option('--inventory <file>', 'the host inventory (default: <root>/mesh-hosts.json)'),
  new Option('--json', 'print one JSON document (shape: docs/json.md)'),
];

export const COMMANDS: CommandSpec[] = [
  {
    name: 'validate',
    summary: 'check every manifest and the inventory; report every problem at file:line:column',
    options: [new Option('--strict', 'exit 1 on warnings too')],
    run: async (_args, o) => (await import('./commands/validate.js')).validate(o as GlobalOptions),
  },
  {
    name: 'list',
    summary: 'the services: project, environment, host, provider, port, unit, depends_on',
    options: [new Option('--env <env>', 'only this environment'), new Option('--host <host>', 'only this host')],
    run: async (_args, o) => (await import('./commands/list.js')).list(o as GlobalOptions),
  },
  {
    name: 'hosts',
    summary: 'hosts at a glance: role, provider, addresses, services and database clusters on each',
    run: async (_args, o) => (await import('./commands/hosts.js')).hosts(o as GlobalOptions),
  },
  {
    name: 'ports',
    summary: 'the port registry per host and any clash; --write-env keeps a .env.ports file in sync',
    options: [new Option('--write-env <file>', 'write NAME_PORT=N lines for every service and cluster'), new Option('--check', 'with --write-env: exit 1 if the file is out of date, write nothing')],
    run: async (_args, o) => (await import('./commands/ports.js')).ports(o as GlobalOptions),
  },
];

function version(): string {
  return (JSON.parse(readFileSync(`${packageRoot()}/package.json`, 'utf8')) as { version: string }).version;
}

export async function main(argv: string[]): Promise<number> {
  const program = new Command('manage-apps')
    .description('Discover .infra.yaml manifests, validate them against mesh-hosts.json, and drive a small fleet over OpenSSH and systemd.')
    .version(version(), '-V, --version')
    .option('--debug', 'print stack traces of internal errors')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .showSuggestionAfterError(true);

  let result: { spec: CommandSpec; outcome: CommandResult; json: boolean } | undefined;
  for (const spec of COMMANDS) {
    const cmd = program.command(spec.name + (spec.args ? ` ${spec.args}` : '')).description(spec.summary).exitOverride();
    for (const option of [...common(), ...(spec.options ?? [])]) cmd.addOption(option);
    cmd.action(async (...params: unknown[]) => {
      const command = params[params.length - 1] as Command;
      const options = command.opts();
      const args = params.slice(0, -2).flatMap((p) => (Array.isArray(p) ? p.map(String) : p === undefined ? [] : [String(p)]));
      result = { spec, outcome: await spec.run(args, options), json: options['json'] === true };
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
  if (json) process.stdout.write(`${JSON.stringify(outcome.json, null, 2)}\n`);
  else {
    const text = outcome.human();
    if (text !== '') process.stdout.write(`${text}\n`);
  }
  return outcome.exitCode;
}

function handleError(err: unknown, debug: boolean, json: boolean): number {
  if (err instanceof CommanderError) {
    // --help and --version end here too, with exit code 0.
    return err.exitCode === 0 ? 0 : EXIT_USAGE;
  }
  if (err instanceof ManageAppsError) {
    if (json) process.stdout.write(`${JSON.stringify({ error: { code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}) } }, null, 2)}\n`);
    process.stderr.write(`manage-apps: ${err.message}\n${err.hint ? `hint: ${err.hint}\n` : ''}`);
    return err.exitCode;
  }
  const message = err instanceof Error ? err.message : String(err);
  if (json) process.stdout.write(`${JSON.stringify({ error: { code: 'E_INTERNAL', message } }, null, 2)}\n`);
  process.stderr.write(`manage-apps: internal error: ${message}\n`);
  if (debug && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  else process.stderr.write('This is a bug in manage-apps; run again with --debug for details.\n');
  return EXIT_USAGE;
}

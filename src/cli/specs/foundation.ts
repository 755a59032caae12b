/** The foundation's read-only commands. Implementations load on demand. */
import { Option } from 'commander';
import { envFlag, hostFlag } from './flags.js';
import type { CommandSpec } from './types.js';

export const FOUNDATION_COMMANDS: CommandSpec[] = [
  {
    name: 'validate',
    summary: 'check every manifest and the inventory; report every problem at file:line:column',
    options: [new Option('--strict', 'exit 1 on warnings too')],
    run: async (_args, o) => (await import('../commands/validate.js')).validate(o),
  },
  {
    name: 'list',
    summary: 'the services: project, environment, host, provider, port, unit, depends_on',
    options: [envFlag(), hostFlag('only this host')],
    run: async (_args, o) => (await import('../commands/list.js')).list(o),
  },
  {
    name: 'hosts',
    summary: 'hosts at a glance: role, provider, addresses, services and database clusters on each',
    run: async (_args, o) => (await import('../commands/hosts.js')).hosts(o),
  },
  {
    name: 'ports',
    summary: 'the port registry per host and any clash; --write-env keeps a .env.ports file in sync',
    options: [
      new Option('--write-env <file>', 'write NAME_PORT=N lines for every service and cluster'),
      new Option('--check', 'with --write-env: exit 1 if the file is out of date, write nothing'),
    ],
    run: async (_args, o) => (await import('../commands/ports.js')).ports(o),
  },
];

/** Hosts made ready for what the fleet declares (issue 28): hosts prepare. The implementation loads on demand. */
import { Option } from 'commander';
import { dryRunFlag, sshOptions } from './flags.js';
import type { CommandSpec } from './types.js';

export const HOSTS_COMMANDS: CommandSpec[] = [
  {
    name: 'hosts prepare',
    summary:
      'check that each host has what the fleet declares (Caddy on an edge, declared PostgreSQL clusters, Docker where compose runs, restic where backups are kept, service and tunnel accounts, service directories); --apply installs what is missing (hosts: every host when none)',
    args: '[hosts...]',
    options: [
      new Option('--apply', 'install what is missing (apt-get on Debian/Ubuntu; a Mac is told what to install); idempotent'),
      dryRunFlag('check, and print the exact steps --apply would run; change nothing'),
      ...sshOptions('per-host timeout of the check in seconds (default 30; --apply allows ten times as long, at least 10 minutes)'),
    ],
    run: async (args, o) => (await import('../commands/hosts-prepare.js')).hostsPrepare(args, o),
  },
];

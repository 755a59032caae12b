/** The dashboard (issue 15). Its implementation (src/dashboard) loads only when `ui` runs. */
import { Option } from 'commander';
import type { CommandSpec } from './types.js';

export const DASHBOARD_COMMANDS: CommandSpec[] = [
  {
    name: 'ui',
    summary: 'a local dashboard (127.0.0.1, token in the URL): the fleet drawn, live status, what-if, drain, backups, problems',
    options: [
      new Option('--port <port>', 'port on 127.0.0.1 (default 8765; 0: any free port)'),
      new Option('--open', 'open the URL in the desktop browser'),
      new Option('--allow-actions', 'allow restart, deploy and rollback from the page (each confirmed); read-only without it'),
      new Option('--interval <seconds>', 'seconds between status rounds (default 5)'),
      new Option('--env <env>', 'status: only services of this environment'),
      new Option('--host <host>', 'status: only services on this host'),
      new Option('--ssh-config <file>', "ssh config passed to ssh with -F (default: $MANAGE_APPS_SSH_CONFIG, else ssh's own)"),
      new Option('--connect-timeout <seconds>', 'ssh connect timeout per host'),
      new Option('--timeout <seconds>', 'per-host status answer timeout (default 15)'),
    ],
    run: async (_args, o) => (await import('../commands/ui.js')).ui(o),
  },
];

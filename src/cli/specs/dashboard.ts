/** The dashboard (issue 15). Its implementation (src/dashboard) loads only when `ui` runs. */
import { Option } from 'commander';
import { opsOptions } from './ops.js';
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
      // status's own options: the status rounds and the actions run with them.
      ...opsOptions('per-host status answer timeout (default 15)'),
    ],
    run: async (_args, o, frontEnds) => (await import('../commands/ui.js')).ui(o, frontEnds.startDashboard),
  },
];

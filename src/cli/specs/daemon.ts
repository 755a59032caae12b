/** The resident process that serves read-only commands from memory (docs/performance.md "Resident process"). */
import { Option } from 'commander';
import type { CommandSpec } from './types.js';

export const DAEMON_COMMANDS: CommandSpec[] = [
  {
    name: 'daemon start',
    summary:
      'start a background process that keeps manage-apps loaded and the fleet model in memory, so read-only commands (drift, status, validate, secrets status, …) answer without starting node; it ends by itself after an idle time',
    options: [new Option('--idle <duration>', 'end after this long without a command: 90s, 15m, 2h (default 30m)')],
    run: async (_args, o) => (await import('../commands/daemon.js')).daemonStart(o),
  },
  {
    name: 'daemon stop',
    summary: 'stop the background process (commands then run in their own process again)',
    run: async (_args, o) => (await import('../commands/daemon.js')).daemonStop(o),
  },
  {
    name: 'daemon status',
    summary: 'whether the background process runs, for which build, since when and how many commands it served; exit 1 when none runs',
    run: async (_args, o) => (await import('../commands/daemon.js')).daemonStatus(o),
  },
];

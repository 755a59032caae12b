/** Tunnels as supervised units (issue 14): tunnels up / down. Implementations load on demand. */
import type { Option } from 'commander';
import { dryRunFlag, sshOptions } from './flags.js';
import type { CommandSpec } from './types.js';

const options = (): Option[] => [
  dryRunFlag('print what each host would be asked to do, round by round, and touch nothing'),
  ...sshOptions('per-host timeout of each round (default 60)'),
];

export const TUNNEL_COMMANDS: CommandSpec[] = [
  {
    name: 'tunnels up',
    summary:
      'make declared tunnels real: key generated on the host that opens it, restricted key and sshd Match block on the far host, pinned host key, unit installed and started; idempotent (names: every tunnel when none)',
    args: '[names...]',
    options: options(),
    run: async (args, o) => (await import('../commands/tunnels.js')).tunnels('up', args, o),
  },
  {
    name: 'tunnels down',
    summary:
      "stop and remove tunnels: unit, key and config on the host that opens it, the key's line on the far host (names: every tunnel when none)",
    args: '[names...]',
    options: options(),
    run: async (args, o) => (await import('../commands/tunnels.js')).tunnels('down', args, o),
  },
];

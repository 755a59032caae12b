/** Secrets from the operator's own store (docs/secrets.md). Implementations load on demand. */
import { Option } from 'commander';
import { dryRunFlag, readyTimeoutFlag } from './flags.js';
import { opsOptions } from './ops.js';
import type { CommandSpec } from './types.js';

const TARGETS = '[targets...]';

export const SECRETS_COMMANDS: CommandSpec[] = [
  {
    name: 'secrets push',
    summary:
      "resolve each declared secret on this machine (a 0600 file, pass, an env variable, a command) and deliver what changed over ssh stdin: systemd credentials encrypted on the host, or the service's 0600 env file; then restart the running services that use them through their readiness gate",
    args: TARGETS,
    options: [
      ...opsOptions('per-command timeout besides readiness waits (default 20)'),
      new Option('--rotate <name>', 'only this secret: host by host, each restart gated; a failed gate puts the values before back and stops'),
      dryRunFlag('name what would be delivered and touch nothing'),
      readyTimeoutFlag("each restarted service's"),
    ],
    run: async (args, o) => (await import('../commands/secrets.js')).secretsPush(args, o, (o as { rotate?: unknown }).rotate),
  },
  {
    name: 'secrets status',
    summary:
      'per service and secret: current, stale (the store holds another value), missing on the host, or not resolvable here; by keyed fingerprint, never a value; one ssh round trip per host',
    args: TARGETS,
    options: opsOptions('per-host answer timeout (default 20)'),
    run: async (args, o) => (await import('../commands/secrets-status.js')).secretsStatus(args, o),
  },
  {
    name: 'secrets revert',
    summary:
      'back to the values before the last change the host keeps (after a rotation), and restart what uses them (systemd units, Compose services) through the gate, on the host',
    args: TARGETS,
    options: [...opsOptions('per-command timeout (default 20)'), readyTimeoutFlag("each restarted service's")],
    run: async (args, o) => (await import('../commands/secrets.js')).secretsSwitch('revert', args, o),
  },
  {
    name: 'secrets confirm',
    summary: 'keep the values delivered last: the host forgets the ones before (after this, revert has nothing to go back to)',
    args: TARGETS,
    options: opsOptions('per-command timeout (default 20)'),
    run: async (args, o) => (await import('../commands/secrets.js')).secretsSwitch('confirm', args, o),
  },
];

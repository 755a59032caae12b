/** The options of every command that reaches hosts over ssh, in one place so their help agrees. */
import { Option } from 'commander';

/**
 * --ssh-config, --connect-timeout, --timeout (its help says what it bounds and its default) and,
 * where hosts are worked on in parallel batches, --concurrency. `when` prefixes the help of
 * commands that use ssh only with a flag (e.g. "with --live: ").
 */
export const sshOptions = (timeoutHelp: string, { when = '', concurrency = true }: { when?: string; concurrency?: boolean } = {}): Option[] => [
  new Option('--ssh-config <file>', `${when}ssh config passed to ssh with -F (default: $MANAGE_APPS_SSH_CONFIG, else ssh's own ~/.ssh/config)`),
  new Option('--connect-timeout <seconds>', `${when}ssh connect timeout per host`),
  new Option('--timeout <seconds>', `${when}${timeoutHelp}`),
  ...(concurrency ? [new Option('--concurrency <n>', 'hosts worked on at once (default 16)')] : []),
];

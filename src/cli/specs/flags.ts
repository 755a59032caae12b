/**
 * Every flag that more than one command takes, declared once: its name, its argument and the
 * shape of its help (each command says in a word what the flag acts on). The values commander
 * hands over are typed once too (CliOptions in types.ts).
 */
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

/** --env: only what belongs to this environment (`what`: "services", "databases", …). */
export const envFlag = (what = ''): Option => new Option('--env <env>', `only ${what ? `${what} of ` : ''}this environment (dev, prod, …)`);

/** --host: only what is on this inventory host. */
export const hostFlag = (help: string): Option => new Option('--host <host>', help);

/** --dry-run: `help` says what is shown instead of done. */
export const dryRunFlag = (help: string): Option => new Option('--dry-run', help);

/** --ready-timeout: override the health.timeout of what it starts. */
export const readyTimeoutFlag = (whose = "each service's"): Option => new Option('--ready-timeout <seconds>', `override ${whose} health.timeout`);

/** --wait [seconds] (deploy, rollback): wait for a held deploy lock instead of failing. */
export const lockWaitFlag = (help = 'wait for a held deploy lock instead of failing'): Option => new Option('--wait [seconds]', help);

export const breakLockFlag = (): Option => new Option('--break-lock', 'break a deploy lock even when it cannot be proven stale');

/** --revert-margin: how long after the readiness timeout the host switches back by itself unless confirmed. */
export const revertMarginFlag = (help: string): Option => new Option('--revert-margin <seconds>', help);

/** --force (stop, restart): act on a named edge service too. */
export const forceFlag = (verb: string): Option => new Option('--force', `${verb} a named edge service`);

export const graceFlag = (): Option => new Option('--grace <seconds>', 'PID mode: SIGTERM, then SIGKILL after this long (default 10)');

export const noWaitFlag = (): Option => new Option('--no-wait', 'do not wait for readiness');

/** --backup-timeout (backups run, drill): how long one cluster's run may take. */
export const backupTimeoutFlag = (what: string): Option => new Option('--backup-timeout <seconds>', `how long one ${what} may take (default 3600)`);

/** --live (impact, check independence, backups): read the hosts now, over ssh. */
export const liveFlag = (help: string): Option => new Option('--live', help);

/** Deploy strategies, as --strategy takes them. */
export const STRATEGIES = ['release', 'script', 'compose'] as const;
export const strategyFlag = (): Option =>
  new Option(
    '--strategy <name>',
    'release (built-in), script (service.deploy) or compose (a compose service); default: compose for a compose service, else release when there is an artifact',
  ).choices(STRATEGIES);

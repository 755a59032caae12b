/** Orchestration: status, start, stop, restart, logs, deploy, rollback (issue 4). Implementations load on demand. */
import { Option } from 'commander';
import {
  breakLockFlag,
  dryRunFlag,
  envFlag,
  forceFlag,
  graceFlag,
  hostFlag,
  lockWaitFlag,
  noWaitFlag,
  readyTimeoutFlag,
  revertMarginFlag,
  sshOptions,
  strategyFlag,
} from './flags.js';
import type { CommandSpec } from './types.js';

/** Options every ops command takes besides --root/--inventory/--json. */
export const opsOptions = (timeoutHelp: string): Option[] => [
  envFlag('services'),
  hostFlag('only services on this inventory host'),
  ...sshOptions(timeoutHelp),
];

const TARGETS = '[targets...]';
const targetsHelp = 'targets: project, project:env, project@host or a host name; none = every service under the root';

export const OPS_COMMANDS: CommandSpec[] = [
  {
    name: 'status',
    summary: `unit state and health (readiness, liveness) of each service, one ssh round trip per host (${targetsHelp})`,
    args: TARGETS,
    options: [
      ...opsOptions('per-host answer timeout (default 15)'),
      new Option(
        '--drift',
        'also what `drift` finds: what the hosts run against what the repository declares (one more read-only round trip per host)',
      ),
    ],
    run: async (args, o) => (await import('../commands/ops/status.js')).status(args, o),
  },
  {
    name: 'start',
    summary: 'start services and what they depend on (transitively) in dependency order, each level ready before the next (PID mode on this machine)',
    args: TARGETS,
    options: [
      ...opsOptions('per-command timeout besides readiness waits (default 20)'),
      noWaitFlag(),
      readyTimeoutFlag(),
      new Option('--no-deps', 'start only the services named, not what they depend on'),
    ],
    run: async (args, o) => (await import('../commands/ops/lifecycle.js')).lifecycle('start', args, o),
  },
  {
    name: 'stop',
    summary:
      'stop services in reverse dependency order, naming the running services that depend on them (they degrade); an edge only when named, with --force',
    args: TARGETS,
    options: [...opsOptions('per-command timeout (default 20)'), forceFlag('stop'), graceFlag()],
    run: async (args, o) => (await import('../commands/ops/lifecycle.js')).lifecycle('stop', args, o),
  },
  {
    name: 'restart',
    summary: 'restart services in dependency order, waiting for readiness; an edge only when named, with --force',
    args: TARGETS,
    options: [
      ...opsOptions('per-command timeout besides readiness waits (default 20)'),
      forceFlag('restart'),
      noWaitFlag(),
      graceFlag(),
      readyTimeoutFlag(),
    ],
    run: async (args, o) => (await import('../commands/ops/lifecycle.js')).lifecycle('restart', args, o),
  },
  {
    name: 'logs',
    summary: 'the last log lines of services: journalctl for units, the log file in PID mode; -f follows',
    args: TARGETS,
    options: [
      ...opsOptions('per-host timeout (default 20)'),
      new Option('-n, --lines <n>', 'how many lines (default 50)'),
      new Option('-f, --follow', 'keep printing new lines until interrupted'),
      new Option(
        '--raw',
        "the lines' bytes as they are (escape sequences included) when stdout is a pipe or a file; on a terminal they are always shown inert",
      ),
    ],
    run: async (args, o) => (await import('../commands/ops/logs.js')).logs(args, o),
  },
  {
    name: 'run',
    summary: 'start scheduled jobs now (service.schedule) and print their output until the run ends; a run in progress is followed, never doubled',
    args: TARGETS,
    options: [...opsOptions('per-host timeout besides the run itself (default 20)')],
    run: async (args, o) => (await import('../commands/ops/run.js')).run(args, o),
  },
  {
    name: 'deploy',
    summary: "ship a release (or run the project's own deploy script), restart, gate on readiness; roll back automatically on failure",
    args: TARGETS,
    options: [
      ...opsOptions('per-command timeout besides shipping and readiness waits (default 20)'),
      new Option('--artifact <path>', 'the directory or .tar/.tar.gz to ship (default: service.artifact)'),
      strategyFlag(),
      dryRunFlag('print the plan (hosts, steps, order) and touch nothing'),
      lockWaitFlag('wait for a held deploy lock (default up to 600 s) instead of failing'),
      breakLockFlag(),
      readyTimeoutFlag(),
      new Option('--keep <n>', 'releases to keep (default: service.keep_releases, 5)'),
      new Option('--script-timeout <seconds>', 'how long a deploy script may run (default 1800)'),
      revertMarginFlag('the host reverts an unconfirmed release this long after the readiness timeout (default 20)'),
      new Option('--tag <tag>', 'compose services: the image tag to deploy (default: service.compose.tag, e.g. {env}-{sha})'),
      new Option('--all', 'deploy every service under the root (deploy without a target, --host or --env is refused without it)'),
      new Option('--force', 'scheduled jobs: stop a run in progress instead of waiting for it to end (and say which)'),
    ],
    run: async (args, o) => (await import('../commands/ops/deploy.js')).deploy(args, o),
  },
  {
    name: 'move',
    summary:
      'move services to another host in waves: ship the live release, start it beside the old one, gate, switch the edges, stop the old one, edit the manifests; a journal makes it resumable (--abort: back to the source)',
    args: '<targets...>',
    options: [
      new Option('--to <host>', 'the host to move them to').makeOptionMandatory(),
      ...sshOptions('per-command timeout besides shipping and readiness waits (default 60)'),
      dryRunFlag('print the whole plan (waves, steps, the edits of the repository, the order) and touch nothing'),
      new Option('--abort', 'send every wave not finished back to its source (the journal says what was done)'),
      new Option(
        '--force',
        "with --abort: send a database back even after its writers started on the target (what they wrote there stays only in the target's frozen copy)",
      ),
      readyTimeoutFlag(),
      revertMarginFlag('the target reverts an unconfirmed release this long after the readiness timeout (default 20)'),
    ],
    run: async (args, o) => (await import('../commands/ops/move.js')).move({ mode: 'move', targets: args }, o),
  },
  {
    name: 'recover',
    summary:
      "bring a lost host's services and databases back on another host: releases kept on this machine, databases from the newest backup (row counts checked), edges switched, manifests edited; reports the achieved RTO and RPO (--abort: stop what it started, put the files back)",
    args: '<lost-host>',
    options: [
      new Option('--to <host>', 'the host to bring everything back on').makeOptionMandatory(),
      ...sshOptions('per-command timeout besides shipping, restores and readiness waits (default 60)'),
      dryRunFlag('print the plan (waves, where each release and each database comes from, the edits, what cannot be recovered) and touch nothing'),
      new Option(
        '--abort',
        'stop what the recovery started on the target and put the manifests and the inventory back (the journal says what was done)',
      ),
      readyTimeoutFlag(),
      revertMarginFlag('the target reverts an unconfirmed release this long after the readiness timeout (default 20)'),
    ],
    run: async (args, o) => (await import('../commands/ops/recover.js')).recover(args[0]!, o),
  },
  {
    name: 'rollback',
    summary: 'switch a service back to its previous release (or --to ID), restart, gate on readiness',
    args: '<targets...>',
    options: [
      ...opsOptions('per-command timeout besides readiness waits (default 20)'),
      new Option('--to <release>', 'the release id to switch to (default: the newest older release that passed its gate)'),
      dryRunFlag('say which release it would switch to and touch nothing'),
      lockWaitFlag(),
      breakLockFlag(),
      readyTimeoutFlag("the service's"),
      revertMarginFlag('the host switches back by itself this long after the readiness timeout unless confirmed (default 20)'),
    ],
    run: async (args, o) => (await import('../commands/ops/deploy.js')).rollback(args, o),
  },
  {
    name: 'releases',
    summary:
      'the releases of each service on its host: id, age, who, gate outcome, which is live, an armed or fired revert (one ssh round trip per host)',
    args: TARGETS,
    options: opsOptions('per-host answer timeout (default 20)'),
    run: async (args, o) => (await import('../commands/ops/releases.js')).releases(args, o),
  },
  {
    name: 'drift',
    summary:
      'what the hosts run against what the repository declares (units, drop-ins, releases, images, Caddy, tunnels, pg_hba, open ports): a verdict per difference, read-only, one ssh round trip per host; exit 1 when there is drift',
    args: TARGETS,
    options: opsOptions('per-host answer timeout (default 20)'),
    run: async (args, o) => (await import('../commands/ops/drift.js')).drift(args, o),
  },
  {
    name: 'reapply',
    summary:
      'put back what drift finds, through the paths that install it (deploy, gated on readiness; tunnels up; db provision; net caddy --apply), say what no path can put back, then drift again',
    args: TARGETS,
    options: [
      ...opsOptions('per-command timeout besides readiness waits (default 20)'),
      dryRunFlag('say what it would do for each finding and change nothing'),
      readyTimeoutFlag("each redeployed service's"),
    ],
    run: async (args, o) => (await import('../commands/ops/drift.js')).reapply(args, o),
  },
  {
    name: 'adopt',
    summary:
      "write a finding's live value into the repository where a manifest can say it (a declared service's port, a compose service's image tag), as a minimal edit that keeps the file's formatting and comments; says which findings cannot be adopted",
    args: '<finding>',
    options: [...sshOptions('per-host answer timeout (default 20)'), dryRunFlag('say what it would write and write nothing')],
    run: async (args, o) => (await import('../commands/ops/drift.js')).adopt(args[0]!, o),
  },
];

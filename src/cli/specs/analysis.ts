/** Fleet analysis: graph, impact, check independence, drain, backups (issue 5). Implementations load on demand. */
import { Option } from 'commander';
import { dryRunFlag, liveFlag, readyTimeoutFlag, sshOptions } from './flags.js';
import type { CommandSpec } from './types.js';
import type { GraphFormat } from '../../app/graph.js';

/** --format's choices: every GraphFormat and nothing else (the compiler checks; no graph code loads to list them). */
const GRAPH_FORMAT_CHOICES = Object.keys({ text: true, mermaid: true, dot: true, json: true, html: true, svg: true } satisfies Record<
  GraphFormat,
  true
>);

/** The ssh options of commands that reach hosts only with --live (read in one round, no batches). */
const LIVE = { when: 'with --live: ', concurrency: false };

export const ANALYSIS_COMMANDS: CommandSpec[] = [
  {
    name: 'graph',
    summary: 'the fleet as a graph: hosts with their services and database clusters; depends_on, database, tunnel and domain edges',
    options: [
      new Option(
        '--format <format>',
        'text (terminal), mermaid, dot (Graphviz), json, html (the dashboard page as one static file) or svg (the picture)',
      )
        .choices(GRAPH_FORMAT_CHOICES)
        .default('text'),
    ],
    run: async (_args, o) => (await import('../commands/graph.js')).graph(o),
  },
  {
    name: 'impact',
    summary: 'what happens if these hosts go offline: services down and degraded (with why), data out of reach, tunnels and lanes broken',
    args: '[hosts...]',
    options: liveOptions(),
    run: async (args, o) => (await import('../commands/impact.js')).impact(args, o),
  },
  {
    name: 'check independence',
    summary: 'production must run with every workstation and dev host offline: exit 1 if it would not',
    options: liveOptions(),
    run: async (_args, o) => (await import('../commands/check.js')).checkIndependence(o),
  },
  {
    name: 'drain',
    summary: "a host's dependency register and the waves to move it in (identity and secrets last); exit 1 if something cannot move",
    args: '<host>',
    options: [
      new Option('--to <host>', 'the host to move everything to').makeOptionMandatory(),
      new Option('--execute', 'carry the drain out, wave by wave, as `move` does (with --dry-run: print the whole plan of it)'),
      dryRunFlag('with --execute or --abort: print the plan (waves, steps, the edits of the repository) and touch nothing'),
      new Option('--abort', 'send every wave of the drain not finished back to its source'),
      new Option(
        '--force',
        "with --abort: send a database back even after its writers started on the target (what they wrote there stays only in the target's frozen copy)",
      ),
      readyTimeoutFlag(),
      ...sshOptions('per-command timeout besides shipping and readiness waits (default 60)', { when: 'with --execute: ' }),
    ],
    run: async (args, o) =>
      o.execute === true || o.abort === true
        ? (await import('../commands/ops/move.js')).move({ mode: 'drain', host: args[0]! }, o)
        : (await import('../commands/drain.js')).drain(args[0]!, o),
  },
  {
    name: 'backups',
    summary: 'RPO / RTO / method per database cluster and stateful service, what has none, and what each host takes with it if lost',
    options: [
      liveFlag(
        "also read each PostgreSQL cluster's last backup run on its host (ssh, one round trip per host): when, ok or failed and why, size; exit 1 when it failed or the newest good backup is older than the declared RPO",
      ),
      ...sshOptions('per-host answer timeout (default 15)', LIVE),
    ],
    run: async (_args, o) => (await import('../commands/backups.js')).backups(o),
  },
];

/** --live: observe the declared tunnels over ssh (one round trip per host); one seen down counts as broken. */
function liveOptions(): Option[] {
  return [
    liveFlag('observe every declared tunnel now (ssh, one round trip per host): one seen down counts as broken, and the report says observed'),
    ...sshOptions('per-host answer timeout (default 15)', LIVE),
  ];
}

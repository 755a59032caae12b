/** Promotion along a project's path, approvals, and the ledger (docs/promotion.md). */
import { Option } from 'commander';
import { dryRunFlag, readyTimeoutFlag, revertMarginFlag, sshOptions } from './flags.js';
import type { CommandSpec } from './types.js';

export const PROMOTION_COMMANDS: CommandSpec[] = [
  {
    name: 'promote',
    summary:
      "put the release live in one environment of a project's promotion path into the next: the same bits, after its observation window, with drill evidence for stateful services and a signed approval where asked; recorded in the ledger",
    args: '<project>',
    options: [
      new Option('--to <env>', 'the environment to promote into (its path says where from)'),
      new Option('--from <env>', 'the environment to promote out of (checked against the path)'),
      new Option('--wait', 'sample the source until its observation window has passed, instead of refusing'),
      dryRunFlag('check every gate and say what would be promoted; touch nothing, record nothing'),
      new Option('--force', 'promote a release that was rolled back out of the target (with --reason)'),
      new Option('--reason <text>', 'why: recorded in the ledger with --force or --observe'),
      new Option('--observe <duration>', 'an observation window other than the declared one, e.g. 30s (with --reason)'),
      readyTimeoutFlag("the target service's"),
      revertMarginFlag('the target host switches back by itself this long after the readiness timeout unless confirmed (default 20)'),
      ...sshOptions('per-command timeout besides shipping and readiness waits (default 20)', { concurrency: false }),
    ],
    run: async (args, o) => (await import('../commands/promotion.js')).promote(args, o),
  },
  {
    name: 'approve',
    summary:
      'sign the promotion of the release live in the environment before --to with your ssh key (ssh-keygen -Y sign) and record the approval in the ledger; the key must be in allowed_signers',
    args: '<project>',
    options: [
      new Option('--to <env>', 'the environment the approval lets the release into').makeOptionMandatory(),
      new Option('--release <id>', 'the release to approve (default: the one the ledger has live in the environment before)'),
      new Option('--key <file>', 'your ssh key: a private key, or its .pub with the private half in ssh-agent').makeOptionMandatory(),
    ],
    run: async (args, o) => (await import('../commands/promotion.js')).approve(args, o),
  },
  {
    name: 'ledger',
    summary: 'why each environment is at its release: what was deployed or promoted from where, when, on what evidence, approved by whom',
    args: '[project]',
    run: async (args, o) => (await import('../commands/promotion.js')).ledger(args, o),
  },
  {
    name: 'ledger verify',
    summary:
      "check the ledger's hash chain and every approval's signature; exit 1 naming the first line that does not hold, or a promotion a crash left unrecorded",
    options: [
      new Option('--repair', 'first settle promotions a crash left unrecorded, from what their target hosts run: add the lost records'),
      ...sshOptions('per-command timeout (default 20)', { concurrency: false }),
    ],
    run: async (args, o) => (await import('../commands/promotion.js')).ledgerVerify(args, o),
  },
];

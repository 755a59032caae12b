/**
 * `net ssh-config`: the inventory's hosts as ssh Host blocks, kept in one managed
 * block of ~/.ssh/config (or of --file), or with --include in a file of its own
 * under config.d/ that a managed Include line at the top level pulls in.
 (src/app/ssh-config.ts)
 */
import { sshConfigBlock } from '../../../app/ssh-config.js';
import type { CommandResult } from '../../context.js';
import { fleetSource } from '../../ops-options.js';
import { modeOf, renderResult, type RenderFlags } from './render-command.js';

export interface SshConfigFlags extends RenderFlags {
  file?: string;
  include?: boolean;
}

export async function netSshConfig(flags: SshConfigFlags): Promise<CommandResult> {
  return renderResult(
    await sshConfigBlock({
      ...fleetSource(flags),
      mode: modeOf(flags),
      ...(flags.file === undefined ? {} : { file: flags.file }),
      ...(flags.include === undefined ? {} : { include: flags.include }),
    }),
  );
}

/**
 * `net ssh-config`: the inventory's hosts as ssh Host blocks, kept in one managed
 * block of ~/.ssh/config (or of --file), or with --include in a file of its own
 * under config.d/ that a managed Include line at the top level pulls in.
 */
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { makeDirectory, readIfExists } from '../files/write.js';
import { loadFleet, type FleetOptions } from '../load/fleet.js';
import { locatorOf } from '../load/locator.js';
import { countBySeverity, sortProblems, type Problem } from '../problems.js';
import type { RenderedFile } from '../render/common.js';
import { includeBody, includedFile, includeTarget, managedBlock, renderSshHosts, spliceManagedBlock } from '../render/ssh-config.js';
import {
  checkTargets,
  mergeProblems,
  renderAnswer,
  splitLoadProblems,
  writeTargets,
  type Mode,
  type RenderAnswer,
  type Target,
} from './render-files.js';

export const INCLUDED_NAME = 'config.d/manage-apps';

/** `file`: the ssh config to manage (relative to the working directory; default ~/.ssh/config); `include`: keep the hosts in config.d/manage-apps beside it. */
export interface SshConfigSettings extends FleetOptions {
  mode: Mode;
  file?: string;
  include?: boolean;
}

export async function sshConfigBlock(settings: SshConfigSettings): Promise<RenderAnswer> {
  const mode = settings.mode;
  const loaded = await loadFleet(settings);
  const command = 'net ssh-config';
  const { blocking, other } = splitLoadProblems(loaded, 'inventory');
  const base = { command, mode, loaded, other, rendered: [] as RenderedFile[], files: [], skipped: [] as { name: string; reason: string }[] };
  if (blocking.length > 0) return renderAnswer({ ...base, problems: sortProblems(blocking), blocked: true });

  const hosts = renderSshHosts(loaded.fleet, locatorOf(loaded));
  const report = { ...base, skipped: hosts.skipped, problems: mergeProblems(hosts.problems), blocked: countBySeverity(hosts.problems).errors > 0 };
  if (report.blocked) return renderAnswer(report);

  const source = loaded.fleet.inventoryFile;
  const file = resolve(process.cwd(), settings.file ?? join(homedir(), '.ssh', 'config'));
  const included = join(dirname(file), INCLUDED_NAME);
  let block: string;
  const extra: Target[] = [];
  if (settings.include) {
    const target = includeTarget(included, homedir());
    if (target === undefined)
      throw new UsageError(`cannot write an Include line for ${included}`, 'the path must be absolute and have no spaces, quotes or "#"');
    block = managedBlock(includeBody(target), source);
    extra.push({ path: included, content: includedFile(hosts.text, source), mode: 0o600, replaceLink: true });
  } else {
    block = managedBlock(hosts.text, source);
  }
  if (mode === 'print')
    return renderAnswer({
      ...report,
      rendered: [settings.include ? { path: included, content: includedFile(hosts.text, source) } : { path: file, content: block }],
    });

  const existing = await readIfExists(file);
  const spliced = spliceManagedBlock(existing, block, file);
  if (spliced.content === undefined) {
    const problems: Problem[] = spliced.problems;
    return renderAnswer({
      ...report,
      problems: mergeProblems(report.problems, problems),
      blocked: true,
      extraLines: new Map([[file, (existing ?? '').split(/\r?\n/)]]),
    });
  }
  const targets: Target[] = [...extra, { path: file, content: spliced.content, modeIfNew: 0o600 }];
  if (mode === 'check') return renderAnswer({ ...report, files: await checkTargets(targets) });
  // ssh refuses a config directory others can write: create ~/.ssh (and config.d) private.
  for (const dir of new Set(targets.map((t) => dirname(t.path)))) await makeDirectory(dir, { mode: 0o700 });
  return renderAnswer({ ...report, files: await writeTargets(targets) });
}

/**
 * ~/.ssh/config from the inventory (what a hand-run host-apply script rendered):
 * a Host block per host, and the text work of keeping it in one managed block of
 * the user's file without touching anything else. Pure: the CLI does the I/O.
 */
import type { Fleet, Host } from '../fleet/model.js';
import type { Problem } from '../problems.js';
import { problem } from '../problems.js';
import { printable } from '../text/control.js';
import { byCodePoint, renderProblem, type Skipped } from './common.js';
import { defaultLocator, type Locator } from '../source/locator.js';
import { isPlainToken, shown } from '../text/plain.js';

export const BLOCK_START = '# >>> manage-apps (managed block: do not edit by hand) >>>';
export const BLOCK_END = '# <<< manage-apps <<<';
/** Any line that starts like a marker counts as one, even with edited text after it. */
const START_LIKE = /^\s*#\s*>>>\s*manage-apps\b/;
const END_LIKE = /^\s*#\s*<<<\s*manage-apps\b/;
export const MANAGED_BLOCK_RULE = 'managed_block';

export interface SshHosts {
  /** The Host blocks, without markers (empty when no host needs one). */
  text: string;
  hosts: string[];
  problems: Problem[];
  skipped: Skipped[];
}

const FIELDS: { key: keyof Host; option: string; path: string }[] = [
  { key: 'address', option: 'HostName', path: 'address' },
  { key: 'user', option: 'User', path: 'user' },
  { key: 'port', option: 'Port', path: 'port' },
  { key: 'identityFile', option: 'IdentityFile', path: 'identity_file' },
  { key: 'proxyJump', option: 'ProxyJump', path: 'proxy_jump' },
];

/**
 * One Host block per inventory host that ssh reaches: `Host <alias> [<name>]`
 * with HostName, User, Port, IdentityFile and ProxyJump when the inventory gives
 * them. This machine (local) and hosts with nothing to say are skipped. Host-key
 * options are never written: ssh's own defaults (known_hosts, ask) stay in force.
 */
export function renderSshHosts(fleet: Fleet, locator: Locator = defaultLocator(fleet.inventoryFile)): SshHosts {
  const problems: Problem[] = [];
  const skipped: Skipped[] = [];
  const blocks: string[] = [];
  const hosts: string[] = [];
  const patterns = new Map<string, string>();
  for (const host of [...fleet.hosts].sort((a, b) => byCodePoint(a.name, b.name))) {
    if (host.local) {
      skipped.push({ name: host.name, reason: 'this machine (local): no ssh' });
      continue;
    }
    const names = host.alias === host.name ? [host.alias] : [host.alias, host.name];
    let ok = true;
    for (const [i, name] of names.entries()) {
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
        problems.push(
          renderProblem(
            locator.inventory(i === 0 && host.alias !== host.name ? ['hosts', host.name, 'alias'] : ['hosts', host.name]),
            `ssh alias ${shown(name)} of "${host.name}" is not a plain host name`,
            'use letters, digits, ".", "_" and "-" (no patterns, no spaces)',
          ),
        );
        ok = false;
      }
      const owner = patterns.get(name);
      if (owner !== undefined) {
        problems.push(
          renderProblem(
            locator.inventory(['hosts', host.name, ...(host.alias !== host.name ? ['alias'] : [])]),
            `ssh name "${name}" of "${host.name}" is already used by host "${owner}"`,
            'each host needs its own alias',
          ),
        );
        ok = false;
      }
    }
    const lines: string[] = [];
    for (const field of FIELDS) {
      const value = host[field.key];
      if (value === undefined) continue;
      const text = String(value);
      if (!isPlainToken(text) || text.startsWith('-')) {
        problems.push(
          renderProblem(
            locator.inventory(['hosts', host.name, field.path]),
            `${field.path} of "${host.name}" cannot be written into ssh_config: ${shown(text)}`,
            'a value must be one plain token: no spaces, quotes, "#", backslashes or line breaks',
          ),
        );
        ok = false;
        continue;
      }
      lines.push(`  ${field.option} ${text}`);
    }
    if (!ok) continue;
    if (lines.length === 0) {
      skipped.push({ name: host.name, reason: 'nothing to write (no address, user, port, identity_file or proxy_jump)' });
      continue;
    }
    for (const name of names) patterns.set(name, host.name);
    hosts.push(host.name);
    blocks.push([`Host ${names.join(' ')}`, ...lines].join('\n'));
  }
  return { text: blocks.length === 0 ? '' : `${blocks.join('\n\n')}\n`, hosts, problems, skipped };
}

/** The managed block as it sits in ~/.ssh/config: markers, a note, the body. */
export function managedBlock(body: string, source: string): string {
  const note = `# Rendered by manage-apps from ${printable(source)}; edit the inventory, then run \`manage-apps net ssh-config --write\`.`;
  const inner = body.replace(/\n+$/, '');
  return `${BLOCK_START}\n${note}\n${inner === '' ? '' : `${inner}\n`}${BLOCK_END}\n`;
}

/** The whole file kept under ~/.ssh/config.d in --include mode. */
export function includedFile(body: string, source: string): string {
  const note = `# Rendered by manage-apps from ${printable(source)}: do not edit by hand; run \`manage-apps net ssh-config --write --include\`.`;
  return `${note}\n${body === '' ? '' : `\n${body.replace(/\n+$/, '')}\n`}`;
}

/** The body of the block that includes the config.d file (ssh reads Include at the top level only). */
export function includeBody(includePath: string): string {
  return `Include ${includePath}\n`;
}

export interface BlockSpan {
  /** Character offsets: [start of the start marker line, end of the end marker line incl. its newline). */
  start: number;
  end: number;
}

export interface FoundBlock {
  block: BlockSpan | undefined;
  problems: Problem[];
}

interface Line {
  text: string;
  start: number;
  /** Offset after the line's newline (or the end of the text). */
  next: number;
  number: number;
}

function linesOf(text: string): Line[] {
  const out: Line[] = [];
  let start = 0;
  let number = 1;
  while (start < text.length) {
    const nl = text.indexOf('\n', start);
    const end = nl === -1 ? text.length : nl;
    out.push({ text: text.slice(start, end).replace(/\r$/, ''), start, next: nl === -1 ? text.length : nl + 1, number });
    start = nl === -1 ? text.length : nl + 1;
    number++;
  }
  return out;
}

/**
 * Finds the managed block in a file. Markers must be exactly one start line and
 * one end line after it; anything else (one alone, two of either, out of order)
 * is a located problem and the file must not be written.
 */
export function findManagedBlock(text: string, file: string): FoundBlock {
  const lines = linesOf(text);
  const starts = lines.filter((l) => START_LIKE.test(l.text));
  const ends = lines.filter((l) => END_LIKE.test(l.text));
  const at = (l: Line) => ({ file, line: l.number, column: 1, length: Math.max(1, l.text.length) });
  const hint = `keep exactly one "${BLOCK_START}" line and one "${BLOCK_END}" line after it (or remove both), then run again`;
  const problems: Problem[] = [];
  if (starts.length > 1)
    problems.push(problem(MANAGED_BLOCK_RULE, at(starts[1]!), `a second manage-apps start marker (the first is on line ${starts[0]!.number})`, hint));
  if (ends.length > 1)
    problems.push(problem(MANAGED_BLOCK_RULE, at(ends[1]!), `a second manage-apps end marker (the first is on line ${ends[0]!.number})`, hint));
  if (starts.length === 1 && ends.length === 0)
    problems.push(problem(MANAGED_BLOCK_RULE, at(starts[0]!), 'the manage-apps block starts here but never ends', hint));
  if (starts.length === 0 && ends.length === 1)
    problems.push(problem(MANAGED_BLOCK_RULE, at(ends[0]!), 'a manage-apps end marker without a start marker', hint));
  if (starts.length === 1 && ends.length === 1 && ends[0]!.number < starts[0]!.number) {
    problems.push(
      problem(MANAGED_BLOCK_RULE, at(ends[0]!), `the manage-apps end marker comes before its start marker (line ${starts[0]!.number})`, hint),
    );
  }
  if (problems.length > 0) return { block: undefined, problems };
  if (starts.length === 0) return { block: undefined, problems: [] };
  return { block: { start: starts[0]!.start, end: ends[0]!.next }, problems: [] };
}

export interface Spliced {
  content: string | undefined;
  problems: Problem[];
}

/**
 * The file with the managed block replaced (where it is) or inserted (before the
 * first Host/Match line and the comments right above it, so the user's global
 * options stay global and none of their lines ends up inside our blocks; at the
 * end when the file has no Host/Match line). Nothing outside the block changes.
 */
export function spliceManagedBlock(existing: string | undefined, block: string, file: string): Spliced {
  const text = existing ?? '';
  const found = findManagedBlock(text, file);
  if (found.problems.length > 0) return { content: undefined, problems: found.problems };
  const crlf = text.includes('\r\n');
  const ours = crlf ? block.replace(/\n/g, '\r\n') : block;
  const nl = crlf ? '\r\n' : '\n';
  if (found.block) {
    // The end marker might have been the last line without a newline: keep that.
    const oldBlock = text.slice(found.block.start, found.block.end);
    const replacement = oldBlock.endsWith('\n') ? ours : ours.replace(/\r?\n$/, '');
    return { content: text.slice(0, found.block.start) + replacement + text.slice(found.block.end), problems: [] };
  }
  if (text === '') return { content: ours, problems: [] };
  const lines = linesOf(text);
  const first = lines.findIndex((l) => /^\s*(host|match)(\s|=)/i.test(l.text));
  if (first === -1) {
    const sep = text.endsWith('\n') ? '' : nl;
    const blank = text.trim() === '' ? '' : nl;
    return { content: text + sep + blank + ours, problems: [] };
  }
  let at = first;
  while (at > 0 && /^\s*#/.test(lines[at - 1]!.text) && !START_LIKE.test(lines[at - 1]!.text)) at--;
  const offset = lines[at]!.start;
  return { content: text.slice(0, offset) + ours + nl + text.slice(offset), problems: [] };
}

/** How the Include line names the config.d file: `~/…` under the home directory, else absolute. */
export function includeTarget(path: string, home: string): string | undefined {
  if (!isPlainToken(path) || !path.startsWith('/')) return undefined;
  const prefix = home.endsWith('/') ? home : `${home}/`;
  return path.startsWith(prefix) ? `~/${path.slice(prefix.length)}` : path;
}

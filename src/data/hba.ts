/**
 * The managed block of pg_hba.conf: one line per (database, user, client address), between two
 * marker lines. Everything outside the block is the operator's and is kept byte for byte.
 */

export const HBA_BEGIN = '# BEGIN manage-apps (managed block: edited by `manage-apps db provision`; do not edit by hand)';
export const HBA_END = '# END manage-apps';

export interface HbaEntry {
  database: string;
  user: string;
  /** CIDR: the service host's mesh address /32, or 127.0.0.1/32 when co-located. */
  address: string;
}

/** A pg_hba.conf name in double quotes (names are plain before; a '"' is refused, never escaped). */
export function hbaQuote(name: string): string {
  if (/["\s]/.test(name)) throw new Error(`cannot write ${JSON.stringify(name)} into pg_hba.conf`);
  return `"${name}"`;
}

/** A field of a pg_hba.conf line without its quotes. */
export const hbaUnquote = (field: string): string => (field.length >= 2 && field.startsWith('"') && field.endsWith('"') ? field.slice(1, -1) : field);

export function hbaLines(entries: readonly HbaEntry[]): string[] {
  const sorted = [...entries].sort((a, b) => (a.database + a.user + a.address < b.database + b.user + b.address ? -1 : 1));
  const seen = new Set<string>();
  const lines: string[] = [];
  for (const e of sorted) {
    // Quoted: a quoted name is only ever a name, never a keyword (all, sameuser, replication, …), +group or @file.
    const line = `host    ${hbaQuote(e.database)} ${hbaQuote(e.user)} ${e.address} scram-sha-256`;
    if (!seen.has(line)) lines.push(line);
    seen.add(line);
  }
  return lines;
}

export interface HbaEdit {
  content: string;
  changed: boolean;
  /** The block's lines before this edit (empty when there was no block). */
  previous: string[];
}

/**
 * The file with its managed block set to `entries`: replaced in place when present, else
 * appended at the end (so the operator's own rules, rejects included, are read first).
 * Refuses a file with a begin marker and no end marker (someone edited it by hand).
 */
export function withManagedBlock(file: string, entries: readonly HbaEntry[]): HbaEdit {
  const lines = file.split('\n');
  const begin = lines.indexOf(HBA_BEGIN);
  const end = begin < 0 ? -1 : lines.indexOf(HBA_END, begin + 1);
  if (begin >= 0 && end < 0) throw new Error(`pg_hba.conf has the line "${HBA_BEGIN}" without its end marker: fix the file by hand`);
  if (begin < 0 && lines.includes(HBA_END)) throw new Error(`pg_hba.conf has "${HBA_END}" without its begin marker: fix the file by hand`);
  const block = [HBA_BEGIN, ...hbaLines(entries), HBA_END];
  if (begin >= 0) {
    const previous = lines.slice(begin + 1, end);
    const next = [...lines.slice(0, begin), ...block, ...lines.slice(end + 1)].join('\n');
    return { content: next, changed: next !== file, previous };
  }
  const base = file === '' || file.endsWith('\n') ? file : `${file}\n`;
  return { content: `${base}${block.join('\n')}\n`, changed: true, previous: [] };
}

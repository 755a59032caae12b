/**
 * The journal of a move, on the operator's machine: `<state dir>/moves/<target>.json`, one per
 * target host, replaced atomically after every step (write.ts: a temp file renamed over it; the
 * previous one kept as .bak). A move killed or cut at any step reads it back: `--execute` again
 * skips what is done, `--abort` knows what to undo. It holds names, hosts, steps and release
 * ids, never a secret (an env file goes from host to host through memory only).
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError } from '../../errors.js';
import { writeFileSafely } from '../../files/write.js';
import { fileSafe } from '../../transport/quote.js';
import type { ItemState, JournalTunnel, MovedDatabase } from './types.js';

export interface JournalItem {
  kind: 'service' | 'cluster';
  name: string;
  from: string;
  to: string;
  wave: number;
  state: ItemState;
  /** Steps done, in order. */
  done: string[];
  release: string | null;
  reason: string | null;
  /** A cluster: its databases as restored (names, sizes, row counts: never a secret). */
  databases?: MovedDatabase[];
  /** When it was last changed (ISO). */
  at: string;
}

export interface Journal {
  version: 1;
  to: string;
  started: string;
  /** Set once every item is moved or returned. */
  finished: string | null;
  items: JournalItem[];
  /** The tunnels re-pointed with the move (absent in a journal written before they were). */
  tunnels?: JournalTunnel[];
}

export function journalDir(stateDir: string): string {
  return join(stateDir, 'moves');
}

export function journalPath(stateDir: string, to: string): string {
  return join(journalDir(stateDir), `${fileSafe(to)}.json`);
}

/** The journal of a move to `to`, or undefined when there is none. A damaged one is an error, never silently restarted. */
export async function readJournal(path: string): Promise<Journal | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new UsageError(`cannot read the move journal ${path}: ${(error as Error).message}`);
  }
  try {
    const j = JSON.parse(text) as Journal;
    if (j.version !== 1 || !Array.isArray(j.items)) throw new Error('not a version 1 journal');
    return j;
  } catch (error) {
    throw new UsageError(`the move journal ${path} is damaged: ${(error as Error).message}`, `its previous state is in ${path}.bak`);
  }
}

export class JournalWriter {
  constructor(
    readonly path: string,
    readonly journal: Journal,
  ) {}

  item(kind: 'service' | 'cluster', name: string): JournalItem | undefined {
    return this.journal.items.find((i) => i.kind === kind && i.name === name);
  }

  async save(): Promise<void> {
    await mkdir(join(this.path, '..'), { recursive: true, mode: 0o700 });
    await writeFileSafely(this.path, `${JSON.stringify(this.journal, null, 2)}\n`, { mode: 0o600 });
  }

  /** Records a step done (and the item's new state), durably, before the next step starts. */
  async step(item: JournalItem, step: string, change: Partial<Pick<JournalItem, 'state' | 'release' | 'reason' | 'databases'>> = {}): Promise<void> {
    if (!item.done.includes(step)) item.done.push(step);
    Object.assign(item, change, { at: new Date().toISOString() });
    await this.save();
  }

  async set(item: JournalItem, change: Partial<Pick<JournalItem, 'state' | 'release' | 'reason' | 'done'>>): Promise<void> {
    Object.assign(item, change, { at: new Date().toISOString() });
    await this.save();
  }
}

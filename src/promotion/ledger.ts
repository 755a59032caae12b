/**
 * The release ledger (docs/promotion.md#the-ledger): `release-ledger.jsonl` under the root, one
 * per fleet, committed with the code. One JSON object per line, appended only:
 *
 *   {"seq":N,"time":…,"prev":<hash of line N-1>,"kind":…,…,"hash":<sha256 of this line without its hash>}
 *
 * `hash` is the last field, over the line's own bytes with `,"hash":"…"` taken out; `prev`
 * chains each line to the one before (64 zeros for the first). Changing any byte of a line
 * breaks its own hash; removing or reordering lines breaks `seq` and `prev`.
 *
 * A record is appended only after what it claims happened, as one write of the whole line,
 * fsync'ed, under a lock file beside the ledger (two commands never interleave or chain to the
 * same head). A line a crash cut short (no newline at its end) claims nothing: the next append
 * removes it first.
 */
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, ftruncateSync, openSync, readFileSync, readSync, fstatSync, unlinkSync, writeSync, constants } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { isProcessAlive } from '../process.js';

export const LEDGER_FILE = 'release-ledger.jsonl';
export const GENESIS = '0'.repeat(64);

export type LedgerKind = 'deploy' | 'rollback' | 'revert' | 'observation' | 'approval' | 'promotion';

/** What every record carries; the kinds add their own fields (docs/promotion.md). */
export interface LedgerRecord {
  seq: number;
  time: string;
  prev: string;
  kind: LedgerKind;
  project: string;
  env: string;
  [field: string]: unknown;
  hash: string;
}

export type NewRecord = Omit<LedgerRecord, 'seq' | 'time' | 'prev' | 'hash'> & { time?: string };

export const ledgerPath = (root: string) => join(root, LEDGER_FILE);

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
const HASH_TAIL = /,"hash":"([0-9a-f]{64})"\}$/;

/** The line for a record: its fields in order, then its hash. */
export function sealLine(fields: Omit<LedgerRecord, 'hash'>): string {
  const body = JSON.stringify(fields);
  return `${body.slice(0, -1)},"hash":"${sha256(body)}"}`;
}

export interface LedgerBreak {
  line: number;
  message: string;
}

export interface ReadLedger {
  records: LedgerRecord[];
  /** The first line that does not hold (its number, 1-based, and why); records stop before it. */
  broken?: LedgerBreak;
  /** The hash a new record chains to. */
  head: string;
  /** A last line without its newline: a write a crash cut short. */
  torn: boolean;
}

/** Reads and checks the chain: each line's own hash, its seq and its link to the line before. */
export function parseLedger(text: string): ReadLedger {
  const lines = text.split('\n');
  const torn = text.length > 0 && !text.endsWith('\n');
  if (!torn) lines.pop();
  const records: LedgerRecord[] = [];
  let head = GENESIS;
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    const line = lines[i]!;
    const fail = (message: string): ReadLedger => ({ records, broken: { line: n, message }, head, torn });
    if (torn && i === lines.length - 1) return fail(`line ${n} is incomplete (a write cut short); the next record replaces it`);
    const tail = HASH_TAIL.exec(line);
    if (tail === null) return fail(`line ${n} does not end with its hash`);
    const body = `${line.slice(0, tail.index)}}`;
    if (sha256(body) !== tail[1]) return fail(`line ${n} was changed: its content does not match its hash`);
    let record: LedgerRecord;
    try {
      record = JSON.parse(line) as LedgerRecord;
    } catch {
      return fail(`line ${n} is not JSON`);
    }
    if (record.seq !== n) return fail(`line ${n} says it is record ${String(record.seq)}: a line was removed, added or moved`);
    if (record.prev !== head) return fail(`line ${n} does not follow line ${n - 1}: a line before it was removed, added or replaced`);
    if (typeof record.kind !== 'string' || typeof record.project !== 'string' || typeof record.env !== 'string' || typeof record.time !== 'string')
      return fail(`line ${n} lacks kind, project, env or time`);
    records.push(record);
    head = tail[1]!;
  }
  return { records, head, torn };
}

export function readLedger(root: string): ReadLedger {
  let text: string;
  try {
    text = readFileSync(ledgerPath(root), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { records: [], head: GENESIS, torn: false };
    throw error;
  }
  return parseLedger(text);
}

export class LedgerError extends Error {}

const LOCK_STALE_MS = 5 * 60_000;

/** An exclusive lock file beside the ledger (O_EXCL); one left by a process that is gone is taken over. */
function lock(root: string): () => void {
  const path = `${ledgerPath(root)}.lock`;
  const mine = `${process.pid}@${hostname()}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const fd = openSync(path, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o644);
      writeSync(fd, `${mine}\n`);
      closeSync(fd);
      return () => {
        try {
          if (readFileSync(path, 'utf8').trim() === mine) unlinkSync(path);
        } catch {
          /* already gone */
        }
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    let holder = '';
    let age = 0;
    try {
      holder = readFileSync(path, 'utf8').trim();
      const fd = openSync(path, 'r');
      age = Date.now() - fstatSync(fd).mtimeMs;
      closeSync(fd);
    } catch {
      continue;
    }
    const [pid, machine] = holder.split('@');
    const gone = machine === hostname() && !isProcessAlive(Number(pid));
    if (gone || age > LOCK_STALE_MS) {
      try {
        unlinkSync(path);
      } catch {
        /* someone else took it over */
      }
      continue;
    }
    if (Date.now() > deadline) throw new LedgerError(`the ledger is locked by ${holder} (${path})`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
  }
}

/** Runs `f` holding the ledger's lock (the pending promotions beside it are edited only so). */
export function withLedgerLock<T>(root: string, f: () => T): T {
  const unlock = lock(root);
  try {
    return f();
  } finally {
    unlock();
  }
}

/**
 * Appends records (after what they claim happened), chained to the head, in one write, fsync'ed.
 * `build` sees the ledger as it is under the lock (an approval signs its head). Refuses to
 * extend a ledger whose chain is broken: `ledger verify` names the line.
 */
export function appendRecords(root: string, build: (ledger: ReadLedger) => NewRecord[]): LedgerRecord[] {
  const unlock = lock(root);
  try {
    const ledger = readLedger(root);
    if (ledger.broken !== undefined && !(ledger.torn && ledger.broken.line === ledger.records.length + 1))
      throw new LedgerError(`${LEDGER_FILE}: ${ledger.broken.message}; nothing appended (run \`manage-apps ledger verify\`)`);
    const fresh = build(ledger);
    if (fresh.length === 0) return [];
    let head = ledger.head;
    let seq = ledger.records.length;
    const sealed: LedgerRecord[] = [];
    let text = '';
    for (const r of fresh) {
      const { time, ...rest } = r;
      const fields = { seq: ++seq, time: time ?? new Date().toISOString(), prev: head, ...rest } as Omit<LedgerRecord, 'hash'>;
      const line = sealLine(fields);
      head = HASH_TAIL.exec(line)![1]!;
      sealed.push({ ...fields, hash: head } as LedgerRecord);
      text += `${line}\n`;
    }
    const fd = openSync(ledgerPath(root), constants.O_CREAT | constants.O_RDWR, 0o644);
    try {
      let size = fstatSync(fd).size;
      if (ledger.torn) {
        // Cut the torn tail back to the last whole line.
        const buf = Buffer.alloc(size);
        readSync(fd, buf, 0, size, 0);
        size = buf.lastIndexOf(0x0a) + 1;
        ftruncateSync(fd, size);
      }
      const bytes = Buffer.from(text, 'utf8');
      let off = 0;
      while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off, size + off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    return sealed;
  } finally {
    unlock();
  }
}

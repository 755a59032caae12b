/** The shapes of `move` and `drain --execute` (docs/move.md, docs/json.md). */

/** One minimal edit of a file of the repository: one value set, every other byte kept. */
export interface FileEdit {
  /** Relative to the root (a manifest) or the inventory's own path. */
  file: string;
  /** The value's path in the file ("service.host", "clusters.main.host", "tunnels.0.to"). */
  field: string;
  from: string;
  to: string;
  /** The line that changes (1-based), before and after. */
  line: number;
  before: string;
  after: string;
}

/** Where an item stands in the journal: pending (nothing done), moving (some steps done), moved, returned (aborted back to its source), failed (a step failed: the source still serves). */
export type ItemState = 'pending' | 'moving' | 'moved' | 'returned' | 'failed';

export interface MoveItem {
  kind: 'service' | 'cluster';
  name: string;
  from: string;
  to: string;
  /** How it moves: a release shipped and started beside the old one (a scheduled job: its timer handed over; a swap service: both of its edge upstreams re-pointed); null: nothing to move. */
  how: 'release' | 'job' | 'swap' | 'compose' | 'database' | null;
  /** What is done, in order, in words. */
  steps: string[];
  /** The edges whose route is switched (host names). */
  edges: string[];
  edits: FileEdit[];
  /** Why this item cannot be moved by this command (the move stops before its wave). */
  blocked: string | null;
  state: ItemState;
  /** Journal steps done so far. */
  done: string[];
  /** The release that ran on the source and was shipped (its id there), once known. */
  release: string | null;
  /** Why it failed (the last attempt), when it did. */
  reason: string | null;
  /** A cluster: the services that write its databases (stopped at the freeze, moved in its wave). */
  writers: string[];
  /** A cluster: each database restored on the target, its tables' exact row counts on both sides (once restored). */
  databases: MovedDatabase[] | null;
}

export interface MovedDatabase {
  name: string;
  /** The dump's size as streamed, and the time from the dump's start to the restore's end. */
  bytes: number;
  seconds: number;
  tables: { name: string; source: number; target: number | null }[];
}

export interface MoveWave {
  wave: number;
  label: string;
  items: MoveItem[];
}

export interface MoveTunnelEdit {
  name: string;
  from: string;
  to: string;
  suggestion: string;
  /** Its ends once re-pointed; null when this command does not re-point it (the suggestion says why). */
  after: { from: string; to: string } | null;
  /** The wave after which it is re-pointed (the wave of what it carries, else the last). */
  wave: number | null;
  /** What is done, in order, in words. */
  steps: string[];
  state: ItemState;
  /** Journal steps done so far (`down`, `stale` (a recovery only), `up`, `edit`). */
  done: string[];
  reason: string | null;
}

/** A tunnel re-pointed by a move, in its journal: its ends before and after. */
export interface JournalTunnel {
  name: string;
  from: string;
  to: string;
  after: { from: string; to: string };
  wave: number;
  state: ItemState;
  done: string[];
  reason: string | null;
  at: string;
}

export interface MoveDocument {
  /** move: the services named; drain: everything on one host. */
  mode: 'move' | 'drain';
  action: 'plan' | 'execute' | 'abort';
  dry_run: boolean;
  to: string;
  /** The journal on this machine (absolute path). */
  journal: string;
  waves: MoveWave[];
  /** Every edit of the repository, in the order they are written. */
  edits: FileEdit[];
  tunnels: MoveTunnelEdit[];
  warnings: string[];
  summary: { items: number; moved: number; returned: number; failed: number; pending: number; blocked: number };
  /** From the first step to the last service healthy on the target (execute), in seconds. */
  elapsed_s: number | null;
}

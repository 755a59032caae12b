/** The shape of `recover` (docs/recover.md, docs/json.md#recover). */
import type { FileEdit, MoveItem, MoveTunnelEdit } from '../move/types.js';

/** Where an item's bits or data come from, when the host it ran on is gone. */
export interface RecoverSource {
  /** kept-release: the copy deploy kept on this machine; backup: the newest cataloged backup on the backup's host; none: nowhere. */
  kind: 'kept-release' | 'backup' | 'none';
  /** In words, for the plan. */
  detail: string;
  /** kept-release: the release id (deployed under the same id) and the archive on this machine. */
  release?: string;
  file?: string;
  /** kept-release of a compose service: the image digest (repo@sha256:…) it passed its gate with, pulled by that digest on the target. */
  image?: string;
  /** backup: the host that keeps it, the backup's id and time (null until the catalog was read). */
  backup_host?: string;
  backup_id?: string | null;
  backup_time?: string | null;
}

export interface RecoverItem extends MoveItem {
  source: RecoverSource;
}

export interface RecoverWave {
  wave: number;
  label: string;
  items: RecoverItem[];
}

/** Achieved against declared: null where nothing is declared or nothing was measured yet. */
export interface Objective {
  achieved_s: number | null;
  declared: string | null;
  met: boolean | null;
}

export interface RecoverReport {
  /** The recovery's start (the first `recover --execute` of this journal) and when the last service passed its gate there. */
  started: string;
  healthy_at: string | null;
  /** From the start to every recovered service healthy on the target. */
  rto: Objective;
  /** The age of the restored backups at the start (the data written after them is lost): the largest one. */
  rpo: Objective;
  backups: { cluster: string; backup_id: string; backup_time: string; age_s: number }[];
  /** The evidence file the record was appended to (once everything is recovered). */
  evidence: string | null;
}

export interface RecoverDocument {
  action: 'plan' | 'execute' | 'abort';
  dry_run: boolean;
  /** The host that is gone, and the host everything comes back on. */
  lost: string;
  to: string;
  journal: string;
  waves: RecoverWave[];
  edits: FileEdit[];
  /** The inventory's tunnels that ended on the lost host, re-pointed at the target (move's shape). */
  tunnels: MoveTunnelEdit[];
  warnings: string[];
  summary: { items: number; recovered: number; returned: number; failed: number; pending: number; blocked: number };
  report: RecoverReport | null;
}

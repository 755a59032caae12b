/**
 * Backup evidence: `backup-evidence.jsonl` under the root, one JSON line per `backups run` and
 * per `backups drill` (shapes in docs/data.md). `backups` and `impact` judge the declared
 * objectives against it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { durationMs } from '../fleet/model.js';

export const EVIDENCE_FILE = 'backup-evidence.jsonl';

export interface EvidenceRecord {
  kind: 'backup' | 'drill';
  time: string;
  cluster: string;
  ok: boolean;
  reason?: string;
  backup_id?: string | null;
  backup_time?: string | null;
  achieved?: { rpo_s: number | null; rto_s: number | null };
  met?: { rpo: boolean | null; rto: boolean | null };
}

/** Every well-formed record (a torn last line from a killed run is skipped). */
export function readEvidence(root: string): EvidenceRecord[] {
  let text: string;
  try {
    text = readFileSync(join(root, EVIDENCE_FILE), 'utf8');
  } catch {
    return [];
  }
  const out: EvidenceRecord[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line) as EvidenceRecord;
      if ((r.kind === 'backup' || r.kind === 'drill') && typeof r.cluster === 'string' && typeof r.time === 'string') out.push(r);
    } catch {
      /* a torn line */
    }
  }
  return out;
}

/** A `recover` of a lost host (ops/recover): the measured recovery, against what was declared. */
export interface RecoveryRecord {
  kind: 'recover';
  time: string;
  host: string;
  to: string;
  ok: boolean;
  achieved: { rto_s: number | null; rpo_s: number | null };
  declared: { rto: string | null; rpo: string | null };
}

/** Every well-formed `recover` record, oldest first. */
export function readRecoveries(root: string): RecoveryRecord[] {
  let text: string;
  try {
    text = readFileSync(join(root, EVIDENCE_FILE), 'utf8');
  } catch {
    return [];
  }
  const out: RecoveryRecord[] = [];
  for (const line of text.split('\n')) {
    if (!line.includes('"recover"')) continue;
    try {
      const r = JSON.parse(line) as RecoveryRecord;
      if (r.kind === 'recover' && typeof r.host === 'string' && typeof r.time === 'string' && typeof r.achieved === 'object' && r.achieved !== null)
        out.push(r);
    } catch {
      /* a torn line */
    }
  }
  return out;
}

const WORDS: Record<string, string> = { daily: '1d', weekly: '7d', monthly: '31d', quarterly: '92d', yearly: '366d' };

/** A declared drill interval in ms ("7d", "weekly", "monthly", …), or undefined when none is declared or it is not one. */
export function drillIntervalMs(drill: string | null | undefined): number | undefined {
  if (!drill) return undefined;
  const d = WORDS[drill.toLowerCase()] ?? drill;
  return /^\d+(ms|s|m|h|d)$/.test(d) ? durationMs(d, 0) : undefined;
}

export type DrillVerdict = 'ok' | 'stale' | 'failed' | 'missed' | 'never' | 'not-declared';

export interface DrillStatus {
  cluster: string;
  verdict: DrillVerdict;
  last_drill: {
    time: string;
    ok: boolean;
    backup_id: string | null;
    achieved_rpo_s: number | null;
    achieved_rto_s: number | null;
    met: { rpo: boolean | null; rto: boolean | null };
    reason?: string;
  } | null;
  last_run: { time: string; ok: boolean; backup_id: string | null; reason?: string } | null;
  declared: { rpo: string | null; rto: string | null; drill: string | null };
  message: string;
}

/** A cluster's drill verdict against its policy; `bad` verdicts make `backups` exit 1. */
export function drillStatus(
  cluster: string,
  policy: { rpo: string; rto: string; drill: string | null } | null,
  evidence: readonly EvidenceRecord[],
  now = Date.now(),
): DrillStatus {
  const mine = evidence.filter((r) => r.cluster === cluster);
  const drill = mine.filter((r) => r.kind === 'drill').pop();
  const run = mine.filter((r) => r.kind === 'backup').pop();
  const interval = drillIntervalMs(policy?.drill);
  const status: DrillStatus = {
    cluster,
    verdict: 'not-declared',
    last_drill: drill
      ? {
          time: drill.time,
          ok: drill.ok,
          backup_id: drill.backup_id ?? null,
          achieved_rpo_s: drill.achieved?.rpo_s ?? null,
          achieved_rto_s: drill.achieved?.rto_s ?? null,
          met: drill.met ?? { rpo: null, rto: null },
          ...(drill.reason ? { reason: drill.reason } : {}),
        }
      : null,
    last_run: run ? { time: run.time, ok: run.ok, backup_id: run.backup_id ?? null, ...(run.reason ? { reason: run.reason } : {}) } : null,
    declared: { rpo: policy?.rpo ?? null, rto: policy?.rto ?? null, drill: policy?.drill ?? null },
    message: '',
  };
  if (drill && !drill.ok)
    [status.verdict, status.message] = ['failed', `the last drill (${drill.time}) failed: ${drill.reason ?? 'see the evidence'}`];
  else if (drill && (drill.met?.rpo === false || drill.met?.rto === false))
    [status.verdict, status.message] = [
      'missed',
      `the last drill missed its targets: RPO ${drill.achieved?.rpo_s}s vs ${policy?.rpo}, RTO ${drill.achieved?.rto_s}s vs ${policy?.rto}`,
    ];
  else if (interval !== undefined && !drill)
    [status.verdict, status.message] = ['never', `no drill yet; the policy asks for one every ${policy?.drill}`];
  else if (interval !== undefined && drill && now - Date.parse(drill.time) > interval)
    [status.verdict, status.message] = ['stale', `the last drill (${drill.time}) is older than the declared interval (${policy?.drill})`];
  else if (drill) [status.verdict, status.message] = ['ok', `drilled ${drill.time}: RPO ${drill.achieved?.rpo_s}s, RTO ${drill.achieved?.rto_s}s`];
  else status.message = 'never drilled (no drill interval declared)';
  return status;
}

export const badDrill = (s: DrillStatus): boolean =>
  s.verdict === 'failed' || s.verdict === 'missed' || s.verdict === 'stale' || s.verdict === 'never';

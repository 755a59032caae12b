/**
 * The runs the installed backup timer made, read on the cluster host: `status` (inside the
 * host's one round trip, as a StatusExtra) and `backups --live` show the last run (when, ok or
 * failed and why, size) and whether the newest good backup is older than the declared RPO.
 *
 * What the host keeps (backup-scripts.ts): `running.json` when a run starts, `last.json` when it
 * ends (ok or not, with the reason), `last-ok.json` when it succeeded; and systemd's own view of
 * the unit and the timer. A run that started but never wrote its end (killed, host crashed) is
 * a failed run, with systemd's result as the reason.
 */
import type { Fleet } from '../fleet/model.js';
import type { Ops } from '../ops/context.js';
import { collectStatus, type StatusExtra } from '../ops/service-status.js';
import { records } from '../runtime/shell.js';
import { quote } from '../transport/quote.js';
import type { RunResult } from '../transport/types.js';
import { periodSeconds, planBackups, type BackupPlan, type CatalogEntry } from './backup.js';
import { STATE_DIR } from './backup-scripts.js';

export type BackupRunVerdict = 'ok' | 'running' | 'failed' | 'overdue' | 'never' | 'unreachable';

export interface BackupRunStatus {
  cluster: string;
  host: string;
  target: string | null;
  timer: { unit: string; installed: boolean; active: boolean; period_s: number | null; next: string | null };
  /** The newest run, whatever its outcome; null when none ever ran. */
  last_run: {
    id: string | null;
    time: string | null;
    finished: string | null;
    outcome: 'ok' | 'failed' | 'running';
    reason?: string;
    bytes: number | null;
    databases: number | null;
    duration_ms: number | null;
  } | null;
  /** The newest good backup and its age. */
  last_ok: { id: string; time: string; age_s: number; bytes: number } | null;
  declared_rpo: string | null;
  /** The newest good backup is older than the declared RPO plus the grace (a run's time and the timer's slack). */
  overdue: boolean;
  verdict: BackupRunVerdict;
  message: string;
}

/** Verdicts that make `status` and `backups --live` exit 1. */
export const badRun = (r: BackupRunStatus): boolean =>
  r.verdict === 'failed' || r.verdict === 'overdue' || r.verdict === 'never' || r.verdict === 'unreachable';

const SERVICE_PROPS = ['ActiveState', 'Result', 'ExecMainStartTimestamp', 'ExecMainExitTimestamp', 'ExecMainStatus'];
const TIMER_PROPS = ['LoadState', 'ActiveState', 'NextElapseUSecRealtime'];

/** The script part for one host: per cluster, systemd's view of its unit and timer, and the three run records. */
export function backupRunsPart(clusters: readonly string[]): string {
  const show = (unit: string, props: string[], kind: string) =>
    `{ systemctl show ${quote(unit)} ${props.map((p) => `-p ${p}`).join(' ')} --timestamp=unix 2>/dev/null || systemctl show ${quote(unit)} ${props.map((p) => `-p ${p}`).join(' ')} 2>/dev/null; } | while IFS= read -r l; do printf '@@${kind}\\t%s\\t%s\\n' ${quote(unitCluster(unit))} "$l"; done`;
  const lines = clusters.flatMap((c) => [
    show(`manage-apps-backup@${c}.timer`, TIMER_PROPS, 'bkt'),
    show(`manage-apps-backup@${c}.service`, SERVICE_PROPS, 'bks'),
    ...['running', 'last', 'last-ok'].map(
      (f) =>
        `f=${quote(`${STATE_DIR}/${c}/${f}.json`)}; if ma_bk_pg test -f "$f"; then printf '@@bkf\\t%s\\t%s\\t%s\\n' ${quote(c)} ${f} "$(ma_bk_pg head -c 65536 "$f" | tr -d '\\t\\r\\n')"; fi`,
    ),
  ]);
  // The state files are the postgres account's (0700), in its directory: read as postgres (runuser as
  // root, sudo -n -u postgres for a non-root ssh user), so a link postgres put there reads nothing of root's.
  return `\nma_backup_runs() {\nma_bk_pg() { if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else (cd / && sudo -n -u postgres "$@"); fi; }\n${lines.join('\n')}\n}\nma_backup_runs 2>/dev/null\n`;
}

const unitCluster = (unit: string) => unit.replace(/^manage-apps-backup@/, '').replace(/\.(timer|service)$/, '');

interface HostRunState {
  timer: Map<string, string>;
  service: Map<string, string>;
  files: Map<string, string>;
}

export function parseBackupRuns(output: string): Map<string, HostRunState> {
  const out = new Map<string, HostRunState>();
  const of = (c: string) => {
    let s = out.get(c);
    if (!s) out.set(c, (s = { timer: new Map(), service: new Map(), files: new Map() }));
    return s;
  };
  for (const [kind, cluster, a, ...rest] of records(output)) {
    if (cluster === undefined || a === undefined) continue;
    if (kind === 'bkt' || kind === 'bks') {
      const i = a.indexOf('=');
      if (i > 0) (kind === 'bkt' ? of(cluster).timer : of(cluster).service).set(a.slice(0, i), a.slice(i + 1));
    } else if (kind === 'bkf') of(cluster).files.set(a, rest.join('\t'));
  }
  return out;
}

/** systemd timestamps: `@1732590000` with --timestamp=unix; anything else (or "n/a", empty) is unknown. */
const unixTime = (v: string | undefined): number | undefined => (v && /^@\d+$/.test(v) ? Number(v.slice(1)) * 1000 : undefined);
const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z'));

function parseJson<T>(text: string | undefined): T | undefined {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}

const bytesOf = (e: CatalogEntry | undefined) => (e?.databases ? e.databases.reduce((n, d) => n + (d.bytes ?? 0), 0) : null);

/** One cluster's last run and its verdict against the declared RPO. */
export function judgeRuns(plan: BackupPlan, state: HostRunState | undefined, unreachable: string | undefined, now = Date.now()): BackupRunStatus {
  const c = plan.cluster.name;
  const period = periodSeconds(plan.policy) ?? null;
  const row: BackupRunStatus = {
    cluster: c,
    host: plan.host.name,
    target: plan.target?.name ?? null,
    timer: { unit: `manage-apps-backup@${c}.timer`, installed: false, active: false, period_s: period, next: null },
    last_run: null,
    last_ok: null,
    declared_rpo: plan.policy?.rpo ?? null,
    overdue: false,
    verdict: 'never',
    message: '',
  };
  if (unreachable !== undefined) return { ...row, verdict: 'unreachable', message: `${plan.host.name} unreachable: ${unreachable}` };
  const timer = state?.timer ?? new Map<string, string>();
  const service = state?.service ?? new Map<string, string>();
  row.timer.installed = timer.get('LoadState') === 'loaded';
  row.timer.active = timer.get('ActiveState') === 'active';
  row.timer.next = iso(unixTime(timer.get('NextElapseUSecRealtime')));
  const running = parseJson<{ id: string; time: string }>(state?.files.get('running'));
  const last = parseJson<CatalogEntry & { finished?: string }>(state?.files.get('last'));
  const lastOk = parseJson<CatalogEntry>(state?.files.get('last-ok')) ?? (last?.ok ? last : undefined);
  const active = service.get('ActiveState');
  const result = service.get('Result');
  // The unit's last start left no record of its own (it failed before the program wrote running.json).
  const unitStart = unixTime(service.get('ExecMainStartTimestamp'));
  const recordTime = Date.parse(running?.time ?? last?.time ?? '');
  const unrecorded =
    result !== undefined && result !== 'success' && unitStart !== undefined && (Number.isNaN(recordTime) || unitStart > recordTime + 10_000);
  if (active === 'active' || active === 'activating' || active === 'deactivating') {
    row.last_run = {
      id: running?.id ?? null,
      time: running?.time ?? iso(unixTime(service.get('ExecMainStartTimestamp'))),
      finished: null,
      outcome: 'running',
      bytes: null,
      databases: null,
      duration_ms: null,
    };
  } else if (unrecorded) {
    // The unit ran and failed before the program could write anything (not installed right, no config).
    row.last_run = {
      id: null,
      time: iso(unitStart),
      finished: iso(unixTime(service.get('ExecMainExitTimestamp'))),
      outcome: 'failed',
      reason: `the unit failed (systemd: ${result}) before the backup started; journalctl -u manage-apps-backup@${c}.service`,
      bytes: null,
      databases: null,
      duration_ms: null,
    };
  } else if (running && running.id !== last?.id) {
    // It started and never wrote its end: killed, or the host went down under it.
    row.last_run = {
      id: running.id,
      time: running.time,
      finished: iso(unixTime(service.get('ExecMainExitTimestamp'))),
      outcome: 'failed',
      reason: `the run stopped before it finished (systemd: ${result ?? 'no result'}${service.get('ExecMainStatus') && service.get('ExecMainStatus') !== '0' ? `, status ${service.get('ExecMainStatus')}` : ''}); nothing was cataloged`,
      bytes: null,
      databases: null,
      duration_ms: null,
    };
  } else if (last) {
    row.last_run = {
      id: last.id,
      time: last.time,
      finished: last.finished ?? null,
      outcome: last.ok ? 'ok' : 'failed',
      ...(last.ok ? {} : { reason: last.error ?? 'failed' }),
      bytes: bytesOf(last),
      databases: last.databases?.length ?? null,
      duration_ms: last.duration_ms ?? null,
    };
  }
  if (lastOk?.ok && lastOk.time) {
    row.last_ok = {
      id: lastOk.id,
      time: lastOk.time,
      age_s: Math.max(0, Math.round((now - Date.parse(lastOk.time)) / 1000)),
      bytes: bytesOf(lastOk) ?? 0,
    };
  }
  // The timer starts a run every RPO; a backup may be that old plus the time a run takes plus the timer's slack.
  const rpoS = period;
  if (rpoS !== null && row.last_ok) {
    const grace = Math.max(60, Math.round(rpoS / 10)) + Math.round((lastOk?.duration_ms ?? 0) / 1000);
    row.overdue = row.last_ok.age_s > rpoS + grace;
  }
  const lr = row.last_run;
  if (lr?.outcome === 'failed')
    [row.verdict, row.message] = [
      'failed',
      `the last run${lr.time ? ` (${lr.time})` : ''} failed: ${lr.reason}${row.last_ok ? `; the newest good backup is ${row.last_ok.id} (${ago(row.last_ok.age_s)} old)` : ''}`,
    ];
  else if (row.overdue)
    [row.verdict, row.message] = [
      'overdue',
      `the newest good backup (${row.last_ok!.time}) is ${ago(row.last_ok!.age_s)} old, older than the declared RPO (${row.declared_rpo})${row.timer.installed ? '' : `: no timer installed (manage-apps backups install ${c})`}`,
    ];
  else if (lr?.outcome === 'running') [row.verdict, row.message] = ['running', `a run is under way (started ${lr.time ?? '?'})`];
  else if (!row.last_ok)
    [row.verdict, row.message] = [
      'never',
      `no backup of ${c} has run on ${plan.host.name} yet${row.timer.installed ? '' : ` and no timer is installed (manage-apps backups install ${c})`}`,
    ];
  else [row.verdict, row.message] = ['ok', `backed up ${row.last_ok.time} (${ago(row.last_ok.age_s)} ago), ${row.last_ok.bytes} bytes`];
  return row;
}

export function ago(s: number): string {
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

export interface BackupRunCollector {
  extras: Map<string, StatusExtra[]>;
  report(): BackupRunStatus[];
}

/**
 * The clusters to read (driven engines, a usable backup plan), as status extras per cluster
 * host. `onlyInstalled`: report only clusters whose timer is installed (status).
 */
export function backupRunCollector(
  fleet: Fleet,
  options: { hosts?: ReadonlySet<string>; onlyInstalled?: boolean; now?: () => number } = {},
): BackupRunCollector {
  const plans = planBackups(fleet, []).plans.filter(
    (p) => p.problem === undefined && (options.hosts === undefined || options.hosts.has(p.host.name)),
  );
  const byHost = new Map<string, BackupPlan[]>();
  for (const p of plans) byHost.set(p.host.name, [...(byHost.get(p.host.name) ?? []), p]);
  const results = new Map<string, { unreachable?: string; states: Map<string, HostRunState> }>();
  const extras = new Map<string, StatusExtra[]>();
  for (const [host, list] of byHost) {
    extras.set(host, [
      {
        script: backupRunsPart(list.map((p) => p.cluster.name)),
        onResult: (r: RunResult) =>
          results.set(host, r.unreachable !== undefined ? { unreachable: r.unreachable, states: new Map() } : { states: parseBackupRuns(r.stdout) }),
      },
    ]);
  }
  return {
    extras,
    report: () =>
      plans
        .map((p) => {
          const got = results.get(p.host.name);
          return judgeRuns(p, got?.states.get(p.cluster.name), got === undefined ? 'not asked' : got.unreachable, options.now?.() ?? Date.now());
        })
        .filter((r) => !options.onlyInstalled || r.timer.installed || r.verdict === 'unreachable')
        .sort((a, b) => a.cluster.localeCompare(b.cluster)),
  };
}

/** `backups --live`: every cluster with a usable backup plan, read on its host (one round trip per host, in parallel). */
export async function observeBackupRuns(fleet: Fleet, ops: Ops): Promise<BackupRunStatus[]> {
  const collector = backupRunCollector(fleet);
  await collectStatus(ops, [], ops.settings.commandTimeoutMs, collector.extras);
  return collector.report();
}

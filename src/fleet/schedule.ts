/**
 * service.schedule (infra/v2): a service that runs on a calendar instead of standing (docs/jobs.md).
 *
 *   schedule:
 *     calendar: hourly            # simple words, or any systemd calendar expression
 *     timeout: 50m                # a run still going after this is stopped (default 1h)
 *     catch_up: true              # run once after downtime when a due run was missed (Persistent=)
 *     randomized_delay: 5m        # spread the start by up to this much (RandomizedDelaySec=)
 *     grace: 15m                  # overdue once the last success is older than the period plus this
 *
 * The words are turned into a systemd calendar expression here; whether systemd accepts it is
 * checked by `validate` with the real `systemd-analyze calendar` (checks/schedules.ts).
 */
import type { ManifestSchedule } from '../manifest/types.js';

export const DEFAULT_JOB_TIMEOUT_S = 3600;

export interface JobSchedule {
  /** As written in the manifest. */
  calendar: string;
  /** The systemd calendar expression (OnCalendar=). */
  onCalendar: string;
  /** TimeoutStartSec= of the run. */
  timeoutS: number;
  /** Persistent=: a due run missed while the host was down runs once when it is back. */
  catchUp: boolean;
  /** RandomizedDelaySec= (0: none). */
  randomizedDelayS: number;
  /** How late the last success may be beyond the period before status says overdue. */
  graceS: number;
}

/** A calendar word that is not a systemd expression; `hint` says what would be. */
export class ScheduleWordsError extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
    this.name = 'ScheduleWordsError';
  }
}

const TIME = /^([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$/;
const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const pad = (n: string) => n.padStart(2, '0');

/**
 * The simple words manage-apps reads besides systemd's own expressions:
 *   `daily 03:00`, `weekly mon 04:30`, `hourly :15`, `every 10s`, `every 5m`, `every 2h`.
 * systemd's own words (hourly, daily, weekly, monthly, …) and expressions pass unchanged.
 */
export function onCalendarOf(calendar: string): string {
  const words = calendar.trim().split(/\s+/);
  const [first, second, third] = words;
  const lower = first?.toLowerCase();
  if (lower === 'daily' && words.length === 2) {
    const t = TIME.exec(second!);
    if (!t) throw new ScheduleWordsError(`"${second}" is not a time of day`, 'write daily HH:MM, e.g. daily 03:00');
    return `*-*-* ${pad(t[1]!)}:${t[2]}:${t[3] ?? '00'}`;
  }
  if (lower === 'weekly' && words.length === 3) {
    const day = second!.toLowerCase().slice(0, 3);
    const t = TIME.exec(third!);
    if (!DAYS.includes(day) || !t)
      throw new ScheduleWordsError(`"${calendar}" is not a day and a time`, 'write weekly DAY HH:MM, e.g. weekly mon 04:30');
    return `${day[0]!.toUpperCase()}${day.slice(1)} *-*-* ${pad(t[1]!)}:${t[2]}:${t[3] ?? '00'}`;
  }
  if (lower === 'hourly' && words.length === 2) {
    const m = /^:([0-5]\d)$/.exec(second!);
    if (!m) throw new ScheduleWordsError(`"${second}" is not a minute past the hour`, 'write hourly :MM, e.g. hourly :15');
    return `*-*-* *:${m[1]}:00`;
  }
  if (lower === 'every' && words.length === 2) {
    const m = /^(\d+)(s|m|h)$/.exec(second!);
    const n = m ? Number(m[1]) : NaN;
    const within = m?.[2] === 'h' ? 24 : 60;
    if (!m || n < 1 || within % n !== 0)
      throw new ScheduleWordsError(
        `"every ${second}" does not divide ${m?.[2] === 'h' ? 'a day' : m?.[2] === 'm' ? 'an hour' : 'a minute'} evenly`,
        'every Ns, every Nm (N divides 60) or every Nh (N divides 24); or a systemd calendar expression such as *:0/20',
      );
    if (m[2] === 's') return `*-*-* *:*:00/${n}`;
    if (m[2] === 'm') return `*-*-* *:00/${n}:00`;
    return `*-*-* 00/${n}:00:00`;
  }
  return calendar.trim();
}

/** Seconds from a manifest duration (a number of seconds, or "90s", "5m", "1h", "1d"); undefined when absent. */
export function seconds(value: number | string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number') return value;
  const m = /^(\d+)(s|m|h|d)$/.exec(value.trim());
  if (!m) return undefined;
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'h' | 'd'];
}

/**
 * The resolved schedule. Words it cannot read pass as written into `onCalendar`: the fleet model
 * keeps the service and `validate` reports them, located (`onCalendarOf` says why).
 */
export function jobSchedule(s: ManifestSchedule): JobSchedule {
  const timeoutS = seconds(s.timeout) ?? DEFAULT_JOB_TIMEOUT_S;
  const randomizedDelayS = seconds(s.randomized_delay) ?? 0;
  let onCalendar: string;
  try {
    onCalendar = onCalendarOf(s.calendar);
  } catch (error) {
    if (!(error instanceof ScheduleWordsError)) throw error;
    onCalendar = s.calendar;
  }
  return {
    calendar: s.calendar,
    onCalendar,
    timeoutS,
    catchUp: s.catch_up ?? true,
    randomizedDelayS,
    // A run may start up to the random delay late and take up to its timeout.
    graceS: seconds(s.grace) ?? timeoutS + randomizedDelayS,
  };
}

/** A job's timer: `<stem>.timer` beside `<stem>.service`. */
export function jobTimer(unit: string): string {
  return unit.replace(/\.service$/, '.timer');
}

/**
 * Where the host keeps what it knows of a job's runs (written by the unit's own privileged
 * helpers, read by status): started, last (key=value), ended, succeeded, skipped. Root's, outside
 * anything an app can write.
 */
export function jobStateDir(unit: string): string {
  return `/var/lib/manage-apps/jobs/${unit.replace(/\.service$/, '')}`;
}

/** A start this soon after the previous run ended was due while that run still went: skipped (ms). */
export const SKIP_WINDOW_MS = 500;

/**
 * The job's ExecCondition= helper (runs as root, before the run): a start that comes within
 * SKIP_WINDOW_MS of the previous run's end is the due time that passed during that run (systemd
 * holds a timer's elapse while its unit runs and fires it the moment it ends): skipped, counted
 * and said in the journal. Otherwise it records when the run started. One line of sh.
 */
export function jobConditionScript(unit: string): string {
  return [
    `d=${jobStateDir(unit)}`,
    `mkdir -p "$d" || exit 0`,
    `n=$(date +%s%3N); case $n in ''|*[!0-9]*) n=$(date +%s)000 ;; esac`,
    `e=$(cat "$d/ended" 2>/dev/null); case $e in ''|*[!0-9]*) e=0 ;; esac`,
    `if [ $((n - e)) -ge 0 ] && [ $((n - e)) -lt ${SKIP_WINDOW_MS} ]; then c=$(cut -d' ' -f1 "$d/skipped" 2>/dev/null); case $c in ''|*[!0-9]*) c=0 ;; esac; printf '%s %s\\n' $((c + 1)) $((n / 1000)) > "$d/skipped.tmp" && mv -f "$d/skipped.tmp" "$d/skipped"; echo "manage-apps: run skipped: the previous run was still going when this one was due"; exit 1; fi`,
    `printf '%s\\n' "$n" > "$d/started.tmp" && mv -f "$d/started.tmp" "$d/started"`,
  ].join('; ');
}

/** The job's ExecStopPost= helper (runs as root, after a run): its record, and the time of the last success. */
export function jobRecordScript(unit: string): string {
  return [
    `d=${jobStateDir(unit)}`,
    `[ "$SERVICE_RESULT" = exec-condition ] && exit 0`,
    `mkdir -p "$d" || exit 0`,
    `n=$(date +%s%3N); case $n in ''|*[!0-9]*) n=$(date +%s)000 ;; esac`,
    `printf 'started=%s\\nended=%s\\nresult=%s\\ncode=%s\\nstatus=%s\\n' "$(cat "$d/started" 2>/dev/null)" "$n" "$SERVICE_RESULT" "$EXIT_CODE" "$EXIT_STATUS" > "$d/last.tmp" && mv -f "$d/last.tmp" "$d/last"`,
    `printf '%s\\n' "$n" > "$d/ended.tmp" && mv -f "$d/ended.tmp" "$d/ended"`,
    // A run stopped by a signal (deploy --force) ends "success" for systemd: not a success of the job.
    `if [ "$SERVICE_RESULT" = success ] && [ "$EXIT_CODE" = exited ]; then printf '%s\\n' "$n" > "$d/succeeded.tmp" && mv -f "$d/succeeded.tmp" "$d/succeeded"; fi`,
    'exit 0',
  ].join('; ');
}

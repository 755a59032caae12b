/**
 * service.schedule (rule `schedule`): the words read (fleet/schedule.ts), systemd accepts the
 * calendar — asked of the real `systemd-analyze calendar`, once for every job of the fleet —
 * and the service is something a timer can start: a command of its own, no port, no swap, not
 * an edge, not a Compose service, on a host whose supervisor runs timers.
 */
import { spawnSync } from 'node:child_process';
import type { Fleet, Service } from '../fleet/model.js';
import { onCalendarOf, ScheduleWordsError } from '../fleet/schedule.js';
import { problem, type Location, type Problem } from '../problems.js';
import { runtimeOf } from '../runtime/registry.js';
import { shown } from '../text/plain.js';

type At = (file: string, path: (string | number)[], key?: boolean) => Location;

/** What `systemd-analyze calendar` says of each expression: its message when it rejects one; undefined when it cannot be run here. */
export function calendarVerdicts(expressions: readonly string[]): Map<string, string> | undefined {
  if (expressions.length === 0) return new Map();
  const r = spawnSync('systemd-analyze', ['calendar', '--', ...expressions], {
    encoding: 'utf8',
    timeout: 20_000,
    env: { ...process.env, LC_ALL: 'C', TZ: 'UTC' },
  });
  if (r.error !== undefined || r.status === null) return undefined;
  const out = new Map<string, string>();
  for (const line of r.stderr.split('\n')) {
    const m = /^Failed to parse calendar specification '(.*)': (.*)$/.exec(line);
    if (m) out.set(m[1]!, m[2]!);
  }
  return out;
}

export function scheduleProblems(fleet: Fleet, at: At): Problem[] {
  const out: Problem[] = [];
  const jobs = fleet.services.filter((s): s is Service & { schedule: NonNullable<Service['schedule']> } => s.schedule !== undefined);
  const calendar = (s: Service) => at(s.manifest, ['service', 'schedule', 'calendar']);
  const readable: typeof jobs = [];
  for (const s of jobs) {
    try {
      onCalendarOf(s.schedule.calendar);
      readable.push(s);
    } catch (error) {
      if (!(error instanceof ScheduleWordsError)) throw error;
      out.push(problem('schedule', calendar(s), `${s.id}: ${error.message}`, error.hint));
    }
    const refuse = (path: string[], message: string, hint: string) =>
      out.push(problem('schedule', at(s.manifest, ['service', ...path], true), `${s.id}: ${message}`, hint));
    if (s.port !== undefined)
      refuse(
        ['port'],
        'a scheduled job has no port (it is not running between runs)',
        'remove service.port, or service.schedule to run it as a standing service',
      );
    if (s.swapPorts !== undefined) refuse(['swap'], 'a scheduled job is not swapped behind an edge', 'remove service.swap');
    if (s.kind === 'edge') refuse(['kind'], 'an edge is never a scheduled job', 'use kind: worker');
    if (s.compose !== undefined)
      refuse(['compose'], 'a scheduled job runs as a unit of its own, not a Compose service', 'give it a service.command and ship it as a release');
    else if (s.command === undefined) refuse(['schedule'], 'a scheduled job needs service.command (what each run runs)', 'add service.command');
    const why = runtimeOf(s).noSchedule;
    if (why !== null) refuse(['schedule'], why, 'run it on a systemd host');
  }
  // What a service's runtime cannot take (launchd: a calendar it has no fields for, no service.user, …).
  for (const s of fleet.services)
    for (const p of runtimeOf(s).declarationProblems?.(s) ?? [])
      out.push(problem('runtime', at(s.manifest, p.path), `${s.id}: ${p.message}`, p.hint));
  const verdicts = calendarVerdicts([...new Set(readable.map((s) => s.schedule.onCalendar))]);
  if (verdicts === undefined) {
    for (const s of readable)
      out.push(
        problem(
          'schedule',
          calendar(s),
          `${s.id}: calendar ${shown(s.schedule.calendar)} was not checked: systemd-analyze cannot be run on this machine`,
          'run validate where systemd is installed (the host checks it again when the timer is installed)',
          'warning',
        ),
      );
    return out;
  }
  for (const s of readable) {
    const why = verdicts.get(s.schedule.onCalendar);
    if (why === undefined) continue;
    const translated = s.schedule.onCalendar === s.schedule.calendar ? '' : ` (read as ${shown(s.schedule.onCalendar)})`;
    out.push(
      problem(
        'schedule',
        calendar(s),
        `${s.id}: systemd rejects the calendar ${shown(s.schedule.calendar)}${translated}: ${why}`,
        'simple words (hourly, daily 03:00, weekly mon 04:30, every 10s) or a systemd calendar expression (man systemd.time), e.g. *-*-* 03:00:00',
      ),
    );
  }
  return out;
}

/**
 * The launchd property list of a service on a macOS host (runtime/launchd.ts installs it):
 *
 *   a LaunchDaemon (domain `system`, /Library/LaunchDaemons/<label>.plist, root:wheel 0644) that
 *   runs as service.user (`UserName`): it needs nobody logged in and starts at boot;
 *   a LaunchAgent (domain `gui/<uid>`, ~<user>/Library/LaunchAgents/<label>.plist) only when the
 *   service declares it needs the user's session (`service.launchd.session: gui`, e.g. it reads
 *   iMessage or drives a GUI app): it runs only while that user is logged in at the screen.
 *
 * Standing services: `RunAtLoad`, `KeepAlive` { SuccessfulExit: false } (restarted when it
 * fails, like systemd's Restart=on-failure), `ThrottleInterval` 5 (RestartSec=5s). Scheduled
 * jobs: `StartCalendarInterval` from the simple words (`StartInterval` for `every Ns`); launchd
 * never starts a job that is still running, and coalesces due times missed while the Mac slept.
 * Output goes to `StandardOutPath`/`StandardErrorPath` under /Library/Logs/manage-apps/.
 *
 * The env file is never copied into the plist (launchd has no EnvironmentFile, and a plist is
 * world-readable): the program runs through `/bin/sh -c '. <env_file>; exec …'`, which reads it
 * at each start, as the service's user. Only PORT goes into `EnvironmentVariables`.
 */
import { posix } from 'node:path';
import type { Service } from '../fleet/model.js';
import { CommandLineError, splitCommand } from '../text/command-line.js';

export const THROTTLE_INTERVAL_S = 5;
export const LOG_DIR = '/Library/Logs/manage-apps';
export const DAEMONS_DIR = '/Library/LaunchDaemons';

export type PlistValue = string | number | boolean | PlistValue[] | { [key: string]: PlistValue };

/** A declaration launchd cannot take; `path` locates it in the manifest. */
export class PlistError extends Error {
  constructor(
    message: string,
    readonly path: (string | number)[],
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'PlistError';
  }
}

const LABEL_WORD = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const USER = /^[a-z_][a-z0-9_.-]*$/;
const PATH = /^\/[A-Za-z0-9._/@+,:=-]*$/;

/** The job's label: `manage-apps.<project>` (`.<env>` off prod). */
export function launchdLabel(service: Pick<Service, 'project' | 'environment'>): string {
  const label = `manage-apps.${service.project}${service.environment === 'prod' ? '' : `.${service.environment}`}`;
  if (!LABEL_WORD.test(label)) throw new PlistError(`label ${label} is not a plain name`, ['project']);
  return label;
}

export interface LaunchdPlacement {
  label: string;
  domain: 'system' | 'gui';
  /** The user it runs as (a daemon's UserName; an agent's owner). */
  user: string;
  /** Where the plist is installed: /Library/LaunchDaemons/<label>.plist, or ~<user>/Library/LaunchAgents/<label>.plist. */
  plistPath: string;
  /** Where root's one-shot jobs go (the dead-man switch's): /Library/LaunchDaemons, for agents too. */
  daemons: string;
  stdout: string;
  stderr: string;
}

/**
 * Where a service's job lives and runs as; throws PlistError when the manifest does not say enough.
 * `root`: where the Mac's / is ('' on a Mac; a test's sandbox directory, so nothing writes the real /Library).
 */
export function launchdPlacement(service: Service, root = ''): LaunchdPlacement {
  const label = launchdLabel(service);
  const gui = service.launchd?.session === 'gui';
  const user = service.launchd?.user;
  if (user === undefined || user === 'root')
    throw new PlistError(
      gui ? 'a LaunchAgent runs in the session of a user: name it' : 'a LaunchDaemon without an account would run as root',
      ['service', 'launchd'],
      "set service.user (or the host's user in the inventory) to the macOS account it runs as",
    );
  if (!USER.test(user)) throw new PlistError(`user ${user} is not a plain account name`, ['service', 'user']);
  return {
    label,
    domain: gui ? 'gui' : 'system',
    user,
    // An agent's plist is written by its own user into its own home (root never writes into another account's directory).
    plistPath: gui ? `~${user}/Library/LaunchAgents/${label}.plist` : `${root}${DAEMONS_DIR}/${label}.plist`,
    daemons: `${root}${DAEMONS_DIR}`,
    stdout: `${root}${LOG_DIR}/${label}/out.log`,
    stderr: `${root}${LOG_DIR}/${label}/err.log`,
  };
}

const DAYS: Record<string, number> = { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 };

/**
 * A schedule as launchd keys: `StartCalendarInterval` (a dict, or an array of them) or
 * `StartInterval` for `every Ns`. launchd has no calendar expressions: only the simple words
 * translate; anything else is a PlistError (validate locates it).
 */
export function launchdSchedule(calendar: string): { StartCalendarInterval: PlistValue } | { StartInterval: number } {
  const w = calendar.trim().toLowerCase().split(/\s+/);
  const time = (t: string | undefined) => {
    const m = /^([01]?\d|2[0-3]):([0-5]\d)$/.exec(t ?? '');
    return m ? { Hour: Number(m[1]), Minute: Number(m[2]) } : undefined;
  };
  const cal = (v: PlistValue) => ({ StartCalendarInterval: v });
  const [a, b, c] = w;
  if (w.length === 1) {
    if (a === 'hourly') return cal({ Minute: 0 });
    if (a === 'daily') return cal({ Hour: 0, Minute: 0 });
    if (a === 'weekly') return cal({ Weekday: 1, Hour: 0, Minute: 0 });
    if (a === 'monthly') return cal({ Day: 1, Hour: 0, Minute: 0 });
  }
  if (a === 'daily' && w.length === 2 && time(b)) return cal(time(b)!);
  if (a === 'weekly' && w.length === 3 && DAYS[(b ?? '').slice(0, 3)] !== undefined && time(c))
    return cal({ Weekday: DAYS[(b ?? '').slice(0, 3)]!, ...time(c)! });
  if (a === 'hourly' && w.length === 2 && /^:[0-5]\d$/.test(b ?? '')) return cal({ Minute: Number(b!.slice(1)) });
  const every = a === 'every' && w.length === 2 ? /^(\d+)(s|m|h)$/.exec(b ?? '') : null;
  if (every) {
    const n = Number(every[1]);
    if (every[2] === 's' && n >= 1) return { StartInterval: n };
    if (every[2] === 'm' && n >= 1 && 60 % n === 0) return cal(Array.from({ length: 60 / n }, (_, i) => ({ Minute: i * n })));
    if (every[2] === 'h' && n >= 1 && 24 % n === 0) return cal(Array.from({ length: 24 / n }, (_, i) => ({ Hour: i * n, Minute: 0 })));
  }
  throw new PlistError(
    `launchd cannot run "${calendar}": it takes calendar fields, not systemd calendar expressions`,
    ['service', 'schedule', 'calendar'],
    'on a Mac use simple words: hourly, daily, weekly, monthly, daily HH:MM, weekly DAY HH:MM, hourly :MM, every Ns/Nm/Nh',
  );
}

/**
 * Seconds between a schedule's due times (what `overdue` measures against); monthly counts 31
 * days, the longest gap. Only the words launchdSchedule takes.
 */
export function launchdPeriodS(calendar: string): number {
  const s = launchdSchedule(calendar);
  if ('StartInterval' in s) return s.StartInterval;
  const v = s.StartCalendarInterval;
  if (Array.isArray(v)) {
    const first = v[0] as Record<string, number>;
    return 'Hour' in first ? (24 / v.length) * 3600 : (60 / v.length) * 60;
  }
  const d = v as Record<string, number>;
  return 'Day' in d ? 31 * 86400 : 'Weekday' in d ? 7 * 86400 : 'Hour' in d ? 86400 : 3600;
}

/**
 * What a scheduled job records of its runs, in its log directory (created by root, the files
 * handed to the job's user): `started` (the run in progress), `last` (started, ended in ms,
 * result, code, status: the shape systemd's jobs record), `succeeded` (ms). launchd keeps only a
 * job's run count and last exit code; these give status the run's times.
 */
export const JOB_FILES = ['started', 'last', 'succeeded'] as const;

/** The job's own wrapper: records the run around the program (run as the job's user). */
function recordRun(stateDir: string): string {
  return `d=${stateDir}; s=$(date +%s); printf 'started=%s000\\n' "$s" > "$d/started"; "$0" "$@"; c=$?; e=$(date +%s); if [ "$c" = 0 ]; then r=success; else r=exit-code; fi; printf 'started=%s000\\nended=%s000\\nresult=%s\\ncode=exited\\nstatus=%s\\n' "$s" "$e" "$r" "$c" > "$d/last"; [ "$c" = 0 ] && printf '%s000\\n' "$e" > "$d/succeeded"; exit "$c"`;
}

/** ProgramArguments: the env file read at each start, then the command (a shell only when it needs one). */
export function programArguments(service: Service, workdir: string): string[] {
  if (service.command === undefined) throw new PlistError(`"${service.id}" has no command: launchd has nothing to run`, ['service', 'command']);
  let lexed: { words: string[]; shell: boolean };
  try {
    lexed = splitCommand(service.command);
  } catch (error) {
    if (error instanceof CommandLineError) throw new PlistError(error.message, ['service', 'command']);
    throw error;
  }
  const shell = lexed.shell || /^[A-Za-z_][A-Za-z0-9_]*=/.test(lexed.words[0] ?? '');
  const words = shell
    ? ['/bin/sh', '-c', service.command.trim()]
    : lexed.words.map((w, i) => (i === 0 && w.includes('/') && !w.startsWith('/') ? posix.join(workdir, w) : w));
  if (service.envFile === undefined) return words;
  if (!PATH.test(service.envFile)) throw new PlistError(`env_file ${service.envFile} cannot be written into a plist`, ['service', 'env_file']);
  // "$0" "$@": the words after the script, exactly as given (no second round of shell parsing).
  return ['/bin/sh', '-c', `set -a; [ -r ${service.envFile} ] && . ${service.envFile}; set +a; exec "$0" "$@"`, ...words];
}

/** The property list as a value (plistXml writes it). Pure: same service, same value. */
export function launchdPlist(service: Service, root = ''): Record<string, PlistValue> {
  const place = launchdPlacement(service, root);
  if (!PATH.test(service.directory)) throw new PlistError(`directory ${service.directory} cannot be written into a plist`, ['service', 'directory']);
  const workdir = posix.join(service.directory, 'current');
  const job = service.schedule;
  const program = programArguments(service, workdir);
  const plist: Record<string, PlistValue> = {
    Label: place.label,
    // A job records its runs around the program (sh -c '…' program args: "$0" "$@" are the program, untouched).
    ProgramArguments: job === undefined ? program : ['/bin/sh', '-c', recordRun(posix.dirname(place.stdout)), ...program],
    WorkingDirectory: workdir,
  };
  if (place.domain === 'system') plist['UserName'] = place.user;
  else plist['LimitLoadToSessionType'] = 'Aqua';
  if (service.port !== undefined) plist['EnvironmentVariables'] = { PORT: String(service.port) };
  if (job === undefined) {
    plist['RunAtLoad'] = true;
    plist['KeepAlive'] = { SuccessfulExit: false };
  } else {
    plist['RunAtLoad'] = false;
    Object.assign(plist, launchdSchedule(job.calendar));
  }
  plist['ThrottleInterval'] = THROTTLE_INTERVAL_S;
  plist['ProcessType'] = 'Standard';
  plist['StandardOutPath'] = place.stdout;
  plist['StandardErrorPath'] = place.stderr;
  return plist;
}

const escapeXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function valueXml(v: PlistValue, indent: string): string {
  if (typeof v === 'string') {
    // XML 1.0 cannot carry most control characters: refuse rather than write a plist launchd rejects.
    if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(v)) throw new PlistError('a value holds a control character', ['service']);
    return `${indent}<string>${escapeXml(v)}</string>`;
  }
  if (typeof v === 'number') return `${indent}<integer>${Math.trunc(v)}</integer>`;
  if (typeof v === 'boolean') return `${indent}<${v}/>`;
  if (Array.isArray(v)) return [`${indent}<array>`, ...v.map((x) => valueXml(x, `${indent}\t`)), `${indent}</array>`].join('\n');
  return [
    `${indent}<dict>`,
    ...Object.entries(v).flatMap(([k, x]) => [`${indent}\t<key>${escapeXml(k)}</key>`, valueXml(x, `${indent}\t`)]),
    `${indent}</dict>`,
  ].join('\n');
}

/** The XML property list launchd reads (`plutil -lint` clean; Python's plistlib reads it back). */
export function plistXml(value: Record<string, PlistValue>): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
${valueXml(value, '')}
</plist>
`;
}

/** The plist file of a service on its Mac. */
export function renderPlist(service: Service, root = ''): string {
  return plistXml(launchdPlist(service, root));
}

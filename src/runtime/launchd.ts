/**
 * The launchd runtime: a service on a Mac (other than this machine) is a launchd job
 * (launchd-plist.ts renders its property list). Everything goes through `launchctl` over ssh,
 * in the forms Apple's launchctl(1) documents for macOS 10.10 and later:
 *
 *   status    launchctl print <domain>/<label>   (state, pid, runs, last exit code)
 *   start     launchctl bootstrap <domain> <plist>   (not loaded yet), else kickstart <domain>/<label>
 *   restart   launchctl kickstart -k <domain>/<label>   (bootout + bootstrap when the plist changed)
 *   stop      launchctl bootout <domain>/<label>
 *   logs      the job's StandardOutPath / StandardErrorPath
 *
 * The domain is `system` for a LaunchDaemon, `gui/<uid>` for a LaunchAgent (service.launchd.session:
 * gui). Designed around the failures others meet driving launchd over ssh:
 *   - "Bootstrap failed: 5: Input/output error" when the job is already loaded, or while a
 *     bootout is still finishing (bootout is asynchronous): a start of a loaded job kickstarts it
 *     instead; a reload boots it out and waits until `print` no longer finds it before
 *     bootstrapping, and retries a bootstrap that failed once after a second.
 *   - a daemon plist launchd refuses for its owner or mode: installed root:wheel 0644.
 *   - "Domain does not support specified action" / no such domain: a headless ssh session has no
 *     `gui/<uid>` domain. Daemons never need one; for an agent the script first asks whether the
 *     domain exists (`launchctl print gui/<uid>`) and says plainly that the user is not logged in
 *     at the screen instead of failing on bootstrap.
 * Releases (deploy, rollback) use the same layout as systemd (release.ts): each release carries
 * its plist (`.units/<id>.plist`), installed when it differs; the dead-man switch is a one-shot
 * LaunchDaemon (`manage-apps.revert.<key>`, StartInterval = the window, run as root) instead of
 * `systemd-run`. A scheduled job records its runs itself (launchd-plist.ts), and `run` is
 * `launchctl kickstart` (never `-k`: a run in progress is followed, not doubled).
 * No Mac ran these scripts (docs/launchd.md says what was and was not run for real).
 */
import { posix } from 'node:path';
import type { Service } from '../fleet/model.js';
import { quote } from '../transport/quote.js';
import { failureReason } from '../transport/types.js';
import { JOB_FILES, launchdPeriodS, launchdPlacement, PlistError, plistXml, renderPlist } from './launchd-plist.js';
import { ACTION_GERUND, type ActivationRuntime, type DeadManTimer, type LifecycleCall, type LifecycleDone, type Runtime } from './runtime.js';
import { healthOf, parseGate, parseProbes, PRELUDE, records, safePath, sections } from './shell.js';
import type { JobRun, JobStatus, RuntimeService, ServiceRuntimeStatus, UnitState } from './types.js';

type Launchd = RuntimeService & { launchd: NonNullable<RuntimeService['launchd']> };
const hasPlist = (s: RuntimeService): s is Launchd => s.launchd !== undefined;
const withPlist = (services: readonly RuntimeService[]) => services.filter(hasPlist);

/** Shell functions every launchd script uses: the domain, running as the service's user, the job's state. */
const FUNCTIONS = String.raw`# ma_ld_domain system|gui USER: the launchctl domain ("system", "gui/<uid>").
ma_ld_domain() { if [ "$1" = system ]; then printf system; else ma_u=$(id -u "$2" 2>/dev/null) || return 1; printf 'gui/%s' "$ma_u"; fi; }
# ma_ld_print TARGET: launchctl print of a domain or a job (a gui domain of another user needs root).
ma_ld_print() { $SUDO launchctl print "$1" 2>&1; }
# ma_ld_state TARGET: "state pid last-exit-code runs" of a loaded job (top-level keys only), non-zero when not loaded.
# launchctl prints an exit code with its meaning ("78: EX_CONFIG"): the number alone.
ma_ld_state() {
  ma_o=$(ma_ld_print "$1") || return 1
  printf '%s\n' "$ma_o" | awk -F ' = ' '
    /^\t[a-z]/ { k = $1; sub(/^\t/, "", k); v[k] = $2 }
    END { s = v["state"]; if (s == "") s = "unknown"; gsub(/ /, "-", s); p = v["pid"]; if (p == "") p = "-"; x = v["last exit code"]; sub(/:.*/, "", x); if (x == "" || x ~ /never/) x = "-"; r = v["runs"]; if (r == "") r = "-"; print s, p, x, r }'
}
# ma_as_user USER SCRIPT: runs SCRIPT as USER with USER's HOME (this ssh user itself, or sudo -n -u).
ma_as_user() { if [ "$(id -un)" = "$1" ]; then sh -c "$2"; else sudo -n -u "$1" -H sh -c "$2"; fi; }`;

/** The job's state directory (its log directory: root's, the run files its user's). */
const stateDir = (rs: Launchd) => posix.dirname(rs.launchd.stdout);

/**
 * What status prints of each job: "@@launchd<TAB>id<TAB>loaded|not-loaded|no-session|no-user<TAB>state pid exit runs";
 * for a scheduled job also its run files ("@@ldjob<TAB>id<TAB>file<TAB>line", never through a link) and the host's clock.
 */
function statusPart(services: readonly RuntimeService[]): string {
  const jobs = withPlist(services);
  if (jobs.length === 0) return '';
  const scheduled = jobs.filter((j) => j.job !== undefined);
  return [
    `SUDO=''; [ "$(id -u)" != 0 ] && SUDO='sudo -n'`,
    FUNCTIONS,
    ...(scheduled.length === 0
      ? []
      : [
          `ma_ld_files() { for ma_f in ${JOB_FILES.join(' ')} loaded; do [ -f "$2/$ma_f" ] && [ ! -L "$2/$ma_f" ] && while IFS= read -r ma_line; do printf '@@ldjob\\t%s\\t%s\\t%s\\n' "$1" "$ma_f" "$ma_line"; done < "$2/$ma_f"; done; return 0; }`,
          `printf '@@ldclock\\t%s\\n' "$(date +%s)"`,
        ]),
    ...jobs.map((j) => {
      const id = quote(j.id);
      return `if ! ma_d=$(ma_ld_domain ${j.launchd.domain} ${quote(j.launchd.user)}); then printf '@@launchd\\t%s\\tno-user\\t\\n' ${id}
elif ! ma_ld_print "$ma_d" >/dev/null; then printf '@@launchd\\t%s\\tno-session\\t\\n' ${id}
elif ma_s=$(ma_ld_state "$ma_d"/${quote(j.launchd.label)}); then printf '@@launchd\\t%s\\tloaded\\t%s\\n' ${id} "$ma_s"
else printf '@@launchd\\t%s\\tnot-loaded\\t\\n' ${id}; fi${j.job === undefined ? '' : `\nma_ld_files ${id} ${quote(stateDir(j))}`}`;
    }),
  ].join('\n');
}

/** A job's state in the words status uses for units. */
export function launchdState(loaded: string, fields: string): UnitState {
  const [state, pid, exit, runs] = fields.split(' ');
  if (loaded !== 'loaded')
    return { load: loaded === 'not-loaded' ? 'not-found' : loaded, active: 'inactive', sub: 'dead', since: null, restarts: null, pid: null };
  const running = state === 'running';
  const failed = !running && exit !== undefined && exit !== '-' && exit !== '0';
  const n = Number(runs);
  return {
    load: 'loaded',
    active: running ? 'active' : failed ? 'failed' : 'inactive',
    sub: running ? 'running' : failed ? `exited ${exit}` : (state ?? 'unknown'),
    since: null,
    restarts: Number.isInteger(n) && n > 0 ? n - 1 : null,
    pid: running && /^\d+$/.test(pid ?? '') ? Number(pid) : null,
  };
}

const msOf = (v: string | undefined): number | null => (v !== undefined && /^\d{1,16}$/.test(v) ? Number(v) : null);
const isoOf = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/**
 * A scheduled job's block in status, from launchctl's state and the run files: the last run
 * (start, duration, exit status), the last success, and `overdue` when that is older than the
 * period plus grace (since the job was loaded, when nothing succeeded yet: the plist's install
 * time, `@@ldjob … loaded`). launchd tells no next due time: `next` is null.
 */
export function launchdJobStatus(rs: RuntimeService, loaded: UnitState | null, runs: readonly string[][], clockS: number | null): JobStatus {
  const job = rs.job!;
  const files = new Map<string, string>();
  for (const r of runs) {
    const [file, line] = [r[2] ?? '', r[3] ?? ''];
    const eq = line.indexOf('=');
    if (file === 'succeeded') files.set('succeeded', line.trim());
    else if (eq > 0) files.set(`${file}.${line.slice(0, eq)}`, line.slice(eq + 1));
  }
  const started = msOf(files.get('last.started'));
  const ended = msOf(files.get('last.ended'));
  const result = files.get('last.result');
  const status = files.get('last.status');
  const last: JobRun | null =
    ended === null || result === undefined || !/^(success|exit-code)$/.test(result)
      ? null
      : {
          started: isoOf(started),
          ended: isoOf(ended),
          duration_ms: started === null ? null : Math.max(0, ended - started),
          result,
          exit_status: status !== undefined && /^\d{1,3}$/.test(status) ? Number(status) : null,
          signal: null,
          ok: result === 'success',
        };
  const succeeded = msOf(files.get('succeeded'));
  const running = loaded?.sub === 'running' ? { since: isoOf(msOf(files.get('started.started'))), pid: loaded.pid } : null;
  let periodS: number | null = null;
  try {
    periodS = launchdPeriodS(job.calendar);
  } catch {
    periodS = null;
  }
  const baseline = succeeded ?? msOf(files.get('loaded.at'));
  const overdue = clockS !== null && periodS !== null && baseline !== null && clockS * 1000 - baseline > (periodS + job.graceS) * 1000;
  return {
    timer: job.timer,
    calendar: job.calendar,
    on_calendar: job.onCalendar,
    scheduled: loaded?.load === 'loaded',
    next: null,
    last_trigger: null,
    running,
    last,
    last_success: isoOf(succeeded),
    period_s: periodS,
    grace_s: job.graceS,
    // launchd never starts a job that is still running, and says nothing of the due times it passed over.
    skipped: { count: 0, last: null },
    overdue,
  };
}

function parseStatus(services: readonly RuntimeService[], output: string): ServiceRuntimeStatus[] {
  const probes = parseProbes(sections(output).get('probes'));
  const recs = records(output).filter((r) => r[0] === 'launchd');
  const all = records(output);
  const clock = Number(all.find((r) => r[0] === 'ldclock')?.[1] ?? '') || null;
  return withPlist(services).map((s) => {
    const r = recs.find((x) => x[1] === s.id);
    const state = r === undefined ? null : launchdState(r[2] ?? '', r[3] ?? '');
    if (s.job !== undefined) {
      const job = launchdJobStatus(
        s,
        state,
        all.filter((x) => x[0] === 'ldjob' && x[1] === s.id),
        clock,
      );
      // A scheduled job waits between its runs: loaded and not failed is as it should be.
      const shown = state?.load === 'loaded' && state.active === 'inactive' ? { ...state, active: 'active', sub: 'scheduled' } : state;
      return { id: s.id, state: shown, health: null, job };
    }
    return { id: s.id, state, health: healthOf(s, probes) };
  });
}

/** The functions a lifecycle or activation script needs beyond FUNCTIONS, for one job (its domain, label, plist). */
function jobFunctions(rs: Launchd): string {
  const { label, domain, user, stdout, stderr, plist, plistPath } = rs.launchd;
  const logDir = posix.dirname(stdout);
  const agentFile = plistPath.replace(/^~[^/]+\//, '');
  const runFiles = rs.job === undefined ? [] : JOB_FILES.map((f) => `${logDir}/${f}`);
  return `g0=$(ma_now_ms)
ma_gate() { printf '@@gate\\t%s\\t%s\\t%s\\n' "$1" "$2" "$(( $(ma_now_ms) - g0 ))"; }
# ma_ld_setup: the job's domain ($ma_d), target ($ma_job) and plist path ($ma_plist); a gate verdict when there is none.
ma_ld_setup() {
  ma_d=$(ma_ld_domain ${domain} ${quote(user)}) || { ma_gate crashed "no account ${user} on this Mac"; return 1; }
  ma_job="$ma_d"/${quote(label)}
${
  domain === 'gui'
    ? `  # A headless ssh session has no GUI domain: only a user logged in at the screen has one.
  ma_ld_print "$ma_d" >/dev/null || { ma_gate crashed "${user} is not logged in at the screen of this Mac: a LaunchAgent (service.launchd.session: gui) runs only in that user's GUI session"; return 1; }
  ma_plist=$(ma_as_user ${quote(user)} 'printf %s "$HOME"')/${agentFile}`
    : `  ma_plist=${quote(plistPath)}`
}
}
# ma_ld_install FILE: puts the plist in place when it differs; ma_changed=1 when it did.
ma_ld_install() {
${
  domain === 'system'
    ? `  if cmp -s "$1" ${quote(plistPath)}; then ma_changed=0; return 0; fi
  # launchd refuses a daemon plist that is not root's and 0644 ("Bootstrap failed: 5"); 0:0 is root:wheel.
  $SUDO install -m 0644 -o 0 -g 0 "$1" ${quote(`${plistPath}.manage-apps.tmp`)} && $SUDO mv -f ${quote(`${plistPath}.manage-apps.tmp`)} ${quote(plistPath)} || { ma_gate crashed "cannot install ${plistPath}"; return 1; }`
    : `  # An agent's plist is written by its own user, into its own home.
  if ma_as_user ${quote(user)} 'f="$HOME"/'${quote(agentFile)}'; cmp -s - "$f"' < "$1"; then ma_changed=0; return 0; fi
  ma_as_user ${quote(user)} 'f="$HOME"/'${quote(agentFile)}'; mkdir -p "$(dirname "$f")" && cat > "$f.manage-apps.tmp" && mv -f "$f.manage-apps.tmp" "$f"' < "$1" || { ma_gate crashed "cannot write ${agentFile} as ${user}"; return 1; }`
}
  ma_changed=1
}
# ma_ld_install_text: the plist this service has now (start, restart).
ma_ld_install_text() { ma_tmp=$(mktemp) && printf '%s' ${quote(plist)} > "$ma_tmp" || return 1; ma_ld_install "$ma_tmp"; ma_rc=$?; rm -f "$ma_tmp"; return $ma_rc; }
# ma_ld_logs: the log directory root's, the log${rs.job === undefined ? '' : ' and run'} files the job's user's (written by launchd as that user${rs.job === undefined ? '' : ', and by the job'}).
ma_ld_logs() { $SUDO mkdir -p ${quote(logDir)} && $SUDO touch ${[stdout, stderr, ...runFiles].map(quote).join(' ')} && $SUDO chown ${quote(user)} ${[stdout, stderr, ...runFiles].map(quote).join(' ')} && $SUDO chmod 0640 ${quote(stdout)} ${quote(stderr)}${runFiles.length === 0 ? '' : ` && $SUDO chmod 0644 ${runFiles.map(quote).join(' ')}`}; }
# ma_bootout: unloads the job and waits until launchd no longer knows it (bootout is asynchronous).
ma_bootout() {
  $SUDO launchctl bootout "$ma_job" 2>/dev/null
  ma_n=0; while ma_ld_print "$ma_job" >/dev/null && [ $ma_n -lt 100 ]; do sleep 0.1; ma_n=$((ma_n + 1)); done
  printf '@@ld\\tbootout\\t%s\\n' "$ma_job"
}
# ma_bootstrap: loads the plist; one retry a second later ("Bootstrap failed: 5" while launchd still tears the old job down).
ma_bootstrap() {
  ma_out=$($SUDO launchctl bootstrap "$ma_d" "$ma_plist" 2>&1) || { sleep 1; ma_out=$($SUDO launchctl bootstrap "$ma_d" "$ma_plist" 2>&1); } || { ma_gate crashed "launchctl bootstrap $ma_d $ma_plist failed: $(printf '%s' "$ma_out" | tr '\\n\\t' '  ')"; return 1; }
  printf '@@ld\\tbootstrap\\t%s\\n' "$ma_job"
}${
    rs.job === undefined
      ? ''
      : `
# ma_ld_loaded_at: when the job was (re)loaded, the baseline of overdue until it first succeeds.
ma_ld_loaded_at() { printf 'at=%s000\\n' "$(date +%s)" | $SUDO tee ${quote(`${logDir}/loaded`)} >/dev/null; }`
  }`;
}

/**
 * After the plist is in place ($ma_changed): load or reload the job, then the gate. A standing
 * service: `start` kickstarts a loaded job, `restart` kickstarts it with -k; a changed plist is
 * booted out and bootstrapped again. A scheduled job is never run by this (only `run` does): it
 * is loaded, and ready once launchd has it. Prints "@@ld", "@@since", one "@@gate"; exits 0 or 1.
 */
function loadAndGate(rs: Launchd, action: 'start' | 'restart', timeoutMs: number): string {
  const job = rs.job !== undefined;
  const ready = job
    ? `ma_gate ready "loaded, runs at its due times"; exit 0`
    : rs.port !== undefined
      ? `ma_code=$(ma_probe ${rs.port} ${quote(rs.readiness)} 2)
  case $ma_code in 2??) ma_gate ready "$ma_code"; exit 0 ;; esac`
      : `if [ "$ma_st" = running ]; then ma_stable=$((ma_stable + 1)); else ma_stable=0; fi
  [ "$ma_stable" -ge 10 ] && { ma_gate ready running; exit 0; }`;
  const kick = job
    ? ':'
    : action === 'restart'
      ? `$SUDO launchctl kickstart -k "$ma_job" 2>&1 && printf '@@ld\\tkickstart-k\\t%s\\n' "$ma_job"`
      : `$SUDO launchctl kickstart "$ma_job" 2>&1 && printf '@@ld\\tkickstart\\t%s\\n' "$ma_job"`;
  return `printf '@@since\\t%s\\n' "$(date +%s)"
if ma_ld_print "$ma_job" >/dev/null; then
  if [ "$ma_changed" = 1 ]; then ma_bootout; ma_bootstrap || exit 1${job ? '; ma_ld_loaded_at' : ''}
  else
    ${kick}
  fi
else
  ma_bootstrap || exit 1${job ? '\n  ma_ld_loaded_at' : ''}
fi
ma_stable=0
ma_deadline=$(( $(ma_now_ms) + ${Math.max(200, Math.round(timeoutMs))} ))
while :; do
  ma_s=$(ma_ld_state "$ma_job") || { ma_gate crashed "launchd does not know $ma_job after loading it"; exit 1; }
  set -- $ma_s; ma_st=$1; ma_x=$3
  ${job ? '# A job whose last run failed is still loaded and scheduled: its runs are in status, not in this gate.' : `if [ "$ma_st" != running ] && [ "$ma_x" != - ] && [ "$ma_x" != 0 ]; then ma_gate crashed "the job exited (last exit code $ma_x)"; exit 1; fi`}
  ${ready}
  if [ "$(ma_now_ms)" -ge "$ma_deadline" ]; then ma_gate timeout "\${ma_code:-$ma_st}"; exit 1; fi
  sleep 0.1
done`;
}

/**
 * The script of a start, restart or stop: install the plist when it differs, then launchctl, then
 * (start, restart) the gate. Prints "@@ld<TAB>step<TAB>…" records and one "@@gate".
 */
export function lifecycleScript(rs: RuntimeService, action: 'start' | 'stop' | 'restart', timeoutMs: number): string {
  if (!hasPlist(rs)) throw new Error(`${rs.id}: no property list`);
  return `${PRELUDE}${FUNCTIONS}
${jobFunctions(rs)}
ma_ld_setup || exit 1
${
  action === 'stop'
    ? `ma_bootout
ma_gate stopped "unloaded $ma_job"
exit 0`
    : `ma_ld_logs
ma_ld_install_text || exit 1
${loadAndGate(rs, action, timeoutMs)}`
}
`;
}

async function lifecycle({ rs, action, wait, timeoutMs, quickMs, run, report }: LifecycleCall): Promise<LifecycleDone> {
  if (rs.launchd === undefined) return { outcome: 'failed', ok: false, detail: 'no property list (see `manage-apps validate`)' };
  report(`${ACTION_GERUND[action]} ${rs.launchd.domain === 'system' ? 'system' : 'gui'}/${rs.launchd.label}`);
  const r = await run(lifecycleScript(rs, action, wait ? timeoutMs : 1000), timeoutMs + quickMs + 30_000);
  if (r.unreachable) return { outcome: 'unreachable', ok: false, detail: r.unreachable };
  const gate = parseGate(r.stdout);
  if (action === 'stop')
    return gate.outcome === 'stopped' ? { outcome: 'stopped', ok: true } : { outcome: 'failed', ok: false, detail: failureReason(r) };
  if (gate.outcome === 'ready' || (!wait && gate.outcome === 'timeout'))
    return { outcome: action === 'restart' ? 'restarted' : 'started', ok: true, detail: gate.detail };
  const since = Number(records(r.stdout).find((x) => x[0] === 'since')?.[1] ?? '') || undefined;
  return { outcome: 'failed', ok: false, gate, diagnose: since === undefined ? {} : { since } };
}

/** What launchd says of the job, its error log's end and the readiness answer (sections, then "@@end"). */
function diagnosisBody(rs: Launchd): string {
  const { domain, user, label, stderr } = rs.launchd;
  return `ma_dd=$(ma_ld_domain ${domain} ${quote(user)})
printf '@@begin\\tstatus\\n'
ma_ld_print "$ma_dd"/${quote(label)} | head -n 30
printf '@@begin\\tjournal\\n'
$SUDO tail -n 20 ${quote(stderr)} 2>&1
${rs.port === undefined ? '' : `printf '@@begin\\treadiness\\n'\nma_answer ${rs.port} ${quote(rs.readiness)}\nprintf '\\n'`}
printf '@@end\\n'`;
}

function diagnosisScript(rs: RuntimeService): string | undefined {
  if (!hasPlist(rs)) return undefined;
  return `${PRELUDE}${FUNCTIONS}\n${diagnosisBody(rs)}\n`;
}

/** The one-shot LaunchDaemon of a service's dead-man switch (revert.ts arms it). */
export function revertJobLabel(key: string): string {
  return `manage-apps.revert.${key}`;
}

/**
 * The dead-man switch on a Mac: a LaunchDaemon in the system domain, run as root, that launchd
 * starts `windowS` after it is bootstrapped (StartInterval: the interval starts at load) and never
 * at load itself (RunAtLoad false). Its plist stays in /Library/LaunchDaemons while it is armed, so
 * a reboot loads it again and the activation is still reverted (systemd's transient timer is
 * lost then). The revert removes the plist first and boots the job out last; the confirmation
 * removes and boots it out (revert.ts, from the armed record).
 */
function launchdDeadMan(rs: Launchd, directory: string): DeadManTimer {
  const label = revertJobLabel(rs.key);
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(label)) throw new Error(`${rs.id}: ${label} is not a plain label`);
  const path = `${rs.launchd.daemons}/${label}.plist`;
  const log = `${posix.dirname(rs.launchd.stdout)}/revert.log`;
  const job = `system/${label}`;
  return {
    tool: 'launchctl bootstrap',
    record: `via=launchd\njob=${job}\nplist=${path}`,
    selfStop: `$SUDO launchctl bootout ${quote(job)} 2>/dev/null`,
    arm: (windowS, description) => {
      const xml = plistXml({
        Label: label,
        ProgramArguments: ['/bin/sh', `${directory}/.revert/revert.sh`],
        RunAtLoad: false,
        StartInterval: windowS,
        ProcessType: 'Standard',
        StandardOutPath: log,
        StandardErrorPath: log,
        // Not a key launchd reads: says what the job is to whoever finds the file.
        Comment: description,
      });
      return `ma_arm_clear() {
  $SUDO launchctl bootout ${quote(job)} 2>/dev/null
  ma_n=0; while launchctl print ${quote(job)} >/dev/null 2>&1 && [ $ma_n -lt 100 ]; do sleep 0.1; ma_n=$((ma_n + 1)); done
  $SUDO rm -f ${quote(path)}
}
ma_arm() {
  $SUDO mkdir -p ${quote(posix.dirname(log))} ${quote(rs.launchd.daemons)} || return 1
  printf '%s' ${quote(xml)} | $SUDO tee ${quote(`${path}.manage-apps.tmp`)} >/dev/null && $SUDO chown 0:0 ${quote(`${path}.manage-apps.tmp`)} && $SUDO chmod 0644 ${quote(`${path}.manage-apps.tmp`)} && $SUDO mv -f ${quote(`${path}.manage-apps.tmp`)} ${quote(path)} || { echo "cannot write ${path}"; return 1; }
  $SUDO launchctl bootstrap system ${quote(path)} 2>&1
}`;
    },
  };
}

/**
 * A launchd service's activation (deploy, rollback, the dead-man switch): the release's plist
 * installed when it differs, the job reloaded or kickstarted -k, the gate; a scheduled job's run
 * in progress is waited for (or, with --force, killed) before anything is armed.
 */
export function launchdActivation(rs: RuntimeService, options: { force?: boolean } = {}): ActivationRuntime {
  if (!hasPlist(rs) || rs.directory === undefined) throw new Error(`${rs.id}: no property list or no safe directory`);
  const job = rs.job !== undefined;
  return {
    key: rs.key,
    label: `${rs.launchd.domain === 'system' ? 'system' : 'gui'}/${rs.launchd.label}`,
    functions: `${FUNCTIONS}\n${jobFunctions(rs)}`,
    ...(job
      ? {
          prepareMs: rs.job!.timeoutS * 1000,
          prepare: () => `ma_ld_setup || { printf '@@error\\t%s\\n' "no launchd domain for ${rs.launchd.user}"; exit 1; }
ma_ld_running() { ma_s=$(ma_ld_state "$ma_job") || return 1; set -- $ma_s; [ "$1" = running ] && printf '%s %s\\n' "$2" "$(sed -n 's/^started=\\([0-9]*\\)000$/\\1/p' ${quote(`${stateDir(rs)}/started`)} 2>/dev/null)"; }
ma_run=$(ma_ld_running)
if [ -n "$ma_run" ]; then
  ma_w0=$(ma_now_ms)
${
  options.force
    ? `  $SUDO launchctl kill SIGTERM "$ma_job" 2>&1 >/dev/null
  # A run deaf to SIGTERM gets SIGKILL after 10 s.
  ma_n=0; while [ -n "$(ma_ld_running)" ]; do sleep 0.2; ma_n=$((ma_n + 1)); [ $ma_n = 50 ] && $SUDO launchctl kill SIGKILL "$ma_job" 2>&1 >/dev/null; done
  printf '@@jobrun\\tkilled\\t%s\\t%s\\t%s\\n' "\${ma_run%% *}" "\${ma_run#* }" "$(( $(ma_now_ms) - ma_w0 ))"
  ma_log "job: stopped the run in progress (--force)" "$ma_run"`
    : `  printf '@@jobrun\\twaiting\\t%s\\t%s\\n' "\${ma_run%% *}" "\${ma_run#* }"
  while [ -n "$(ma_ld_running)" ]; do sleep 0.5; done
  printf '@@jobrun\\twaited\\t%s\\t%s\\t%s\\n' "\${ma_run%% *}" "\${ma_run#* }" "$(( $(ma_now_ms) - ma_w0 ))"
  ma_log "job: waited for the run in progress" "$ma_run"`
}
fi`,
        }
      : {}),
    // A release from before plists were kept with releases leaves the installed one as it is.
    install: (release) => `ma_changed=0
if [ -f "$d/.units/$${release}.plist" ]; then ma_ld_install "$d/.units/$${release}.plist" || exit 1; fi`,
    restartAndGate: (timeoutMs) => `ma_ld_setup || exit 1
ma_ld_logs
${loadAndGate(rs, 'restart', timeoutMs)}`,
    stop: () => `if ma_ld_setup; then ma_bootout; fi`,
    diagnose: () => diagnosisBody(rs),
    deadMan: launchdDeadMan(rs, rs.directory),
  };
}

/** The steps `deploy --dry-run` lists for a launchd service (after the lock and the ship). */
export function launchdDeploySteps(rs: RuntimeService, directory: string, release: string, windowS: number, wait: string): string[] {
  if (!hasPlist(rs)) return [];
  const { label, domain, plistPath, daemons } = rs.launchd;
  const target = `${domain === 'system' ? 'system' : 'gui/<uid>'}/${label}`;
  return [
    ...(rs.job === undefined
      ? []
      : [`wait for a run of ${target} in progress to end (with --force: launchctl kill SIGTERM), before the revert is armed`]),
    `arm the host's own revert: a one-shot LaunchDaemon ${daemons}/${revertJobLabel(rs.key)}.plist (StartInterval ${windowS}, run as root) that switches back to the live release after ${windowS}s unless this deploy confirms`,
    `install ${plistPath} from the release (root:wheel 0644) when it differs`,
    `switch ${directory}/current to releases/${release} (ln -sfn + mv -h)`,
    rs.job === undefined
      ? `launchctl kickstart -k ${target} (a changed plist: launchctl bootout, then bootstrap)`
      : `launchctl bootstrap ${target} when not loaded or its plist changed (no run is started; the next comes at its due time)`,
    rs.job === undefined ? wait : `wait until launchd has ${target} loaded`,
    'on success: confirm (launchctl bootout the revert job, remove its plist, record the release as passed)',
    'on failure: diagnose (launchctl print, the error log, the readiness answer), record it as failed, switch back to the previous release and its plist, restart it, confirm it is healthy, exit non-zero',
  ];
}

/**
 * `run <job>`: `launchctl kickstart` (without -k: a run in progress is followed, never doubled,
 * and launchd itself never starts a job that is still running), the job's log files followed
 * until the run ends, then its run record: "@@run<TAB>started|joined", "@@ran<TAB>result<TAB>status".
 */
export function runNowScript(rs: RuntimeService): string {
  if (!hasPlist(rs) || rs.job === undefined) throw new Error(`${rs.id}: not a scheduled job`);
  const dir = stateDir(rs);
  const last = quote(`${dir}/last`);
  return `${PRELUDE}${FUNCTIONS}
${jobFunctions(rs)}
trap '' PIPE
ma_ld_setup || { printf '@@ran\\tnot-started\\t\\n'; exit 1; }
ma_ld_print "$ma_job" >/dev/null || { printf '@@ran\\tnot-started\\t%s is not loaded (manage-apps deploy or start first)\\n' "$ma_job"; exit 1; }
ma_running() { ma_s=$(ma_ld_state "$ma_job") || return 1; set -- $ma_s; [ "$1" = running ]; }
ma_before=$(sed -n 's/^ended=//p' ${last} 2>/dev/null)
# Followed from before the kickstart, so the run's first lines are not missed.
$SUDO tail -n 0 -f ${quote(rs.launchd.stdout)} ${quote(rs.launchd.stderr)} &
ma_t=$!
sleep 0.2
if ma_running; then printf '@@run\\tjoined\\n'; else
  printf '@@run\\tstarted\\n'
  $SUDO launchctl kickstart "$ma_job" 2>&1 || { kill "$ma_t" 2>/dev/null; printf '@@ran\\tnot-started\\t\\n'; exit 1; }
fi
# kickstart returns before the job runs: wait until its record changes, or it runs and ends.
ma_n=0
while :; do
  ma_after=$(sed -n 's/^ended=//p' ${last} 2>/dev/null)
  [ "$ma_after" != "$ma_before" ] && break
  if ma_running; then ma_n=0; else ma_n=$((ma_n + 1)); [ $ma_n -ge 50 ] && break; fi
  sleep 0.2
done
sleep 0.3
kill "$ma_t" 2>/dev/null
if [ "$ma_after" = "$ma_before" ]; then printf '@@ran\\tskipped\\t\\n'; exit 1; fi
ma_r=$(sed -n 's/^result=//p' ${last}); ma_x=$(sed -n 's/^status=//p' ${last})
printf '@@ran\\t%s\\t%s\\n' "$ma_r" "$ma_x"
[ "$ma_r" = success ]
`;
}

/**
 * The runtime view of a launchd service: its directory, its placement and plist, its job.
 * `root`: where the Mac's / is ('' but in the tests' sandbox, launchd-plist.ts).
 */
export function launchdView(service: Service, common: RuntimeService, root = ''): RuntimeService {
  const rs: RuntimeService = { ...common };
  // Only a safe directory is read (status shows its dead-man switch); deploy refuses an unsafe one itself.
  const directory = safePath(service.directory);
  if (directory !== undefined) rs.directory = directory;
  if (plistProblem(service) !== undefined) return rs;
  const place = launchdPlacement(service, root);
  rs.launchd = { ...place, plist: renderPlist(service, root) };
  if (service.schedule !== undefined)
    rs.job = {
      timer: place.label,
      calendar: service.schedule.calendar,
      onCalendar: service.schedule.onCalendar,
      stateDir: posix.dirname(place.stdout),
      timeoutS: service.schedule.timeoutS,
      graceS: service.schedule.graceS,
    };
  return rs;
}

/** Why a service on a Mac has no property list (undefined: it has one). */
function plistProblem(service: Service): PlistError | undefined {
  try {
    renderPlist(service);
    return undefined;
  } catch (error) {
    if (error instanceof PlistError) return error;
    throw error;
  }
}

export const launchd: Runtime<'launchd'> = {
  supervisor: 'launchd',
  ownsProcesses: false,
  noSystemdUnit: 'launchd (macOS): a property list, no systemd unit',
  noSchedule: null,

  view: (service, common) => launchdView(service, common),

  statusPart,
  probed: (services) => withPlist(services),
  parseStatus,
  noStateReason: (service) => {
    const why = plistProblem(service);
    return why === undefined ? 'launchctl gave no state (is this host a Mac?)' : `no property list: ${why.message}`;
  },
  statusLabel: (row) => (row.state?.pid ? `launchd pid ${row.state.pid}` : 'launchd'),
  declaredLabel: () => 'launchd',

  lifecycle,
  diagnosisScript: (rs) => diagnosisScript(rs),
  logs: (rs, lines, follow) =>
    rs.launchd === undefined
      ? { error: 'no property list (see `manage-apps validate`)' }
      : {
          script: `${PRELUDE}exec $SUDO tail -n ${Math.max(0, Math.floor(lines))}${follow ? ' -f' : ''} ${quote(rs.launchd.stdout)} ${quote(rs.launchd.stderr)}\n`,
          source: `log files ${rs.launchd.stdout}, ${rs.launchd.stderr}`,
        },

  runNow: (rs) => (hasPlist(rs) && rs.job !== undefined ? { script: runNowScript(rs) } : { error: 'not a scheduled job (no service.schedule)' }),

  releases: {
    activatable: (service) => plistProblem(service) === undefined && safePath(service.directory) !== undefined,
    activation: (rs, _imageRef, options) => launchdActivation(rs, options),
  },

  declarationProblems(service) {
    const why = plistProblem(service);
    const out = why === undefined ? [] : [{ path: why.path, message: why.message, ...(why.hint === undefined ? {} : { hint: why.hint }) }];
    if (service.launchd?.session === 'gui' && service.launchd.reason === undefined)
      out.push({
        path: ['service', 'launchd', 'session'],
        message: 'a LaunchAgent runs only while its user is logged in at the screen: say why it needs that session',
        hint: 'add service.launchd.reason (e.g. reads iMessage), or drop session: gui to run it as a LaunchDaemon',
      });
    return out;
  },
};

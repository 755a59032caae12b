/**
 * A scheduled job under systemd (service.schedule, docs/jobs.md): a oneshot unit started by its
 * `.timer`, both rendered by render/systemd-unit.ts and shipped with each release. This module
 * builds the job's scripts: its part of a host's one status script and the parser for it, its
 * activation (install the unit and the timer, switch, restart the timer — after waiting for a
 * run in progress, or stopping it when forced), and `run` (start it now, follow its journal).
 *
 * What the host knows of the runs is written by the unit's own privileged helpers
 * (fleet/schedule.ts) under `/var/lib/manage-apps/jobs/<stem>/`: `last` (started, ended,
 * result, code, status), `succeeded`, `skipped` ("count epoch"). systemd itself never runs two
 * at once: a timer whose unit still runs holds its elapse until the run ends; the helper then
 * skips that late start and counts it.
 */
import { quote, sh } from '../transport/quote.js';
import type { ActivationRuntime } from './runtime.js';
import { PRELUDE, records, sections } from './shell.js';
import { parseShow, parseTimestamp, unitStateOf } from './systemd-units.js';
import type { JobRun, JobStatus, RuntimeService, UnitState } from './types.js';

type Job = RuntimeService & { unit: string; job: NonNullable<RuntimeService['job']> };

export const isJob = (rs: RuntimeService): rs is Job => rs.job !== undefined && rs.unit !== undefined;

const JOB_PROPS =
  'Id,LoadState,ActiveState,SubState,ActiveEnterTimestamp,NRestarts,MainPID,NextElapseUSecRealtime,LastTriggerUSec,ExecMainStartTimestamp';

/**
 * The jobs' part of a host's status: one `systemctl show` for every job's timer and unit, the
 * host's clock, each job's run records, and its period as the host's systemd computes it (the
 * time between the next two due times, `systemd-analyze calendar --iterations=2`).
 */
export function jobStatusPart(services: readonly RuntimeService[]): string {
  const jobs = services.filter(isJob);
  if (jobs.length === 0) return '';
  const units = jobs.flatMap((j) => [j.job.timer, j.unit]);
  return [
    `ma_job_period() { TZ=UTC systemd-analyze calendar --iterations=2 -- "$1" 2>/dev/null | sed -n 's/^ *\\(Next elapse\\|Iter. #2\\): //p' | while IFS= read -r ma_t; do date -u -d "$ma_t" +%s 2>/dev/null; done | { read -r ma_a; read -r ma_b; [ -n "\${ma_b:-}" ] && echo $((ma_b - ma_a)); }; }`,
    `ma_job_files() { for ma_f in last succeeded skipped; do [ -f "$2/$ma_f" ] && while IFS= read -r ma_line; do printf '@@jobfile\\t%s\\t%s\\t%s\\n' "$1" "$ma_f" "$ma_line"; done < "$2/$ma_f"; done; return 0; }`,
    `printf '@@jobclock\\t%s\\n' "$(date +%s)"`,
    `printf '@@begin\\tjobshow\\n'`,
    sh`systemctl show --timestamp=unix -p ${JOB_PROPS} -- ${units} 2>/dev/null`.text,
    `printf '@@end\\n'`,
    ...jobs.map(
      (j) => `ma_job_files ${quote(j.id)} ${quote(j.job.stateDir)}
printf '@@jobperiod\\t%s\\t%s\\n' ${quote(j.id)} "$(ma_job_period ${quote(j.job.onCalendar)})"`,
    ),
  ].join('\n');
}

const ms = (v: string | undefined): number | null => (v !== undefined && /^\d+$/.test(v) ? Number(v) : null);
const iso = (epochMs: number | null): string | null => (epochMs === null ? null : new Date(epochMs).toISOString());

/** What the status script printed of each job: the timer's unit state, and the job's runs. */
export function parseJobStatus(services: readonly RuntimeService[], output: string): Map<string, { state: UnitState | null; job: JobStatus }> {
  const out = new Map<string, { state: UnitState | null; job: JobStatus }>();
  const jobs = services.filter(isJob);
  if (jobs.length === 0) return out;
  const blocks = new Map(parseShow(sections(output).get('jobshow') ?? '').map((b) => [b.get('Id') ?? '', b]));
  const recs = records(output);
  const clock = Number(recs.find((r) => r[0] === 'jobclock')?.[1] ?? '') || null;
  for (const j of jobs) {
    const files = new Map<string, string>();
    for (const r of recs)
      if (r[0] === 'jobfile' && r[1] === j.id)
        files.set(
          r[2] === 'last' ? `last.${(r[3] ?? '').split('=')[0]}` : r[2]!,
          r[2] === 'last' ? (r[3] ?? '').slice((r[3] ?? '').indexOf('=') + 1) : (r[3] ?? ''),
        );
    const timer = blocks.get(j.job.timer);
    const unit = blocks.get(j.unit);
    const periodS = Number(recs.find((r) => r[0] === 'jobperiod' && r[1] === j.id)?.[2] ?? '') || null;
    const started = ms(files.get('last.started'));
    const ended = ms(files.get('last.ended'));
    const result = files.get('last.result');
    const status = files.get('last.status');
    const code = files.get('last.code');
    const last: JobRun | null =
      ended === null || result === undefined
        ? null
        : {
            started: iso(started),
            ended: iso(ended),
            duration_ms: started === null ? null : Math.max(0, ended - started),
            result,
            exit_status: status !== undefined && /^-?\d+$/.test(status) ? Number(status) : null,
            // systemd's EXIT_STATUS is the signal's name when the run was killed (code killed/dumped).
            signal: status !== undefined && !/^-?\d+$/.test(status) && status !== '' ? status : null,
            // A run stopped by a signal on request ends "success" for systemd; not for the job.
            ok: result === 'success' && (code === undefined || code === 'exited'),
          };
    const active = unit?.get('ActiveState');
    const running =
      active === 'activating' || active === 'active' || active === 'deactivating'
        ? { since: parseTimestamp(unit?.get('ExecMainStartTimestamp')), pid: Number(unit?.get('MainPID') ?? '0') || null }
        : null;
    const succeeded = ms(files.get('succeeded'));
    const [count, at] = (files.get('skipped') ?? '').split(' ');
    const timerSince = parseTimestamp(timer?.get('ActiveEnterTimestamp'));
    // Overdue: nothing succeeded for longer than the period plus grace (since the timer came up, when nothing ever did).
    const baseline = succeeded ?? (timerSince === null ? null : Date.parse(timerSince));
    const overdue = clock !== null && periodS !== null && baseline !== null && clock * 1000 - baseline > (periodS + j.job.graceS) * 1000;
    out.set(j.id, {
      state: unitStateOf(timer),
      job: {
        timer: j.job.timer,
        calendar: j.job.calendar,
        on_calendar: j.job.onCalendar,
        scheduled: timer?.get('ActiveState') === 'active',
        next: parseTimestamp(timer?.get('NextElapseUSecRealtime')),
        last_trigger: parseTimestamp(timer?.get('LastTriggerUSec')),
        running,
        last,
        last_success: iso(succeeded),
        period_s: periodS,
        grace_s: j.job.graceS,
        skipped: { count: Number(count) || 0, last: /^\d+$/.test(at ?? '') ? new Date(Number(at) * 1000).toISOString() : null },
        overdue,
      },
    });
  }
  return out;
}

/**
 * The job's activation: the release carries `.units/<id>.service` and `.units/<id>.timer`.
 * `prepare` (before the revert is armed, so a long run does not eat the window) waits for a run
 * in progress to end, or with `force` stops it, and says which ("@@jobrun<TAB>waited|killed<TAB>
 * pid<TAB>started<TAB>ms"). `install` puts both files in place (one daemon-reload), the timer is
 * enabled and restarted, and the gate is the timer waiting for its next due time. Stopping the
 * job stops its timer (a run in progress is left to finish unless forced).
 */
export function jobActivation(rs: RuntimeService, options: { force?: boolean } = {}): ActivationRuntime {
  if (!isJob(rs)) throw new Error(`${rs.id}: not a scheduled job`);
  const { unit } = rs;
  const { timer } = rs.job;
  const stopRun = `$SUDO systemctl stop -- ${quote(unit)} 2>&1`;
  return {
    key: rs.key,
    label: `${timer} (${rs.job.calendar})`,
    prepareMs: rs.job.timeoutS * 1000,
    functions: `ma_ju=${quote(`/etc/systemd/system/${unit}`)}; ma_jt=${quote(`/etc/systemd/system/${timer}`)}
# ma_job_install ID: the job's unit and timer of release ID, each when it differs; one daemon-reload.
ma_job_install() {
  ma_ch=0
  for ma_x in "service $ma_ju" "timer $ma_jt"; do
    ma_src="$d/.units/$1.\${ma_x%% *}"; ma_dst=\${ma_x#* }
    [ -f "$ma_src" ] || continue
    if ! cmp -s "$ma_src" "$ma_dst" 2>/dev/null; then
      $SUDO cp "$ma_src" "$ma_dst.manage-apps.tmp" && $SUDO mv -f "$ma_dst.manage-apps.tmp" "$ma_dst" || { printf '@@gate\\tcrashed\\tcannot install %s\\n' "$ma_dst"; exit 1; }
      ma_ch=1
    fi
  done
  if [ "$ma_ch" = 1 ]; then $SUDO systemctl daemon-reload; printf '@@unit\\tchanged\\n'; else printf '@@unit\\tsame\\n'; fi
}
# ma_job_running: the job's run in progress ("pid epoch"), nothing when none.
ma_job_running() {
  case "$(systemctl show -p ActiveState --value -- ${quote(unit)} 2>/dev/null)" in
    activating|active|deactivating) printf '%s %s\\n' "$(systemctl show -p MainPID --value -- ${quote(unit)})" "$(systemctl show --timestamp=unix -p ExecMainStartTimestamp --value -- ${quote(unit)} | tr -d @)" ;;
  esac
}`,
    prepare: () => `ma_run=$(ma_job_running)
if [ -n "$ma_run" ]; then
  ma_w0=$(ma_now_ms)
${
  options.force
    ? `  ${stopRun} >/dev/null
  printf '@@jobrun\\tkilled\\t%s\\t%s\\t%s\\n' "\${ma_run%% *}" "\${ma_run#* }" "$(( $(ma_now_ms) - ma_w0 ))"
  ma_log "job: stopped the run in progress (--force)" "$ma_run"`
    : `  printf '@@jobrun\\twaiting\\t%s\\t%s\\n' "\${ma_run%% *}" "\${ma_run#* }"
  while [ -n "$(ma_job_running)" ]; do sleep 0.5; done
  printf '@@jobrun\\twaited\\t%s\\t%s\\t%s\\n' "\${ma_run%% *}" "\${ma_run#* }" "$(( $(ma_now_ms) - ma_w0 ))"
  ma_log "job: waited for the run in progress" "$ma_run"`
}
fi`,
    install: (release) => `ma_job_install "$${release}"`,
    restartAndGate: () => `printf '@@since\\t%s\\n' "$(date +%s)"
g0=$(ma_now_ms)
ma_gate() { printf '@@gate\\t%s\\t%s\\t%s\\n' "$1" "$2" "$(( $(ma_now_ms) - g0 ))"; }
w="/etc/systemd/system/timers.target.wants/${timer}"
[ -e "$w" ] || $SUDO systemctl enable --quiet -- ${quote(timer)} 2>/dev/null || true
out=$($SUDO systemctl restart -- ${quote(timer)} 2>&1) || { ma_gate crashed "systemctl restart ${timer} failed: $(printf '%s' "$out" | tr '\\n\\t' '  ')"; exit 1; }
ma_n=$(systemctl show --timestamp=unix -p NextElapseUSecRealtime --value -- ${quote(timer)})
if [ "$(systemctl show -p ActiveState --value -- ${quote(timer)})" = active ]; then ma_gate ready "timer active, next run \${ma_n:-when the run in progress ends}"; exit 0; fi
ma_gate crashed "${timer} is not active after its restart"; exit 1`,
    stop: () => `$SUDO systemctl disable --now --quiet -- ${quote(timer)} 2>&1; ${options.force ? `${stopRun};` : ''} :`,
    diagnose: (since) => `printf '@@begin\\tstatus\\n'
$SUDO systemctl status --no-pager --lines=0 -- ${quote(timer)} ${quote(unit)} 2>&1 | head -n 20
printf '@@begin\\tjournal\\n'
$SUDO journalctl --no-pager -o short-iso -n 20 -u ${quote(timer)} -u ${quote(unit)} \${${since}:+--since @\$${since}} 2>&1
printf '@@end\\n'`,
  };
}

/**
 * `run <job>`: starts the job now and follows its journal until the run ends; prints
 * "@@run<TAB>joined|started" (a run in progress is followed, never doubled), then the run's
 * record "@@ran<TAB>result<TAB>status". The journal lines pass through as they come.
 */
export function runNowScript(rs: RuntimeService): string {
  if (!isJob(rs)) throw new Error(`${rs.id}: not a scheduled job`);
  const unit = rs.unit;
  const dir = rs.job.stateDir;
  return `${PRELUDE}
trap '' PIPE
ma_active() { case "$(systemctl show -p ActiveState --value -- ${quote(unit)})" in activating|active|deactivating) return 0 ;; esac; return 1; }
ma_before=$(cat ${quote(`${dir}/last`)} 2>/dev/null | sed -n 's/^ended=//p')
if ma_active; then printf '@@run\\tjoined\\n'; else printf '@@run\\tstarted\\n'; fi
# From just before the start, to the microsecond (a previous run's last lines are not this one's).
ma_since=$(date +%s.%N); case $ma_since in *N*) ma_since=$(date +%s) ;; *) ma_since=\${ma_since%???} ;; esac
${sh`$SUDO systemctl start --no-block -- ${unit}`.text} 2>&1 || { printf '@@ran\\tnot-started\\t\\n'; exit 1; }
# Everything since then, then what comes: a quick run may be over before journalctl starts. The
# follower writes to a private file and its complete lines are shown as they come; at the end the
# whole listing is read once more and what the follower had not written yet is shown (on a busy
# host it lags: a run's last lines were once missing from the stream).
ma_t=$(mktemp) || { printf '@@ran\tnot-started\tno temporary file\n'; exit 1; }
trap 'rm -f -- "$ma_t"' EXIT
${sh`$SUDO journalctl --no-pager -q -o short-iso -f -n all -u ${unit}`.text} --since "@$ma_since" > "$ma_t" 2>&1 &
ma_j=$!
ma_n=0
ma_show() { ma_c=$(wc -l < "$ma_t"); if [ "$ma_c" -gt "$ma_n" ]; then sed -n "$((ma_n + 1)),\${ma_c}p" "$ma_t"; ma_n=$ma_c; fi; }
sleep 0.5
while ma_active; do ma_show; sleep 0.3; done
# The run is over: the follower stops once systemd's own line saying so is in the journal (its
# lines come before it), not after a fixed pause a busy host's journald may not keep up with.
ma_k=0
while [ "$ma_k" -lt 100 ] && ! ${sh`$SUDO journalctl --no-pager -q -o cat -u ${unit}`.text} --since "@$ma_since" 2>/dev/null | grep -qE 'Deactivated successfully|Succeeded\\.|Failed with result|Finished |Failed to start '; do
  sleep 0.1; ma_k=$((ma_k + 1))
done
kill "$ma_j" 2>/dev/null
wait "$ma_j" 2>/dev/null
${sh`$SUDO journalctl --no-pager -q -o short-iso -n all -u ${unit}`.text} --since "@$ma_since" > "$ma_t" 2>&1
ma_show
ma_after=$(sed -n 's/^ended=//p' ${quote(`${dir}/last`)} 2>/dev/null)
if [ "$ma_after" = "$ma_before" ]; then
  printf '@@ran\\tskipped\\t\\n'
  exit 1
fi
ma_r=$(sed -n 's/^result=//p' ${quote(`${dir}/last`)}); ma_s=$(sed -n 's/^status=//p' ${quote(`${dir}/last`)})
printf '@@ran\\t%s\\t%s\\n' "$ma_r" "$ma_s"
[ "$ma_r" = success ]
`;
}

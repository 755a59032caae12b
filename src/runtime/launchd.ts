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
 * No Mac ran these scripts (docs/launchd.md says what was and was not run for real).
 */
import type { Service } from '../fleet/model.js';
import { quote } from '../transport/quote.js';
import { failureReason } from '../transport/types.js';
import { launchdPlacement, PlistError, renderPlist } from './launchd-plist.js';
import { ACTION_GERUND, type LifecycleCall, type LifecycleDone, type Runtime } from './runtime.js';
import { healthOf, parseGate, parseProbes, PRELUDE, records, sections } from './shell.js';
import type { RuntimeService, ServiceRuntimeStatus, UnitState } from './types.js';

type Launchd = RuntimeService & { launchd: NonNullable<RuntimeService['launchd']> };
const withPlist = (services: readonly RuntimeService[]) => services.filter((s): s is Launchd => s.launchd !== undefined);

/** Shell functions every launchd script uses: the domain, running as the service's user, the job's state. */
const FUNCTIONS = String.raw`# ma_ld_domain system|gui USER: the launchctl domain ("system", "gui/<uid>").
ma_ld_domain() { if [ "$1" = system ]; then printf system; else ma_u=$(id -u "$2" 2>/dev/null) || return 1; printf 'gui/%s' "$ma_u"; fi; }
# ma_ld_print TARGET: launchctl print of a domain or a job (a gui domain of another user needs root).
ma_ld_print() { $SUDO launchctl print "$1" 2>&1; }
# ma_ld_state TARGET: "state pid last-exit-code runs" of a loaded job (top-level keys only), non-zero when not loaded.
ma_ld_state() {
  ma_o=$(ma_ld_print "$1") || return 1
  printf '%s\n' "$ma_o" | awk -F ' = ' '
    /^\t[a-z]/ { k = $1; sub(/^\t/, "", k); v[k] = $2 }
    END { s = v["state"]; if (s == "") s = "unknown"; gsub(/ /, "-", s); p = v["pid"]; if (p == "") p = "-"; x = v["last exit code"]; if (x == "" || x ~ /never/) x = "-"; r = v["runs"]; if (r == "") r = "-"; print s, p, x, r }'
}
# ma_as_user USER SCRIPT: runs SCRIPT as USER with USER's HOME (this ssh user itself, or sudo -n -u).
ma_as_user() { if [ "$(id -un)" = "$1" ]; then sh -c "$2"; else sudo -n -u "$1" -H sh -c "$2"; fi; }`;

/** What status prints of each job: "@@launchd<TAB>id<TAB>loaded|not-loaded|no-session|no-user<TAB>state pid exit runs". */
function statusPart(services: readonly RuntimeService[]): string {
  const jobs = withPlist(services);
  if (jobs.length === 0) return '';
  return [
    `SUDO=''; [ "$(id -u)" != 0 ] && SUDO='sudo -n'`,
    FUNCTIONS,
    ...jobs.map((j) => {
      const id = quote(j.id);
      return `if ! ma_d=$(ma_ld_domain ${j.launchd.domain} ${quote(j.launchd.user)}); then printf '@@launchd\\t%s\\tno-user\\t\\n' ${id}
elif ! ma_ld_print "$ma_d" >/dev/null; then printf '@@launchd\\t%s\\tno-session\\t\\n' ${id}
elif ma_s=$(ma_ld_state "$ma_d"/${quote(j.launchd.label)}); then printf '@@launchd\\t%s\\tloaded\\t%s\\n' ${id} "$ma_s"
else printf '@@launchd\\t%s\\tnot-loaded\\t\\n' ${id}; fi`;
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

function parseStatus(services: readonly RuntimeService[], output: string): ServiceRuntimeStatus[] {
  const probes = parseProbes(sections(output).get('probes'));
  const recs = records(output).filter((r) => r[0] === 'launchd');
  return withPlist(services).map((s) => {
    const r = recs.find((x) => x[1] === s.id);
    const state = r === undefined ? null : launchdState(r[2] ?? '', r[3] ?? '');
    // A scheduled job waits between its runs: loaded and not failed is as it should be.
    if (s.job !== undefined && state?.load === 'loaded' && state.active === 'inactive')
      return { id: s.id, state: { ...state, active: 'active', sub: 'scheduled' }, health: null };
    return { id: s.id, state, health: healthOf(s, probes) };
  });
}

/**
 * The script of a start, restart or stop: install the plist when it differs, then launchctl, then
 * (start, restart) the gate. Prints "@@ld<TAB>step<TAB>…" records and one "@@gate".
 */
export function lifecycleScript(rs: RuntimeService, action: 'start' | 'stop' | 'restart', timeoutMs: number): string {
  if (rs.launchd === undefined) throw new Error(`${rs.id}: no property list`);
  const { label, domain, user, stdout, stderr, plist, plistPath } = rs.launchd;
  const logDir = stdout.slice(0, stdout.lastIndexOf('/'));
  const agentFile = plistPath.replace(/^~[^/]+\//, '');
  const install =
    domain === 'system'
      ? `ma_tmp=$(mktemp) && printf '%s' ${quote(plist)} > "$ma_tmp" || exit 1
if cmp -s "$ma_tmp" ${quote(plistPath)}; then ma_changed=0; else
  # launchd refuses a daemon plist that is not root's and 0644 ("Bootstrap failed: 5").
  $SUDO install -m 0644 -o root -g wheel "$ma_tmp" ${quote(`${plistPath}.manage-apps.tmp`)} && $SUDO mv -f ${quote(`${plistPath}.manage-apps.tmp`)} ${quote(plistPath)} || { rm -f "$ma_tmp"; ma_gate crashed "cannot install ${plistPath}"; exit 1; }
  ma_changed=1
fi
rm -f "$ma_tmp"
ma_plist=${quote(plistPath)}`
      : `# An agent's plist is written by its own user, into its own home.
ma_plist=$(ma_as_user ${quote(user)} 'printf %s "$HOME"')/${agentFile}
if printf '%s' ${quote(plist)} | ma_as_user ${quote(user)} 'f="$HOME"/'${quote(agentFile)}'; cmp -s - "$f"'; then ma_changed=0; else
  printf '%s' ${quote(plist)} | ma_as_user ${quote(user)} 'f="$HOME"/'${quote(agentFile)}'; mkdir -p "$(dirname "$f")" && cat > "$f.manage-apps.tmp" && mv -f "$f.manage-apps.tmp" "$f"' || { ma_gate crashed "cannot write $ma_plist as ${user}"; exit 1; }
  ma_changed=1
fi`;
  const ready =
    rs.job !== undefined
      ? `ma_gate ready "loaded, runs at its due times"; exit 0`
      : rs.port !== undefined
        ? `ma_code=$(ma_probe ${rs.port} ${quote(rs.readiness)} 2)
  case $ma_code in 2??) ma_gate ready "$ma_code"; exit 0 ;; esac`
        : `if [ "$ma_st" = running ]; then ma_stable=$((ma_stable + 1)); else ma_stable=0; fi
  [ "$ma_stable" -ge 10 ] && { ma_gate ready running; exit 0; }`;
  return `${PRELUDE}${FUNCTIONS}
g0=$(ma_now_ms)
ma_gate() { printf '@@gate\\t%s\\t%s\\t%s\\n' "$1" "$2" "$(( $(ma_now_ms) - g0 ))"; }
ma_d=$(ma_ld_domain ${domain} ${quote(user)}) || { ma_gate crashed "no account ${user} on this Mac"; exit 1; }
ma_job="$ma_d"/${quote(label)}
${
  domain === 'gui'
    ? `# A headless ssh session has no GUI domain: only a user logged in at the screen has one.
ma_ld_print "$ma_d" >/dev/null || { ma_gate crashed "${user} is not logged in at the screen of this Mac: a LaunchAgent (service.launchd.session: gui) runs only in that user's GUI session"; exit 1; }`
    : ''
}
# ma_bootout: unloads the job and waits until launchd no longer knows it (bootout is asynchronous).
ma_bootout() {
  $SUDO launchctl bootout "$ma_job" 2>/dev/null
  ma_n=0; while ma_ld_print "$ma_job" >/dev/null && [ $ma_n -lt 100 ]; do sleep 0.1; ma_n=$((ma_n + 1)); done
  printf '@@ld\\tbootout\\t%s\\n' "$ma_job"
}
# ma_bootstrap: loads the plist; one retry a second later ("Bootstrap failed: 5" while launchd still tears the old job down).
ma_bootstrap() {
  ma_out=$($SUDO launchctl bootstrap "$ma_d" "$ma_plist" 2>&1) || { sleep 1; ma_out=$($SUDO launchctl bootstrap "$ma_d" "$ma_plist" 2>&1); } || { ma_gate crashed "launchctl bootstrap $ma_d $ma_plist failed: $(printf '%s' "$ma_out" | tr '\\n\\t' '  ')"; exit 1; }
  printf '@@ld\\tbootstrap\\t%s\\n' "$ma_job"
}
${
  action === 'stop'
    ? `ma_bootout
ma_gate stopped "unloaded $ma_job"
exit 0`
    : `$SUDO mkdir -p ${quote(logDir)} && $SUDO touch ${quote(stdout)} ${quote(stderr)} && $SUDO chown ${quote(user)} ${quote(stdout)} ${quote(stderr)} && $SUDO chmod 0640 ${quote(stdout)} ${quote(stderr)}
${install}
printf '@@since\\t%s\\n' "$(date +%s)"
if ma_ld_print "$ma_job" >/dev/null; then
  if [ "$ma_changed" = 1 ]; then ma_bootout; ma_bootstrap
  else
    ${action === 'restart' ? `$SUDO launchctl kickstart -k "$ma_job" 2>&1 && printf '@@ld\\tkickstart-k\\t%s\\n' "$ma_job"` : `${rs.job !== undefined ? ':' : `$SUDO launchctl kickstart "$ma_job" 2>&1 && printf '@@ld\\tkickstart\\t%s\\n' "$ma_job"`}`}
  fi
else
  ma_bootstrap
fi
ma_stable=0
ma_deadline=$(( $(ma_now_ms) + ${Math.max(200, Math.round(timeoutMs))} ))
while :; do
  ma_s=$(ma_ld_state "$ma_job") || { ma_gate crashed "launchd does not know $ma_job after loading it"; exit 1; }
  set -- $ma_s; ma_st=$1; ma_x=$3
  if [ "$ma_st" != running ] && [ "$ma_x" != - ] && [ "$ma_x" != 0 ]; then ma_gate crashed "the job exited (last exit code $ma_x)"; exit 1; fi
  ${ready}
  if [ "$(ma_now_ms)" -ge "$ma_deadline" ]; then ma_gate timeout "\${ma_code:-$ma_st}"; exit 1; fi
  sleep 0.1
done`
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

/** What launchd says of the job, its error log's end and the readiness answer. */
function diagnosisScript(rs: RuntimeService): string | undefined {
  if (rs.launchd === undefined) return undefined;
  const { domain, user, label, stderr } = rs.launchd;
  return `${PRELUDE}${FUNCTIONS}
ma_d=$(ma_ld_domain ${domain} ${quote(user)})
printf '@@begin\\tstatus\\n'
ma_ld_print "$ma_d"/${quote(label)} | head -n 30
printf '@@begin\\tjournal\\n'
$SUDO tail -n 20 ${quote(stderr)} 2>&1
${rs.port === undefined ? '' : `printf '@@begin\\treadiness\\n'\nma_answer ${rs.port} ${quote(rs.readiness)}\nprintf '\\n'`}
printf '@@end\\n'
`;
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
  noDeploy:
    'launchd (macOS): releases are not shipped to a Mac yet; put the service in <directory>/current and `manage-apps start` installs its property list',
  noReleases: 'launchd (macOS): no releases shipped yet',

  view(service, common) {
    const rs: RuntimeService = { ...common };
    if (plistProblem(service) !== undefined) return rs;
    const place = launchdPlacement(service);
    rs.launchd = { ...place, plist: renderPlist(service) };
    if (service.schedule !== undefined)
      rs.job = {
        timer: place.label,
        calendar: service.schedule.calendar,
        onCalendar: service.schedule.onCalendar,
        stateDir: '',
        timeoutS: service.schedule.timeoutS,
        graceS: service.schedule.graceS,
      };
    return rs;
  },

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

/**
 * The dead-man switch: a host guards its own activation.
 *
 * When a deploy or a rollback switches `current` and restarts, the same script first ARMS a
 * revert: a transient systemd timer (`systemd-run --on-active=<window>`, unit
 * `manage-apps-revert-<key>`) that runs `<directory>/.revert/revert.sh` unless it is disarmed.
 * It lives in the host's systemd, so it outlives the ssh session, the CLI and the network; it
 * needs nothing but systemd and a POSIX shell. The CLI disarms it only after the gate passed.
 *
 * Exactly one party resolves an activation: whoever first creates `.revert/claim` (mkdir is
 * atomic) — the CLI confirming (gate passed), the CLI switching back (gate failed), or the
 * revert (no confirmation in time, or a later deploy found the activation unresolved). The
 * others see the claim taken and stand back, so a late confirmation can never race the revert
 * into a half state.
 *
 * Files under `<directory>/.revert/`:
 *   armed       key=value: release, previous, token (of the deploy lock), armed_at, deadline, by, window
 *   claim/      exists once the armed activation has been resolved
 *   fired       key=value: at, release, previous, reason, result — the last revert that fired
 *               (shown by `status` and `releases` until the next activation)
 *   revert.sh   the revert itself (written when armed; the runtime's fragments inside)
 *
 * On a Mac (launchd) the timer is a one-shot LaunchDaemon instead (ActivationRuntime.deadMan,
 * runtime/launchd.ts): the armed record says how it was armed (`via=launchd`, `job=`, `plist=`),
 * so the confirmation, the switch back and `status` stop or ask it without knowing the runtime.
 *
 * The revert switches `current` back to `previous` (the release that was live), restores what
 * that release runs with (the runtime's install), restarts and gates it, records the reverted
 * release as `unconfirmed` with why, writes `fired`, and releases the deploy lock if the
 * deploy that armed it still holds it. With no previous release it stops the service.
 */
import { quote } from '../transport/quote.js';
import type { ActivationRuntime } from './runtime.js';
import { PRELUDE, records } from './shell.js';
import type { RevertState } from './types.js';

/** The transient units of a service's revert: `<name>.timer` fires `<name>.service`. */
export function revertUnit(key: string): string {
  return `manage-apps-revert-${key}`;
}

/** Variables and functions every script that touches the switch needs ($d set before). */
export function revertFunctions(key: string): string {
  const unit = revertUnit(key);
  return `r="$d/.revert"
ma_revert_timer=${quote(`${unit}.timer`)}
# ma_armed KEY: a field of the armed record ('' when nothing is armed).
ma_armed() { [ -f "$r/armed" ] && sed -n "s/^$1=//p" "$r/armed" 2>/dev/null | head -n 1; }
# ma_claim: this caller resolves the armed activation (atomic: exactly one caller wins).
ma_claim() { $SUDO mkdir -p "$r" && $SUDO mkdir "$r/claim" 2>/dev/null; }
# ma_timer_stop: stops the timer as the armed record says it was armed (a launchd job: its plist
# removed first, so a reboot does not load it again). Not waited for: the claim already keeps the
# revert from acting, should the timer still fire.
ma_timer_stop() {
  case "$(ma_armed via)" in
    launchd) ma_p=$(ma_armed plist); [ -n "$ma_p" ] && $SUDO rm -f -- "$ma_p"; $SUDO launchctl bootout "$(ma_armed job)" 2>/dev/null ;;
    *) $SUDO systemctl stop --no-block -- "$ma_revert_timer" 2>/dev/null ;;
  esac
  return 0
}
ma_disarm() { ma_timer_stop; $SUDO rm -f "$r/armed"; }
ma_print_fired() { [ -f "$r/fired" ] && while IFS= read -r ma_line; do printf '@@fired\\t\\t%s\\n' "$ma_line"; done < "$r/fired"; return 0; }`;
}

export interface ArmSpec {
  /** Seconds from arming until the revert fires. */
  windowS: number;
  /** The deploy lock token of the deploy arming it (the revert releases that lock). */
  token: string;
  /** Who (user@machine). */
  by: string;
}

/**
 * Arms the revert of the activation of "$rel" (previous live release: "$prev"). Writes the
 * revert script and the armed record, then starts the timer. On failure: prints
 * "@@error<TAB>…" and exits before anything was switched.
 */
export function armFragment(runtime: ActivationRuntime, revertScript: string, spec: ArmSpec): string {
  const unit = revertUnit(runtime.key);
  const w = Math.max(1, Math.ceil(spec.windowS));
  const description = `manage-apps: revert ${runtime.label} unless the deploy confirms it`;
  const timer = runtime.deadMan;
  const arm =
    timer === undefined
      ? `ma_arm() { $SUDO systemd-run --quiet --collect --unit=${quote(unit)} --description=${quote(description)} --on-active=${w} --timer-property=AccuracySec=100ms /bin/sh "$r/revert.sh" 2>&1; }
# A leftover of an earlier arming (failed, or not yet collected).
ma_arm_clear() {
  $SUDO systemctl stop -- ${quote(`${unit}.timer`)} ${quote(`${unit}.service`)} 2>/dev/null
  $SUDO systemctl reset-failed -- ${quote(`${unit}.timer`)} ${quote(`${unit}.service`)} 2>/dev/null
}`
      : timer.arm(w, description);
  return `${
    timer === undefined
      ? ''
      : `${arm}
# An earlier one-shot job still loaded must not fire into this activation: gone before the claim is cleared.
ma_arm_clear
`
  }$SUDO mkdir -p "$r" && $SUDO rm -rf "$r/claim" "$r/fired"
printf '%s' ${quote(revertScript)} | $SUDO tee "$r/revert.sh.tmp" >/dev/null && $SUDO mv -f "$r/revert.sh.tmp" "$r/revert.sh"
ma_t=$(date -u '+%s %Y-%m-%dT%H:%M:%SZ')
{ printf 'release=%s\\nprevious=%s\\ntoken=%s\\nby=%s\\nwindow=%s\\narmed_at=%s\\ndeadline=%s\\n' "$rel" "$prev" ${quote(spec.token)} ${quote(spec.by)} ${w} "\${ma_t#* }" "$(( \${ma_t%% *} + ${w} ))"${timer === undefined ? '' : `; printf '%s\\n' ${quote(timer.record)}`}; } | $SUDO tee "$r/armed.tmp" >/dev/null && $SUDO mv -f "$r/armed.tmp" "$r/armed" || { printf '@@error\\tcannot write %s\\n' "$r/armed"; exit 1; }
${timer === undefined ? arm : ''}
if ! ma_out=$(ma_arm); then
  ma_arm_clear
  ma_out=$(ma_arm) || { $SUDO rm -f "$r/armed"; printf '@@error\\tcannot arm the revert timer (${timer === undefined ? 'systemd-run' : timer.tool}): %s\\n' "$(printf '%s' "$ma_out" | tr '\\n\\t' '  ')"; exit 1; }
fi
printf '@@armed\\t%s\\n' ${w}`;
}

/**
 * The revert script (`.revert/revert.sh`): run by the timer, or synchronously by a later deploy
 * that finds an armed activation nobody resolved (its first argument is then the reason).
 * `release` holds the release-layout functions (release.ts), passed in to keep one source.
 */
export function revertScript(runtime: ActivationRuntime, layout: string, timeoutMs: number): string {
  return `#!/bin/sh
# manage-apps dead-man switch: written by a deploy, run by ${revertUnit(runtime.key)}.timer.
${PRELUDE}
${layout}
${runtime.functions}
why=\${1:-}
ma_claim || { ${runtime.deadMan === undefined ? '' : `[ -f "$r/armed" ] || ${runtime.deadMan.selfStop}; `}exit 0; }
rel=$(ma_armed release); prev=$(ma_armed previous); token=$(ma_armed token); window=$(ma_armed window)
[ -n "$why" ] || why="no confirmation within \${window}s of the switch"
${
  runtime.deadMan === undefined
    ? `$SUDO systemctl stop -- "$ma_revert_timer" 2>/dev/null`
    : `# Not loaded again at boot; the job ends itself last (booting it out now would end this script).
ma_p=$(ma_armed plist); [ -n "$ma_p" ] && $SUDO rm -f -- "$ma_p"`
}
cur=$(ma_current)
result="nothing to revert: current is \${cur:-none}"
if [ -n "$rel" ] && [ "$cur" = "$rel" ]; then
  ma_outcome "$rel" unconfirmed "$why"
  if [ -n "$prev" ] && [ -d "$d/releases/$prev" ]; then
    ${runtime.install('prev')}
    if ma_switch "$prev"; then
      ma_log "revert: switch back to" "$prev"
      g=$(
${runtime.restoreAndGate ? runtime.restoreAndGate(timeoutMs, 'revert') : runtime.restartAndGate(timeoutMs)}
)
      # The verdict record alone: "@@gated" (which instance was gated) starts with the same letters.
      result=$(printf '%s\\n' "$g" | awk -F '\\t' '$1 == "@@gate" { print $2 " " $3; exit }')
      result="switched back to $prev: \${result:-no verdict}"
    else
      result="could not switch back to $prev"
    fi
  else
    ${runtime.stop()}
    $SUDO rm -f "$d/current"
    ma_log "revert: no previous release, stopped" "$rel"
    result="stopped: no previous release"
  fi
fi
{ printf 'at=%s\\nrelease=%s\\nprevious=%s\\n' "$(ma_now_iso)" "$rel" "$prev"; printf 'reason=%s\\nresult=%s\\n' "$why" "$result"; } | $SUDO tee "$r/fired.tmp" >/dev/null && $SUDO mv -f "$r/fired.tmp" "$r/fired"
$SUDO rm -f "$r/armed"
if [ -n "$token" ] && [ "$($SUDO sed -n 's/^token=//p' "$l/owner" 2>/dev/null)" = "$token" ]; then $SUDO rm -rf "$l"; ma_log "unlock (by the revert)" "$token"; fi
printf '@@reverted\\t%s\\t%s\\t%s\\n' "$rel" "$prev" "$result"
${
  runtime.deadMan === undefined
    ? ''
    : `${runtime.deadMan.selfStop}
`
}`;
}

/**
 * For a deploy that took the lock: an armed activation nobody resolved (its deploy died and its
 * lock was broken) is reverted now, before anything else; a revert already running is waited for.
 */
export const RESOLVE_LEFTOVER = `if [ -f "$r/armed" ]; then
  if [ -d "$r/claim" ]; then
    n=0; while [ -f "$r/armed" ] && [ $n -lt 1200 ]; do sleep 0.1; n=$((n + 1)); done
    printf '@@leftover\\twaited\\n'
  elif [ -f "$r/revert.sh" ]; then
    $SUDO sh "$r/revert.sh" 'a later deploy found it unconfirmed (the deploy that switched to it ended without confirming)' | sed -n 's/^@@reverted/@@leftover\\treverted/p'
  fi
fi`;

/** Reads a service's switch for status and releases: "@@armed/@@fired<TAB>tag<TAB>key=value" lines. */
export const REVERT_STATE_FUNCTION = `ma_revert_state() {
  for ma_k in armed fired; do
    [ -f "$2/.revert/$ma_k" ] || continue
    while IFS= read -r ma_line; do printf '@@%s\\t%s\\t%s\\n' "$ma_k" "$1" "$ma_line"; done < "$2/.revert/$ma_k"
  done
  if [ -f "$2/.revert/armed" ]; then
    if [ -d "$2/.revert/claim" ]; then printf '@@armed\\t%s\\tclaimed=yes\\n' "$1"
    elif [ "$(sed -n 's/^via=//p' "$2/.revert/armed")" = launchd ]; then
      if launchctl print "$(sed -n 's/^job=//p' "$2/.revert/armed")" >/dev/null 2>&1; then printf '@@armed\\t%s\\ttimer=active\\n' "$1"; else printf '@@armed\\t%s\\ttimer=inactive\\n' "$1"; fi
    elif systemctl is-active --quiet -- "$3" 2>/dev/null; then printf '@@armed\\t%s\\ttimer=active\\n' "$1"
    else printf '@@armed\\t%s\\ttimer=inactive\\n' "$1"; fi
  fi
}`;

/** One call of ma_revert_state for a service (tag: how the caller finds it in the output). */
export function revertStateCall(tag: string, directory: string, key: string): string {
  return `ma_revert_state ${quote(tag)} ${quote(directory)} ${quote(`${revertUnit(key)}.timer`)}`;
}

function keyValues(lines: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of lines) {
    const eq = line.indexOf('=');
    if (eq > 0) out.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return out;
}

/** The switch of each tag in a script's output. */
export function parseRevertStates(output: string): Map<string, RevertState> {
  const armed = new Map<string, string[]>();
  const fired = new Map<string, string[]>();
  for (const [kind, tag, line] of records(output)) {
    if ((kind !== 'armed' && kind !== 'fired') || tag === undefined || line === undefined) continue;
    const into = kind === 'armed' ? armed : fired;
    into.set(tag, [...(into.get(tag) ?? []), line]);
  }
  const out = new Map<string, RevertState>();
  for (const [tag, lines] of armed) {
    const kv = keyValues(lines);
    const deadline = Number(kv.get('deadline'));
    out.set(tag, {
      state: kv.get('claimed') === 'yes' ? 'reverting' : kv.get('timer') === 'active' ? 'armed' : 'lost',
      release: kv.get('release') || null,
      previous: kv.get('previous') || null,
      ...(kv.get('by') ? { by: kv.get('by')! } : {}),
      ...(Number.isFinite(deadline) && deadline > 0 ? { deadline: new Date(deadline * 1000).toISOString() } : {}),
    });
  }
  for (const [tag, lines] of fired) {
    if (out.has(tag)) continue;
    const kv = keyValues(lines);
    out.set(tag, {
      state: 'fired',
      release: kv.get('release') || null,
      previous: kv.get('previous') || null,
      ...(kv.get('at') ? { at: kv.get('at')! } : {}),
      ...(kv.get('reason') ? { reason: kv.get('reason')! } : {}),
      ...(kv.get('result') ? { result: kv.get('result')! } : {}),
    });
  }
  return out;
}

/** One line for people: "armed: reverts to X at T unless confirmed" / "fired at T: …". */
export function describeRevert(r: RevertState): string {
  switch (r.state) {
    case 'armed':
      return `revert armed: back to ${r.previous ?? 'nothing (stop)'} at ${r.deadline ?? '?'} unless ${r.release} is confirmed`;
    case 'reverting':
      return `reverting ${r.release} to ${r.previous ?? 'nothing'} right now`;
    case 'lost':
      return `revert of ${r.release} armed but its timer is gone (the host rebooted?): the next deploy or rollback reverts it first`;
    case 'fired':
      return `revert fired at ${r.at ?? '?'}: ${r.release} (${r.reason ?? 'unconfirmed'}); ${r.result ?? ''}`.trim();
  }
}

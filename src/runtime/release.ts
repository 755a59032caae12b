/**
 * The host side of the built-in release strategy (infra/v2): under the service directory
 *
 *   releases/<id>/           one directory per shipped artifact (id = UTC time + short hash)
 *   releases/.incoming-<id>/ a release being shipped (renamed into place once complete)
 *   current -> releases/<id> the live release, switched atomically (ln -sfn + mv -T)
 *   .units/<id>.service      what the release runs with (systemd: its unit; restored on rollback;
 *                            launchd: .units/<id>.plist, its property list)
 *   .history/<id>            the release's record: activated=, by=, then one outcome= line per
 *                            verdict ("pending|passed|failed|unconfirmed|reverted <time> [why]";
 *                            the last one counts)
 *   .revert/                 the dead-man switch (revert.ts)
 *   .deploy.lock/owner       the deploy lock (see ops/lock-owner.ts)
 *   deploys.log              one line per lock taken and released, switch, revert: an audit trail
 *
 * A deploy is three round trips: `shipScript` (lock + ship, the artifact on the same stdin),
 * `activateScript` (arm the revert, switch, restart, gate) and `confirmScript` (disarm, record
 * `passed`, prune, unlock) or `fallBackScript` (diagnose, switch back, record `failed`, unlock).
 * A rollback is the same with `lockScript` first. Every script starts with the prelude, uses
 * only validated names and quoted values, and prints "@@" records for the caller.
 */
import { quote, sh, type Shell } from '../transport/quote.js';
import type { ActivationRuntime } from './runtime.js';
import { armFragment, RESOLVE_LEFTOVER, REVERT_STATE_FUNCTION, revertFunctions, revertScript, revertStateCall, type ArmSpec } from './revert.js';
import { PRELUDE, records } from './shell.js';

/** Release ids: UTC time to the millisecond (to the second in ids from earlier versions, still recognised), then 8 hex of the content hash. */
export const RELEASE_ID = /^\d{8}T\d{6}(\d{3})?Z-[0-9a-f]{8}(\.\d+)?$/;
const RELEASE_ID_SH = `'^[0-9]{8}T[0-9]{6}([0-9]{3})?Z-[0-9a-f]{8}([.][0-9]+)?$'`;

export type Outcome = 'pending' | 'passed' | 'failed' | 'unconfirmed' | 'reverted';

/**
 * ma_content DIR: the release's content digest (docs/promotion.md#same-bits): sha256 over the
 * sha256 and path of every file and the target and path of every link, sorted by path bytes;
 * `.manage-apps/` (what the host records about the release: its pinned image, its compose
 * override) is left out, and so are modes (the ship normalises them). Computed on the host from
 * what landed, at the ship and again whenever a promotion asks.
 */
export const CONTENT_FUNCTION = `ma_content() {
  if command -v sha256sum >/dev/null 2>&1; then ma_sha='sha256sum'; else ma_sha='shasum -a 256'; fi
  ( cd "$1" 2>/dev/null || exit 1
    $SUDO find . -path ./.manage-apps -prune -o -type f -print0 | LC_ALL=C sort -z | $SUDO xargs -0 $ma_sha --
    $SUDO find . -path ./.manage-apps -prune -o -type l -print | LC_ALL=C sort | while IFS= read -r ma_f; do printf 'link %s %s\\n' "$ma_f" "$($SUDO readlink "$ma_f")"; done
  ) | $ma_sha | cut -c1-64
}`;

/** The release layout's variables and functions ($d = the service directory). */
export function layout(directory: string, key: string): string {
  return `d=${quote(directory)}
l="$d/.deploy.lock"
h="$d/.history"
ma_now_iso() { date -u +%Y-%m-%dT%H:%M:%SZ; }
ma_log() { printf '%s %s\\n' "$(ma_now_iso)" "$*" | $SUDO tee -a "$d/deploys.log" >/dev/null 2>&1 || true; }
ma_current() { ma_c=$(readlink "$d/current" 2>/dev/null) || ma_c=''; printf '%s' "\${ma_c#releases/}"; }
# ma_record ID KEY VALUE: one line of the release's history record.
ma_record() { $SUDO mkdir -p "$h" && printf '%s=%s\\n' "$2" "$3" | $SUDO tee -a "$h/$1" >/dev/null; }
# ma_outcome ID OUTCOME [WHY]
ma_outcome() { ma_record "$1" outcome "$2 $(ma_now_iso)\${3:+ $3}"; }
# ma_last_outcome ID: sets ma_o to the release's last verdict word ('' when it has no record).
ma_last_outcome() { ma_o=''; [ -f "$h/$1" ] || return 0; while IFS= read -r ma_line; do case $ma_line in outcome=*) ma_o=\${ma_line#outcome=}; ma_o=\${ma_o%% *} ;; esac; done < "$h/$1"; }
# One rename of a new link over the old: GNU mv -T; BSD mv (macOS) calls it -h and refuses -T, changing nothing.
ma_switch() {
  $SUDO ln -sfn "releases/$1" "$d/.current.manage-apps" && { $SUDO mv -T "$d/.current.manage-apps" "$d/current" 2>/dev/null || $SUDO mv -h "$d/.current.manage-apps" "$d/current"; } || { printf '@@gate\\tcrashed\\tcannot switch %s/current to %s\\n' "$d" "$1"; return 1; }
  printf '@@switched\\t%s\\n' "$1"
}
${CONTENT_FUNCTION}
ma_unlock() { if [ "$($SUDO sed -n 's/^token=//p' "$l/owner" 2>/dev/null)" = "$1" ]; then $SUDO rm -rf "$l"; ma_log "\${2:-unlock}" "$1"; printf '@@unlocked\\n'; fi; }
${revertFunctions(key)}`;
}

export interface LockRequest {
  ownerText: string;
  token: string;
  /** Break the lock first, only if it is still held by this (stale) token. */
  breakToken?: string;
}

/** Breaks a stale lock (its token given), ending a script the dead deploy left running. */
function breakFragment(breakToken: string | undefined): string {
  if (breakToken === undefined) return '';
  return `if [ -d "$l" ] && [ "$($SUDO sed -n 's/^token=//p' "$l/owner" 2>/dev/null)" = ${quote(breakToken)} ]; then
  # A deploy whose connection was cut may have left its script running here: end it first.
  p=$($SUDO cat "$l/script.pid" 2>/dev/null)
  # macOS's ps prints the command's path (/bin/sh).
  case "$( [ -n "$p" ] && ps -o comm= -p "$p" 2>/dev/null)" in sh|dash|bash|*/sh|*/dash|*/bash) alive=1 ;; *) alive=0 ;; esac
  if [ "$alive" = 1 ]; then $SUDO kill -TERM "$p" 2>/dev/null; sleep 0.5; $SUDO kill -KILL "$p" 2>/dev/null; printf '@@killed\\t%s\\n' "$p"; fi
  $SUDO mv "$l" "$l.broken.$$" 2>/dev/null && $SUDO rm -rf "$l.broken.$$" && printf '@@broke\\t%s\\n' ${quote(breakToken)} && ma_log "broke stale lock" ${quote(breakToken)}
fi`;
}

/**
 * Takes the lock and reports the service directory (uid, current, the releases with their
 * history, the switch). An activation its deploy never resolved is reverted first.
 * Records: @@lock acquired|held (+ owner section) · @@broke · @@killed · @@leftover · @@uid ·
 * @@current · @@rel · @@armed/@@fired.
 */
function lockFragment(lock: LockRequest): string {
  return `$SUDO mkdir -p "$d/releases" || { printf '@@error\\tcannot create %s (is the ssh user allowed to, or to sudo -n?)\\n' "$d/releases"; exit 1; }
${breakFragment(lock.breakToken)}
if $SUDO mkdir "$l" 2>/dev/null; then
  printf '%s\\n' ${quote(lock.ownerText)} | $SUDO tee "$l/owner.tmp" >/dev/null && $SUDO mv -f "$l/owner.tmp" "$l/owner"
  printf '@@lock\\tacquired\\n'
  ma_log "lock" ${quote(lock.token)}
else
  printf '@@lock\\theld\\n'
  printf '@@begin\\towner\\n'
  $SUDO cat "$l/owner" 2>/dev/null
  printf '\\n@@end\\n'
  exit 0
fi
printf '%s\\n' "$$" | $SUDO tee "$l/script.pid" >/dev/null
${RESOLVE_LEFTOVER}
printf '@@uid\\t%s\\n' "$(id -u)"`;
}

/** ma_state TAG: the @@current and @@rel records of the service in $d; `current` sets $ma_cv to its live release. */
const stateFunction = (current: string) => `ma_state() {
  ${current}
  printf '@@current\\t%s\\t%s\\n' "$1" "$ma_cv"
  for ma_p in "$d"/releases/*; do
    [ -d "$ma_p" ] || continue
    ma_id=\${ma_p##*/}; ma_a=''; ma_b=''; ma_o=''
    if [ -f "$h/$ma_id" ]; then
      while IFS= read -r ma_line; do case $ma_line in activated=*) ma_a=\${ma_line#activated=} ;; by=*) ma_b=\${ma_line#by=} ;; outcome=*) ma_o=\${ma_line#outcome=} ;; esac; done < "$h/$ma_id"
    fi
    printf '@@rel\\t%s\\t%s\\t%s\\t%s\\t%s\\n' "$1" "$ma_id" "$ma_a" "$ma_b" "$ma_o"
  done
}
${REVERT_STATE_FUNCTION}`;

export interface ShipRequest {
  /** The release id to reserve (base; base.N when taken). */
  base: string;
  /** What the release runs with (systemd: its unit file), kept as .units/<id>.service. */
  unitText?: string;
  /** A scheduled job's timer, kept as .units/<id>.timer beside its unit. */
  timerText?: string;
  /** launchd: the property list the release runs with, kept as .units/<id>.plist. */
  plistText?: string;
  gzip: boolean;
  /** service.user: checked before anything is shipped (a missing account would fail the unit with 217/USER, silently). */
  user?: string;
}

/**
 * Round trip 1 of a deploy: lockScript, then reserve a release id and extract the tar stream
 * that follows this script on stdin into releases/.incoming-<id> and move it into place. Sent
 * with `scriptThenData`, which reads exactly the script's bytes first: the rest is the tar.
 * Records besides lockScript's: @@nouser (service.user is not an account there: nothing shipped) ·
 * @@release · @@shipped ok|failed.
 */
export function shipScript(directory: string, key: string, lock: LockRequest, ship: ShipRequest): string {
  const user =
    ship.user === undefined
      ? ''
      : `if ! id -u ${quote(ship.user)} >/dev/null 2>&1; then printf '@@nouser\\t%s\\n' ${quote(ship.user)}; printf '@@shipped\\tfailed\\tno account %s\\n' ${quote(ship.user)}; exit 0; fi\n`;
  return `${lockScript(directory, key, lock)}${user}for x in "$d"/releases/.incoming-*; do [ -e "$x" ] && $SUDO rm -rf "$x"; done
id=${quote(ship.base)}; n=1
while [ -e "$d/releases/$id" ]; do n=$((n + 1)); id=${quote(ship.base)}.$n; done
inc="$d/releases/.incoming-$id"
$SUDO mkdir -p "$inc" || { printf '@@error\\tcannot create %s\\n' "$inc"; exit 1; }
printf '@@release\\t%s\\n' "$id"
if $SUDO tar -x ${ship.gzip ? '-z ' : ''}--no-same-owner -f - -C "$inc" 2>"$d/.ship.err.$$"; then
  # Readable by the unit's account (a dynamic user shares no group with root), writable by root
  # only, never setuid/setgid: root owns every extracted file (docs/render.md#hardening).
  $SUDO chmod -R u+rwX,go+rX,go-w,ug-s "$inc"
  ${ship.unitText === undefined ? ':' : `$SUDO mkdir -p "$d/.units" && printf '%s' ${quote(ship.unitText)} | $SUDO tee "$d/.units/$id.service" >/dev/null`}
  ${ship.timerText === undefined ? ':' : `$SUDO mkdir -p "$d/.units" && printf '%s' ${quote(ship.timerText)} | $SUDO tee "$d/.units/$id.timer" >/dev/null`}
  ${ship.plistText === undefined ? ':' : `$SUDO mkdir -p "$d/.units" && printf '%s' ${quote(ship.plistText)} | $SUDO tee "$d/.units/$id.plist" >/dev/null`}
  $SUDO mv "$inc" "$d/releases/$id" && printf '@@shipped\\tok\\n'
  ma_ct=$(ma_content "$d/releases/$id") && [ -n "$ma_ct" ] && printf '@@content\\t%s\\n' "$ma_ct" && ma_record "$id" content "$ma_ct"
else
  printf '@@shipped\\tfailed\\t%s\\n' "$(head -c 300 "$d/.ship.err.$$" | tr '\\n\\t' '  ')"
  $SUDO rm -rf "$inc"
fi
$SUDO rm -f "$d/.ship.err.$$"
`;
}

/**
 * The remote command that runs a script followed by data on one stdin: it reads exactly the
 * script's bytes (dd, one byte at a time, so not one byte of the data is consumed), then runs
 * it; the script reads the rest. Scripts still travel on stdin, never in argv.
 */
export function scriptThenData(script: string): { command: Shell; header: Buffer } {
  const header = Buffer.from(script, 'utf8');
  return { command: sh`sh -c ${`ma_s=$(dd bs=1 count=${header.length} 2>/dev/null) && eval "$ma_s"`}`, header };
}

/** A rollback's first round trip (and the script strategy's): lock and report. */
export function lockScript(directory: string, key: string, lock: LockRequest): string {
  return `${PRELUDE}
${layout(directory, key)}
${stateFunction('ma_cv=$(ma_current)')}
${lockFragment(lock)}
ma_state ''
${revertStateCall('', directory, key)}
`;
}

/** Releases the lock if this token still holds it. */
export function unlockScript(directory: string, key: string, token: string, note = 'unlock'): string {
  return `${PRELUDE}
${layout(directory, key)}
ma_unlock ${quote(token)} ${quote(note)}
`;
}

export interface ActivateRequest {
  release: string;
  timeoutMs: number;
  arm: ArmSpec;
}

/**
 * Round trip 2: prepares the release (the runtime's `prepare`: compose pulls and pins its image,
 * before the window starts), records the activation, arms the revert (back to what is live now),
 * installs what the release runs with, switches `current`, restarts and gates. Records: @@previous ·
 * @@armed · @@unit · @@switched · @@since · @@gate; "@@error" when it stopped before switching.
 */
export function activateScript(runtime: ActivationRuntime, directory: string, request: ActivateRequest): string {
  const lay = layout(directory, runtime.key);
  return `${PRELUDE}
${lay}
${runtime.functions}
[ -d "$l" ] && printf '%s\\n' "$$" | $SUDO tee "$l/script.pid" >/dev/null
rel=${quote(request.release)}
[ -d "$d/releases/$rel" ] || { printf '@@error\\trelease %s is not on the host\\n' "$rel"; exit 1; }
prev=$(ma_current)
printf '@@previous\\t%s\\n' "$prev"
${runtime.prepare?.('rel') ?? ''}
${armFragment(runtime, revertScript(runtime, lay, request.timeoutMs), request.arm)}
ma_now=$(ma_now_iso)
$SUDO mkdir -p "$h" && printf 'activated=%s\nby=%s\noutcome=pending %s\n' "$ma_now" ${quote(request.arm.by)} "$ma_now" | $SUDO tee -a "$h/$rel" >/dev/null
${runtime.install('rel')}
ma_switch "$rel" || exit 1
ma_log "switch" "$rel"
${runtime.restartAndGate(request.timeoutMs)}`;
}

/** Keeps the newest `keep` releases: failed and unconfirmed ones go first, then the oldest; never `current` or "$protect". */
const PRUNE_FUNCTION = `ma_prune() {
  ma_cur=$(ma_current)
  ma_list=$(ls -1 "$d/releases" 2>/dev/null | grep -E ${RELEASE_ID_SH} | while read -r ma_id; do
    ma_last_outcome "$ma_id"
    case $ma_o in failed|unconfirmed) printf '0 %s\\n' "$ma_id" ;; *) printf '1 %s\\n' "$ma_id" ;; esac
  done | sort)
  ma_excess=$(( $(printf '%s\\n' "$ma_list" | grep -c .) - $1 ))
  printf '%s\\n' "$ma_list" | while read -r ma_k ma_id; do
    [ "$ma_excess" -gt 0 ] || break
    [ -n "$ma_id" ] || continue
    [ "$ma_id" = "$ma_cur" ] && continue
    [ "$ma_id" = "$2" ] && continue
    $SUDO rm -rf "$d/releases/$ma_id" "$d/.units/$ma_id.service" "$d/.units/$ma_id.timer" "$d/.units/$ma_id.plist" "$h/$ma_id" && printf '@@pruned\\t%s\\n' "$ma_id"
    ma_excess=$((ma_excess - 1))
  done
  # Records of releases removed by hand.
  for ma_f in "$h"/*; do [ -f "$ma_f" ] && [ ! -d "$d/releases/\${ma_f##*/}" ] && $SUDO rm -f "$ma_f"; done
  return 0
}`;

/**
 * A script that claims an activation runs whole or not at all, and to its end: `sh -s` reads a
 * script as it runs it, so a CLI killed while its ssh was still sending one could leave it cut
 * short (say, after recording the new live port, before stopping the old instance). The body is
 * one function, run on the last line: a script that did not arrive whole is a syntax error and
 * runs nothing (the host's revert then settles the activation). Once running it must finish
 * (drain and stop, switch back, unlock) even when the CLI is gone: a write to the closed ssh
 * channel must not end it.
 */
function runWhole(body: string): string {
  return `trap '' PIPE HUP\nma_whole() {\n${body}\n}\nma_whole\n`;
}

export interface ConfirmRequest {
  release: string;
  /** A rollback: the release it moved away from (recorded as reverted). */
  from?: string;
  keep: number;
  token: string;
  /** Run once the activation is claimed (the runtime's `confirmed` fragment). */
  after?: string;
}

/**
 * Round trip 3 after a passed gate: claims the activation (so the revert stands down), disarms,
 * records `passed`, prunes, unlocks. "@@late" (+ @@fired) when the revert was first.
 */
export function confirmScript(directory: string, key: string, request: ConfirmRequest): string {
  return `${PRELUDE}
${runWhole(`${layout(directory, key)}
${PRUNE_FUNCTION}
rel=${quote(request.release)}
if [ "$(ma_armed token)" = ${quote(request.token)} ] && [ "$(ma_armed release)" = "$rel" ] && ma_claim; then
  ma_disarm
  ma_outcome "$rel" passed
  ${request.from === undefined ? ':' : `ma_outcome ${quote(request.from)} reverted "rolled back to $rel"`}
  ma_log "confirmed" "$rel"
  printf '@@confirmed\\n'
  ${request.after ?? ':'}
else
  printf '@@late\\n'
  ma_print_fired
fi
ma_prune ${request.keep} ''
ma_unlock ${quote(request.token)}`)}
`;
}

export interface FallBackRequest {
  release: string;
  keep: number;
  timeoutMs: number;
  /** Why the gate failed, recorded with the `failed` verdict. */
  reason: string;
  token: string;
  /** The epoch the restart began (journal lines since then). */
  since?: number;
}

/**
 * Round trip 3 after a failed gate: the diagnosis, then (if this deploy still owns the
 * activation) the release recorded `failed`, `current` switched back to what was live with
 * what it runs with, restarted and gated — or the service stopped when nothing was live
 * before — then unlock. The failed release is kept (listed by `releases`) and pruned first.
 * Records: diagnosis sections · @@late · @@switched · @@gate · @@unlocked.
 */
export function fallBackScript(runtime: ActivationRuntime, directory: string, request: FallBackRequest): string {
  return `${PRELUDE}
${runWhole(`${layout(directory, runtime.key)}
${runtime.functions}
${PRUNE_FUNCTION}
[ -d "$l" ] && printf '%s\\n' "$$" | $SUDO tee "$l/script.pid" >/dev/null
ma_since=${request.since ?? "''"}
${runtime.diagnose('ma_since')}
rel=${quote(request.release)}
if [ "$(ma_armed token)" = ${quote(request.token)} ] && [ "$(ma_armed release)" = "$rel" ] && ma_claim; then
  prev=$(ma_armed previous)
  ma_disarm
  ma_outcome "$rel" failed ${quote(request.reason.replace(/[\r\n\t]/g, ' '))}
  if [ -n "$prev" ] && [ -d "$d/releases/$prev" ]; then
    ${runtime.install('prev')}
    ma_switch "$prev" || { ma_unlock ${quote(request.token)}; exit 1; }
    ma_log "switch back" "$prev"
    printf '@@back\\t%s\\n' "$prev"
    g=$(
${runtime.restoreAndGate ? runtime.restoreAndGate(request.timeoutMs, 'failed-gate') : runtime.restartAndGate(request.timeoutMs)}
)
    printf '%s\\n' "$g"
  else
    ${runtime.stop()}
    $SUDO rm -f "$d/current"
    ma_log "no previous release: stopped" "$rel"
    printf '@@back\\t\\n'
    printf '@@gate\\tstopped\\tno previous release\\n'
  fi
  # Failed releases pile up no further than one beyond keep_releases (failed ones go first).
  ma_prune ${request.keep + 1} "$rel"
else
  printf '@@late\\n'
  ma_print_fired
fi
ma_unlock ${quote(request.token)}`)}
`;
}

/** Parses the "releases" section into release ids, oldest first. */
export function releaseList(text: string | undefined): string[] {
  return (text ?? '')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => RELEASE_ID.test(l))
    .sort();
}

export interface ReleaseRecord {
  id: string;
  /** When it was last activated (ISO), by whom. */
  activated: string | null;
  by: string | null;
  /** The last verdict; null for a release from before the history (or never activated). */
  outcome: Outcome | null;
  outcomeAt: string | null;
  why: string | null;
}

export interface ReleaseState {
  current: string | null;
  /** Oldest first. */
  releases: ReleaseRecord[];
}

const OUTCOMES = new Set<string>(['pending', 'passed', 'failed', 'unconfirmed', 'reverted']);

/** The @@current/@@rel records of one tag. */
export function parseReleaseStates(output: string): Map<string, ReleaseState> {
  const out = new Map<string, ReleaseState>();
  const of = (tag: string) => {
    let s = out.get(tag);
    if (!s) out.set(tag, (s = { current: null, releases: [] }));
    return s;
  };
  for (const rec of records(output)) {
    const [kind, tag] = rec;
    if (tag === undefined) continue;
    if (kind === 'current') of(tag).current = rec[2] || null;
    if (kind === 'rel' && RELEASE_ID.test(rec[2] ?? '')) {
      const [word, at, ...why] = (rec[5] ?? '').split(' ');
      of(tag).releases.push({
        id: rec[2]!,
        activated: rec[3] || null,
        by: rec[4] || null,
        outcome: word !== undefined && OUTCOMES.has(word) ? (word as Outcome) : null,
        outcomeAt: at || null,
        why: why.join(' ') || null,
      });
    }
  }
  for (const s of out.values()) s.releases.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return out;
}

/**
 * What `rollback` goes back to: the newest release older than the live one whose gate passed.
 * Releases from before the history existed (no record) count only when none passed.
 */
export function rollbackTarget(state: ReleaseState): string | undefined {
  const older = state.releases.filter((r) => state.current === null || r.id < state.current);
  const passed = older.filter((r) => r.outcome === 'passed');
  if (passed.length > 0) return passed[passed.length - 1]!.id;
  const legacy = older.filter((r) => r.outcome === null);
  return legacy[legacy.length - 1]?.id;
}

/**
 * The read-only body of inspectScript, without the prelude (a caller that has run it already
 * runs this in a subshell of its own). Every service's `current` comes from one `ls -ld` (not a
 * readlink and a command substitution per service: each fork costs on a busy host); the link's
 * target is what follows " DIR/current -> " on its line.
 */
export function inspectBody(services: readonly { tag: string; directory: string; key: string }[]): string {
  const links = services.map((s) => quote(`${s.directory}/current`)).join(' ');
  return `${stateFunction('ma_link_current')}
h=''
ma_ls=$(QUOTING_STYLE=literal ls -ld -- ${links} 2>/dev/null) || :
ma_ls="$ma_nl$ma_ls$ma_nl"
ma_link_current() { ma_cv=''; case $ma_ls in *" $d/current -> "*) ma_cv=\${ma_ls#*" $d/current -> "}; ma_cv=\${ma_cv%%"$ma_nl"*}; ma_cv=\${ma_cv#releases/} ;; esac; }
${services.map((s) => `d=${quote(s.directory)}; h="$d/.history"\nma_state ${quote(s.tag)}\n${revertStateCall(s.tag, s.directory, s.key)}`).join('\n')}
`;
}

/** Read-only, for `releases` and rollback --dry-run: each service's releases, history and switch. */
export function inspectScript(services: readonly { tag: string; directory: string; key: string }[]): string {
  return `${PRELUDE}
${inspectBody(services)}`;
}

/**
 * The host side of the built-in release strategy (infra/v2): under the service directory
 *
 *   releases/<id>/           one directory per shipped artifact (id = UTC time + short hash)
 *   releases/.incoming-<id>/ a release being shipped (renamed into place once complete)
 *   current -> releases/<id> the live release, switched atomically (ln -sfn + mv -T)
 *   .units/<id>.service      the unit installed with each release (restored on rollback)
 *   .deploy.lock/owner       the deploy lock (see ops/lock.ts)
 *   deploys.log              one line per lock taken and released: an audit trail
 *
 * Every script starts with the prelude, uses only validated names and quoted values, and
 * prints "@@" records for the caller.
 */
import { quote, sh } from '../transport/quote.js';
import { gateScript } from './systemd.js';
import { PRELUDE } from './shell.js';
import type { RuntimeService } from './types.js';

/** Release ids: UTC time to the millisecond (to the second in ids from earlier versions, still recognised), then 8 hex of the content hash. */
export const RELEASE_ID = /^\d{8}T\d{6}(\d{3})?Z-[0-9a-f]{8}(\.\d+)?$/;

function dirVars(directory: string): string {
  return `d=${quote(directory)}
l="$d/.deploy.lock"
ma_log() { printf '%s %s\\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" | $SUDO tee -a "$d/deploys.log" >/dev/null 2>&1 || true; }`;
}

export interface LockRequest {
  ownerText: string;
  token: string;
  /** Break the lock first, only if it is still held by this (stale) token. */
  breakToken?: string;
}

/**
 * Takes the lock; reports the state of the service directory. With `releaseBase`, reserves a
 * fresh release id (base, or base.N when taken) and creates its incoming directory.
 * Records: @@lock acquired|held (+ owner section) · @@broke · @@uid · @@current · @@release · releases section.
 */
export function prepareScript(directory: string, lock: LockRequest, releaseBase?: string): string {
  const brk =
    lock.breakToken === undefined
      ? ''
      : `if [ -d "$l" ] && [ "$($SUDO sed -n 's/^token=//p' "$l/owner" 2>/dev/null)" = ${quote(lock.breakToken)} ]; then
  # A deploy whose connection was cut may have left its script running here: end it first.
  p=$($SUDO cat "$l/script.pid" 2>/dev/null)
  case "$( [ -n "$p" ] && ps -o comm= -p "$p" 2>/dev/null)" in sh|dash|bash) alive=1 ;; *) alive=0 ;; esac
  if [ "$alive" = 1 ]; then $SUDO kill -TERM "$p" 2>/dev/null; sleep 0.5; $SUDO kill -KILL "$p" 2>/dev/null; printf '@@killed\\t%s\\n' "$p"; fi
  $SUDO mv "$l" "$l.broken.$$" 2>/dev/null && $SUDO rm -rf "$l.broken.$$" && printf '@@broke\\t%s\\n' ${quote(lock.breakToken)} && ma_log "broke stale lock" ${quote(lock.breakToken)}
fi`;
  const reserve =
    releaseBase === undefined
      ? ''
      : `id=${quote(releaseBase)}; n=1
while [ -e "$d/releases/$id" ] || [ -e "$d/releases/.incoming-$id" ]; do n=$((n + 1)); id=${quote(releaseBase)}.$n; done
$SUDO mkdir -p "$d/releases/.incoming-$id" || { printf '@@error\\tcannot create %s\\n' "$d/releases/.incoming-$id"; ma_unlock; exit 1; }
printf '@@release\\t%s\\n' "$id"`;
  return `${PRELUDE}
${dirVars(directory)}
ma_unlock() { [ "$($SUDO sed -n 's/^token=//p' "$l/owner" 2>/dev/null)" = ${quote(lock.token)} ] && $SUDO rm -rf "$l"; }
$SUDO mkdir -p "$d/releases" || { printf '@@error\\tcannot create %s (is the ssh user allowed to, or to sudo -n?)\\n' "$d/releases"; exit 1; }
${brk}
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
printf '@@uid\\t%s\\n' "$(id -u)"
printf '@@current\\t%s\\n' "$(readlink "$d/current" 2>/dev/null | sed 's|^releases/||')"
printf '@@begin\\treleases\\n'
ls -1 "$d/releases" 2>/dev/null
printf '@@end\\n'
${reserve}
`;
}

/** Releases the lock if this token still holds it. */
export function unlockScript(directory: string, token: string, note = 'unlock'): string {
  return `${PRELUDE}
${dirVars(directory)}
if [ "$($SUDO sed -n 's/^token=//p' "$l/owner" 2>/dev/null)" = ${quote(token)} ]; then $SUDO rm -rf "$l"; ma_log ${quote(note)} ${quote(token)}; printf '@@unlocked\\n'; fi
`;
}

/** `tar -x` of the shipped artifact into the release's incoming directory (the stream comes on stdin). */
export function extractCommand(directory: string, release: string, options: { gzip: boolean; sudo: boolean }) {
  const target = `${directory}/releases/.incoming-${release}`;
  return sh`${options.sudo ? sh`sudo -n ` : sh``}tar -x ${options.gzip ? sh`-z ` : sh``}--no-same-owner -f - -C ${target}`;
}

/** Installs the unit text when it differs (daemon-reload, enable), records it for the release. */
function installUnit(unit: string, release: string, unitText: string): string {
  return `u=${quote(`/etc/systemd/system/${unit}`)}
$SUDO mkdir -p "$d/.units"
printf '%s' ${quote(unitText)} | $SUDO tee "$d/.units/"${quote(`${release}.service`)} >/dev/null
ma_install_unit "$d/.units/"${quote(`${release}.service`)}`;
}

/** The running script's pid, in the lock: a deploy that breaks a stale lock ends an orphaned script first. */
const MARK_PID = `[ -d "$l" ] && printf '%s\\n' "$$" | $SUDO tee "$l/script.pid" >/dev/null`;

const UNIT_FUNCTIONS = `ma_install_unit() {
  if [ -f "$1" ] && ! cmp -s "$1" "$u" 2>/dev/null; then
    $SUDO cp "$1" "$u.manage-apps.tmp" && $SUDO mv -f "$u.manage-apps.tmp" "$u" || { printf '@@gate\\tcrashed\\tcannot install %s\\n' "$u"; exit 1; }
    $SUDO systemctl daemon-reload
    printf '@@unit\\tchanged\\n'
  else
    printf '@@unit\\tsame\\n'
  fi
  # Enabled (started at boot) once; systemctl enable is slow, so only when the link is missing.
  w="/etc/systemd/system/multi-user.target.wants/$(basename "$u")"
  [ -e "$w" ] || $SUDO systemctl enable --quiet -- "$(basename "$u")" 2>/dev/null || true
}
ma_switch() {
  $SUDO ln -sfn "releases/$1" "$d/.current.manage-apps" && $SUDO mv -T "$d/.current.manage-apps" "$d/current" || { printf '@@gate\\tcrashed\\tcannot switch %s/current to %s\\n' "$d" "$1"; exit 1; }
  printf '@@switched\\t%s\\n' "$1"
}`;

/**
 * Moves the shipped release into place, installs its unit, switches `current` to it, restarts
 * the unit and waits for readiness (the gate of systemd.ts). Records: @@previous · @@unit ·
 * @@switched · @@before · @@since · @@gate.
 */
export function activateScript(service: RuntimeService, directory: string, release: string, unitText: string | undefined, timeoutMs: number): string {
  if (service.unit === undefined) throw new Error(`${service.id}: no unit`);
  const gate = gateScript(service, timeoutMs, { action: 'restart' }).replace(PRELUDE, '');
  return `${PRELUDE}
${dirVars(directory)}
${UNIT_FUNCTIONS}
${MARK_PID}
$SUDO mv "$d/releases/.incoming-"${quote(release)} "$d/releases/"${quote(release)} || { printf '@@gate\\tcrashed\\tthe shipped release %s is incomplete\\n' ${quote(release)}; exit 1; }
printf '@@previous\\t%s\\n' "$(readlink "$d/current" 2>/dev/null | sed 's|^releases/||')"
${unitText === undefined ? '' : installUnit(service.unit, release, unitText)}
ma_switch ${quote(release)}
ma_log "switch" ${quote(release)}
${gate}`;
}

/**
 * Switches back to `target` (a previous release), restores the unit installed with it, restarts
 * and gates again. With no target: stops the unit (nothing healthy to go back to).
 * `remove`: a failed release to delete afterwards.
 */
export function switchBackScript(service: RuntimeService, directory: string, target: string | undefined, timeoutMs: number, remove?: string): string {
  if (service.unit === undefined) throw new Error(`${service.id}: no unit`);
  const cleanup = remove === undefined ? '' : `$SUDO rm -rf "$d/releases/"${quote(remove)} "$d/.units/"${quote(`${remove}.service`)}`;
  if (target === undefined) {
    return `${PRELUDE}
${dirVars(directory)}
${sh`$SUDO systemctl stop -- ${service.unit}`.text} 2>&1
$SUDO rm -f "$d/current"
${cleanup}
ma_log "no previous release: stopped" ${quote(service.unit)}
printf '@@gate\\tstopped\\tno previous release\\n'
`;
  }
  const gate = gateScript(service, timeoutMs, { action: 'restart' }).replace(PRELUDE, '');
  return `${PRELUDE}
${dirVars(directory)}
${UNIT_FUNCTIONS}
${MARK_PID}
u=${quote(`/etc/systemd/system/${service.unit}`)}
[ -d "$d/releases/"${quote(target)} ] || { printf '@@gate\\tcrashed\\trelease %s is gone\\n' ${quote(target)}; exit 1; }
printf '@@previous\\t%s\\n' "$(readlink "$d/current" 2>/dev/null | sed 's|^releases/||')"
if [ -f "$d/.units/"${quote(`${target}.service`)} ]; then ma_install_unit "$d/.units/"${quote(`${target}.service`)}; fi
ma_switch ${quote(target)}
${cleanup}
ma_log "switch back" ${quote(target)}
${gate}`;
}

/** Keeps the newest `keep` releases (and always the current one); removes the rest with their units. */
export function pruneScript(directory: string, keep: number, unlockToken?: string): string {
  const unlock = unlockToken === undefined ? '' : `if [ "$($SUDO sed -n 's/^token=//p' "$l/owner" 2>/dev/null)" = ${quote(unlockToken)} ]; then $SUDO rm -rf "$l"; ma_log unlock ${quote(unlockToken)}; printf '@@unlocked\\n'; fi`;
  return `${PRELUDE}
${dirVars(directory)}
cur=$(readlink "$d/current" 2>/dev/null | sed 's|^releases/||')
ls -1 "$d/releases" 2>/dev/null | grep -E '^[0-9]{8}T[0-9]{6}([0-9]{3})?Z-[0-9a-f]{8}(\\.[0-9]+)?$' | sort -r | tail -n +${keep + 1} | while read -r old; do
  [ "$old" = "$cur" ] && continue
  $SUDO rm -rf "$d/releases/$old" "$d/.units/$old.service" && printf '@@pruned\\t%s\\n' "$old"
done
${unlock}
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

/** Read-only: the current release and the list (for rollback --dry-run). */
export function inspectScript(directory: string): string {
  return `${PRELUDE}
${dirVars(directory)}
printf '@@current\\t%s\\n' "$(readlink "$d/current" 2>/dev/null | sed 's|^releases/||')"
printf '@@begin\\treleases\\n'
ls -1 "$d/releases" 2>/dev/null
printf '@@end\\n'
`;
}

/** Removes a release that was not shipped completely. */
export function discardIncomingScript(directory: string, release: string): string {
  return `${PRELUDE}
${dirVars(directory)}
$SUDO rm -rf "$d/releases/.incoming-"${quote(release)}
`;
}

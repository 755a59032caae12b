/**
 * How a runtime puts a release into service on its host: the one seam between the deploy path
 * (src/ops/deploy/*) and a supervisor.
 *
 * Every host-side script of a deploy, a rollback and the dead-man switch is built from three
 * parts: the release layout (release.ts: `releases/<id>`, `current`, the history, the lock),
 * the dead-man switch (revert.ts: arm, claim, revert) and the fragments of an
 * `ActivationRuntime` below. The deploy path never says `systemctl`; a runtime never touches
 * `current`, the lock or the history. So a runtime (systemd units today; a Docker Compose
 * project next) plugs in by saying only:
 *
 * Fragments name releases and epochs by shell variable (`install('rel')` works on "$rel").
 *
 *   - `install(release)`: what the release in variable `release` needs besides its files before it can run, with
 *     `current` about to point at it (systemd: the unit rendered for it, `.units/<id>.service`,
 *     installed and daemon-reloaded when it differs). May be empty.
 *   - `restartAndGate(timeoutMs)`: (re)start the service from `<directory>/current` and wait for
 *     readiness on the host; prints `@@since<TAB>epoch` and one `@@gate<TAB>ready|crashed|timeout
 *     <TAB>detail<TAB>ms` record, and ends the (sub)shell it runs in with 0 (ready) or 1.
 *   - `stop()`: stop the service (nothing is left to run).
 *   - `diagnose(since)`: print the `@@begin status` / `journal` / `readiness` sections a failed
 *     gate reports (`since`: a shell word holding the epoch the restart began).
 *   - `key`: a file- and unit-name-safe word naming this service on its host (the revert timer
 *     is `manage-apps-revert-<key>`), and `label`, a few words for messages.
 *
 * Fragments are POSIX sh, run after PRELUDE (so `$SUDO` and the ma_* probe helpers exist) and
 * the release variables (`$d`, `ma_log`); they may be run by the dead-man switch long after the
 * ssh session ended, as root, by systemd: they must not depend on the caller's environment.
 * Every value in them is a validated name or quoted (transport/quote.ts).
 */
import { quote, sh } from '../transport/quote.js';
import { SWAP_DRAIN_S, swapInstance } from './swap.js';
import { diagnosisScript, gateScript } from './systemd.js';
import { PRELUDE } from './shell.js';
import type { RuntimeService } from './types.js';
import type { Supervisor } from '../fleet/model.js';
import { composeActivation } from './compose.js';

export interface ActivationRuntime {
  readonly key: string;
  readonly label: string;
  /** Shell functions the fragments need, defined once per script. */
  readonly functions: string;
  install(release: string): string;
  /**
   * Run by a deploy or rollback before the revert is armed, so the window does not count it:
   * what may take long and changes nothing live (compose: pull and pin the image). Fails with
   * "@@error" (nothing was switched). `install` must still do it when `prepare` did not run.
   */
  prepare?(release: string): string;
  restartAndGate(timeoutMs: number): string;
  stop(): string;
  diagnose(since: string): string;
  /**
   * Going back to the release `current` was switched back to (a failed gate, the dead-man
   * switch); default `restartAndGate`. A swap keeps the old instance running, so it only starts it.
   */
  restoreAndGate?(timeoutMs: number): string;
  /** Run by the confirmation once it has claimed the activation (a swap: drain and stop the old instance). */
  confirmed?(): string;
}

/** A script's body without the prelude (scripts are composed from fragments that share one). */
const body = (script: string) => script.replace(PRELUDE, '');

/**
 * ma_install_unit FILE: installs FILE as "$u" when it differs (daemon-reload); `enable`: and
 * enables it once (a swap's template is not enabled: its confirmed instance is).
 */
function installUnitFunction(enable: boolean): string {
  return `ma_install_unit() {
  if [ -f "$1" ] && ! cmp -s "$1" "$u" 2>/dev/null; then
    $SUDO cp "$1" "$u.manage-apps.tmp" && $SUDO mv -f "$u.manage-apps.tmp" "$u" || { printf '@@gate\\tcrashed\\tcannot install %s\\n' "$u"; exit 1; }
    $SUDO systemctl daemon-reload
    printf '@@unit\\tchanged\\n'
  else
    printf '@@unit\\tsame\\n'
  fi
${
    enable
      ? `  # Enabled (started at boot) once; systemctl enable is slow, so only when the link is missing.
  w="/etc/systemd/system/multi-user.target.wants/$(basename "$u")"
  [ -e "$w" ] || $SUDO systemctl enable --quiet -- "$(basename "$u")" 2>/dev/null || true
`
      : ''
  }}`;
}

/** systemd: the unit installed with each release, `systemctl restart`, the gate of systemd.ts. */
export function systemdActivation(service: RuntimeService): ActivationRuntime {
  const unit = service.unit;
  if (unit === undefined) throw new Error(`${service.id}: no unit`);
  return {
    key: service.key,
    label: unit,
    functions: `u=${quote(`/etc/systemd/system/${unit}`)}
${installUnitFunction(true)}`,
    install: (release) => `if [ -f "$d/.units/$${release}.service" ]; then ma_install_unit "$d/.units/$${release}.service"; fi`,
    restartAndGate: (timeoutMs) => body(gateScript(service, timeoutMs, { action: 'restart' })),
    stop: () => `${sh`$SUDO systemctl stop -- ${unit}`.text} 2>&1`,
    diagnose: (since) => body(diagnosisScript(service, { shellVar: since })),
  };
}

/** The activation of each runtime that ships releases (PID mode runs from its working tree: none). `imageRef`: compose, the image a new release pins. */
export const ACTIVATIONS: Record<Supervisor, ((service: RuntimeService, imageRef?: string) => ActivationRuntime) | undefined> = {
  systemd: (service) => systemdActivation(service),
  compose: (service, imageRef) => composeActivation(service, imageRef),
  pid: undefined,
};
/**
 * A swap behind an edge (service.swap.ports [A, B], docs/operations.md): the release runs as a
 * templated unit `<stem>@<port>.service` (PORT=%i) whose working directory is
 * `<directory>/.swap/<port>`, a symlink to the release that instance runs — pinned when the
 * instance is started, so a restart by systemd (Restart=on-failure) brings an instance back on
 * its own release, never on whatever `current` points at by then. The activation starts the
 * new release as the instance on the port the live one does not use and gates it there, while
 * the old instance keeps serving; the CLI then makes every edge prefer the new port
 * (ops/deploy/edge-swap.ts) and the confirmation drains and stops the old instance.
 *
 * Every edge routes to BOTH ports (`net caddy` renders it: `lb_policy first`, active health
 * checks on the readiness path, retries): whichever instance runs and is ready serves. So going
 * back (a failed gate, the dead-man switch, a later deploy resolving a leftover) needs nothing
 * from the edges, which the app host cannot reach: it makes sure the old instance runs and is
 * ready, then stops the new one; an edge that already preferred the new port falls over to
 * the old one. Host state under `<directory>/.swap/`:
 *
 *   live     the port of the confirmed instance ('' before the first swap: the in-place unit
 *            `<unit>` on service.port is the old one)
 *   next     the port of the instance being activated
 *   <port>   -> ../releases/<id>: the release that port's instance runs
 */
export function swapActivation(service: RuntimeService, ports: readonly [number, number]): ActivationRuntime {
  const unit = service.unit;
  if (unit === undefined || service.port === undefined) throw new Error(`${service.id}: a swap needs a unit and a port`);
  const [a, b] = ports;
  const at = (port: number): RuntimeService => ({ ...service, unit: swapInstance(unit, port), port });
  // A fragment per port, chosen by the port in shell variable `v` (each in a subshell: gates `exit`).
  const byPort = (v: string, f: (port: number) => string) => `case "$${v}" in
${a}) (
${f(a)}
) ;;
*) (
${f(b)}
) ;;
esac`;
  const inPlace = service.port;
  const other = inPlace === a ? b : a;
  const template = swapInstance(unit, '');
  return {
    key: service.key,
    label: `${template} (swap ${a}/${b})`,
    functions: `u=${quote(`/etc/systemd/system/${template}`)}
sw="$d/.swap"
${installUnitFunction(false)}
ma_swap_live() { cat "$sw/live" 2>/dev/null; }
# The unit of the instance on port $1: the in-place unit when $1 is empty (before the first swap).
ma_swap_unit() { if [ -n "$1" ]; then printf '%s' ${quote(swapInstance(unit, ''))} | sed "s/@/@$1/"; else printf '%s' ${quote(unit)}; fi; }
# ma_swap_pin PORT RELEASE: the instance on PORT runs RELEASE from its next start on.
ma_swap_pin() { $SUDO mkdir -p "$sw" && $SUDO ln -sfn "../releases/$2" "$sw/.$1.tmp" && $SUDO mv -T "$sw/.$1.tmp" "$sw/$1"; }
ma_swap_pinned() { ma_p=$(readlink "$sw/$1" 2>/dev/null) || ma_p=''; printf '%s' "\${ma_p#../releases/}"; }`,
    install: (release) => `if [ -f "$d/.units/$${release}.service" ]; then ma_install_unit "$d/.units/$${release}.service"; fi`,
    restartAndGate: (timeoutMs) => `ma_old=$(ma_swap_live)
case "$ma_old" in ${a}) ma_new=${b} ;; ${b}) ma_new=${a} ;; *) ma_new=${other} ;; esac
$SUDO mkdir -p "$sw" && printf '%s\n' "$ma_new" | $SUDO tee "$sw/next" >/dev/null
ma_swap_pin "$ma_new" "$(ma_current)" || { printf '@@gate\tcrashed\tcannot pin %s/%s\n' "$sw" "$ma_new"; exit 1; }
printf '@@swap\t%s\t%s\n' "\${ma_old:-${inPlace}}" "$ma_new"
${byPort('ma_new', (p) => body(gateScript(at(p), timeoutMs, { action: 'restart' })))}`,
    restoreAndGate: (timeoutMs) => `ma_old=$(ma_swap_live); ma_new=$(cat "$sw/next" 2>/dev/null)
[ "$ma_new" = "$ma_old" ] && ma_new=''
if [ -z "$ma_old" ]; then (
${body(gateScript(service, timeoutMs, { action: 'start' }))}
)
else
  # The old instance runs the release current is back on (a no-op start while it runs it already).
  ma_act=start
  [ "$(ma_swap_pinned "$ma_old")" = "$(ma_current)" ] || { ma_swap_pin "$ma_old" "$(ma_current)"; ma_act=restart; }
  if [ "$ma_act" = start ]; then
${byPort('ma_old', (p) => body(gateScript(at(p), timeoutMs, { action: 'start' })))}
  else
${byPort('ma_old', (p) => body(gateScript(at(p), timeoutMs, { action: 'restart' })))}
  fi
fi
ma_rc=$?
# The old instance serves again: stop the new one (an edge that preferred it falls over to the
# old port). If the old one did not come back, the new one keeps serving rather than nothing.
if [ -n "$ma_new" ] && [ "$ma_rc" = 0 ]; then
  $SUDO systemctl stop -- "$(ma_swap_unit "$ma_new")" 2>/dev/null
  $SUDO rm -f "$sw/next"
  ma_log "swap: stopped" "$(ma_swap_unit "$ma_new")"
fi
exit "$ma_rc"`,
    // The in-place unit may be gone (not loaded): that must not keep the instances running.
    stop: () => `${sh`$SUDO systemctl stop -- ${unit}`.text} 2>/dev/null; ${sh`$SUDO systemctl stop -- ${swapInstance(unit, a)} ${swapInstance(unit, b)}`.text} 2>&1`,
    diagnose: (since) => `ma_new=$(cat "$sw/next" 2>/dev/null)
${byPort('ma_new', (p) => body(diagnosisScript(at(p), { shellVar: since })))}`,
    confirmed: () => `ma_old=$(ma_swap_live); ma_new=$(cat "$sw/next" 2>/dev/null)
if [ -n "$ma_new" ]; then
  printf '%s\n' "$ma_new" | $SUDO tee "$sw/live.tmp" >/dev/null && $SUDO mv -f "$sw/live.tmp" "$sw/live"
  $SUDO rm -f "$sw/next"
  $SUDO systemctl enable --quiet -- "$(ma_swap_unit "$ma_new")" 2>/dev/null || true
  # The edges prefer the new instance: let the old one finish what it is serving, then stop it.
  sleep ${SWAP_DRAIN_S}
  ma_u=$(ma_swap_unit "$ma_old")
  $SUDO systemctl disable --quiet --now -- "$ma_u" 2>/dev/null || $SUDO systemctl stop -- "$ma_u" 2>/dev/null
  ma_log "swap: edge on" "$ma_new" "stopped" "$ma_u"
  printf '@@drained\t%s\t%s\n' "\${ma_old:-${inPlace}}" "$ma_new"
fi`,
  };
}


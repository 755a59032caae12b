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
  restartAndGate(timeoutMs: number): string;
  stop(): string;
  diagnose(since: string): string;
}

/** A script's body without the prelude (scripts are composed from fragments that share one). */
const body = (script: string) => script.replace(PRELUDE, '');

/** systemd: the unit installed with each release, `systemctl restart`, the gate of systemd.ts. */
export function systemdActivation(service: RuntimeService): ActivationRuntime {
  const unit = service.unit;
  if (unit === undefined) throw new Error(`${service.id}: no unit`);
  return {
    key: service.key,
    label: unit,
    functions: `u=${quote(`/etc/systemd/system/${unit}`)}
ma_install_unit() {
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
}`,
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

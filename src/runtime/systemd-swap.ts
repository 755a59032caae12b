/**
 * A systemd service behind an edge that deploys by swapping (service.swap): the names of its
 * instances, its activation (swapActivation below), and the scripts of the other verbs (status,
 * logs, start, stop, restart) for them: the instance that serves is host state
 * (`<directory>/.swap/live`), so each script picks it on the host, in the same round trip.
 */
import { quote, sh } from '../transport/quote.js';
import type { ActivationRuntime } from './runtime.js';
import { PRELUDE } from './shell.js';
import { body, diagnosisScript, gateScript, installUnitFunction } from './systemd-units.js';
import type { RuntimeService } from './types.js';

/** Seconds the old instance keeps serving after the edges switched away from it. */
export const SWAP_DRAIN_S = 1;

/** `app.service` + port → `app@8081.service`; with '' the template `app@.service`. */
export function swapInstance(unit: string, port: number | ''): string {
  return `${unit.replace(/\.service$/, '')}@${port}.service`;
}

/**
 * A swap service's possible instances: the one on each swap port, and the in-place unit (on
 * service.port: what runs before the first swap). `live`: the value of `.swap/live` that picks it.
 */
export function swapCandidates(rs: RuntimeService): { live: string; rs: RuntimeService }[] {
  if (rs.swap === undefined || rs.unit === undefined) return [{ live: '', rs }];
  const unit = rs.unit;
  return [
    ...rs.swap.map((port) => ({ live: String(port), rs: { ...rs, id: `${rs.id}@${port}`, unit: swapInstance(unit, port), port } })),
    { live: '', rs },
  ];
}

/** The shell word reading a swap service's live port ('' before the first swap). */
export function swapLiveWord(rs: RuntimeService): string {
  return `"$(cat ${quote(`${rs.directory}/.swap/live`)} 2>/dev/null)"`;
}

/** A swap service's live port in a status: "@@swaplive<TAB>id<TAB>port". */
export function swapLivePart(units: readonly RuntimeService[]): string {
  return units
    .filter((u) => u.swap !== undefined)
    .map((u) => `printf '@@swaplive\\t%s\\t%s\\n' ${quote(u.id)} ${swapLiveWord(u)}`)
    .join('\n');
}

/**
 * A script for a service's live instance: `make` once per candidate, the one `.swap/live`
 * names run (in a subshell: the scripts `exit`). A service without swap gets `make(rs)` as is.
 */
export function forLiveInstance(rs: RuntimeService, make: (instance: RuntimeService) => string): string {
  if (rs.swap === undefined) return make(rs);
  const arms = swapCandidates(rs).map((c) => `${c.live === '' ? '*' : c.live}) (\n${make(c.rs).replace(PRELUDE, '')}\n) ;;`);
  return `${PRELUDE}\ncase ${swapLiveWord(rs)} in\n${arms.join('\n')}\nesac\n`;
}

/**
 * `stop` of a swap service: every instance, and the in-place unit if it is still installed (a
 * unit that is not loaded is nothing to stop, not a failure). Prints "@@done<TAB>stop<TAB>rc".
 */
export function swapStopScript(rs: RuntimeService): string {
  const [instances, inPlace] = [
    swapCandidates(rs)
      .filter((c) => c.live !== '')
      .map((c) => c.rs.unit!),
    rs.unit!,
  ];
  return `${PRELUDE}
${sh`$SUDO systemctl stop -- ${inPlace}`.text} 2>/dev/null
${sh`$SUDO systemctl stop -- ${instances}`.text} 2>&1
rc=$?
printf '@@done\tstop\t%s\n' "$rc"
exit "$rc"
`;
}

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
    stop: () =>
      `${sh`$SUDO systemctl stop -- ${unit}`.text} 2>/dev/null; ${sh`$SUDO systemctl stop -- ${swapInstance(unit, a)} ${swapInstance(unit, b)}`.text} 2>&1`,
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

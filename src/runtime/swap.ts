/**
 * Names of a swap's instances (service.swap, runtime/activation.ts swapActivation), and the
 * scripts of the other verbs (status, logs, start, stop, restart) for them: the instance that
 * serves is host state (`<directory>/.swap/live`), so each script picks it on the host, in the
 * same round trip.
 */
import { quote, sh } from '../transport/quote.js';
import { PRELUDE } from './shell.js';
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
  return [...rs.swap.map((port) => ({ live: String(port), rs: { ...rs, id: `${rs.id}@${port}`, unit: swapInstance(unit, port), port } })), { live: '', rs }];
}

/** The shell word reading a swap service's live port ('' before the first swap). */
export function swapLiveWord(rs: RuntimeService): string {
  return `"$(cat ${quote(`${rs.directory}/.swap/live`)} 2>/dev/null)"`;
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
  const [instances, inPlace] = [swapCandidates(rs).filter((c) => c.live !== '').map((c) => c.rs.unit!), rs.unit!];
  return `${PRELUDE}
${sh`$SUDO systemctl stop -- ${inPlace}`.text} 2>/dev/null
${sh`$SUDO systemctl stop -- ${instances}`.text} 2>&1
rc=$?
printf '@@done\tstop\t%s\n' "$rc"
exit "$rc"
`;
}

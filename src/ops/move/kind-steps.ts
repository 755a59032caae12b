/** The planned steps, in words, of moving a scheduled job or a swap service (jobs.ts, swap.ts). */
import type { Service } from '../../fleet/model.js';
import { jobTimer } from '../../fleet/schedule.js';

export function kindSteps(how: 'job' | 'swap' | 'compose', service: Service, from: string, to: string, edges: readonly string[]): string[] {
  const unit = service.unit ?? `${service.project}.service`;
  if (how === 'compose')
    return [
      `ship: with it the image digest it runs (${service.directory}/current/.manage-apps/image: repo@sha256:…, what its gate passed with)`,
      `start: deploy that release on ${to} under the same id, the image pulled there by that digest from ${service.compose!.image ?? 'its registry'} (never a tag), the env file and secrets delivered as deploy does, gated on ${service.port === undefined ? 'it running steadily' : service.health.readiness}, while ${from} keeps serving; a target that cannot pull the digest stops the move here`,
      ...edges.map(
        (e) =>
          `edges: ${e} routes ${service.domains.join(', ')} to ${to} instead of ${from} (Caddy's admin API, a graceful load; the Caddyfile on ${e} says the same)`,
      ),
      `stop: stop ${service.compose!.service}'s container on ${from} (it stays stopped; its releases stay)`,
    ];
  if (how === 'job') {
    const timer = jobTimer(unit);
    return [
      `pause: stop ${timer} on ${from} (still enabled there) and wait for a run in progress to end (up to its timeout; past it the move refuses and ${from}'s timer runs again): the job never runs on two hosts at once`,
      `start: deploy that release on ${to}: ${unit} and ${timer} installed, the timer enabled and started (gate: the timer active); a failed gate starts ${from}'s timer again once ${to}'s is stopped`,
      `stop: disable ${timer} on ${from} (its unit and releases stay)`,
    ];
  }
  const [a, b] = service.swapPorts!;
  return [
    `start: deploy that release on ${to} as a swap deploy does (an instance on ${a} or ${b} started, gated on ${service.health.readiness}, confirmed and enabled) while ${from} keeps serving; a failed gate stops the move here`,
    ...edges.map(
      (e) =>
        `edges: ${e} dials both instances on ${to} instead of ${from}, in one graceful load (Caddy's admin API): ${from}'s live instance's upstream becomes ${to}'s live instance's, so it stays the one preferred; the Caddyfile on ${e} says the same`,
    ),
    `stop: stop and disable every unit of ${service.id} on ${from} (${unit}, its instances on ${a} and ${b}; its releases stay)`,
  ];
}

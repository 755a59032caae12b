/** Names of a swap's instances (service.swap, runtime/activation.ts swapActivation). */

/** Seconds the old instance keeps serving after the edges switched away from it. */
export const SWAP_DRAIN_S = 1;

/** `app.service` + port → `app@8081.service`; with '' the template `app@.service`. */
export function swapInstance(unit: string, port: number | ''): string {
  return `${unit.replace(/\.service$/, '')}@${port}.service`;
}

/**
 * A host's whole status in one script and one round trip: systemd units (one `systemctl
 * show`), PID-mode processes (their pid files), compose containers (one `docker inspect`) and every loopback health probe (one curl).
 */
import type { Shell } from '../transport/quote.js';
import { containerPart, parseComposeStatus } from './compose.js';
import { parsePidStatus, pidPart } from './pid.js';
import { parseRevertStates, REVERT_STATE_FUNCTION, revertStateCall } from './revert.js';
import { BASE_PRELUDE } from './shell.js';
import { HOST_LINE, parseStatus, probePart, showPart, type HostReport } from './systemd.js';
import type { RuntimeService } from './types.js';

export interface HostStatusInput {
  /** Services supervised by systemd on the host. */
  units: readonly RuntimeService[];
  /** Services in PID mode on the host, and their state directory. */
  pids: readonly RuntimeService[];
  state?: Shell;
  /** Docker Compose services on the host. */
  containers?: readonly RuntimeService[];
}

export function hostStatusScript(input: HostStatusInput): string {
  const pid = input.pids.length > 0 && input.state !== undefined ? pidPart(input.state, input.pids) : '';
  const containers = input.containers ?? [];
  return `${[BASE_PRELUDE, HOST_LINE, showPart(input.units), pid, containerPart(containers), probePart([...input.units, ...input.pids, ...containers]), revertPart([...input.units, ...containers])].filter(Boolean).join('\n')}\n`;
}

/** Each released service's dead-man switch (armed or fired): file tests only, unless one is armed. */
function revertPart(units: HostStatusInput['units']): string {
  const released = units.filter((u) => u.directory !== undefined);
  if (released.length === 0) return '';
  return [REVERT_STATE_FUNCTION, ...released.map((u) => revertStateCall(u.id, u.directory!, u.key))].join('\n');
}

export function parseHostStatus(input: HostStatusInput, output: string): HostReport {
  const systemd = parseStatus(input.units, output);
  const pid = parsePidStatus(input.pids, output);
  const reverts = parseRevertStates(output);
  const containers = input.containers === undefined || input.containers.length === 0 ? [] : parseComposeStatus(input.containers, output);
  const services = [...systemd.services, ...containers].map((s) => (reverts.has(s.id) ? { ...s, revert: reverts.get(s.id)! } : s));
  return { hostname: systemd.hostname, clock: systemd.clock, services: [...services, ...pid.services] };
}

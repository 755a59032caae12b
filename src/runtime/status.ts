/**
 * A host's whole status in one script and one round trip: systemd units (one `systemctl
 * show`), PID-mode processes (their pid files) and every loopback health probe (one curl).
 */
import type { Shell } from '../transport/quote.js';
import { parsePidStatus, pidPart } from './pid.js';
import { BASE_PRELUDE } from './shell.js';
import { HOST_LINE, parseStatus, probePart, showPart, type HostReport } from './systemd.js';
import type { RuntimeService } from './types.js';

export interface HostStatusInput {
  /** Services supervised by systemd on the host. */
  units: readonly RuntimeService[];
  /** Services in PID mode on the host, and their state directory. */
  pids: readonly RuntimeService[];
  state?: Shell;
}

export function hostStatusScript(input: HostStatusInput): string {
  const pid = input.pids.length > 0 && input.state !== undefined ? pidPart(input.state, input.pids) : '';
  return `${[BASE_PRELUDE, HOST_LINE, showPart(input.units), pid, probePart([...input.units, ...input.pids])].filter(Boolean).join('\n')}\n`;
}

export function parseHostStatus(input: HostStatusInput, output: string): HostReport {
  const systemd = parseStatus(input.units, output);
  const pid = parsePidStatus(input.pids, output);
  return { hostname: systemd.hostname, clock: systemd.clock, services: [...systemd.services, ...pid.services] };
}

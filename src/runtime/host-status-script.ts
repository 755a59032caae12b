/**
 * A host's whole status in one script and one round trip: systemd units (one `systemctl
 * show`), PID-mode processes (their pid files), compose containers (one `docker inspect`) and every loopback health probe (one curl).
 */
import type { Shell } from '../transport/quote.js';
import { containerPart, parseComposeStatus } from './compose.js';
import { parsePidStatus, pidPart } from './pid.js';
import { parseRevertStates, REVERT_STATE_FUNCTION, revertStateCall } from './revert.js';
import { BASE_PRELUDE, records } from './shell.js';
import { quote } from '../transport/quote.js';
import { swapCandidates, swapLiveWord } from './swap.js';
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

/** Every unit status asks about: a swap service's instances (runtime/swap.ts) in place of its unit. */
const instances = (units: HostStatusInput['units']) => units.flatMap((u) => swapCandidates(u).map((c) => c.rs));

/** A swap service's live port: "@@swaplive<TAB>id<TAB>port". */
function swapLivePart(units: HostStatusInput['units']): string {
  return units
    .filter((u) => u.swap !== undefined)
    .map((u) => `printf '@@swaplive\\t%s\\t%s\\n' ${quote(u.id)} ${swapLiveWord(u)}`)
    .join('\n');
}

export function hostStatusScript(input: HostStatusInput): string {
  const pid = input.pids.length > 0 && input.state !== undefined ? pidPart(input.state, input.pids) : '';
  const containers = input.containers ?? [];
  const units = instances(input.units);
  return `${[BASE_PRELUDE, HOST_LINE, showPart(units), pid, containerPart(containers), probePart([...units, ...input.pids, ...containers]), revertPart([...input.units, ...containers]), swapLivePart(input.units)].filter(Boolean).join('\n')}\n`;
}

/** Each released service's dead-man switch (armed or fired): file tests only, unless one is armed. */
function revertPart(units: HostStatusInput['units']): string {
  const released = units.filter((u) => u.directory !== undefined);
  if (released.length === 0) return '';
  return [REVERT_STATE_FUNCTION, ...released.map((u) => revertStateCall(u.id, u.directory!, u.key))].join('\n');
}

export function parseHostStatus(input: HostStatusInput, output: string): HostReport {
  const parsed = parseStatus(instances(input.units), output);
  // A swap service is reported as its live instance.
  const live = new Map(records(output).filter((r) => r[0] === 'swaplive').map((r) => [r[1] ?? '', r[2] ?? '']));
  const byId = new Map(parsed.services.map((s) => [s.id, s]));
  const systemd = {
    ...parsed,
    services: input.units.map((u) => {
      const chosen = swapCandidates(u).find((c) => c.live === (live.get(u.id) ?? ''))!;
      const row = byId.get(chosen.rs.id)!;
      return chosen.rs === u ? row : { ...row, id: u.id, instance: { unit: chosen.rs.unit!, port: chosen.rs.port ?? null } };
    }),
  };
  const pid = parsePidStatus(input.pids, output);
  const reverts = parseRevertStates(output);
  const containers = input.containers === undefined || input.containers.length === 0 ? [] : parseComposeStatus(input.containers, output);
  const services = [...systemd.services, ...containers].map((s) => (reverts.has(s.id) ? { ...s, revert: reverts.get(s.id)! } : s));
  return { hostname: systemd.hostname, clock: systemd.clock, services: [...services, ...pid.services] };
}

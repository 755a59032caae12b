/** Whether an inventory host is the machine manage-apps runs on (then: PID mode, no ssh). */
import { hostname } from 'node:os';
import type { Host } from '../fleet/model.js';

const short = (name: string) => name.toLowerCase().split('.')[0] ?? name.toLowerCase();

/**
 * A host is this machine when the inventory says so (`local: true`, provider local) or when its
 * name, alias or address is this machine's own host name. A loopback address (127.0.0.1,
 * localhost, ::1) alone does not make it this machine: that is how a port-forwarded VM, a
 * container's sshd or a tunnel is reached, so such a host goes through ssh like any other
 * (host key checked) and its systemd services are driven with systemctl there.
 */
export function isThisMachine(host: Host, me: string = hostname()): boolean {
  if (host.local || host.provider === 'local') return true;
  const own = short(me);
  return [host.name, host.alias, host.address].some((n) => n !== undefined && short(n) === own);
}

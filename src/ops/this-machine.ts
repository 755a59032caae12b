/** Whether an inventory host is the machine manage-apps runs on (then: PID mode, no ssh). */
import { hostname } from 'node:os';
import type { Host } from '../fleet/model.js';

const short = (name: string) => name.toLowerCase().split('.')[0] ?? name.toLowerCase();

/** A host is this machine when the inventory says so (local, provider local) or it names this machine. */
export function isThisMachine(host: Host): boolean {
  if (host.local || host.provider === 'local') return true;
  const me = short(hostname());
  return [host.name, host.alias, host.address].some((n) => n !== undefined && (n === 'localhost' || n === '127.0.0.1' || short(n) === me));
}

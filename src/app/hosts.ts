/** hosts: the inventory at a glance. */
import { listHosts, unplacedServices, type HostRow } from '../inspect/hosts.js';
import { loadFleet, type FleetOptions } from '../load/fleet.js';
import { viewAnswer, type Answer, type WithProblems } from './answer.js';

/** `hosts`: each host with its services and clusters, and the services placed on no known host. */
export async function hosts(source: FleetOptions): Promise<Answer<WithProblems<{ hosts: HostRow[]; unplaced: string[] }>>> {
  const loaded = await loadFleet(source);
  return viewAnswer(loaded, { hosts: listHosts(loaded.fleet), unplaced: unplacedServices(loaded.fleet) });
}

/** `validate`'s view of the tunnels: the problems resolveTunnels finds, located in the inventory. */
import { FleetIndex } from '../analysis/topology.js';
import type { Fleet } from '../fleet/model.js';
import type { LoadedInventory } from '../inventory/load.js';
import type { Problem } from '../problems.js';
import { resolveTunnels } from './resolve.js';

export function tunnelProblems(fleet: Fleet, inventory: LoadedInventory): Problem[] {
  if (fleet.tunnels.length === 0) return [];
  const where = { file: inventory.file, line: 1, column: 1 };
  const locator = {
    inventory: (path: readonly (string | number)[]) => inventory.source?.locate(path) ?? where,
    manifest: (file: string) => ({ file, line: 1, column: 1 }),
  };
  return resolveTunnels(new FleetIndex(fleet), locator).problems;
}

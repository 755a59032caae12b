/** Problems found after loading point into the files the fleet was loaded from. */
import { type Locator } from '../source/locator.js';
import type { LoadedFleet } from './fleet.js';

/** Problems point into the files the fleet was loaded from. */
export function locatorOf(loaded: LoadedFleet): Locator {
  const byFile = new Map(loaded.manifests.map((m) => [m.file, m.source]));
  const inventoryFile = loaded.inventory.file;
  return {
    inventory: (path) => loaded.inventory.source?.locate(path) ?? { file: inventoryFile, line: 1, column: 1 },
    manifest: (file, path) => byFile.get(file)?.locate(path) ?? { file, line: 1, column: 1 },
  };
}

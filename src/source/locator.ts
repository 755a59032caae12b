/** Where a value came from, so problems found after loading (renderers, tunnels) point into the user's files. */
import type { Location } from '../problems.js';
import type { PathSegment } from './document.js';

/**
 * Where a value came from, so renderer problems point into the user's files.
 * Built from a loaded fleet (locatorOf); the default points at line 1 of the file.
 */
export interface Locator {
  inventory(path: readonly PathSegment[]): Location;
  manifest(file: string, path: readonly PathSegment[]): Location;
}

export function defaultLocator(inventoryFile: string): Locator {
  return {
    inventory: () => ({ file: inventoryFile, line: 1, column: 1 }),
    manifest: (file) => ({ file, line: 1, column: 1 }),
  };
}

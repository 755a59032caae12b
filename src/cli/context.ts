/** What every command receives, and what it gives back to the one printer in main.ts. */
import type { LoadedFleet } from '../fleet/load.js';
import { secretLines } from '../inventory/load.js';
import { redact, type LineSource } from './report-problems.js';

export interface GlobalOptions {
  root?: string;
  inventory?: string;
  json?: boolean;
}

export interface CommandResult {
  exitCode: number;
  /** The stable --json document. */
  json: unknown;
  /** Human output (stdout). */
  human: () => string;
}

/** Code-frame lines for any file the fleet loaded. */
export function lineSource(loaded: LoadedFleet): LineSource {
  const byFile = new Map<string, string[]>();
  for (const m of loaded.manifests) byFile.set(m.file, m.source.lines);
  const inventory = loaded.inventory.source;
  if (inventory) byFile.set(loaded.inventory.file, inventory.lines);
  // Manifests' secrets are masked through their secret_in_manifest problems; the inventory has no such rule.
  let masked: Set<number> | undefined;
  return (file, line) => {
    const text = byFile.get(file)?.[line - 1];
    if (text === undefined || !inventory || file !== loaded.inventory.file) return text;
    masked ??= secretLines(inventory);
    return masked.has(line) ? redact(text) : text;
  };
}

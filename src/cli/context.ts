/** What every command receives, and what it gives back to the one printer in main.ts. */
import type { LoadedFleet } from '../app/answer.js';
import { secretLines } from '../inventory/load.js';
import { redact, type LineSource } from './report-problems.js';
import { composeDisplay, readCompose } from '../manifest/compose.js';

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
  /** The human output is a host's bytes the user asked for as they are (`logs --raw` into a pipe): printed without the terminal gate. */
  raw?: boolean;
}

/** Code-frame lines for any file the fleet loaded. */
export function lineSource(loaded: LoadedFleet): LineSource {
  const byFile = new Map<string, string[]>();
  for (const m of loaded.manifests) byFile.set(m.file, m.source.lines);
  // Compose files (read and cached while the fleet was built): problems point into them too.
  for (const s of loaded.fleet.services) {
    if (s.compose === undefined) continue;
    const read = readCompose(s.compose.path, composeDisplay(s.manifest, s.compose.file), s.compose.service);
    if ('source' in read) byFile.set(read.source.file, read.source.lines);
  }
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

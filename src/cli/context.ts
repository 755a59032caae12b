/** What every command receives, and what it gives back to the one printer in main.ts. */
import type { LoadedFleet } from '../fleet/load.js';
import type { LineSource } from './report-problems.js';

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
  if (loaded.inventory.source) byFile.set(loaded.inventory.file, loaded.inventory.source.lines);
  return (file, line) => byFile.get(file)?.[line - 1];
}

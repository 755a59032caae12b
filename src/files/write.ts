/**
 * Writing the user's files: atomically (never half-written), and with a backup
 * of anything we replace. A write that would change nothing touches nothing.
 */
import { copyFile, readFile } from 'node:fs/promises';
import writeFileAtomic from 'write-file-atomic';

export type WriteOutcome = 'created' | 'updated' | 'unchanged';

export interface WriteResult {
  path: string;
  outcome: WriteOutcome;
  /** Where the previous content was saved, when there was any. */
  backup?: string;
}

export async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export async function writeFileSafely(path: string, content: string, options: { mode?: number } = {}): Promise<WriteResult> {
  const previous = await readIfExists(path);
  if (previous === content) return { path, outcome: 'unchanged' };
  let backup: string | undefined;
  if (previous !== undefined) {
    backup = `${path}.bak`;
    await copyFile(path, backup);
  }
  await writeFileAtomic(path, content, options.mode === undefined ? {} : { mode: options.mode });
  return backup === undefined ? { path, outcome: previous === undefined ? 'created' : 'updated' } : { path, outcome: 'updated', backup };
}

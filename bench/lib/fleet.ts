/** The test fleet a benchmark runs on: booted, given a work directory, always torn down. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestFleet } from '../../test/harness/test-fleet.js';

type Spec = Parameters<typeof TestFleet.up>[0];
type Options = Parameters<typeof TestFleet.up>[1];

/**
 * Boots the fleet, makes a work directory (`prefix` + random), runs `body`, then — whatever
 * happened — takes the fleet down and removes the directory.
 */
export async function withBenchFleet<T>(
  spec: Spec,
  options: Options,
  prefix: string,
  body: (fleet: TestFleet, work: string) => Promise<T>,
): Promise<T> {
  const fleet = await TestFleet.up(spec, options);
  const work = mkdtempSync(join(tmpdir(), prefix));
  try {
    return await body(fleet, work);
  } finally {
    await fleet.down();
    rmSync(work, { recursive: true, force: true });
  }
}

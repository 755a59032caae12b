/**
 * Reading the user's files without trusting what the path is: only a regular file is read
 * (a FIFO would block for ever, a device never ends, a directory is not a file), opened with
 * O_NONBLOCK so even the open cannot hang on a FIFO, and never more than a size limit, so a
 * huge file is refused before it is parsed.
 */
import { closeSync, constants, fstatSync, openSync, readSync, type BigIntStats, type Stats } from 'node:fs';

/** 1 MiB: the largest real manifest is a few kilobytes (docs/manifest.md). */
export const MAX_MANIFEST_BYTES = 1024 * 1024;
/** 8 MiB: an inventory of thousands of hosts is well under it (docs/inventory.md). */
export const MAX_INVENTORY_BYTES = 8 * 1024 * 1024;

/**
 * The kernel's pseudo-filesystems hold no projects, and /proc has no end (every process's view
 * of /): `validate` run from / must not walk them, nor a --root inside them.
 */
const PSEUDO_FILESYSTEMS = ['/proc', '/sys', '/dev'];
export function isPseudoFilesystem(path: string): boolean {
  const p = path.length > 1 ? path.replace(/\/+$/, '') : path;
  return PSEUDO_FILESYSTEMS.some((root) => p === root || p.startsWith(`${root}/`));
}

export type ReadOutcome = { text: string } | { error: string; code: string };

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK;

/** What a non-regular file is, in words. */
export function kindOf(stats: Stats | BigIntStats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a FIFO (named pipe)';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

function tooLarge(limit: number): string {
  return `it is larger than the limit of ${limit / 1024 / 1024} MiB`;
}

/** The file's text, or why it was not read (ENOENT, EACCES, not a regular file, too large). */
export function readRegularFileSync(path: string, limit: number): ReadOutcome {
  return readRegular(path, limit);
}

/**
 * The same read, with the size and modification time (to the nanosecond) of the file that was
 * read, from the same open file: what a cache of everything made from the file keys on, beside
 * a hash of the text. `stamp` is empty when nothing was opened.
 */
export function readRegularFileStamped(path: string, limit: number): { read: ReadOutcome; stamp: string } {
  let stamp = '';
  const read = readRegular(path, limit, (size, mtimeNs) => (stamp = `${size}:${mtimeNs}`));
  return { read, stamp };
}

function readRegular(path: string, limit: number, opened?: (size: bigint, mtimeNs: bigint) => void): ReadOutcome {
  let fd: number;
  try {
    fd = openSync(path, OPEN_FLAGS);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    return { code, error: code };
  }
  try {
    const stats = fstatSync(fd, { bigint: true });
    opened?.(stats.size, stats.mtimeNs);
    if (!stats.isFile()) return { code: 'ENOTREG', error: `it is ${kindOf(stats)}, not a regular file` };
    if (stats.size > BigInt(limit)) return { code: 'EFBIG', error: tooLarge(limit) };
    // Read to the end (a file may grow, or report size 0 like /proc files), up to one byte past the limit.
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(Math.min(limit + 1 - total, 1 << 16) || 1);
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      chunks.push(chunk.subarray(0, n));
      total += n;
      if (total > limit) return { code: 'EFBIG', error: tooLarge(limit) };
    }
    return { text: Buffer.concat(chunks, total).toString('utf8') };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    return { code, error: code };
  } finally {
    closeSync(fd);
  }
}

/**
 * A cache of the resolved fleet model: the fleet and the problems the files alone decide, so a
 * command over an unchanged tree does not validate and build it again (schemas, the cross-file
 * rules, rendering every unit to check it: most of a read-only command's own work). Never a stale
 * answer: an entry is used only when every input is as it was — discovery still runs, so a
 * manifest added, removed or renamed changes the list; each manifest, the inventory, the tenants
 * file and every compose file the fleet was made from is compared by path, size, modification
 * time to the nanosecond and a sha256 of its text (the text the model was made from, read once);
 * and the manage-apps build and the schemas must be the same. The rules that ask this machine
 * (systemd-analyze, where links lead) are not cached: they run on every load. One file per root
 * and inventory under the cache directory, written atomically, mode 0600; one that is not a
 * regular file of this user's, or that does not read back, is ignored. Off with
 * MANAGE_APPS_CACHE=0, like the manifest cache (docs/performance.md).
 */
import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, mkdirSync, openSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deserialize, serialize } from 'node:v8';
import { readRegularFileSync, type ReadOutcome } from '../files/read.js';
import type { Fleet } from '../fleet/model.js';
import { cacheDirectory, cacheEnabled, stamp } from '../manifest/cache.js';
import { composeTextDigest, MAX_COMPOSE_BYTES, UNREAD } from '../manifest/compose.js';
import type { Problem } from '../problems.js';

/** What an entry holds besides its key. */
export interface CachedModel {
  fleet: Fleet;
  /** Every problem but discovery's and the machine rules' (they run on every load), in the order they were found. */
  problems: Problem[];
}

/** What the file holds: the key, and the model serialised (decoded only once the key matches). */
interface Entry {
  format: 1;
  build: string;
  inputs: string[];
  /** The compose files the fleet was made from: absolute path, sha256 of the text. */
  compose: [string, string][];
  model: Buffer;
}

/** One input as read: what it is, its path, size and mtime (ns) from the open file, and a hash of the text or of why it was not read. */
export function inputKey(kind: string, path: string, stamped: { read: ReadOutcome; stamp: string }): string {
  const { read } = stamped;
  const what = 'text' in read ? createHash('sha256').update(read.text).digest('hex') : `error ${read.code} ${read.error}`;
  return `${kind}\0${path}\0${stamped.stamp}\0${what}`;
}

/**
 * The entries also kept in this process, by cache file (src/daemon turns it on): the same entry
 * and the same key checks as the file, without reading and decoding the file. The model is kept
 * serialised and decoded for each lookup, so no request sees objects another one changed.
 */
let inMemory: Map<string, Entry> | undefined;

/** Keeps every entry looked up or stored in this process's memory as well (a long-lived process). */
export function keepModelsInMemory(): void {
  inMemory ??= new Map();
}

let buildMemo: string | undefined;
/** This build of manage-apps: the version and schemas, and this very file (a rebuild rewrites it). */
function buildStamp(): string {
  if (buildMemo !== undefined) return buildMemo;
  const self = fileURLToPath(import.meta.url);
  const info = statSync(self, { bigint: true });
  buildMemo = `${stamp()}\0${self}\0${info.size}\0${info.mtimeNs}`;
  return buildMemo;
}

export class FleetCache {
  private constructor(private readonly path: string) {}

  /** The cache of one root and inventory; undefined when caching is off. */
  static open(root: string, inventoryPath: string, explicitInventory: boolean): FleetCache | undefined {
    if (!cacheEnabled()) return undefined;
    const name = createHash('sha256').update(`${root}\0${inventoryPath}\0${explicitInventory}`).digest('hex').slice(0, 16);
    return new FleetCache(join(cacheDirectory(), `fleet-${name}.bin`));
  }

  /** The model made from exactly these inputs, if there is one. */
  lookup(inputs: readonly string[]): CachedModel | undefined {
    try {
      const entry = inMemory?.get(this.path) ?? this.read();
      if (entry === undefined || entry.format !== 1 || entry.build !== buildStamp()) return undefined;
      if (entry.inputs.length !== inputs.length || entry.inputs.some((k, i) => k !== inputs[i])) return undefined;
      for (const [path, digest] of entry.compose) if (currentComposeDigest(path) !== digest) return undefined;
      inMemory?.set(this.path, entry);
      const model = deserialize(entry.model) as CachedModel;
      return { fleet: model.fleet, problems: model.problems };
    } catch {
      return undefined;
    }
  }

  /**
   * Keeps the model made from these inputs. `compose`: the digests recorded while it was made
   * (recordComposeReads); a compose file that was not read whole keeps the model out of the cache.
   * `model`: what serialize gives for the model (taken while the compose reads were recorded).
   */
  store(inputs: readonly string[], compose: ReadonlyMap<string, string>, model: Buffer): void {
    if ([...compose.values()].includes(UNREAD)) return;
    const kept: Entry = { format: 1, build: buildStamp(), inputs: [...inputs], compose: [...compose], model };
    inMemory?.set(this.path, kept);
    try {
      const entry = serialize(kept);
      mkdirSync(join(this.path, '..'), { recursive: true, mode: 0o700 });
      // Loaded only when there is something to write.
      const writeFileAtomic = createRequire(import.meta.url)('write-file-atomic') as typeof import('write-file-atomic');
      // No fsync: a cache lost in a crash is a miss (a torn file does not deserialize).
      writeFileAtomic.sync(this.path, entry, { mode: 0o600, fsync: false });
    } catch {
      // A read-only home or a full disk must not fail the command.
    }
  }

  private read(): Entry | undefined {
    let fd: number;
    try {
      fd = openSync(this.path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch {
      return undefined;
    }
    try {
      const info = fstatSync(fd);
      // Only a regular file of this user's that no one else may write.
      if (!info.isFile() || info.uid !== process.getuid?.() || (info.mode & 0o022) !== 0) return undefined;
      return deserialize(readFileSync(fd)) as Entry;
    } finally {
      closeSync(fd);
    }
  }
}

/** Serialises a model for `store` (every getter is read: a compose service's facts are read then). */
export function serializeModel(model: CachedModel): Buffer {
  return serialize(model);
}

/** As readCompose reads it: only a regular file, at most 1 MiB, opened so that a FIFO cannot block. */
function currentComposeDigest(path: string): string {
  const read = readRegularFileSync(path, MAX_COMPOSE_BYTES);
  return 'text' in read ? composeTextDigest(read.text) : UNREAD;
}

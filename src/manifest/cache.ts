/**
 * A cache of parsed manifests, so a tree of thousands of them is not re-parsed on
 * every command. An entry is keyed on the file's path, environment and exact text
 * (a hash), and the whole cache on the manage-apps version and the schemas'
 * contents: any change to either is a miss. A cache that cannot be read or
 * written is simply not used; it never changes what a command reports.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../package-root.js';
import type { Problem } from '../problems.js';

export interface CachedManifest {
  value: unknown;
  problems: Problem[];
  valid: boolean;
}

interface CacheFile {
  stamp: string;
  entries: Record<string, CachedManifest>;
}

export function cacheDirectory(): string {
  const explicit = process.env['MANAGE_APPS_CACHE_DIR'];
  if (explicit) return explicit;
  const xdg = process.env['XDG_CACHE_HOME'];
  return join(xdg && xdg.startsWith('/') ? xdg : join(homedir(), '.cache'), 'manage-apps');
}

/** Off with MANAGE_APPS_CACHE=0 (or the --no-cache flag, which sets it). */
export function cacheEnabled(): boolean {
  return process.env['MANAGE_APPS_CACHE'] !== '0';
}

let stampMemo: string | undefined;
/** The manage-apps version and the schemas' contents: a cache made by another of either is not used. */
export function stamp(): string {
  if (stampMemo) return stampMemo;
  const hash = createHash('sha256');
  const root = packageRoot();
  hash.update(readFileSync(join(root, 'package.json')));
  for (const name of ['infra-v1', 'infra-v2', 'mesh-hosts']) hash.update(readFileSync(join(root, 'schemas', `${name}.schema.json`)));
  stampMemo = hash.digest('hex').slice(0, 16);
  return stampMemo;
}

export class ManifestCache {
  private readonly used: Record<string, CachedManifest> = {};
  private changed = false;

  private constructor(
    private readonly path: string,
    private readonly entries: Record<string, CachedManifest>,
  ) {}

  /** The cache for one root. */
  static open(root: string): ManifestCache | undefined {
    if (!cacheEnabled()) return undefined;
    try {
      const path = join(cacheDirectory(), `manifests-${createHash('sha256').update(root).digest('hex').slice(0, 16)}.json`);
      let entries: Record<string, CachedManifest> = {};
      try {
        const file = JSON.parse(readFileSync(path, 'utf8')) as CacheFile;
        if (file.stamp === stamp() && file.entries && typeof file.entries === 'object') entries = file.entries;
      } catch {
        // No cache yet, or an unreadable one: start empty.
      }
      return new ManifestCache(path, entries);
    } catch {
      return undefined;
    }
  }

  static key(file: string, environment: string, text: string): string {
    return createHash('sha1').update(file).update('\0').update(environment).update('\0').update(text).digest('base64url');
  }

  get(key: string): CachedManifest | undefined {
    const hit = this.entries[key];
    if (hit) this.used[key] = hit;
    return hit;
  }

  set(key: string, entry: CachedManifest): void {
    this.used[key] = entry;
    this.changed = true;
  }

  /** Keeps what this run used (entries of deleted or edited files fall out). */
  save(): void {
    if (!this.changed && Object.keys(this.used).length === Object.keys(this.entries).length) return;
    try {
      mkdirSync(join(this.path, '..'), { recursive: true, mode: 0o700 });
      // Loaded only when there is something to write: most runs find the cache as it was.
      const writeFileAtomic = createRequire(import.meta.url)('write-file-atomic') as typeof import('write-file-atomic');
      writeFileAtomic.sync(this.path, JSON.stringify({ stamp: stamp(), entries: this.used } satisfies CacheFile), { mode: 0o600 });
    } catch {
      // A read-only home or a full disk must not fail the command.
    }
  }
}

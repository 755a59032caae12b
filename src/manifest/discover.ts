/**
 * Finds every .infra.yaml / .infra.<env>.yaml under a root: no registry.
 * fdir does the crawl; a wrapped fs records directories it could not read so
 * they are reported (located) instead of silently skipped.
 */
import * as fs from 'node:fs';
import { basename, relative } from 'node:path';
import { fdir } from 'fdir';
import { isPseudoFilesystem } from '../files/read.js';
import { problem, type Problem } from '../problems.js';

/** Dependency, build and VCS folders: never hold a project's own manifest. */
export const SKIPPED_DIRS: ReadonlySet<string> = new Set([
  'node_modules',
  '.git',
  '.hg',
  '.svn',
  'dist',
  'build',
  'out',
  'target',
  'vendor',
  '.venv',
  'venv',
  '__pycache__',
  '.next',
  '.nuxt',
  '.turbo',
  '.cache',
  '.terraform',
  '.direnv',
  'coverage',
  '.build-test',
  '.pnpm-store',
  'bower_components',
]);

const MANIFEST_NAME = /^\.infra(?:\.([a-z][a-z0-9-]*))?\.ya?ml$/;

export interface DiscoveredManifest {
  /** Absolute path. */
  path: string;
  /** Relative to the root, with forward slashes. */
  file: string;
  /** The environment the file name says: .infra.yaml is prod. */
  fileEnvironment: string;
}

export interface Discovery {
  manifests: DiscoveredManifest[];
  problems: Problem[];
  /** Every directory the crawl read (as reached): a manifest added or removed changes one of their modification times. */
  directories: string[];
}

export function environmentFromFileName(name: string): string | undefined {
  const m = MANIFEST_NAME.exec(name);
  if (!m) return undefined;
  return m[1] ?? 'prod';
}

export async function discoverManifests(root: string): Promise<Discovery> {
  const unreadable: { path: string; code: string }[] = [];
  const notRegular: string[] = [];
  const directories: string[] = [];
  const recordingFs = {
    ...fs,
    readdir: ((path: fs.PathLike, options: unknown, callback: (err: NodeJS.ErrnoException | null, entries: fs.Dirent[]) => void) => {
      directories.push(String(path));
      fs.readdir(path, options as { withFileTypes: true }, (err, entries) => {
        if (err) {
          unreadable.push({ path: String(path), code: err.code ?? 'EIO' });
          callback(null, []);
          return;
        }
        // fdir passes over what is neither a file, a directory nor a link: a FIFO or socket named like a manifest is reported, never opened.
        for (const e of entries)
          if (MANIFEST_NAME.test(e.name) && !e.isFile() && !e.isDirectory() && !e.isSymbolicLink())
            notRegular.push(`${String(path).replace(/\/+$/, '')}/${e.name}`);
        callback(null, entries);
      });
    }) as typeof fs.readdir,
  };
  const paths = await new fdir({ fs: recordingFs as never })
    .withFullPaths()
    .withSymlinks({ resolvePaths: false })
    .exclude((dirName, dirPath) => SKIPPED_DIRS.has(dirName) || isPseudoFilesystem(dirPath))
    .filter((path) => MANIFEST_NAME.test(basename(path)))
    .crawl(root)
    .withPromise();

  // Symlinks are followed (a linked project counts), so one file can be reached twice: keep its shortest path.
  const byRealPath = new Map<string, string>();
  for (const path of paths) {
    let real = path;
    try {
      real = fs.realpathSync.native(path);
    } catch {
      // A file that vanished or a dangling link: keep the path as found.
    }
    const seen = byRealPath.get(real);
    if (seen === undefined || path.length < seen.length || (path.length === seen.length && path < seen)) byRealPath.set(real, path);
  }
  const manifests = [...byRealPath.values()]
    .map((path) => ({ path, file: toRelative(root, path), fileEnvironment: environmentFromFileName(basename(path))! }))
    .sort((a, b) => a.file.localeCompare(b.file));
  const problems = [
    ...unreadable.map(({ path, code }) =>
      problem(
        'discovery',
        { file: toRelative(root, path), line: 1, column: 1 },
        `cannot read directory (${code}); manifests below it were not checked`,
        'fix its permissions, or move it out of the tree',
      ),
    ),
    ...notRegular.map((path) =>
      problem(
        'discovery',
        { file: toRelative(root, path), line: 1, column: 1 },
        'cannot read the manifest: it is a FIFO, socket or device, not a regular file',
        'a manifest is a regular file: remove or rename this one',
      ),
    ),
  ];
  return { manifests, problems, directories };
}

export function toRelative(root: string, path: string): string {
  const rel = relative(root, path);
  const shown = rel === '' ? '.' : rel.startsWith('..') ? path : rel;
  return shown.split('\\').join('/');
}

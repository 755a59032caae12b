// Fresh test hosts (TestFleet.up(…, { fresh: true })): hosts on which Caddy, PostgreSQL and Docker
// are not installed, as on a newly provisioned machine, so that `hosts prepare --apply` has to
// install them with apt. The hosts have no way out of the test network, so apt reads a local file
// repository made from this machine's own packages: the .deb files apt's cache still has, and
// `dpkg-repack` for those it has not (built once per machine and package version, under
// /var/cache/manage-apps-test-debs, which every host sees through its read-only lower layer).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureUpperDir, writeUpperFile } from './host-image.js';
import { CLEAN_ENV, commandInPath } from './system.js';

export const DEBS_CACHE = '/var/cache/manage-apps-test-debs';
const APT_ARCHIVES = '/var/cache/apt/archives';

/**
 * What a fresh host lacks: the packages of Caddy, PostgreSQL and Docker Engine/Compose (those of
 * them this machine has). Purged on each fresh host after boot; the local repository holds them all.
 */
export const ABSENT_ON_FRESH_HOSTS: readonly string[] = [
  'caddy',
  'postgresql',
  'postgresql-15',
  'postgresql-client-15',
  'postgresql-common',
  'postgresql-client-common',
  'postgresql-contrib',
  'docker.io',
  'containerd',
  'runc',
  'tini',
  'docker-compose',
];

function run(cmd: string, args: readonly string[], cwd?: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: CLEAN_ENV, ...(cwd === undefined ? {} : { cwd }) });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** `name=version:arch` of each package of the list this machine has installed. */
function installedVersions(packages: readonly string[]): { name: string; version: string; arch: string }[] {
  const r = run('dpkg-query', ['-W', '-f', '${Package}\t${Version}\t${Architecture}\t${db:Status-Abbrev}\n', ...packages]);
  return r.stdout
    .split('\n')
    .map((l) => l.split('\t'))
    .filter((f) => f.length === 4 && f[3]!.startsWith('ii'))
    .map(([name, version, arch]) => ({ name: name!, version: version!, arch: arch! }));
}

/** Why fresh hosts cannot be made here, or undefined. */
export function freshHostsSkipReason(): string | undefined {
  for (const [command, pkg] of [
    ['dpkg-repack', 'dpkg-repack'],
    ['dpkg-scanpackages', 'dpkg-dev'],
  ] as const)
    if (!commandInPath(command)) return `no ${command} (apt-get install ${pkg})`;
  if (!installedVersions(['caddy', 'postgresql-15']).length) return 'caddy and postgresql are not installed on this machine';
  return undefined;
}

/**
 * The local repository (its directory, with a Packages index) holding every package of
 * ABSENT_ON_FRESH_HOSTS this machine has, at the version it has. Made once; a second process
 * making it at the same time renames its copy into place only if none is there yet.
 */
export function localAptRepository(): { dir: string; packages: string[] } {
  const wanted = installedVersions(ABSENT_ON_FRESH_HOSTS);
  const key = createHash('sha256')
    .update(wanted.map((p) => `${p.name}=${p.version}:${p.arch}`).join('\n'))
    .digest('hex')
    .slice(0, 16);
  const dir = join(DEBS_CACHE, `repo-${key}`);
  const packages = wanted.map((p) => p.name);
  if (existsSync(join(dir, 'Packages'))) return { dir, packages };
  const pool = join(DEBS_CACHE, 'pool');
  mkdirSync(pool, { recursive: true });
  const building = `${dir}.${process.pid}.tmp`;
  rmSync(building, { recursive: true, force: true });
  mkdirSync(building);
  for (const p of wanted) {
    // apt's file names escape the epoch's colon.
    const file = `${p.name}_${p.version.replace(/:/g, '%3a')}_${p.arch}.deb`;
    const pooled = join(pool, file);
    if (!existsSync(pooled)) {
      const cached = join(APT_ARCHIVES, file);
      if (existsSync(cached)) copyFileSync(cached, pooled);
      else {
        // Rebuilt from the installed files; uncompressed: it is read once, locally.
        const r = run('dpkg-repack', ['--deb-option=-Znone', p.name], building);
        const made = readdirSync(building).find((f) => f.startsWith(`${p.name}_`) && f.endsWith('.deb'));
        if (r.status !== 0 || made === undefined) throw new Error(`dpkg-repack ${p.name} failed: ${r.stderr.trim()}`);
        renameSync(join(building, made), pooled);
      }
    }
    linkSync(pooled, join(building, file));
  }
  const index = run('dpkg-scanpackages', ['--multiversion', '.', '/dev/null'], building);
  if (index.status !== 0) throw new Error(`dpkg-scanpackages failed: ${index.stderr.trim()}`);
  writeFileSync(join(building, 'Packages'), index.stdout);
  try {
    renameSync(building, dir);
  } catch {
    // Another process made it first.
    rmSync(building, { recursive: true, force: true });
  }
  return { dir, packages };
}

/** apt on the host reads only the local repository (the machine's own sources are out of reach). */
export function writeOfflineApt(upperDir: string, repoDir: string): void {
  writeUpperFile(
    upperDir,
    'etc/apt/apt.conf.d/99zz-manage-apps-test-offline',
    [
      '// Written by the manage-apps test harness: a fresh test host installs from a local repository only.',
      'Dir::Etc::SourceList "/etc/apt/manage-apps-test/sources.list";',
      'Dir::Etc::SourceParts "/etc/apt/manage-apps-test/sources.list.d";',
      'Acquire::Languages "none";',
      '',
    ].join('\n'),
  );
  writeUpperFile(upperDir, 'etc/apt/manage-apps-test/sources.list', `deb [trusted=yes] file:${repoDir} ./\n`);
  ensureUpperDir(upperDir, 'etc/apt/manage-apps-test/sources.list.d');
}

/** The script a fresh host runs once after boot: the packages purged (their data too), as if never installed. */
export function purgeScript(packages: readonly string[]): string {
  return `DEBIAN_FRONTEND=noninteractive apt-get purge -y -q -o DPkg::Lock::Timeout=120 ${packages.join(' ')} >/tmp/fresh-host-purge.log 2>&1 || { tail -20 /tmp/fresh-host-purge.log >&2; exit 1; }`;
}

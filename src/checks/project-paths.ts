/**
 * What a manifest may make manage-apps read or run on its behalf: an application's manifest is
 * not trusted with the operator's machine. Its artifact (and a compose service's bundle, the
 * compose file's directory) is shipped to a host: a path that leaves the project's directory —
 * `../../operator-secrets`, an absolute path, a symbolic link inside the project pointing out —
 * would ship whatever the operator can read. Its image reference and compose service name reach
 * docker's argv: one that starts with "-" would be read as an option.
 * (`deploy --artifact` is the operator's own choice and may point anywhere.)
 */
import { existsSync, realpathSync } from 'node:fs';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import type { Fleet, Service } from '../fleet/model.js';
import { problem, type Location, type Problem } from '../problems.js';

export type ManifestLocator = (file: string, path: (string | number)[]) => Location;

/** The real path (links resolved) of the deepest existing part of `path`, with the rest appended. */
function realOrLexical(path: string): string {
  let existing = path;
  const rest: string[] = [];
  while (!existsSync(existing)) {
    const parent = resolve(existing, '..');
    if (parent === existing) return path;
    rest.unshift(existing.slice(parent.length + (parent.endsWith(sep) ? 0 : 1)));
    existing = parent;
  }
  try {
    return resolve(realpathSync(existing), ...rest);
  } catch {
    return path;
  }
}

function inside(path: string, dir: string): boolean {
  const r = relative(dir, path);
  return r === '' || (!r.startsWith(`..${sep}`) && r !== '..' && !isAbsolute(r));
}

/**
 * Why `path` (as the manifest wrote it, relative to the project directory) leaves the project,
 * or undefined when it stays inside: lexically, and once every symbolic link is resolved.
 */
export function leavesProject(path: string, projectDir: string): string | undefined {
  if (isAbsolute(path)) return 'is an absolute path';
  const lexical = resolve(projectDir, path);
  if (!inside(lexical, projectDir)) return `leads out of the project's directory (${lexical})`;
  const real = realOrLexical(lexical);
  const realProject = realOrLexical(projectDir);
  if (!inside(real, realProject)) return `leads out of the project's directory through a symbolic link (to ${real})`;
  return undefined;
}

/** An image reference or name docker would read as an option. */
export const startsLikeOption = (value: string) => value.startsWith('-');

export function projectPathProblems(fleet: Fleet, locate: ManifestLocator): Problem[] {
  const out: Problem[] = [];
  const rule = 'project_path';
  for (const s of fleet.services) {
    if (s.artifact !== undefined) {
      const why = leavesProject(s.artifact, s.projectDir);
      if (why !== undefined)
        out.push(
          problem(
            rule,
            locate(s.manifest, ['service', 'artifact']),
            `${s.id}: service.artifact ${JSON.stringify(s.artifact)} ${why}: deploy would ship a file from outside the project`,
            'name a directory or archive inside the project (relative to the directory of this manifest); the operator can ship anything else with `deploy --artifact`',
          ),
        );
    }
    if (s.compose !== undefined) composeProblems(s, locate, out);
  }
  return out;
}

function composeProblems(s: Service, locate: ManifestLocator, out: Problem[]): void {
  const c = s.compose!;
  const why = leavesProject(c.file, s.projectDir);
  if (why !== undefined)
    out.push(
      problem(
        'project_path',
        locate(s.manifest, ['service', 'compose', 'file']),
        `${s.id}: service.compose.file ${JSON.stringify(c.file)} ${why}: its directory is shipped with each release`,
        'keep the compose file inside the project',
      ),
    );
  if (startsLikeOption(c.service))
    out.push(
      problem(
        'project_path',
        locate(s.manifest, ['service', 'compose', 'service']),
        `${s.id}: compose service ${JSON.stringify(c.service)} starts with "-": docker would read it as an option`,
        'rename the service',
      ),
    );
  // The repository: the manifest's, else the compose file's (read lazily; a broken file is reported elsewhere).
  let image: string | undefined;
  try {
    image = c.image;
  } catch {
    image = undefined;
  }
  if (image !== undefined && startsLikeOption(image))
    out.push(
      problem(
        'project_path',
        locate(s.manifest, ['service', 'compose', 'image']),
        `${s.id}: image ${JSON.stringify(image)} starts with "-": docker would read it as an option`,
        'an image reference starts with a letter or digit (registry/repository)',
      ),
    );
  let fileImage: string | undefined;
  try {
    fileImage = c.fileImage;
  } catch {
    fileImage = undefined;
  }
  if (fileImage !== undefined && startsLikeOption(fileImage) && fileImage !== image)
    out.push(
      problem(
        'project_path',
        locate(s.manifest, ['service', 'compose', 'file']),
        `${s.id}: the image of ${c.service} in ${c.file} (${JSON.stringify(fileImage)}) starts with "-": docker would read it as an option`,
        'an image reference starts with a letter or digit (registry/repository)',
      ),
    );
}

/**
 * The image a compose deploy pins: the repository (service.compose.image, else the compose
 * file's) and the tag, from `deploy --tag`, else the manifest's template ({env}, {sha},
 * {short_sha}: `preview-<sha>` / `prod-<sha>`), else the compose file's own tag.
 * {sha} is the project's git HEAD (the commit its images were built from).
 */
import { UsageError } from '../errors.js';
import type { Service } from '../fleet/model.js';
import { imageTag } from '../manifest/compose.js';
import { runProcess } from '../transport/spawn.js';

const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

async function gitHead(dir: string): Promise<string> {
  const r = await runProcess('git', ['-C', dir, 'rev-parse', '--verify', 'HEAD'], { timeoutMs: 10_000 });
  const sha = r.stdout.trim();
  if (r.code !== 0 || !/^[0-9a-f]{40}$/.test(sha))
    throw new UsageError(`cannot read the git commit of ${dir} for the image tag ({sha})`, 'deploy from a git checkout, or pass --tag');
  return sha;
}

/** Fills in a tag template; {sha} only costs a git call when the template uses it. */
export async function expandTag(template: string, service: Pick<Service, 'environment' | 'projectDir'>): Promise<string> {
  const sha = /\{(short_)?sha\}/.test(template) ? await gitHead(service.projectDir) : '';
  return template.replace(/\{(env|sha|short_sha)\}/g, (_m, name: string) =>
    name === 'env' ? service.environment : name === 'sha' ? sha : sha.slice(0, 7),
  );
}

export async function composeImageRef(service: Service, tagOverride?: string): Promise<string> {
  const c = service.compose;
  if (c === undefined) throw new UsageError(`${service.id} is not a compose service`);
  if (c.image === undefined) throw new UsageError(`${service.id}: no image repository to pin`, `set service.compose.image (${service.manifest})`);
  if (c.image.startsWith('-'))
    throw new UsageError(
      `${service.id}: image ${JSON.stringify(c.image)} starts with "-": docker would read it as an option`,
      `validate says where (${service.manifest})`,
    );
  const fileImage = c.fileImage !== undefined && !c.fileImage.includes('$') ? c.fileImage : undefined;
  let tag: string | undefined;
  if (tagOverride !== undefined) tag = tagOverride;
  else if (c.tag !== undefined) tag = await expandTag(c.tag, service);
  else if (fileImage !== undefined) {
    // A compose file that already pins a digest deploys exactly that.
    if (fileImage.includes('@sha256:')) return fileImage;
    tag = imageTag(fileImage);
  }
  if (tag === undefined) throw new UsageError(`${service.id}: no image tag to deploy`, 'set service.compose.tag (e.g. "{env}-{sha}"), or pass --tag');
  if (!TAG.test(tag))
    throw new UsageError(
      `${service.id}: ${JSON.stringify(tag)} is not an image tag`,
      'a tag is letters, digits, "_", "." and "-", at most 128 characters',
    );
  return `${c.image}:${tag}`;
}

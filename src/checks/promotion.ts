/**
 * `promotion` (rule `promotion`, docs/promotion.md): a project's path names environments it has
 * a manifest for; approval is asked only for environments on the path and never for the first
 * (nothing is promoted into it); a project's manifests that declare a path agree. The
 * inventory's fleet-wide default is checked on its own (it applies only where it fits).
 */
import type { LoadedInventory } from '../inventory/load.js';
import type { LoadedManifest } from '../manifest/load.js';
import type { ManifestPromotion } from '../manifest/types.js';
import { problem, type Location, type Problem } from '../problems.js';

function approveProblems(value: ManifestPromotion, locate: (path: (string | number)[]) => Location, path: readonly string[] | undefined): Problem[] {
  const out: Problem[] = [];
  (value.approve ?? []).forEach((env, i) => {
    if (path === undefined) return;
    if (!path.includes(env))
      out.push(
        problem(
          'promotion',
          locate(['promotion', 'approve', i]),
          `promotion.approve names ${env}, which is not on the path (${path.join(' → ')})`,
          'list environments of promotion.path',
        ),
      );
    else if (path[0] === env)
      out.push(
        problem(
          'promotion',
          locate(['promotion', 'approve', i]),
          `promotion.approve names ${env}, the first environment of the path: nothing is promoted into it`,
          'approval guards promotions into later environments (e.g. prod); deploys into the first are not promotions',
        ),
      );
  });
  return out;
}

export function promotionProblems(manifests: readonly LoadedManifest[], inventory: LoadedInventory): Problem[] {
  const out: Problem[] = [];
  const fleetWide = inventory.inventory?.promotion;
  if (fleetWide !== undefined)
    out.push(...approveProblems(fleetWide, (p) => inventory.source?.locate(p) ?? { file: inventory.file, line: 1, column: 1 }, fleetWide.path));
  const envs = new Map<string, Set<string>>();
  for (const m of manifests) {
    const project = m.manifest?.project;
    if (typeof project === 'string') envs.set(project, (envs.get(project) ?? new Set()).add(m.environment));
  }
  const first = new Map<string, LoadedManifest>();
  for (const m of manifests) {
    const own = m.manifest?.promotion;
    const project = m.manifest?.project;
    if (own === undefined || typeof project !== 'string') continue;
    const locate = (p: (string | number)[]) => m.source.locate(p);
    const earlier = first.get(project);
    if (earlier === undefined) first.set(project, m);
    else if (JSON.stringify(earlier.manifest?.promotion) !== JSON.stringify(own)) {
      out.push(
        problem(
          'promotion',
          m.source.locate(['promotion'], { key: true }),
          `${project}: this promotion differs from the one in ${earlier.file}`,
          'declare the promotion path once (in one manifest of the project) or identically in each',
        ),
      );
      continue;
    }
    const path = own.path ?? fleetWide?.path;
    (own.path ?? []).forEach((env, i) => {
      if (!envs.get(project)?.has(env))
        out.push(
          problem(
            'promotion',
            locate(['promotion', 'path', i]),
            `${project}: promotion.path names ${env}, but the project has no manifest for it`,
            `add .infra.${env}.yaml beside the project's other manifests (with environment: ${env}), or remove ${env} from the path`,
          ),
        );
    });
    out.push(...approveProblems(own, locate, path));
  }
  return out;
}

/**
 * Promotion paths (docs/promotion.md): a project's own `promotion` (any of its manifests; the
 * checks report manifests that disagree) over the inventory's fleet-wide default, field by
 * field. The inventory's path applies to a project with manifests for at least two of its
 * environments, narrowed to those; a project's own path is kept as declared (the checks report
 * an environment it has no manifest for).
 */
import type { Inventory } from '../inventory/types.js';
import type { LoadedManifest } from '../manifest/load.js';
import type { ManifestPromotion } from '../manifest/types.js';
import { durationMs, type Promotion } from './model.js';

export const DEFAULT_OBSERVE_MS = 10 * 60_000;

export function resolvePromotions(manifests: readonly LoadedManifest[], inventory: Inventory | undefined, inventoryFile: string): Promotion[] {
  const fleetWide = inventory?.promotion;
  const projects = new Map<string, { envs: Set<string>; own?: { value: ManifestPromotion; file: string } }>();
  for (const m of manifests) {
    const project = m.manifest?.project;
    if (typeof project !== 'string') continue;
    const entry = projects.get(project) ?? { envs: new Set<string>() };
    entry.envs.add(m.environment);
    const own = m.manifest?.promotion;
    // The first declaration in file order counts; the checks report the others when they differ.
    if (own !== undefined && entry.own === undefined) entry.own = { value: own, file: m.file };
    projects.set(project, entry);
  }
  const out: Promotion[] = [];
  for (const [project, { envs, own }] of [...projects].sort(([a], [b]) => a.localeCompare(b))) {
    const declaredPath = own?.value.path ?? fleetWide?.path?.filter((e) => envs.has(e));
    if (declaredPath === undefined || declaredPath.length < 2) continue;
    const observe = own?.value.observe ?? fleetWide?.observe;
    out.push({
      project,
      path: [...declaredPath],
      observeMs: durationMs(observe, DEFAULT_OBSERVE_MS),
      drill: own?.value.drill ?? fleetWide?.drill ?? null,
      approve: [...(own?.value.approve ?? fleetWide?.approve ?? [])],
      declared: own?.file ?? inventoryFile,
    });
  }
  return out;
}

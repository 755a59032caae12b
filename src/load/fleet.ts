/**
 * The one entry point from files to the model: discover, load, validate, build, check.
 * Every command starts here.
 */
import { stat } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { loadInventory, type LoadedInventory } from '../inventory/load.js';
import { DEFAULT_INVENTORY } from '../inventory/types.js';
import { isPseudoFilesystem } from '../files/read.js';
import { discoverManifests, toRelative } from '../manifest/discover.js';
import { ManifestCache } from '../manifest/cache.js';
import { loadManifest, type LoadedManifest } from '../manifest/load.js';
import { checkRules } from '../checks/rules.js';
import { checkDropletServices } from '../checks/droplet-services.js';
import { sortProblems, type Problem } from '../problems.js';
import { buildFleet } from '../fleet/build.js';
import { loadTenants, tenantsPath, type LoadedTenants } from '../tenants/load.js';
import type { Fleet } from '../fleet/model.js';

export interface FleetOptions {
  root?: string;
  inventory?: string;
}

export interface LoadedFleet {
  fleet: Fleet;
  manifests: LoadedManifest[];
  inventory: LoadedInventory;
  /** The tenants file beside the inventory (docs/tenants.md); present: false when there is none. */
  tenants: LoadedTenants;
  problems: Problem[];
}

export async function resolveRoot(rootOption: string | undefined): Promise<string> {
  const root = resolve(rootOption ?? process.cwd());
  let info;
  try {
    info = await stat(root);
  } catch {
    throw new UsageError(`root directory not found: ${root}`, 'pass --root DIR with the tree that holds your projects');
  }
  if (!info.isDirectory()) throw new UsageError(`--root is not a directory: ${root}`);
  if (isPseudoFilesystem(root))
    throw new UsageError(
      `--root ${root} is a kernel pseudo-filesystem, not a tree of projects`,
      'pass --root DIR with the tree that holds your projects',
    );
  return root;
}

/** `tenantsText`: the tenants file as it would be written (tenants add/remove check it before writing it). */
export async function loadFleet(options: FleetOptions = {}, overrides: { tenantsText?: string } = {}): Promise<LoadedFleet> {
  const root = await resolveRoot(options.root);
  const inventoryPath =
    options.inventory === undefined
      ? resolve(root, DEFAULT_INVENTORY)
      : isAbsolute(options.inventory)
        ? options.inventory
        : resolve(process.cwd(), options.inventory);
  const [discovery, inventory] = await Promise.all([
    discoverManifests(root),
    loadInventory(inventoryPath, toRelative(root, inventoryPath), { explicit: options.inventory !== undefined }),
  ]);
  const cache = ManifestCache.open(root);
  const manifests = discovery.manifests.map((found) => loadManifest(found, cache));
  cache?.save();
  const tenantsFile = tenantsPath(inventoryPath);
  const tenants = loadTenants(tenantsFile, toRelative(root, tenantsFile), overrides.tenantsText);
  const fleet = buildFleet(root, manifests, inventory, tenants);
  const problems = [
    ...discovery.problems,
    ...inventory.problems,
    ...manifests.flatMap((m) => m.problems),
    ...tenants.problems,
    ...checkRules(fleet, manifests, inventory, tenants),
    ...checkDropletServices(fleet, manifests, inventory),
  ];
  return { fleet, manifests, inventory, tenants, problems: sortProblems(problems) };
}

/**
 * The one entry point from files to the model: discover, load, validate, build, check.
 * Every command starts here.
 */
import { stat } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { inventoryFrom, type LoadedInventory } from '../inventory/load.js';
import { DEFAULT_INVENTORY } from '../inventory/types.js';
import { isPseudoFilesystem, MAX_INVENTORY_BYTES, MAX_MANIFEST_BYTES, readRegularFileStamped } from '../files/read.js';
import { discoverManifests, toRelative } from '../manifest/discover.js';
import { ManifestCache } from '../manifest/cache.js';
import { loadManifest, type LoadedManifest } from '../manifest/load.js';
import { checkRules, machineRuleProblems, type ManifestLocate } from '../checks/rules.js';
import { recordComposeReads } from '../manifest/compose.js';
import { FleetCache, inputKey, serializeModel } from './fleet-cache.js';
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
  const explicit = options.inventory !== undefined;
  const inventoryFile = toRelative(root, inventoryPath);
  const tenantsFile = tenantsPath(inventoryPath);
  const tenantsShown = toRelative(root, tenantsFile);
  const discovery = await discoverManifests(root);
  // Every input is read once, here: the model is made from these very texts, and the cache keys on them.
  const manifestReads = discovery.manifests.map((found) => readRegularFileStamped(found.path, MAX_MANIFEST_BYTES));
  const inventoryRead = readRegularFileStamped(inventoryPath, MAX_INVENTORY_BYTES);
  const tenantsRead = overrides.tenantsText === undefined ? readRegularFileStamped(tenantsFile, MAX_MANIFEST_BYTES) : undefined;
  const cache = tenantsRead === undefined ? undefined : FleetCache.open(root, inventoryPath, explicit);
  const inputs =
    cache === undefined || tenantsRead === undefined
      ? []
      : [
          ...discovery.manifests.map((found, i) => inputKey(`manifest ${found.file} ${found.fileEnvironment}`, found.path, manifestReads[i]!)),
          inputKey('inventory', inventoryPath, inventoryRead),
          inputKey('tenants', tenantsFile, tenantsRead),
        ];

  let manifestCache: ManifestCache | undefined | null = null;
  const loadManifests = (): LoadedManifest[] => {
    if (manifestCache === null) manifestCache = ManifestCache.open(root);
    const loaded = discovery.manifests.map((found, i) => loadManifest(found, manifestCache ?? undefined, manifestReads[i]!.read));
    manifestCache?.save();
    return loaded;
  };
  const loadInventoryFile = () => inventoryFrom(inventoryPath, inventoryFile, { explicit }, inventoryRead.read);
  const loadTenantsFile = () => loadTenants(tenantsFile, tenantsShown, overrides.tenantsText, tenantsRead?.read);

  const hit = cache?.lookup(inputs);
  if (hit !== undefined) {
    // The files are as they were: the model and the files' problems from the cache; what the
    // commands that show code frames or edit files need is loaded from the same texts on first use.
    let manifests: LoadedManifest[] | undefined;
    let inventory: LoadedInventory | undefined;
    let tenants: LoadedTenants | undefined;
    const loaded = {
      fleet: hit.fleet,
      problems: [] as Problem[],
      get manifests() {
        return (manifests ??= loadManifests());
      },
      get inventory() {
        return (inventory ??= loadInventoryFile());
      },
      get tenants() {
        return (tenants ??= loadTenantsFile());
      },
    };
    const machine = machineRuleProblems(
      hit.fleet,
      locateIn(() => loaded.manifests),
    );
    loaded.problems = sortProblems([...discovery.problems, ...hit.problems, ...machine]);
    return loaded;
  }

  const manifests = loadManifests();
  const inventory = loadInventoryFile();
  const tenants = loadTenantsFile();
  // Synchronous from here to the serialisation: the compose files read are exactly those the model was made from.
  const { result, digests } = recordComposeReads(() => {
    const fleet = buildFleet(root, manifests, inventory, tenants);
    const fromFiles = [
      ...inventory.problems,
      ...manifests.flatMap((m) => m.problems),
      ...tenants.problems,
      ...checkRules(fleet, manifests, inventory, tenants),
      ...checkDropletServices(fleet, manifests, inventory),
    ];
    return { fleet, fromFiles, serialized: cache === undefined ? undefined : serializeModel({ fleet, problems: fromFiles }) };
  });
  const { fleet, fromFiles, serialized } = result;
  if (cache !== undefined && serialized !== undefined) cache.store(inputs, digests, serialized);
  const machine = machineRuleProblems(
    fleet,
    locateIn(() => manifests),
  );
  const problems = [...discovery.problems, ...fromFiles, ...machine];
  return { fleet, manifests, inventory, tenants, problems: sortProblems(problems) };
}

/** Where a problem points in one of the manifests (loaded on the first problem only). */
function locateIn(manifests: () => readonly LoadedManifest[]): ManifestLocate {
  let byFile: Map<string, LoadedManifest> | undefined;
  return (file, path, key = false) => {
    byFile ??= new Map(manifests().map((m) => [m.file, m]));
    const m = byFile.get(file);
    return m ? m.source.locate(path, { key }) : { file, line: 1, column: 1 };
  };
}

/**
 * OpenTofu / Terraform JSON (main.tf.json) for the DigitalOcean parts of the fleet
 * (what a fleet's own infra-apply would render): the droplets declared by
 * producer-root manifests and the ephemeral runner pool.
 *
 * - Droplets are one resource with for_each over stable keys (the name with "."
 *   replaced by "_"): adding or removing one droplet never touches the others.
 * - `lifecycle.ignore_changes = ["name"]`: the DO name is ForceNew; it is set once
 *   at create and renamed live (doctl), so a label change never destroys a box.
 * - `previous_names` become `moved` blocks from the old key to the new one, so a
 *   rename moves the state entry instead of destroy + create.
 * - The runner pool's size is `var.runners`, default 0 (zero cost). Runners are named by the
 *   inventory's droplet_naming convention: `<prefix>.<producer>.<pool>-<n>` (the infra/v1 must-rule).
 * - Standing droplets and runners get the fleet's ssh key (inventory `conventions.ssh_key`, else
 *   the pool's `ssh_key`: a fleet registers one key), looked up by name. It is
 *   ForceNew at DigitalOcean too, so `ssh_keys` is in ignore_changes: set at create, never a replace.
 * - No credential is written: the provider reads DIGITALOCEAN_TOKEN from the environment.
 */
import { matchesNaming, type Droplet, type Fleet, type RunnerPool } from '../fleet/model.js';
import type { Problem } from '../problems.js';
import { byCodePoint, renderProblem, type RenderOutput, type Skipped } from './common.js';
import { defaultLocator, type Locator } from '../source/locator.js';
import { shown } from '../text/plain.js';

export const TOFU_FILE = 'main.tf.json';
export const DROPLET_RESOURCE = 'droplet';
export const RUNNER_RESOURCE = 'runner';
export const RUNNERS_VARIABLE = 'runners';
/** Data sources of the ssh keys: the fleet's, and the pool's own when it names another. */
export const FLEET_KEY = 'fleet';
export const RUNNER_KEY = 'runner';
export const PROVIDER_SOURCE = 'digitalocean/digitalocean';
export const PROVIDER_VERSION = '~> 2.0';

/** DigitalOcean droplet names: letters, digits, "." and "-" (a hostname). */
const DROPLET_NAME = /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/;

/** The for_each key of a droplet name: "." becomes "_" (names never contain "_", so keys never collide). */
export function dropletKey(name: string): string {
  return name.replace(/\./g, '_');
}

/**
 * A DigitalOcean tag from any text: tags allow letters, digits, ":", "-" and "_"
 * (no dots, no spaces) and at most 255 characters.
 */
export function safeTag(text: string): string {
  const tag = text
    .replace(/[^A-Za-z0-9:_-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 255);
  return tag === '' ? 'untagged' : tag;
}

/** A literal inside Terraform JSON, where every string is a template: "${" and "%{" are escaped. */
export function literal(text: string): string {
  return text.replace(/\$\{/g, () => '$${').replace(/%\{/g, () => '%%{');
}

function tags(parts: string[]): string[] {
  return [...new Set(parts.map(safeTag))].sort(byCodePoint);
}

/**
 * The runners' name before `-<index>`: `<prefix>.<producer>.<pool>` (or `<prefix>.<pool>` without
 * a producer) when the inventory has a droplet_naming convention, else the pool name. The
 * producer is the pool's `producer`, else the pool name's first word when it is one of the
 * convention's producers (`ct-forge-runners` → ct, forge-runners).
 */
export function runnerBaseName(pool: RunnerPool, naming: DropletNaming | undefined): { base: string; producer?: string } {
  if (naming === undefined) return { base: pool.name, ...(pool.producer === undefined ? {} : { producer: pool.producer }) };
  if (pool.producer !== undefined) return { base: `${naming.prefix}.${pool.producer}.${pool.name}`, producer: pool.producer };
  const first = pool.name.split('-')[0]!;
  const rest = pool.name.slice(first.length + 1);
  if (rest !== '' && (naming.producers ?? []).includes(first)) return { base: `${naming.prefix}.${first}.${rest}`, producer: first };
  return { base: `${naming.prefix}.${pool.name}` };
}

type DropletNaming = NonNullable<NonNullable<Fleet['conventions']>['droplet_naming']>;

function address(resource: string, key: string): string {
  return `digitalocean_droplet.${resource}[${JSON.stringify(key)}]`;
}

export function renderOpenTofu(fleet: Fleet, locator: Locator = defaultLocator(fleet.inventoryFile)): RenderOutput {
  const problems: Problem[] = [];
  const skipped: Skipped[] = [];
  const droplets: { droplet: Droplet; index: number; key: string }[] = [];
  const indexInManifest = new Map<string, number>();
  for (const d of fleet.droplets) {
    const index = indexInManifest.get(d.manifest) ?? 0;
    indexInManifest.set(d.manifest, index + 1);
    if (d.provider !== 'digitalocean') {
      skipped.push({ name: d.name, reason: `provider ${d.provider}: only DigitalOcean droplets are rendered` });
      continue;
    }
    if (!DROPLET_NAME.test(d.name)) {
      problems.push(
        renderProblem(
          locator.manifest(d.manifest, ['droplets', index, 'name']),
          `droplet name ${shown(d.name)} is not a valid DigitalOcean droplet name`,
          'letters, digits, "." and "-"',
        ),
      );
      continue;
    }
    droplets.push({ droplet: d, index, key: dropletKey(d.name) });
  }
  droplets.sort((a, b) => byCodePoint(a.key, b.key));

  // Keys: one droplet per key; moved blocks from every previous name's key.
  const keyOwner = new Map<string, string>();
  for (const { droplet, index, key } of droplets) {
    const first = keyOwner.get(key);
    if (first !== undefined)
      problems.push(
        renderProblem(
          locator.manifest(droplet.manifest, ['droplets', index, 'name']),
          `droplet "${droplet.name}" has the same key "${key}" as "${first}"`,
          'each droplet is declared once',
        ),
      );
    else keyOwner.set(key, droplet.name);
  }
  const moved: { from: string; to: string }[] = [];
  const movedFrom = new Map<string, string>();
  for (const { droplet, index, key } of droplets) {
    droplet.previousNames.forEach((old, j) => {
      const at = locator.manifest(droplet.manifest, ['droplets', index, 'previous_names', j]);
      if (!DROPLET_NAME.test(old)) {
        problems.push(renderProblem(at, `previous name ${shown(old)} is not a valid DigitalOcean droplet name`));
        return;
      }
      const oldKey = dropletKey(old);
      if (oldKey === key) return;
      const current = keyOwner.get(oldKey);
      if (current !== undefined) {
        problems.push(
          renderProblem(
            at,
            `previous name "${old}" of "${droplet.name}" is the current name of droplet "${current}"`,
            'a name moves to one droplet only: remove it from previous_names',
          ),
        );
        return;
      }
      const other = movedFrom.get(oldKey);
      if (other !== undefined) {
        if (other !== droplet.name)
          problems.push(renderProblem(at, `previous name "${old}" is also listed by droplet "${other}"`, 'a name moves to one droplet only'));
        return;
      }
      movedFrom.set(oldKey, droplet.name);
      moved.push({ from: address(DROPLET_RESOURCE, oldKey), to: address(DROPLET_RESOURCE, key) });
    });
  }
  moved.sort((a, b) => byCodePoint(a.from, b.from));

  const pools = [...fleet.runnerPools].sort((a, b) => byCodePoint(a.manifest, b.manifest));
  const pool: RunnerPool | undefined = pools[0];
  for (const extra of pools.slice(1)) {
    problems.push(
      renderProblem(
        locator.manifest(extra.manifest, ['runner_pool']),
        `a second runner pool "${extra.name}" (the first is "${pool!.name}" in ${pool!.manifest})`,
        'the fleet has one ephemeral runner pool, sized by var.runners',
      ),
    );
  }
  const naming = fleet.conventions?.droplet_naming;
  const runnerName = pool ? runnerBaseName(pool, naming) : undefined;
  if (pool && runnerName && naming) {
    if (pool.producer !== undefined && naming.producers !== undefined && !naming.producers.includes(pool.producer)) {
      problems.push(
        renderProblem(
          locator.manifest(pool.manifest, ['runner_pool', 'producer']),
          `runner pool producer "${pool.producer}" is not one of the fleet's producers (${naming.producers.join(', ')})`,
          `the inventory's conventions.droplet_naming lists the producers`,
        ),
      );
    } else if (!matchesNaming(`${runnerName.base}-0`, naming.prefix, naming.producers)) {
      problems.push(
        renderProblem(
          locator.manifest(pool.manifest, ['runner_pool', 'name']),
          `runners of pool "${pool.name}" would be named "${runnerName.base}-<n>", which does not follow the fleet's naming`,
          `name the pool <role> (letters, digits, "-") and give it a producer from ${naming.producers?.join(', ') ?? 'the convention'}`,
        ),
      );
    }
  }
  // One key for the fleet: the inventory's, else the one the pool names.
  const fleetKey = fleet.conventions?.ssh_key ?? pool?.sshKey;
  if (fleetKey === undefined && droplets.length > 0) {
    problems.push(
      renderProblem(
        locator.inventory(['conventions']),
        'the droplets get no ssh key: nobody could log in to them',
        'name the key the fleet registers at DigitalOcean in conventions.ssh_key of the inventory',
        'warning',
      ),
    );
  }
  if (problems.some((p) => p.severity === 'error')) return { files: [], problems, skipped };

  const doc: Record<string, unknown> = {
    '//': `Rendered by manage-apps from the producer-root manifests; do not edit by hand. The provider reads DIGITALOCEAN_TOKEN from the environment.`,
    terraform: {
      required_version: '>= 1.6.0',
      required_providers: { digitalocean: { source: PROVIDER_SOURCE, version: PROVIDER_VERSION } },
    },
    provider: { digitalocean: {} },
  };
  const variable: Record<string, unknown> = {};
  const locals: Record<string, unknown> = {};
  const resource: Record<string, unknown> = {};
  const data: Record<string, unknown> = {};
  const output: Record<string, unknown> = {};

  const keyData = (name: string, source: string): string => {
    data['digitalocean_ssh_key'] = { ...(data['digitalocean_ssh_key'] as Record<string, unknown> | undefined), [source]: { name: literal(name) } };
    return `\${data.digitalocean_ssh_key.${source}.id}`;
  };
  if (droplets.length > 0) {
    const map: Record<string, unknown> = {};
    for (const { droplet: d, key } of droplets) {
      const producers = d.services.map((s) => s.producer).filter((p): p is string => p !== undefined);
      map[key] = {
        name: literal(d.name),
        region: literal(d.region),
        size: literal(d.size),
        image: literal(d.image),
        tags: tags([
          'manage-apps',
          `project:${d.project}`,
          ...(d.role === undefined ? [] : [`role:${d.role}`]),
          ...producers.map((p) => `producer:${p}`),
        ]),
      };
    }
    locals['droplets'] = map;
    resource[DROPLET_RESOURCE] = {
      for_each: '${local.droplets}',
      name: '${each.value.name}',
      region: '${each.value.region}',
      size: '${each.value.size}',
      image: '${each.value.image}',
      tags: '${each.value.tags}',
      // ssh_keys is ForceNew like the name: a key added later must not replace a standing droplet.
      ...(fleetKey === undefined
        ? { lifecycle: { ignore_changes: ['name'] } }
        : { ssh_keys: [keyData(fleetKey, FLEET_KEY)], lifecycle: { ignore_changes: ['name', 'ssh_keys'] } }),
    };
    output['droplet_ipv4'] = {
      description: 'Public IPv4 of each droplet, by key.',
      value: `\${{ for key, droplet in digitalocean_droplet.${DROPLET_RESOURCE} : key => droplet.ipv4_address }}`,
    };
  }
  if (pool) {
    variable[RUNNERS_VARIABLE] = {
      type: 'number',
      default: 0,
      description: `How many ephemeral "${pool.name}" workers run (0 = none, zero cost).`,
      validation: [
        {
          condition: `\${var.${RUNNERS_VARIABLE} >= 0 && var.${RUNNERS_VARIABLE} == floor(var.${RUNNERS_VARIABLE})}`,
          error_message: 'runners is a whole number, 0 or more.',
        },
      ],
    };
    const runner: Record<string, unknown> = {
      count: `\${var.${RUNNERS_VARIABLE}}`,
      name: `${literal(runnerName!.base)}-\${count.index}`,
      region: literal(pool.region),
      size: literal(pool.size),
      image: literal(pool.image ?? 'ubuntu-24-04-x64'),
      tags: tags([
        'manage-apps',
        'ephemeral',
        `pool:${pool.name}`,
        `project:${pool.project}`,
        ...(runnerName!.producer === undefined ? [] : [`producer:${runnerName!.producer}`]),
      ]),
    };
    const runnerKey = pool.sshKey ?? fleetKey;
    if (runnerKey !== undefined) runner['ssh_keys'] = [keyData(runnerKey, runnerKey === fleetKey ? FLEET_KEY : RUNNER_KEY)];
    resource[RUNNER_RESOURCE] = runner;
    output['runner_ipv4'] = {
      description: `Public IPv4 of each "${pool.name}" worker.`,
      value: `\${digitalocean_droplet.${RUNNER_RESOURCE}[*].ipv4_address}`,
    };
  }
  if (Object.keys(variable).length > 0) doc['variable'] = variable;
  if (Object.keys(locals).length > 0) doc['locals'] = locals;
  if (Object.keys(data).length > 0) doc['data'] = data;
  if (Object.keys(resource).length > 0) doc['resource'] = { digitalocean_droplet: resource };
  if (moved.length > 0) doc['moved'] = moved;
  if (Object.keys(output).length > 0) doc['output'] = output;
  return { files: [{ path: TOFU_FILE, content: `${JSON.stringify(doc, null, 2)}\n` }], problems, skipped };
}

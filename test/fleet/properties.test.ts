/**
 * Property tests: mutated manifests and inventories never make validation throw,
 * and every problem it reports points inside the file it names.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseInventory } from '../../src/inventory/load.js';
import { parseManifest } from '../../src/manifest/load.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/package-root.js';
import { buildFleet } from '../../src/fleet/build.js';
import { checkRules } from '../../src/checks/rules.js';
import type { Problem } from '../../src/problems.js';
import { MAX_MANIFEST_BYTES } from '../../src/files/read.js';
import { looksLikeSecret } from '../../src/text/secrets.js';
import { renderUnit } from '../../src/render/systemd-unit.js';
import { hasControlCharacter } from '../../src/text/control.js';
import { validName } from '../../src/transport/quote.js';

const root = packageRoot();
const seedManifest = readFileSync(join(root, 'examples/fleet/projects/quinn-api/.infra.yaml'), 'utf8');
const seedV1 = readFileSync(join(root, 'examples/fleet/projects/hotel-scout/.infra.yaml'), 'utf8');
const seedInventory = readFileSync(join(root, 'examples/fleet/mesh-hosts.json'), 'utf8');

/** Text mutations a person (or a bad merge) makes: delete, duplicate, insert junk, swap lines, re-indent. */
const mutation = (text: string) =>
  fc.oneof(
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(text.length), len: fc.nat(20) }),
    fc.record({
      kind: fc.constant('insert' as const),
      at: fc.nat(text.length),
      junk: fc.oneof(
        fc.string(),
        fc.constantFrom(':', '- ', '\t', '{', '[', '"', "'", '&a', '*a', '!!binary ', '\n  ', '\n', '#', '---\n', ': :', 'null', '~', '1e999'),
      ),
    }),
    fc.record({ kind: fc.constant('swap' as const), a: fc.nat(40), b: fc.nat(40) }),
    fc.record({ kind: fc.constant('dupline' as const), a: fc.nat(40) }),
  );

function apply(text: string, muts: { kind: string; at?: number; len?: number; junk?: string; a?: number; b?: number }[]): string {
  let out = text;
  for (const m of muts) {
    if (m.kind === 'delete') out = out.slice(0, m.at!) + out.slice(m.at! + m.len!);
    else if (m.kind === 'insert') out = out.slice(0, m.at!) + m.junk! + out.slice(m.at!);
    else {
      const lines = out.split('\n');
      const a = m.a! % Math.max(1, lines.length);
      if (m.kind === 'dupline') lines.splice(a, 0, lines[a] ?? '');
      else {
        const b = m.b! % Math.max(1, lines.length);
        [lines[a], lines[b]] = [lines[b] ?? '', lines[a] ?? ''];
      }
      out = lines.join('\n');
    }
  }
  return out;
}

function assertLocated(problems: readonly Problem[], file: string, text: string): void {
  const lineCount = text.split(/\r?\n/).length;
  for (const p of problems) {
    assert.equal(p.file, file);
    assert.ok(Number.isInteger(p.line) && p.line >= 1 && p.line <= lineCount, `line ${p.line} of ${lineCount}: ${p.message}`);
    assert.ok(Number.isInteger(p.column) && p.column >= 1, `column ${p.column}`);
    assert.ok(p.message.length > 0 && !p.message.includes('\n'), p.message);
    assert.ok(p.severity === 'error' || p.severity === 'warning');
  }
}

test('mutated manifests: validation never throws and always locates what it reports', () => {
  const inventory = parseInventory('/x/mesh-hosts.json', 'mesh-hosts.json', seedInventory);
  fc.assert(
    fc.property(fc.constantFrom(seedManifest, seedV1), fc.array(mutation(seedManifest), { minLength: 1, maxLength: 4 }), (seed, muts) => {
      const text = apply(seed, muts);
      const loaded = parseManifest({ path: '/x/p/.infra.yaml', file: 'p/.infra.yaml', fileEnvironment: 'prod' }, text);
      assertLocated(loaded.problems, 'p/.infra.yaml', text);
      const fleet = buildFleet('/x', [loaded], inventory);
      assertLocated(checkRules(fleet, [loaded], inventory), 'p/.infra.yaml', text);
    }),
    { numRuns: 400 },
  );
});

test('mutated inventories: validation never throws and always locates what it reports', () => {
  const manifest = parseManifest({ path: '/x/p/.infra.yaml', file: 'p/.infra.yaml', fileEnvironment: 'prod' }, seedManifest);
  fc.assert(
    fc.property(fc.array(mutation(seedInventory), { minLength: 1, maxLength: 4 }), (muts) => {
      const text = apply(seedInventory, muts);
      const inventory = parseInventory('/x/mesh-hosts.json', 'mesh-hosts.json', text);
      assertLocated(inventory.problems, 'mesh-hosts.json', text);
      const fleet = buildFleet('/x', [manifest], inventory);
      const problems = checkRules(fleet, [manifest], inventory);
      for (const p of problems) assert.ok(p.file === 'p/.infra.yaml' || p.file === 'mesh-hosts.json');
    }),
    { numRuns: 300 },
  );
});

test('structured mutations: any JSON value in any manifest field is reported, not thrown', () => {
  // Object.prototype member names are picked on purpose: a lookup in a plain object must not find them.
  const value = fc.oneof(
    fc.constantFrom('__proto__', 'constructor', 'valueOf', 'toString', 'hasOwnProperty'),
    fc.string(),
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.array(fc.string(), { maxLength: 3 }),
    fc.dictionary(fc.string({ maxLength: 5 }), fc.string(), { maxKeys: 3 }),
  );
  const key = fc.constantFrom('apiVersion', 'project', 'environment', 'provider', 'database', 'service', 'droplets', 'owner', 'runner_pool');
  const serviceKey = fc.constantFrom(
    'host',
    'port',
    'command',
    'kind',
    'health',
    'domains',
    'env_file',
    'depends_on',
    'gpu',
    'systemd_unit',
    'backup',
    'stateful',
  );
  const inventory = parseInventory('/x/mesh-hosts.json', 'mesh-hosts.json', seedInventory);
  fc.assert(
    fc.property(key, serviceKey, value, fc.boolean(), (k, sk, v, inService) => {
      const doc = {
        apiVersion: 'infra/v2',
        project: 'p',
        provider: 'bare-metal',
        service: { host: 'black', port: 1, command: 'x' } as Record<string, unknown>,
      } as Record<string, unknown>;
      if (inService) (doc['service'] as Record<string, unknown>)[sk] = v;
      else doc[k] = v;
      const text = JSON.stringify(doc, null, 2); // JSON is YAML
      const loaded = parseManifest({ path: '/x/p/.infra.yaml', file: 'p/.infra.yaml', fileEnvironment: 'prod' }, text);
      assertLocated(loaded.problems, 'p/.infra.yaml', text);
      const fleet = buildFleet('/x', [loaded], inventory);
      assertLocated(checkRules(fleet, [loaded], inventory), 'p/.infra.yaml', text);
    }),
    { numRuns: 500 },
  );
});

// ---- issue 11: the limits ---------------------------------------------------------------------

/** Strings that probe the limits: control characters, separators, long runs. */
const hostileText = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({
    unit: fc.constantFrom('a', '.', '-', '_', '/', '\n', '\r', '\t', '\u0000', '\u001b', '\u0085', '\u2028', ' ', '$', '#'),
    maxLength: 40,
  }),
  fc.nat(400).map((n) => 'n'.repeat(n)),
);

test('one definition of a name: a manifest validate accepts never names anything the operations refuse', () => {
  const inventory = parseInventory('/x/mesh-hosts.json', 'mesh-hosts.json', seedInventory);
  fc.assert(
    fc.property(hostileText, hostileText, hostileText, fc.array(hostileText, { maxLength: 2 }), (project, directory, envFile, dependsOn) => {
      const doc = {
        apiVersion: 'infra/v2',
        project,
        provider: 'bare-metal',
        service: { host: 'black', port: 1, command: 'x', directory: `/${directory}`, env_file: `/${envFile}`, depends_on: dependsOn },
      };
      const text = JSON.stringify(doc, null, 2);
      const loaded = parseManifest({ path: '/x/p/.infra.yaml', file: 'p/.infra.yaml', fileEnvironment: 'prod' }, text);
      assertLocated(loaded.problems, 'p/.infra.yaml', text);
      const operationsAccept = [
        () => validName('project', project),
        () => validName('path', `/${directory}`),
        () => validName('path', `/${envFile}`),
        ...dependsOn.map((d) => () => validName('project', d)),
      ].every((check) => {
        try {
          check();
          return true;
        } catch {
          return false;
        }
      });
      if (loaded.valid) assert.ok(operationsAccept, `validate accepted what the operations refuse: ${text}`);
      if (!operationsAccept) assert.ok(!loaded.valid && loaded.problems.some((p) => p.rule === 'safe_name'), text);
      // And it never reaches the fleet the operations work on.
      const fleet = buildFleet('/x', [loaded], inventory);
      for (const s of fleet.services) assert.doesNotThrow(() => validName('project', s.project));
    }),
    { numRuns: 400 },
  );
});

test('a manifest path with a control character is reported (control_character) and takes no part; a unit rendered from any path has no extra line', () => {
  const inventory = parseInventory('/x/mesh-hosts.json', 'mesh-hosts.json', seedInventory);
  fc.assert(
    fc.property(hostileText, (dir) => {
      const file = `${dir}/.infra.yaml`;
      const loaded = parseManifest({ path: `/x/${file}`, file, fileEnvironment: 'prod' }, seedManifest);
      const flagged = loaded.problems.some((p) => p.rule === 'control_character');
      assert.equal(flagged, hasControlCharacter(file), JSON.stringify(file));
      if (flagged) assert.equal(buildFleet('/x', [loaded], inventory).services.length, 0);
      // Defence in depth: whatever the path, the unit has exactly the lines of a plain one.
      const clean = buildFleet(
        '/x',
        [parseManifest({ path: '/x/p/.infra.yaml', file: 'p/.infra.yaml', fileEnvironment: 'prod' }, seedManifest)],
        inventory,
      ).services[0]!;
      const unit = renderUnit({ ...clean, manifest: file }, undefined);
      assert.equal(unit.split('\n').length, renderUnit(clean, undefined).split('\n').length, unit);
    }),
    { numRuns: 300 },
  );
});

test('size limit: any text over 1 MiB is one file_size problem at 1:1, never parsed', () => {
  fc.assert(
    fc.property(fc.nat(4096), fc.constantFrom('a', '\n', 'key: value\n', '- [\n'), (extra, unit) => {
      const text = unit.repeat(Math.ceil((MAX_MANIFEST_BYTES + 1 + extra) / unit.length));
      const loaded = parseManifest({ path: '/x/p/.infra.yaml', file: 'p/.infra.yaml', fileEnvironment: 'prod' }, text);
      assert.deepEqual(
        loaded.problems.map((p) => [p.rule, p.line, p.column]),
        [['file_size', 1, 1]],
      );
    }),
    { numRuns: 8 },
  );
});

test('secret detection stays linear on long mixes of the fragments that made it quadratic', { timeout: 60_000 }, () => {
  const fragment = fc.constantFrom('a', 'x9', '://', 'a:', '-eyJ', 'eyJ', '.', ':', '@', '/', ' ', 'ghp_', 'sk-', '-----BEGIN ', 'AIza');
  fc.assert(
    fc.property(fc.array(fragment, { minLength: 1, maxLength: 8 }), fc.integer({ min: 20_000, max: 200_000 }), (parts, length) => {
      const unit = parts.join('');
      const value = unit.repeat(Math.ceil(length / unit.length));
      assert.equal(typeof looksLikeSecret(value), 'boolean');
    }),
    { numRuns: 40 },
  );
});

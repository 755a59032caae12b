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

const root = packageRoot();
const seedManifest = readFileSync(join(root, 'examples/fleet/projects/quinn-api/.infra.yaml'), 'utf8');
const seedV1 = readFileSync(join(root, 'examples/fleet/projects/hotel-scout/.infra.yaml'), 'utf8');
const seedInventory = readFileSync(join(root, 'examples/fleet/mesh-hosts.json'), 'utf8');

/** Text mutations a person (or a bad merge) makes: delete, duplicate, insert junk, swap lines, re-indent. */
const mutation = (text: string) =>
  fc.oneof(
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(text.length), len: fc.nat(20) }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(text.length), junk: fc.oneof(fc.string(), fc.constantFrom(':', '- ', '\t', '{', '[', '"', "'", '&a', '*a', '!!binary ', '\n  ', '\n', '#', '---\n', ': :', 'null', '~', '1e999')) }),
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
  const value = fc.oneof(fc.constantFrom('__proto__', 'constructor', 'valueOf', 'toString', 'hasOwnProperty'), fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(fc.string(), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 5 }), fc.string(), { maxKeys: 3 }));
  const key = fc.constantFrom('apiVersion', 'project', 'environment', 'provider', 'database', 'service', 'droplets', 'owner', 'runner_pool');
  const serviceKey = fc.constantFrom('host', 'port', 'command', 'kind', 'health', 'domains', 'env_file', 'depends_on', 'gpu', 'systemd_unit', 'backup', 'stateful');
  const inventory = parseInventory('/x/mesh-hosts.json', 'mesh-hosts.json', seedInventory);
  fc.assert(
    fc.property(key, serviceKey, value, fc.boolean(), (k, sk, v, inService) => {
      const doc = { apiVersion: 'infra/v2', project: 'p', provider: 'bare-metal', service: { host: 'black', port: 1, command: 'x' } as Record<string, unknown> } as Record<string, unknown>;
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

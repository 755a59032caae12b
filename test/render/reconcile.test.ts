/** net reconcile: the services map regenerated in place; the rest of mesh-hosts.json untouched, byte for byte. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { netReconcile } from '../../src/cli/commands/render/net-reconcile.js';
import { loadFleet } from '../../src/load/fleet.js';
import { parseInventory } from '../../src/inventory/load.js';
import { SourceDocument } from '../../src/source/document.js';
import { renderServicesMap, spliceServicesMap, type ServicesMap } from '../../src/render/services-map.js';
import { copyFixture, expectGolden, loadFixture, removeDir } from './helpers.js';

function splice(text: string, map: ServicesMap): string {
  const doc = SourceDocument.parseJson('mesh-hosts.json', text).doc!;
  return spliceServicesMap(text, doc, map);
}

test("reconcile: golden file; the key is added before the closing brace with the file's own indentation", async () => {
  const { loaded } = await loadFixture();
  const text = loaded.inventory.source!.text;
  const map = renderServicesMap(loaded.fleet);
  const out = splice(text, map);
  await expectGolden('reconcile/mesh-hosts.json', out);
  // The original is a prefix (up to its last value) and the closing brace is kept.
  const lastValueEnd = text.lastIndexOf('}', text.lastIndexOf('}') - 1) + 1;
  assert.equal(out.slice(0, lastValueEnd), text.slice(0, lastValueEnd));
  assert.ok(out.endsWith('\n  }\n}\n'));
  assert.match(out, /,\n {2}"services": \{\n {4}"api": \{\n {6}"project": "api",/);
  // Deterministic, and a second run changes nothing.
  assert.equal(splice(text, renderServicesMap((await loadFixture()).loaded.fleet)), out);
  assert.equal(splice(out, map), out);
  // What it writes loads back as a valid inventory whose map is the rendered one.
  const back = parseInventory('x', 'mesh-hosts.json', out);
  assert.deepEqual(back.problems, []);
  assert.deepEqual(back.inventory!.services, map);
  assert.deepEqual(Object.keys(map), ['api', 'api:dev', 'cron', 'edge', 'forge@com.example.ct.forge', 'legacy', 'macapp', 'web', 'worker']);
});

test('reconcile: an existing map is replaced in place; the text around it stays byte for byte', () => {
  const before =
    '{\n\t"version": 1,\n\t"services": { "gone": { "project": "gone", "environment": "prod", "host": "a" } },\n\t"hosts": {\n\t\t"a": { "provider": "vps", "role": "production" }\n\t}\n}\n';
  const map: ServicesMap = { api: { project: 'api', environment: 'prod', host: 'a', port: 1, kind: 'app' } };
  const out = splice(before, map);
  const start = before.indexOf('{ "gone"');
  const end = before.indexOf('},\n\t"hosts"') + 1;
  assert.equal(out.slice(0, start), before.slice(0, start));
  assert.ok(out.endsWith(before.slice(end)));
  assert.equal(
    out.slice(start, out.length - (before.length - end)),
    '{\n\t\t"api": {\n\t\t\t"project": "api",\n\t\t\t"environment": "prod",\n\t\t\t"host": "a",\n\t\t\t"port": 1,\n\t\t\t"kind": "app"\n\t\t}\n\t}',
  );
  assert.equal(splice(out, map), out);
  // A map that already says the same thing is left as it is, however it is formatted.
  const compactSame = before.replace(/\{ "gone".*?\} \}/, JSON.stringify(map));
  assert.equal(splice(compactSame, map), compactSame);
});

test('reconcile: CRLF, one-line and empty-object files keep their style', () => {
  const map: ServicesMap = { b: { project: 'b', environment: 'prod', host: 'h' } };
  const crlf = '{\r\n  "hosts": {}\r\n}\r\n';
  const outCrlf = splice(crlf, map);
  assert.equal(
    outCrlf,
    '{\r\n  "hosts": {},\r\n  "services": {\r\n    "b": {\r\n      "project": "b",\r\n      "environment": "prod",\r\n      "host": "h"\r\n    }\r\n  }\r\n}\r\n',
  );
  assert.equal(splice('{"hosts":{}}', map), '{"hosts":{},"services":{"b":{"project":"b","environment":"prod","host":"h"}}}');
  assert.equal(splice('{}\n', map), '{"services":{"b":{"project":"b","environment":"prod","host":"h"}}}\n');
});

test('reconcile --write: written once with a backup, unchanged (same bytes, same mtime) the second time; --check agrees', async () => {
  const root = await copyFixture();
  try {
    const path = join(root, 'mesh-hosts.json');
    const original = await readFile(path, 'utf8');
    const drift = await netReconcile({ root, check: true });
    assert.equal(drift.exitCode, 1);
    assert.deepEqual(
      (drift.json as { files: { status: string }[] }).files.map((f) => f.status),
      ['out-of-date'],
    );
    const first = await netReconcile({ root, write: true });
    assert.equal(first.exitCode, 0);
    assert.deepEqual((first.json as { files: unknown[] }).files, [{ path, status: 'written', backup: `${path}.bak` }]);
    assert.equal(await readFile(`${path}.bak`, 'utf8'), original);
    const written = await readFile(path, 'utf8');
    const mtime = (await stat(path)).mtimeMs;
    const second = await netReconcile({ root, write: true });
    assert.deepEqual(
      (second.json as { files: { status: string }[] }).files.map((f) => f.status),
      ['unchanged'],
    );
    assert.equal(await readFile(path, 'utf8'), written);
    assert.equal((await stat(path)).mtimeMs, mtime);
    assert.equal((await netReconcile({ root, check: true })).exitCode, 0);
    // The whole fleet still loads cleanly from the reconciled inventory.
    const reloaded = await loadFleet({ root });
    assert.deepEqual(
      reloaded.problems.filter((p) => p.severity === 'error'),
      [],
    );
    assert.deepEqual(reloaded.inventory.inventory!.services, renderServicesMap(reloaded.fleet));
    // A new manifest shows up on the next run, in place.
    await writeFile(
      join(root, 'api/.infra.staging.yaml'),
      'apiVersion: infra/v2\nproject: api\nenvironment: staging\nprovider: bare-metal\nservice:\n  host: core\n  port: 3031\n  command: node server.js\n',
    );
    assert.equal((await netReconcile({ root, write: true })).exitCode, 0);
    const updated = await readFile(path, 'utf8');
    assert.match(updated, /"api:staging": \{/);
    assert.equal(updated.slice(0, updated.indexOf('"services"')), written.slice(0, written.indexOf('"services"')));
  } finally {
    await removeDir(root);
  }
});

test('reconcile: a manifest with errors stops it (its service would vanish from the map); nothing is written', async () => {
  const root = await copyFixture({
    'api/.infra.yaml': 'apiVersion: infra/v2\nproject: api\nprovider: bare-metal\nservice:\n  host: core\n  prot: 3030\n',
  });
  try {
    const path = join(root, 'mesh-hosts.json');
    const original = await readFile(path, 'utf8');
    const r = await netReconcile({ root, write: true });
    assert.equal(r.exitCode, 1);
    const json = r.json as { files: unknown[]; problems: { file: string; rule: string }[] };
    assert.deepEqual(json.files, []);
    assert.ok(json.problems.some((p) => p.file === 'api/.infra.yaml' && p.rule === 'schema'));
    assert.equal(await readFile(path, 'utf8'), original);
  } finally {
    await removeDir(root);
  }
});

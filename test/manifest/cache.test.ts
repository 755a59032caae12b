/** The manifest cache changes speed, never results. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadFleet } from '../../src/load/fleet.js';
import { inventory, makeTree, removeTree } from '../helpers/tree.js';

async function withCacheDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'manage-apps-cache-'));
  const before = { dir: process.env['MANAGE_APPS_CACHE_DIR'], on: process.env['MANAGE_APPS_CACHE'] };
  process.env['MANAGE_APPS_CACHE_DIR'] = dir;
  delete process.env['MANAGE_APPS_CACHE'];
  try {
    return await fn(dir);
  } finally {
    if (before.dir === undefined) delete process.env['MANAGE_APPS_CACHE_DIR'];
    else process.env['MANAGE_APPS_CACHE_DIR'] = before.dir;
    if (before.on !== undefined) process.env['MANAGE_APPS_CACHE'] = before.on;
    await rm(dir, { recursive: true, force: true });
  }
}

const api =
  'apiVersion: infra/v2\nproject: api\nprovider: bare-metal\nservice:\n  host: core\n  port: 3030\n  command: node server.js\n  depends_on: [web]\n';
const web = 'apiVersion: infra/v2\nproject: web\nenvironment: prod\nprovider: bare-metal\nservice: { host: core, port: 3030, command: x }\n';

test('a warm cache gives the same fleet and the same problems as a cold one', async () => {
  await withCacheDir(async (cacheDir) => {
    const root = await makeTree({
      'mesh-hosts.json': inventory(),
      'api/.infra.yaml': api,
      'web/.infra.yaml': web,
      'bad/.infra.yaml': 'apiVersion: infra/v2\nproject: bad\nprovider: nowhere\n',
    });
    try {
      const cold = await loadFleet({ root });
      assert.equal((await readdir(cacheDir)).filter((n) => n.startsWith('manifests-')).length, 1, 'the cache was written');
      const warm = await loadFleet({ root });
      assert.deepEqual(warm.problems, cold.problems);
      assert.deepEqual(warm.fleet, cold.fleet);
      assert.ok(
        warm.problems.some((p) => p.rule === 'port_clash' && p.line === 5),
        'cross-file rules still locate into cached files',
      );
      process.env['MANAGE_APPS_CACHE'] = '0';
      const uncached = await loadFleet({ root });
      assert.deepEqual(uncached.problems, cold.problems);
    } finally {
      await removeTree(root);
    }
  });
});

test('an edited manifest is parsed again; a corrupt cache is ignored', async () => {
  await withCacheDir(async (cacheDir) => {
    const root = await makeTree({ 'mesh-hosts.json': inventory(), 'api/.infra.yaml': api.replace('  depends_on: [web]\n', '') });
    try {
      assert.deepEqual((await loadFleet({ root })).problems, []);
      await writeFile(join(root, 'api/.infra.yaml'), api.replace('  depends_on: [web]\n', '').replace('port: 3030', 'port: 3031\n  prot: 1'));
      const edited = await loadFleet({ root });
      assert.equal(edited.problems[0]?.rule, 'schema');
      assert.equal(edited.problems[0]?.line, 7);
      const [file] = (await readdir(cacheDir)).filter((n) => n.startsWith('manifests-'));
      await writeFile(join(cacheDir, file!), '{ not json');
      assert.equal((await loadFleet({ root })).problems[0]?.line, 7);
    } finally {
      await removeTree(root);
    }
  });
});

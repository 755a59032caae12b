/**
 * The resolved-fleet cache (src/load/fleet-cache.ts) changes speed, never answers: after every
 * change to an input — a manifest, the inventory, the tenants file, a compose file; edited, added,
 * deleted, renamed, or rewritten with the same size and modification time — the next load gives
 * what a load without any cache gives, and differs from the load before; an unchanged tree is
 * answered from the cache (its file is not rewritten); the rules that ask this machine still run
 * on a cached answer; the CLI's --json is byte-identical cold, warm and with the cache off.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadFleet } from '../../src/load/fleet.js';
import { cli, inventory, makeTree, removeTree } from '../helpers/tree.js';

function withCacheDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'manage-apps-fleet-cache-'));
  const before = { dir: process.env['MANAGE_APPS_CACHE_DIR'], on: process.env['MANAGE_APPS_CACHE'] };
  process.env['MANAGE_APPS_CACHE_DIR'] = dir;
  delete process.env['MANAGE_APPS_CACHE'];
  return fn(dir).finally(() => {
    if (before.dir === undefined) delete process.env['MANAGE_APPS_CACHE_DIR'];
    else process.env['MANAGE_APPS_CACHE_DIR'] = before.dir;
    if (before.on === undefined) delete process.env['MANAGE_APPS_CACHE'];
    else process.env['MANAGE_APPS_CACHE'] = before.on;
    rmSync(dir, { recursive: true, force: true });
  });
}

const manifest = (project: string, port: number, extra = '') =>
  `apiVersion: infra/v2\nproject: ${project}\nprovider: bare-metal\nservice:\n  host: core\n  port: ${port}\n  command: node server.js\n${extra}`;
const shop = `apiVersion: infra/v2
project: shop
provider: bare-metal
service:
  host: core
  port: 8080
  compose:
    file: deploy/compose.yml
    service: app
`;
const composeFile = (port: number) => `services:\n  app:\n    image: ghcr.io/acme/shop:1\n    ports: ["${port}:3000"]\n`;

/** A fixed modification time (whole seconds: exactly the same nanoseconds when set again). */
const FIXED = new Date('2026-01-02T03:04:05Z');

/** What a command sees of a load: the model and the problems, as plain data (getters read). */
const answer = (loaded: Awaited<ReturnType<typeof loadFleet>>) => JSON.stringify({ fleet: loaded.fleet, problems: loaded.problems });

test('every change to an input gives the answer of a load without the cache; an unchanged tree is answered from it', async () => {
  await withCacheDir(async (cacheDir) => {
    const root = await makeTree({
      'mesh-hosts.json': inventory(),
      'api/.infra.yaml': manifest('api', 3030),
      'web/.infra.yaml': manifest('web', 3040),
      'shop/.infra.yaml': shop,
      'shop/deploy/compose.yml': composeFile(8080),
    });
    const cacheFile = () => {
      const names = readdirSync(cacheDir).filter((n) => n.startsWith('fleet-'));
      assert.equal(names.length, 1, `one resolved-fleet cache file: ${names.join(', ')}`);
      return join(cacheDir, names[0]!);
    };
    /** Loads with the cache, checks it against a load without it, and says whether the cache file was kept (a hit) or rewritten. */
    const load = async () => {
      const warm = await loadFleet({ root });
      const inode = statSync(cacheFile()).ino;
      process.env['MANAGE_APPS_CACHE'] = '0';
      try {
        assert.equal(answer(warm), answer(await loadFleet({ root })), 'the same answer as without any cache');
      } finally {
        delete process.env['MANAGE_APPS_CACHE'];
      }
      return { text: answer(warm), inode, loaded: warm };
    };
    try {
      let last = await load();
      assert.equal(statSync(cacheFile()).mode & 0o777, 0o600);
      const again = await load();
      assert.equal(again.text, last.text);
      assert.equal(again.inode, last.inode, 'an unchanged tree is answered from the cache (the file is not rewritten)');
      assert.ok(
        last.loaded.fleet.services.some((s) => s.compose?.published.includes(8080)),
        "the compose file's facts are in the model",
      );

      /** `cached: false`: a state the cache does not keep (a compose file that could not be read): the answer changes all the same. */
      const step = async (what: string, change: () => void, cached = true) => {
        change();
        const next = await load();
        assert.notEqual(next.text, last.text, `${what}: the answer changed`);
        if (cached) assert.notEqual(next.inode, last.inode, `${what}: the cache was not used`);
        const same = await load();
        assert.equal(same.text, next.text);
        if (cached) assert.equal(same.inode, next.inode, `${what}: the new answer is cached in turn`);
        last = same;
      };
      const sameSizeAndTime = (path: string, from: string, to: string) => {
        const full = join(root, path);
        utimesSync(full, FIXED, FIXED);
        return async () => {
          const before = await load();
          last = before;
          await step(`${path} rewritten with the same size and time`, () => {
            const text = readFileSync(full, 'utf8').replace(from, to);
            assert.equal(text.length, readFileSync(full, 'utf8').length);
            writeFileSync(full, text);
            utimesSync(full, FIXED, FIXED);
          });
          assert.equal(statSync(full, { bigint: true }).mtimeNs, BigInt(FIXED.getTime()) * 1_000_000n);
        };
      };

      // Manifests: edited, rewritten with the same size and time, added, renamed, deleted.
      await step('a manifest edited', () => writeFileSync(join(root, 'api/.infra.yaml'), manifest('api', 3031, '  depends_on: [web]\n')));
      await sameSizeAndTime('api/.infra.yaml', 'port: 3031', 'port: 3032')();
      await step('a manifest added', () => {
        mkdirSync(join(root, 'new'));
        writeFileSync(join(root, 'new/.infra.yaml'), manifest('new', 3050));
      });
      await step('a manifest renamed (its project moved)', () => renameSync(join(root, 'new'), join(root, 'renamed')));
      await step('a manifest renamed to another environment', () =>
        renameSync(join(root, 'renamed/.infra.yaml'), join(root, 'renamed/.infra.dev.yaml')),
      );
      await step('a manifest deleted', () => rmSync(join(root, 'renamed'), { recursive: true }));
      // The inventory.
      await step('the inventory edited', () =>
        writeFileSync(join(root, 'mesh-hosts.json'), inventory({ clusters: { 'core-pg': { host: 'core', port: 25436, engine: 'postgres' } } })),
      );
      await sameSizeAndTime('mesh-hosts.json', '10.0.0.11', '10.0.0.12')();
      await step('the inventory deleted', () => rmSync(join(root, 'mesh-hosts.json')));
      await step('the inventory added back', () => writeFileSync(join(root, 'mesh-hosts.json'), inventory()));
      // The tenants file beside it.
      await step('a tenants file added', () => writeFileSync(join(root, 'tenants.yaml'), 'tenants:\n  acme: { kind: org, tlds: [com] }\n'));
      await sameSizeAndTime('tenants.yaml', 'kind: org', 'kind: dog')();
      await step('the tenants file deleted', () => rmSync(join(root, 'tenants.yaml')));
      // A compose file the model read.
      await step('a compose file edited', () => writeFileSync(join(root, 'shop/deploy/compose.yml'), composeFile(18080)));
      await sameSizeAndTime('shop/deploy/compose.yml', '18080', '18081')();
      await step('a compose file deleted', () => rmSync(join(root, 'shop/deploy/compose.yml')), false);
      await step('a compose file added back', () => writeFileSync(join(root, 'shop/deploy/compose.yml'), composeFile(8080)));
    } finally {
      await removeTree(root);
    }
  });
});

test('the rules that ask this machine run on a cached answer: a link that leads out of the project is found', async () => {
  await withCacheDir(async (cacheDir) => {
    const outside = mkdtempSync(join(tmpdir(), 'manage-apps-outside-'));
    const root = await makeTree({
      'mesh-hosts.json': inventory(),
      'api/.infra.yaml': manifest('api', 3030, '  artifact: app\n'),
      'api/app/server.js': '',
    });
    try {
      const first = await loadFleet({ root });
      assert.deepEqual(
        first.problems.map((p) => p.rule),
        [],
      );
      const [file] = readdirSync(cacheDir).filter((n) => n.startsWith('fleet-'));
      const inode = statSync(join(cacheDir, file!)).ino;
      // No input changes: the artifact directory becomes a link to a directory outside the project.
      rmSync(join(root, 'api/app'), { recursive: true });
      symlinkSync(outside, join(root, 'api/app'));
      const linked = await loadFleet({ root });
      assert.equal(statSync(join(cacheDir, file!)).ino, inode, 'answered from the cache');
      const found = linked.problems.find((p) => p.rule === 'project_path');
      assert.ok(found, JSON.stringify(linked.problems));
      assert.deepEqual([found.file, found.line], ['api/.infra.yaml', 8], 'located in the manifest, which the cached answer did not parse');
    } finally {
      await removeTree(root);
      rmSync(outside, { recursive: true, force: true });
    }
  });
});

test('a cache file another user could have written is not used; a tenants file being written is never cached', async () => {
  await withCacheDir(async (cacheDir) => {
    const root = await makeTree({ 'mesh-hosts.json': inventory(), 'api/.infra.yaml': manifest('api', 3030) });
    try {
      await loadFleet({ root });
      const [file] = readdirSync(cacheDir).filter((n) => n.startsWith('fleet-'));
      const path = join(cacheDir, file!);
      chmodSync(path, 0o666);
      const inode = statSync(path).ino;
      await loadFleet({ root });
      assert.notEqual(statSync(path).ino, inode, 'a group- or world-writable cache file is replaced, not read');
      assert.equal(statSync(path).mode & 0o777, 0o600);
      const kept = statSync(path).ino;
      const planned = await loadFleet({ root }, { tenantsText: 'tenants:\n  acme: { kind: org, tlds: [com] }\n' });
      assert.equal(planned.tenants.tenants.length, 1);
      assert.equal(statSync(path).ino, kept, 'a load with a tenants file not yet written neither reads nor writes the cache');
      assert.equal((await loadFleet({ root })).tenants.tenants.length, 0);
    } finally {
      await removeTree(root);
    }
  });
});

test("the CLI's --json is byte-identical cold, warm and with the cache off", async () => {
  await withCacheDir(async (cacheDir) => {
    const root = await makeTree({
      'mesh-hosts.json': inventory(),
      'api/.infra.yaml': manifest('api', 3030, '  depends_on: [web]\n'),
      'web/.infra.yaml': manifest('web', 3030),
      'bad/.infra.yaml': 'apiVersion: infra/v2\nproject: bad\nprovider: nowhere\n',
      'shop/.infra.yaml': shop,
      'shop/deploy/compose.yml': composeFile(8080),
    });
    try {
      for (const command of [['validate'], ['list'], ['ports']]) {
        const run = (env: NodeJS.ProcessEnv) => cli([...command, '--root', root, '--json'], { env: { MANAGE_APPS_CACHE_DIR: cacheDir, ...env } });
        rmSync(cacheDir, { recursive: true, force: true });
        const cold = run({});
        assert.ok(
          readdirSync(cacheDir).some((n) => n.startsWith('fleet-')),
          'the cold run wrote the cache',
        );
        const warm = run({});
        const off = run({ MANAGE_APPS_CACHE: '0' });
        assert.ok(cold.stdout.length > 0, cold.stderr);
        assert.equal(warm.stdout, cold.stdout, `${command.join(' ')}: warm`);
        assert.equal(off.stdout, cold.stdout, `${command.join(' ')}: off`);
        assert.equal(warm.stderr, cold.stderr);
        assert.deepEqual([cold.status, warm.status, off.status], [cold.status, cold.status, cold.status]);
      }
    } finally {
      await removeTree(root);
    }
  });
});

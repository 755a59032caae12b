import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { UsageError } from '../../src/errors.js';
import { loadFleet } from '../../src/load/fleet.js';
import { isPseudoFilesystem } from '../../src/files/read.js';
import { discoverManifests, environmentFromFileName } from '../../src/manifest/discover.js';
import { cli, inventory, makeTree, removeTree } from '../helpers/tree.js';

const m = 'apiVersion: infra/v1\nproject: p\nprovider: local\n';

test('finds .infra.yaml and .infra.<env>.yaml, skipping dependency and build folders', async () => {
  const root = await makeTree({
    'a/.infra.yaml': m,
    'a/.infra.dev.yaml': m,
    'b/c/.infra.preview.yaml': m,
    'a/node_modules/x/.infra.yaml': m,
    '.git/.infra.yaml': m,
    'd/dist/.infra.yaml': m,
    'e/infra.yaml': m,
    'e/.infra.yaml.bak': m,
  });
  try {
    const found = await discoverManifests(root);
    assert.deepEqual(
      found.manifests.map((f) => `${f.file}=${f.fileEnvironment}`),
      ['a/.infra.dev.yaml=dev', 'a/.infra.yaml=prod', 'b/c/.infra.preview.yaml=preview'],
    );
    assert.deepEqual(found.problems, []);
  } finally {
    await removeTree(root);
  }
});

test('a symlink loop ends the crawl instead of hanging it', async () => {
  const root = await makeTree({ 'a/.infra.yaml': m });
  try {
    await symlink(root, join(root, 'a', 'loop'));
    await mkdir(join(root, 'b'));
    await symlink(join(root, 'b'), join(root, 'b', 'self'));
    const found = await discoverManifests(root);
    assert.deepEqual(
      found.manifests.map((f) => f.file),
      ['a/.infra.yaml'],
    );
  } finally {
    await removeTree(root);
  }
});

test('file names map to environments', () => {
  assert.equal(environmentFromFileName('.infra.yaml'), 'prod');
  assert.equal(environmentFromFileName('.infra.dev.yaml'), 'dev');
  assert.equal(environmentFromFileName('.infra.DEV.yaml'), undefined);
  assert.equal(environmentFromFileName('infra.yaml'), undefined);
});

test('an unreadable directory is reported, located, and the exit code says so', async (t) => {
  const setpriv = spawnSync('setpriv', ['--version']);
  if (process.getuid?.() !== 0 || setpriv.status !== 0) {
    t.skip('needs root and setpriv to run the CLI as an unprivileged user');
    return;
  }
  const root = await makeTree({
    'mesh-hosts.json': inventory(),
    'ok/.infra.yaml': 'apiVersion: infra/v2\nproject: ok\nprovider: local\n',
    'secret/x/.infra.yaml': m,
  });
  try {
    spawnSync('chmod', ['-R', 'a+rX', root]);
    spawnSync('chmod', ['000', join(root, 'secret')]);
    const nodeBin = process.execPath;
    const r = spawnSync(
      'setpriv',
      ['--reuid=65534', '--regid=65534', '--clear-groups', nodeBin, join(process.cwd(), 'bin/manage-apps.js'), 'validate', '--root', root, '--json'],
      { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } },
    );
    assert.equal(r.status, 1, r.stderr);
    const out = JSON.parse(r.stdout) as { problems: { file: string; rule: string; message: string }[] };
    const p = out.problems.find((x) => x.rule === 'discovery');
    assert.ok(p, r.stdout);
    assert.equal(p.file, 'secret');
    assert.match(p.message, /EACCES/);
  } finally {
    spawnSync('chmod', ['755', join(root, 'secret')]);
    await removeTree(root);
  }
  void cli;
});

test('kernel pseudo-filesystems are never walked, and refused as a root', async () => {
  assert.ok(isPseudoFilesystem('/proc') && isPseudoFilesystem('/proc/1/root/') && isPseudoFilesystem('/sys/fs') && isPseudoFilesystem('/dev/'));
  assert.ok(!isPseudoFilesystem('/') && !isPseudoFilesystem('/process') && !isPseudoFilesystem('/srv/proc') && !isPseudoFilesystem('/devices'));
  await assert.rejects(loadFleet({ root: '/proc' }), (err: Error) => err instanceof UsageError && /pseudo-filesystem/.test(err.message));
});

// Issue 11 items 2, 4, 5, 7: what loading a manifest refuses, and that every refusal is a
// located problem, not a hang, a crash or a quadratic stall.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadFleet } from '../../src/load/fleet.js';
import { MAX_MANIFEST_BYTES } from '../../src/files/read.js';
import { parseManifest } from '../../src/manifest/load.js';
import { MAX_NAME_LENGTH } from '../../src/names.js';
import { validName } from '../../src/transport/quote.js';
import { cli, find, inventory, makeTree, removeTree } from '../helpers/tree.js';

const found = { path: '/x/p/.infra.yaml', file: 'p/.infra.yaml', fileEnvironment: 'prod' };
const v2 = (project: string, extra = '') =>
  `apiVersion: infra/v2\nproject: ${project}\nprovider: bare-metal\nservice:\n  host: core\n  port: 3000\n  command: node server.js\n${extra}`;

test('validate and the operations share one definition of a name: a 3,000-character project is refused by both', () => {
  const long = 'a'.repeat(3000);
  const loaded = parseManifest(found, v2(long));
  const p = find(loaded.problems, 'safe_name');
  assert.ok(p, JSON.stringify(loaded.problems));
  assert.deepEqual([p.line, p.column], [2, 10]);
  assert.match(p.message, /3000 characters long \(at most 128\)/);
  assert.ok(p.message.length < 300, 'the message quotes the name abbreviated');
  assert.equal(loaded.valid, false, 'a manifest with a name the operations refuse takes no part');
  assert.throws(() => validName('project', long), /at most 128/);
  // At the limit both accept it.
  const edge = 'b'.repeat(MAX_NAME_LENGTH);
  assert.equal(parseManifest(found, v2(edge)).valid, true);
  assert.equal(validName('project', edge), edge);
  // Paths the operations refuse (a "..", a line break) are refused by validate too.
  for (const extra of ['  env_file: /etc/../shadow\n', '  directory: "/srv/a\\nb"\n']) {
    const bad = parseManifest(found, v2('p', extra));
    assert.equal(find(bad.problems, 'safe_name')?.rule, 'safe_name', extra);
    assert.equal(bad.valid, false);
  }
});

test('status: one bad manifest is reported and skipped; the other services are still shown (exit 1)', async () => {
  const root = await makeTree({
    'mesh-hosts.json': inventory(),
    'good/.infra.yaml': 'apiVersion: infra/v2\nproject: good\nprovider: local\nservice:\n  host: laptop\n  command: sleep 100\n',
    'bad/.infra.yaml': `apiVersion: infra/v2\nproject: ${'x'.repeat(3000)}\nprovider: local\nservice:\n  host: laptop\n  command: sleep 100\n`,
  });
  try {
    const run = cli(['status', '--root', root, '--json'], { env: { MANAGE_APPS_CACHE: '0' } });
    assert.equal(run.status, 1, run.stdout + run.stderr);
    const doc = JSON.parse(run.stdout) as { services: { id: string; verdict: string }[]; problems: { file: string; rule: string }[] };
    assert.deepEqual(
      doc.services.map((s) => [s.id, s.verdict]),
      [['good', 'stopped']],
    );
    assert.ok(doc.problems.some((p) => p.file === 'bad/.infra.yaml' && p.rule === 'safe_name'));
    const human = cli(['status', '--root', root], { env: { MANAGE_APPS_CACHE: '0' } });
    assert.equal(human.status, 1);
    assert.match(human.stdout, /\bgood\b.*stopped/);
    assert.match(human.stderr, /skipped bad\/\.infra\.yaml: project name "x+…x+" is 3000 characters long/);
  } finally {
    await removeTree(root);
  }
});

test(
  `a manifest over ${MAX_MANIFEST_BYTES / 1024 / 1024} MiB is a located file_size problem; a 50 MB one is refused without reading it`,
  { timeout: 120_000 },
  async () => {
    const root = await makeTree({ 'mesh-hosts.json': inventory(), 'ok/.infra.yaml': v2('ok'), 'huge/.infra.yaml': '' });
    try {
      // 50 MB of one YAML line: on main this ran for minutes and died with a RangeError.
      await writeFile(
        join(root, 'huge', '.infra.yaml'),
        `apiVersion: infra/v2\nproject: huge\nprovider: local\nowner: "${'a'.repeat(50_000_000)}"\n`,
      );
      const loaded = await loadFleet({ root });
      const p = find(loaded.problems, 'file_size');
      assert.ok(p, JSON.stringify(loaded.problems));
      assert.deepEqual([p.file, p.line, p.column], ['huge/.infra.yaml', 1, 1]);
      assert.match(p.message, /larger than the limit of 1 MiB/);
      assert.ok(
        loaded.fleet.services.some((s) => s.project === 'ok'),
        'the other manifests load',
      );
      const run = cli(['validate', '--root', root], { env: { MANAGE_APPS_CACHE: '0' } });
      assert.equal(run.status, 1, run.stderr);
      assert.doesNotMatch(run.stderr, /RangeError|internal error/);
      // Just under the limit is parsed as usual.
      assert.equal(parseManifest(found, `${v2('p')}# ${'x'.repeat(MAX_MANIFEST_BYTES - 200)}\n`).valid, true);
      assert.equal(find(parseManifest(found, `${v2('p')}# ${'x'.repeat(MAX_MANIFEST_BYTES)}\n`).problems, 'file_size')?.rule, 'file_size');
    } finally {
      await removeTree(root);
    }
  },
);

test('nothing the CLI prints can flood or crash it: a 1 MB value prints as short lines', async () => {
  const root = await makeTree({
    'mesh-hosts.json': inventory(),
    'p/.infra.yaml': `apiVersion: infra/v2\nproject: "${'p'.repeat(1_000_000)}"\nprovider: local\n`,
  });
  try {
    const run = cli(['validate', '--root', root], { env: { MANAGE_APPS_CACHE: '0' } });
    assert.equal(run.status, 1, run.stderr);
    assert.match(run.stdout, /error \[safe_name\] p\/\.infra\.yaml:2:10/);
    for (const line of run.stdout.split('\n')) assert.ok(line.length < 1200, `a printed line of ${line.length} characters`);
    const json = cli(['validate', '--root', root, '--json'], { env: { MANAGE_APPS_CACHE: '0' } });
    const doc = JSON.parse(json.stdout) as { problems: { message: string }[] };
    for (const p of doc.problems) assert.ok(p.message.length <= 1000, `a message of ${p.message.length} characters`);
  } finally {
    await removeTree(root);
  }
});

test('a FIFO named .infra.yaml, or a link to one, is a located problem, never a hang', { timeout: 60_000 }, async () => {
  const root = await makeTree({ 'mesh-hosts.json': inventory(), 'ok/.infra.yaml': v2('ok') });
  try {
    spawnSync('mkdir', ['-p', join(root, 'pipe'), join(root, 'linked')]);
    assert.equal(spawnSync('mkfifo', [join(root, 'pipe', '.infra.yaml'), join(root, 'linked', 'fifo')]).status, 0);
    await symlink('fifo', join(root, 'linked', '.infra.yaml'));
    // The CLI in a child with a deadline: on main it blocked in open() for ever.
    const run = spawnSync(process.execPath, [join(process.cwd(), 'bin/manage-apps.js'), 'validate', '--root', root, '--json'], {
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, MANAGE_APPS_CACHE: '0' },
    });
    assert.equal(run.status, 1, `exit ${run.status} (signal ${run.signal}): ${run.stdout}${run.stderr}`);
    const doc = JSON.parse(run.stdout) as { problems: { file: string; rule: string; message: string }[] };
    for (const file of ['pipe/.infra.yaml', 'linked/.infra.yaml']) {
      const p = doc.problems.find((x) => x.file === file);
      assert.equal(p?.rule, 'discovery', `${file}: ${run.stdout}`);
      assert.match(p!.message, /FIFO/);
    }
  } finally {
    await removeTree(root);
  }
});

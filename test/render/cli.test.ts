/** The render commands through the real CLI: stdout is exactly the rendering, JSON shapes, exit codes. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { renderOpenTofu } from '../../src/render/opentofu.js';
import { renderCaddy } from '../../src/render/caddy.js';
import { cli } from '../helpers/tree.js';
import { FIXTURE, loadFixture, removeDir, tempDir } from './helpers.js';

const root = ['--root', FIXTURE];

test('CLI: print mode writes exactly the rendering to stdout (redirectable), notes go to stderr', async () => {
  const { loaded } = await loadFixture();
  const infra = cli(['infra', 'render', ...root]);
  assert.equal(infra.status, 0, infra.stderr);
  assert.equal(infra.stdout, renderOpenTofu(loaded.fleet).files[0]!.content);
  const caddy = cli(['net', 'caddy', ...root]);
  assert.equal(caddy.stdout, renderCaddy(loaded.fleet).files[0]!.content);
  const unitsOut = cli(['units', ...root]);
  assert.equal(unitsOut.status, 0);
  assert.match(unitsOut.stdout, /^# ==> core\/api\.service <==\n# api\.service: rendered/m);
  assert.match(unitsOut.stderr, /skipped legacy: legacy\.service: managed by its deploy script/);
  const ssh = cli(['net', 'ssh-config', ...root]);
  assert.match(ssh.stdout, /^# >>> manage-apps \(managed block: do not edit by hand\) >>>\n/);
  assert.ok(ssh.stdout.endsWith('# <<< manage-apps <<<\n'));
  const reconcile = cli(['net', 'reconcile', ...root]);
  assert.equal(reconcile.status, 0);
  assert.ok(reconcile.stdout.startsWith((await readFile(join(FIXTURE, 'mesh-hosts.json'), 'utf8')).slice(0, 200)));
});

test('CLI: --json shape {command, mode, files[{path,status}], skipped, problems}; --check exits 1 on drift', async () => {
  const dir = await tempDir();
  try {
    const missing = cli(['net', 'wireguard', ...root, '--check', '--out', dir, '--json']);
    assert.equal(missing.status, 1);
    const json = JSON.parse(missing.stdout) as Record<string, unknown>;
    assert.deepEqual(Object.keys(json), ['command', 'mode', 'files', 'skipped', 'problems']);
    assert.equal(json['command'], 'net wireguard');
    assert.equal(json['mode'], 'check');
    assert.deepEqual(
      (json['files'] as { status: string }[]).map((f) => f.status),
      ['missing', 'missing', 'missing', 'missing'],
    );
    const write = cli(['net', 'wireguard', ...root, '--write', '--out', dir]);
    assert.equal(write.status, 0, write.stderr);
    assert.match(write.stdout, /core\.conf: written/);
    assert.match(write.stdout, /4 files written, 0 unchanged\./);
    const check = cli(['net', 'wireguard', ...root, '--check', '--out', dir]);
    assert.equal(check.status, 0);
    assert.match(check.stdout, /4 files up to date\./);
    const printed = JSON.parse(cli(['net', 'caddy', ...root, '--json']).stdout) as { files: { path: string; status: string; content: string }[] };
    assert.deepEqual(
      printed.files.map((f) => [f.path, f.status]),
      [['edge.Caddyfile', 'rendered']],
    );
    assert.match(printed.files[0]!.content, /reverse_proxy/);
    const usage = cli(['units', ...root, '--write', '--check', '--out', dir]);
    assert.equal(usage.status, 2);
    assert.match(usage.stderr, /exclude each other/);
    const help = cli(['net', '--help']);
    for (const sub of ['ssh-config', 'reconcile', 'wireguard', 'caddy']) assert.match(help.stdout, new RegExp(sub));
  } finally {
    await removeDir(dir);
  }
});

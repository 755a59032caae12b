/** net caddy: golden Caddyfile, routing rules, located problems, idempotent --write, `caddy validate` and `caddy fmt`. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { netCaddy } from '../../src/cli/commands/render/net-caddy.js';
import type { Fleet, Service } from '../../src/fleet/model.js';
import { isNonPublicName, renderCaddy } from '../../src/render/caddy.js';
import { copyFixture, expectGolden, FIXTURE, loadFixture, removeDir, requireTool, run, tempDir } from './helpers.js';

test('caddy: golden Caddyfile for the edge host: same host via 127.0.0.1, other hosts via their mesh IP', async () => {
  const { loaded, locator } = await loadFixture();
  const out = renderCaddy(loaded.fleet, locator);
  assert.deepEqual(out.problems, []);
  assert.deepEqual(
    out.files.map((f) => f.path),
    ['edge.Caddyfile'],
  );
  const text = out.files[0]!.content;
  await expectGolden('caddy/edge.Caddyfile', text);
  assert.match(text, /^www\.example\.com, example\.com \{\n\treverse_proxy 127\.0\.0\.1:5201\n\}$/m);
  assert.match(text, /^api\.example\.com \{\n\treverse_proxy 10\.20\.0\.11:3030\n\}$/m);
  assert.match(text, /^mac\.example\.com \{\n\treverse_proxy 10\.20\.0\.4:3100\n\}$/m);
});

test('caddy: deterministic (two loads, reversed service order give the same bytes)', async () => {
  const a = renderCaddy((await loadFixture()).loaded.fleet);
  const { loaded } = await loadFixture();
  assert.deepEqual(renderCaddy({ ...loaded.fleet, services: [...loaded.fleet.services].reverse() }).files, a.files);
});

test('caddy: a service on an edge host is routed by that edge only; others by every edge', async () => {
  const { loaded } = await loadFixture();
  const coreEdge: Service = {
    ...loaded.fleet.services.find((s) => s.project === 'edge')!,
    id: 'edge-core',
    project: 'edge-core',
    host: 'core',
    manifest: 'edge-core/.infra.yaml',
  };
  const fleet: Fleet = { ...loaded.fleet, services: [...loaded.fleet.services, coreEdge] };
  const out = renderCaddy(fleet);
  assert.deepEqual(
    out.files.map((f) => f.path),
    ['core.Caddyfile', 'edge.Caddyfile'],
  );
  const core = out.files[0]!.content;
  const edge = out.files[1]!.content;
  assert.match(core, /api\.example\.com \{\n\treverse_proxy 127\.0\.0\.1:3030/);
  assert.doesNotMatch(edge, /api\.example\.com/);
  assert.doesNotMatch(core, /www\.example\.com/);
  assert.match(edge, /www\.example\.com, example\.com \{\n\treverse_proxy 127\.0\.0\.1:5201/);
  assert.match(core, /mac\.example\.com/);
  assert.match(edge, /mac\.example\.com/);
});

test('caddy: domains without a port and an unreachable host are located errors; a domain claimed twice stops it at load', async () => {
  const root = await copyFixture({
    'noport/.infra.yaml':
      'apiVersion: infra/v2\nproject: noport\nprovider: bare-metal\nservice:\n  host: core\n  kind: worker\n  command: node x.js\n  domains: [noport.example.com]\n',
    'far/.infra.yaml':
      'apiVersion: infra/v2\nproject: far\nprovider: bare-metal\nservice:\n  host: attic\n  port: 4000\n  command: node x.js\n  domains: [far.example.com]\n',
  });
  try {
    const r = await netCaddy({ root });
    assert.equal(r.exitCode, 1);
    const json = r.json as { files: unknown[]; problems: { file: string; line: number; column: number; rule: string; message: string }[] };
    assert.deepEqual(json.files, []);
    assert.deepEqual(
      json.problems.map((p) => `${p.file}:${p.line}:${p.column} ${p.message}`),
      [
        'far/.infra.yaml:5:9 "far" has domains but its host "attic" is not on the mesh: edge "edge" cannot reach it',
        'noport/.infra.yaml:8:12 "noport" has domains but no port: the edge cannot route to it',
      ],
    );
    await mkdir(join(root, 'dup'));
    await writeFile(
      join(root, 'dup/.infra.yaml'),
      'apiVersion: infra/v2\nproject: dup\nprovider: bare-metal\nservice:\n  host: core\n  port: 3099\n  command: node x.js\n  domains: [other.example.com, api.example.com]\n',
    );
    const dup = (await netCaddy({ root })).json as typeof json;
    assert.deepEqual(
      dup.problems.filter((p) => p.rule === 'domain_unique').map((p) => `${p.file}:${p.line}:${p.column} ${p.message}`),
      ['dup/.infra.yaml:8:32 domain "api.example.com" is already routed to "api" (api/.infra.yaml)'],
    );
  } finally {
    await removeDir(root);
  }
});

test('caddy: non-public names (*.lan, *.internal, *.local, *.home.arpa, localhost, IPs) get tls internal, in a site of their own', async () => {
  const root = await copyFixture({
    'lan/.infra.yaml':
      'apiVersion: infra/v2\nproject: lan\nprovider: vps\nservice:\n  host: edge\n  port: 5301\n  command: node x.js\n  domains: [lan.example.com, app.box.lan, app.home.arpa, db.internal, printer.local, localhost, 192.0.2.7]\n',
  });
  try {
    const { loaded } = await loadFixture(root);
    const out = renderCaddy(loaded.fleet);
    assert.deepEqual(out.problems, []);
    const text = out.files[0]!.content;
    assert.match(text, /^lan\.example\.com \{\n\treverse_proxy 127\.0\.0\.1:5301\n\}$/m, 'the public name keeps its automatic certificate');
    assert.match(
      text,
      /^app\.box\.lan, app\.home\.arpa, db\.internal, printer\.local, localhost, 192\.0\.2\.7 \{\n\ttls internal\n\treverse_proxy 127\.0\.0\.1:5301\n\}$/m,
    );
    assert.equal(text.match(/tls internal/g)?.length, 1, 'only the non-public site');
    for (const name of ['app.box.lan', 'x.home.arpa', 'a.internal', 'b.local', 'c.localhost', 'localhost', '10.0.0.13'])
      assert.ok(isNonPublicName(name), name);
    for (const name of ['example.com', 'lan.example.com', 'local.example.org', 'arpa.example']) assert.ok(!isNonPublicName(name), name);
  } finally {
    await removeDir(root);
  }
});

test('caddy --write --out: written once, unchanged after; --check detects a hand edit', async () => {
  const dir = await tempDir();
  try {
    assert.equal((await netCaddy({ root: FIXTURE, write: true, out: dir })).exitCode, 0);
    const path = join(dir, 'edge.Caddyfile');
    const mtime = (await stat(path)).mtimeMs;
    const again = await netCaddy({ root: FIXTURE, write: true, out: dir });
    assert.deepEqual((again.json as { files: unknown[] }).files, [{ path, status: 'unchanged' }]);
    assert.equal((await stat(path)).mtimeMs, mtime);
    assert.equal((await netCaddy({ root: FIXTURE, check: true, out: dir })).exitCode, 0);
    await writeFile(path, `${await readFile(path, 'utf8')}\nextra.example.com {\n\trespond "hi"\n}\n`);
    assert.equal((await netCaddy({ root: FIXTURE, check: true, out: dir })).exitCode, 1);
  } finally {
    await removeDir(dir);
  }
});

test('caddy validate accepts every rendered Caddyfile, and caddy fmt leaves it unchanged', async (t) => {
  const caddy = requireTool(t, 'caddy', 'apt-get install caddy');
  if (!caddy) return;
  const dir = await tempDir();
  try {
    const { loaded } = await loadFixture();
    const coreEdge: Service = { ...loaded.fleet.services.find((s) => s.project === 'edge')!, id: 'edge-core', project: 'edge-core', host: 'core' };
    const files = renderCaddy({ ...loaded.fleet, services: [...loaded.fleet.services, coreEdge] }).files;
    // Caddy keeps state under XDG dirs: keep it in the temp dir.
    const env = { ...process.env, HOME: dir, XDG_DATA_HOME: join(dir, 'data'), XDG_CONFIG_HOME: join(dir, 'config') };
    for (const f of files) {
      const path = join(dir, f.path);
      await writeFile(path, f.content);
      const v = run(caddy, ['validate', '--adapter', 'caddyfile', '--config', path], { env });
      assert.equal(v.status, 0, `${f.path}: ${v.stdout}${v.stderr}`);
      assert.match(v.stdout + v.stderr, /Valid configuration/);
      assert.doesNotMatch(v.stderr, /"level":"(warn|error)"/, `${f.path}: caddy warned: ${v.stderr}`);
      const fmt = run(caddy, ['fmt', path], { env });
      assert.equal(fmt.status, 0, fmt.stderr);
      assert.equal(fmt.stdout, f.content, `${f.path}: caddy fmt would change it`);
    }
  } finally {
    await removeDir(dir);
  }
});

test('caddy --host on a host without an edge says so (a skip note), instead of printing nothing', async () => {
  const r = await netCaddy({ root: FIXTURE, host: 'core' });
  assert.equal(r.exitCode, 0);
  const json = r.json as { files: unknown[]; skipped: { name: string; reason: string }[] };
  assert.deepEqual(json.files, []);
  assert.deepEqual(json.skipped, [{ name: 'core', reason: 'net caddy renders no file for this host' }]);
});

test('caddy: a swap service is routed to both its ports (service.port first, lb_policy first, health checks); caddy validate and fmt accept it', async (t) => {
  const root = await copyFixture({
    'swapper/.infra.yaml':
      'apiVersion: infra/v2\nproject: swapper\nprovider: bare-metal\nservice:\n  host: core\n  port: 3041\n  swap: { ports: [3040, 3041] }\n  command: node x.js\n  domains: [swap.example.com]\n  health: { readiness: /ready }\n',
  });
  const dir = await tempDir();
  try {
    const r = await netCaddy({ root });
    assert.equal(r.exitCode, 0, JSON.stringify(r.json));
    const text = (r.json as { files: { path: string; content: string }[] }).files.find((f) => f.path === 'edge.Caddyfile')!.content;
    assert.match(
      text,
      /^swap\.example\.com \{\n\treverse_proxy 10\.20\.0\.11:3041 10\.20\.0\.11:3040 \{\n\t\tlb_policy first\n\t\tlb_try_duration 5s\n\t\tlb_try_interval 100ms\n\t\tfail_duration 2s\n\t\thealth_uri \/ready\n\t\thealth_interval 1s\n\t\thealth_timeout 2s\n\t\}\n\}$/m,
    );
    const caddy = requireTool(t, 'caddy', 'apt-get install caddy');
    if (!caddy) return;
    const env = { ...process.env, HOME: dir, XDG_DATA_HOME: join(dir, 'data'), XDG_CONFIG_HOME: join(dir, 'config') };
    const path = join(dir, 'edge.Caddyfile');
    await writeFile(path, text);
    const v = run(caddy, ['validate', '--adapter', 'caddyfile', '--config', path], { env });
    assert.equal(v.status, 0, v.stdout + v.stderr);
    assert.doesNotMatch(v.stderr, /"level":"(warn|error)"/, v.stderr);
    assert.equal(run(caddy, ['fmt', path], { env }).stdout, text, 'caddy fmt would change it');
  } finally {
    await removeDir(dir);
    await removeDir(root);
  }
});

/**
 * Seed 000 as it really is: production model-boss (and forgejo) on the dev box apricot, a
 * deliberate exception `validate` reports. A problem that does not change a renderer's output
 * does not block it: every renderer renders, reports the problem and exits 1. A manifest that
 * failed to load still blocks (its service would silently drop out). apricot's dev edge serves
 * `*.apricot.lan` with Caddy's internal CA (`tls internal`), checked with the real `caddy validate`.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/package-root.js';
import { cli } from '../helpers/tree.js';
import { removeDir, requireTool, run, tempDir } from './helpers.js';

let root = '';

interface RenderJson {
  files: { path: string; status: string; content?: string }[];
  problems: { file: string; line: number; rule: string; severity: string; message: string }[];
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'manage-apps-five-hosts-'));
  await cp(join(packageRoot(), 'test/fixtures/five-hosts'), root, { recursive: true });
  const inventoryPath = join(root, 'mesh-hosts.json');
  const inventory = await readFile(inventoryPath, 'utf8');
  // apricot is the engineering dev box (seed 000 §11: "apricot=dev").
  const real = inventory.replace('"provider": "bare-metal", "role": "production", "gpus": 2', '"provider": "bare-metal", "role": "dev", "gpus": 2');
  assert.notEqual(real, inventory);
  await writeFile(inventoryPath, real);
  // apricot → local Caddy → *.apricot.lan for dev (seed 000 §5).
  await mkdir(join(root, 'projects/edge-apricot'));
  await writeFile(
    join(root, 'projects/edge-apricot/.infra.dev.yaml'),
    'apiVersion: infra/v2\nproject: edge-apricot\nenvironment: dev\nprovider: bare-metal\nservice:\n  host: apricot\n  port: 443\n  kind: edge\n  systemd_unit: caddy.service\n',
  );
  await writeFile(
    join(root, 'projects/web-fe/.infra.dev.yaml'),
    'apiVersion: infra/v2\nproject: web-fe\nenvironment: dev\nprovider: bare-metal\nservice:\n  host: apricot\n  port: 5301\n  command: node server/index.mjs\n  domains: [web-fe.apricot.lan, 10.0.0.13]\n  depends_on: [platform-api, sso]\n',
  );
});

after(async () => removeDir(root));

const rendered = (args: string[]): { status: number; json: RenderJson; stderr: string } => {
  const r = cli([...args, '--root', root, '--json']);
  return { status: r.status, json: JSON.parse(r.stdout) as RenderJson, stderr: r.stderr };
};

const placement = (json: RenderJson) => json.problems.filter((p) => p.rule === 'placement').map((p) => `${p.file}:${p.line}`);

test('validate reports production on the dev box: the fleet has errors', () => {
  const r = cli(['validate', '--root', root]);
  assert.equal(r.status, 1);
  assert.match(r.stdout + r.stderr, /production service "model-boss" is placed on dev host "apricot"/);
});

test('net caddy renders every edge host despite the placement error, reports it, exits 1', () => {
  const { status, json } = rendered(['net', 'caddy']);
  assert.equal(status, 1);
  assert.deepEqual(
    json.files.map((f) => f.path),
    ['apricot.Caddyfile', 'black.Caddyfile', 'vps-0.Caddyfile'],
  );
  assert.deepEqual(placement(json), ['projects/forgejo/.infra.yaml:7', 'projects/model-boss/.infra.yaml:7']);
  const vps = json.files.find((f) => f.path === 'vps-0.Caddyfile')!.content!;
  assert.match(vps, /^ai\.cocotte\.maison \{\n\treverse_proxy 127\.0\.0\.1:5201\n\}$/m);
  assert.doesNotMatch(vps, /tls internal/, 'public names keep automatic public certificates');
  const apricot = json.files.find((f) => f.path === 'apricot.Caddyfile')!.content!;
  assert.match(apricot, /^web-fe\.apricot\.lan, 10\.0\.0\.13 \{\n\ttls internal\n\treverse_proxy 127\.0\.0\.1:5301\n\}$/m);
  assert.doesNotMatch(apricot, /cocotte/, 'a dev edge never serves production');
  // Human output: the problem in full, the files on stdout, and why the exit code is 1.
  const human = cli(['net', 'caddy', '--root', root]);
  assert.equal(human.status, 1);
  assert.match(human.stdout, /# ==> black\.Caddyfile <==/);
  assert.match(human.stderr, /error \[placement\] projects\/model-boss\/\.infra\.yaml:7:9/);
  assert.match(human.stderr, /none of them changes the rendering, so it was rendered anyway \(exit code 1\)/);
});

test('caddy validate accepts the Caddyfiles, the tls internal site of *.apricot.lan included', async (t) => {
  const caddy = requireTool(t, 'caddy', 'apt-get install caddy');
  if (!caddy) return;
  const dir = await tempDir();
  try {
    const env = { ...process.env, HOME: dir, XDG_DATA_HOME: join(dir, 'data'), XDG_CONFIG_HOME: join(dir, 'config') };
    const files = rendered(['net', 'caddy']).json.files;
    assert.deepEqual(
      files.map((f) => f.path),
      ['apricot.Caddyfile', 'black.Caddyfile', 'vps-0.Caddyfile'],
    );
    for (const f of files) {
      const path = join(dir, f.path);
      await writeFile(path, f.content!);
      const v = run(caddy, ['validate', '--adapter', 'caddyfile', '--config', path], { env });
      assert.equal(v.status, 0, `${f.path}: ${v.stdout}${v.stderr}`);
      assert.doesNotMatch(v.stderr, /"level":"(warn|error)"/, `${f.path}: caddy warned: ${v.stderr}`);
      assert.equal(run(caddy, ['fmt', path], { env }).stdout, f.content, `${f.path}: caddy fmt would change it`);
      // Caddy's adapted JSON: the internal issuer for the non-public names, ACME left alone for the rest.
      const adapted = run(caddy, ['adapt', '--adapter', 'caddyfile', '--config', path], { env });
      if (f.path === 'apricot.Caddyfile') assert.match(adapted.stdout, /"module":"internal"/);
      else assert.doesNotMatch(adapted.stdout, /"module":"internal"/);
    }
  } finally {
    await removeDir(dir);
  }
});

test('units, net reconcile and infra render render too, report the placement errors, exit 1', () => {
  const units = rendered(['units']);
  assert.equal(units.status, 1);
  assert.ok(units.json.files.some((f) => f.path === 'black/platform-api.service'));
  assert.ok(units.json.files.some((f) => f.path === 'apricot/model-boss.service'));
  assert.deepEqual(placement(units.json), ['projects/forgejo/.infra.yaml:7', 'projects/model-boss/.infra.yaml:7']);
  const reconcile = rendered(['net', 'reconcile']);
  assert.equal(reconcile.status, 1);
  assert.match(reconcile.json.files[0]!.content!, /"model-boss": \{\n\s+"project": "model-boss"/);
  assert.equal(placement(reconcile.json).length, 2);
  const infra = rendered(['infra', 'render']);
  assert.equal(infra.status, 1);
  assert.deepEqual(
    infra.json.files.map((f) => f.path),
    ['main.tf.json'],
  );
});

test('a manifest that failed to load still blocks every renderer that reads the manifests', async () => {
  const broken = join(root, 'projects/beacon/.infra.yaml');
  const text = await readFile(broken, 'utf8');
  try {
    await writeFile(broken, `${text}  port: [unclosed\n`);
    for (const command of [['net', 'caddy'], ['units'], ['net', 'reconcile'], ['infra', 'render']]) {
      const { status, json } = rendered(command);
      assert.equal(status, 1, command.join(' '));
      assert.deepEqual(json.files, [], `${command.join(' ')}: nothing rendered`);
      assert.ok(
        json.problems.some((p) => p.file === 'projects/beacon/.infra.yaml' && p.rule === 'yaml_syntax'),
        command.join(' '),
      );
    }
    const human = cli(['net', 'caddy', '--root', root]);
    assert.equal(human.stdout, '');
    assert.match(human.stderr, /: nothing was rendered\./);
  } finally {
    await writeFile(broken, text);
  }
});

test('ports and backups say why they exit 1 when their own check passes', () => {
  const ports = cli(['ports', '--root', root]);
  assert.equal(ports.status, 1);
  assert.match(ports.stdout, /no port is claimed twice on one host\. \(exit code 1: 2 errors elsewhere in the files, listed above\)/);
  assert.match(ports.stderr, /the exit code is 1 because of them/);
  assert.match(ports.stderr, /projects\/model-boss\/\.infra\.yaml:7:9 \[placement\] production service "model-boss" is placed on dev host "apricot"/);
  const backups = cli(['backups', '--root', root]);
  assert.equal(backups.status, 1);
  assert.match(backups.stderr, /projects\/forgejo\/\.infra\.yaml:7:9 \[placement\]/);
});

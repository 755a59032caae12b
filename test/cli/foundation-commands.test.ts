/** The foundation's commands through the real CLI: output, JSON shapes, exit codes. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cli, inventory, makeTree, removeTree } from '../helpers/tree.js';

const example = ['--root', 'examples/fleet'];

test('validate: the example fleet is clean (exit 0) and the JSON shape is documented', () => {
  const r = cli(['validate', ...example, '--json']);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const out = JSON.parse(r.stdout) as { manifests: { file: string; project: string; environment: string }[]; problems: unknown[] };
  assert.ok(out.manifests.length >= 12);
  assert.ok(
    out.manifests.every(
      (m) => typeof m.file === 'string' && !m.file.startsWith('/') && typeof m.project === 'string' && typeof m.environment === 'string',
    ),
  );
  assert.deepEqual(out.problems, []);
  const human = cli(['validate', ...example]);
  assert.equal(human.status, 0);
  assert.match(human.stdout, /are valid: \d+ projects/);
});

test('validate: problems print as file:line:column with a code frame and hint; exit 1', async () => {
  const root = await makeTree({
    'mesh-hosts.json': inventory(),
    'api/.infra.yaml': 'apiVersion: infra/v2\nproject: api\nprovider: bare-metal\nservice:\n  host: cor\n  prot: 3030\n',
  });
  try {
    const r = cli(['validate', '--root', root]);
    assert.equal(r.status, 1);
    assert.match(r.stdout, /error \[schema\] api\/\.infra\.yaml:6:3/);
    assert.match(r.stdout, />\s+6 \|\s+prot: 3030/);
    assert.match(r.stdout, /\^\^\^\^/);
    assert.match(r.stdout, /hint: did you mean "port"/);
    const json = JSON.parse(cli(['validate', '--root', root, '--json']).stdout) as { problems: Record<string, unknown>[] };
    for (const p of json.problems)
      assert.deepEqual(
        Object.keys(p).filter((k) => k !== 'hint'),
        ['file', 'line', 'column', 'rule', 'severity', 'message'],
      );
  } finally {
    await removeTree(root);
  }
});

test('validate: a secret never reaches the output, even in the code frame', async () => {
  const root = await makeTree({
    'mesh-hosts.json': inventory(),
    'api/.infra.yaml': 'apiVersion: infra/v2\nproject: api\nprovider: bare-metal\npassword: Sup3rS3cretValue\n',
  });
  try {
    const r = cli(['validate', '--root', root]);
    assert.equal(r.status, 1);
    assert.match(r.stdout, /secret_in_manifest/);
    assert.doesNotMatch(r.stdout + r.stderr, /Sup3rS3cretValue/);
    assert.doesNotMatch(cli(['validate', '--root', root, '--json']).stdout, /Sup3rS3cretValue/);
  } finally {
    await removeTree(root);
  }
});

test('validate: a secret in the inventory is masked in code frames too', async () => {
  const token = 'ghp_abcdefghijklmnopqrstuvwxyz0123456789';
  const text = inventory().replace('"mini": {', `"mini": {\n      "description": "token ${token}", "private_key": "${token}",`);
  const root = await makeTree({ 'mesh-hosts.json': text });
  try {
    const r = cli(['validate', '--root', root]);
    assert.equal(r.status, 1);
    assert.match(r.stdout, /unknown key "private_key" in hosts\.mini/);
    assert.match(r.stdout, /\*{8}/);
    assert.doesNotMatch(r.stdout + r.stderr, /ghp_/);
    assert.doesNotMatch(cli(['validate', '--root', root, '--json']).stdout, /ghp_/);
  } finally {
    await removeTree(root);
  }
});

test('validate: a self-containing YAML alias is located; the other manifests still validate', async () => {
  const root = await makeTree({
    'mesh-hosts.json': inventory(),
    'api/.infra.yaml': 'apiVersion: infra/v2\nproject: api\nprovider: bare-metal\nservice: &s {host: core, self: *s}\n',
    'web/.infra.yaml': 'apiVersion: infra/v2\nproject: web\nprovider: bare-metal\nservice:\n  host: cor\n',
  });
  try {
    const r = cli(['validate', '--root', root, '--json']);
    assert.equal(r.status, 1, r.stderr);
    const out = JSON.parse(r.stdout) as { problems: { file: string; line: number; rule: string; message: string }[] };
    assert.deepEqual(
      out.problems.map((p) => `${p.rule}@${p.file}:${p.line}`),
      ['yaml_syntax@api/.infra.yaml:4', 'host_in_mesh@web/.infra.yaml:5'],
    );
    assert.match(out.problems[0]!.message, /an alias refers to a node that contains it/);
    assert.notEqual(cli(['list', '--root', root]).status, 2); // no internal error in other commands either
  } finally {
    await removeTree(root);
  }
});

test('a missing or broken inventory is a located problem, never a stack trace', async () => {
  const root = await makeTree({ 'api/.infra.yaml': 'apiVersion: infra/v2\nproject: api\nprovider: local\n' });
  try {
    const missing = cli(['validate', '--root', root]);
    assert.equal(missing.status, 1);
    assert.match(missing.stdout, /error \[inventory\] mesh-hosts.json:1:1/);
    await writeFile(join(root, 'mesh-hosts.json'), '{\n  "hosts": {\n    "a": { "provider": "local", "role": "dev", },\n  }\n}\n');
    const broken = cli(['validate', '--root', root]);
    assert.equal(broken.status, 1);
    assert.match(broken.stdout, /error \[yaml_syntax\] mesh-hosts.json:3:/);
    assert.doesNotMatch(broken.stdout + broken.stderr, /at .*\.js:\d+/);
    const other = cli(['validate', '--root', root, '--inventory', join(root, 'nope.json')]);
    assert.match(other.stdout, /nope.json:1:1/);
  } finally {
    await removeTree(root);
  }
});

test('usage errors exit 2 with a hint: unknown command, bad root', () => {
  const unknown = cli(['valdate']);
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /Did you mean validate/);
  const badRoot = cli(['validate', '--root', '/nonexistent/path']);
  assert.equal(badRoot.status, 2);
  assert.match(badRoot.stderr, /root directory not found/);
  const json = cli(['list', '--root', '/nonexistent/path', '--json']);
  assert.equal(json.status, 2);
  assert.equal((JSON.parse(json.stdout) as { error: { code: string } }).error.code, 'E_USAGE');
  // Mistakes the argument parser catches answer --json callers with the same document.
  for (const args of [['validate', '--bogus'], ['drain', 'black', '--root', 'examples/fleet'], ['graph', '--format', 'png'], ['impact']]) {
    const r = cli([...args, '--json']);
    assert.equal(r.status, 2, args.join(' '));
    const doc = JSON.parse(r.stdout) as { error: { code: string; message: string } };
    assert.equal(doc.error.code, 'E_USAGE', args.join(' '));
    assert.doesNotMatch(doc.error.message, /^error:/);
  }
});

test('list: the services with the documented JSON shape; filters', () => {
  const r = cli(['list', ...example, '--json']);
  assert.equal(r.status, 0);
  const out = JSON.parse(r.stdout) as { services: Record<string, unknown>[] };
  for (const key of ['project', 'environment', 'host', 'provider', 'port', 'unit', 'depends_on']) assert.ok(key in out.services[0]!, key);
  const dev = JSON.parse(cli(['list', ...example, '--env', 'dev', '--json']).stdout) as { services: { environment: string }[] };
  assert.ok(dev.services.length >= 2 && dev.services.every((s) => s.environment === 'dev'));
  // A filter that can match nothing is a usage error with a suggestion, not an empty list.
  const typoHost = cli(['list', ...example, '--host', 'blak']);
  assert.equal(typoHost.status, 2);
  assert.match(typoHost.stderr, /no host "blak" in the inventory\nhint: did you mean black\?/);
  const typoEnv = cli(['list', ...example, '--env', 'prd', '--json']);
  assert.equal(typoEnv.status, 2);
  assert.equal((JSON.parse(typoEnv.stdout) as { error: { hint: string } }).error.hint, 'did you mean prod?');
  assert.match(cli(['list', ...example]).stdout, /PROJECT\s+ENV\s+HOST/);
});

test('list shows the droplet services that hosts, ports and graph show (issue 21)', () => {
  type Row = { project: string; host: string | null; port: number | null; droplet?: string; supervisor: string };
  const all = JSON.parse(cli(['list', ...example, '--json']).stdout) as { services: Row[] };
  const ports = JSON.parse(cli(['ports', ...example, '--json']).stdout) as { ports: { owner: string; type: string; port: number }[] };
  const onDroplets = ports.ports.filter((p) => p.type === 'droplet');
  assert.ok(onDroplets.length > 0, 'the example fleet has droplet services');
  for (const p of onDroplets) {
    const [name, droplet] = p.owner.split('@');
    assert.ok(
      all.services.some((s) => s.project === name && s.droplet === droplet && s.port === p.port && s.supervisor === 'none'),
      `list shows ${p.owner}`,
    );
  }
  const forge = JSON.parse(cli(['list', ...example, '--host', 'ct-forge', '--json']).stdout) as { services: Row[] };
  assert.ok(forge.services.some((s) => s.droplet !== undefined && s.host === 'ct-forge'));
  assert.match(cli(['list', ...example]).stdout, /\(on droplet com\.uvlava\.ct\.forge\)/);
});

test('ports lists the ports tunnels listen on (the ones validate checks), and a clash with one', async () => {
  const root = await makeTree({
    'mesh-hosts.json': inventory({
      tunnels: [
        { name: 'pg-replica', from: 'core', to: 'hub', direction: 'reverse', ports: [25436] },
        { name: 'api-back', from: 'core', to: 'hub', forwards: [{ listen: 3030, target_port: 8080 }] },
      ],
    }),
    'api/.infra.yaml': 'apiVersion: infra/v2\nproject: api\nprovider: bare-metal\nservice: { host: core, port: 3030, command: x }\n',
  });
  try {
    const run = cli(['ports', '--root', root, '--json']);
    const doc = JSON.parse(run.stdout) as {
      ports: { host: string; port: number; owner: string; type: string }[];
      clashes: { host: string; port: number; owners: string[] }[];
    };
    assert.ok(
      doc.ports.some((p) => p.host === 'core' && p.port === 25436 && p.owner === 'tunnel pg-replica' && p.type === 'tunnel'),
      run.stdout,
    );
    assert.deepEqual(doc.clashes, [{ host: 'core', port: 3030, owners: ['api', 'tunnel api-back'] }]);
    assert.equal(run.status, 1);
    assert.match(cli(['validate', '--root', root]).stdout, /tunnel "api-back" listens on core:3030, which service api already uses/);
  } finally {
    await removeTree(root);
  }
});

test('hosts: role, provider, addresses, services and clusters per host', () => {
  const out = JSON.parse(cli(['hosts', ...example, '--json']).stdout) as {
    hosts: { name: string; role: string; services: { project: string }[]; clusters: { name: string }[] }[];
  };
  const black = out.hosts.find((h) => h.name === 'black');
  assert.ok(black);
  assert.equal(black.role, 'production');
  assert.ok(black.services.some((s) => s.project === 'quinn-api'));
  assert.ok(black.clusters.some((c) => c.name === 'quinn-pg'));
  assert.match(cli(['hosts', ...example]).stdout, /laptop \(this machine\)/);
});

test('ports: registry, clashes (exit 1) and a .env.ports that stays in sync', async () => {
  const root = await makeTree({
    'mesh-hosts.json': inventory(),
    'api/.infra.yaml': 'apiVersion: infra/v2\nproject: api\nprovider: bare-metal\nservice: { host: core, port: 3030, command: x }\n',
    'web/.infra.yaml': 'apiVersion: infra/v2\nproject: web.front\nprovider: bare-metal\nservice: { host: core, port: 3040, command: x }\n',
  });
  try {
    const env = join(root, '.env.ports');
    const first = cli(['ports', '--root', root, '--write-env', env, '--json']);
    assert.equal(first.status, 0, first.stdout);
    const text = await readFile(env, 'utf8');
    assert.match(text, /^API_PORT=3030$/m);
    assert.match(text, /^WEB_FRONT_PORT=3040$/m);
    assert.match(text, /^CORE_PG_PORT=25435$/m);
    const mtime = (await stat(env)).mtimeMs;
    const second = JSON.parse(cli(['ports', '--root', root, '--write-env', env, '--json']).stdout) as { env_file: { outcome: string } };
    assert.equal(second.env_file.outcome, 'unchanged');
    assert.equal((await stat(env)).mtimeMs, mtime);
    assert.equal(cli(['ports', '--root', root, '--write-env', env, '--check']).status, 0);
    await writeFile(env, 'USER_EDIT=1\n');
    assert.equal(cli(['ports', '--root', root, '--write-env', env, '--check']).status, 1);
    const third = JSON.parse(cli(['ports', '--root', root, '--write-env', env, '--json']).stdout) as {
      env_file: { outcome: string; backup: string };
    };
    assert.equal(third.env_file.outcome, 'updated');
    assert.equal(await readFile(third.env_file.backup, 'utf8'), 'USER_EDIT=1\n');
    await writeFile(
      join(root, 'web/.infra.yaml'),
      'apiVersion: infra/v2\nproject: web\nprovider: bare-metal\nservice: { host: core, port: 3030, command: x }\n',
    );
    const clash = cli(['ports', '--root', root, '--json']);
    assert.equal(clash.status, 1);
    assert.deepEqual((JSON.parse(clash.stdout) as { clashes: unknown[] }).clashes, [{ host: 'core', port: 3030, owners: ['api', 'web'] }]);
    assert.equal(cli(['ports', '--root', root, '--check']).status, 2, '--check needs --write-env');

    // web-dev (prod) and web:dev would both be WEB_DEV_PORT: reported, and the file is left as it was.
    await writeFile(
      join(root, 'web/.infra.yaml'),
      'apiVersion: infra/v2\nproject: web-dev\nprovider: bare-metal\nservice: { host: core, port: 3040, command: x }\n',
    );
    await writeFile(
      join(root, 'web/.infra.dev.yaml'),
      'apiVersion: infra/v2\nproject: web\nenvironment: dev\nprovider: local\nservice: { host: laptop, port: 4040, command: x }\n',
    );
    const before = await readFile(env, 'utf8');
    const collision = cli(['ports', '--root', root, '--write-env', env, '--json']);
    assert.equal(collision.status, 1, collision.stdout);
    const doc = JSON.parse(collision.stdout) as {
      env_file: { outcome: string; collisions: { name: string; owners: { owner: string; port: number }[] }[] };
    };
    assert.equal(doc.env_file.outcome, 'not-written');
    assert.deepEqual(
      doc.env_file.collisions.map((c) => [c.name, c.owners.map((o) => `${o.owner}=${o.port}`).sort()]),
      [['WEB_DEV_PORT', ['web-dev=3040', 'web:dev=4040']]],
    );
    assert.equal(await readFile(env, 'utf8'), before);
  } finally {
    await removeTree(root);
  }
});

test('--version starts without loading command modules', () => {
  const r = cli(['--version']);
  assert.equal(r.status, 0);
  assert.match(r.stdout, /^\d+\.\d+\.\d+\n$/);
});

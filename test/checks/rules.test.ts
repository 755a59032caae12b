/**
 * Every rule: one fixture that breaks it (reported, located where the mistake is)
 * and one that passes. Fixtures are small trees built per test.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { looksLikeSecret } from '../../src/text/secrets.js';
import { find, inventory, loadTree, rulesOf } from '../helpers/tree.js';

const api = (extra = '') => `apiVersion: infra/v2
project: api
provider: bare-metal
service:
  host: core
  port: 3030
  command: node server.js
${extra}`;

async function problemsFor(files: Record<string, string>) {
  return (await loadTree({ 'mesh-hosts.json': inventory(), ...files })).problems;
}

test('a clean fleet has no problems', async () => {
  const problems = await problemsFor({ 'api/.infra.yaml': api() });
  assert.deepEqual(problems, []);
});

test('host_in_mesh: an unknown host is located at service.host with a suggestion', async () => {
  const problems = await problemsFor({ 'api/.infra.yaml': api().replace('host: core', 'host: cor') });
  const p = find(problems, 'host_in_mesh');
  assert.ok(p, JSON.stringify(problems));
  assert.equal(p.file, 'api/.infra.yaml');
  assert.equal(p.line, 5);
  assert.equal(p.column, 9);
  assert.equal(p.severity, 'error');
  assert.match(p.hint ?? '', /did you mean "core"/);
});

test('host_in_mesh: a non-local service without a host is reported', async () => {
  const problems = await problemsFor({
    'api/.infra.yaml': 'apiVersion: infra/v2\nproject: api\nprovider: bare-metal\nservice:\n  port: 3030\n  command: x\n',
  });
  assert.ok(find(problems, 'host_in_mesh'));
});

test('own_db: two projects on one logical database or one user', async () => {
  const db = (project: string, name: string, user: string) => `apiVersion: infra/v2
project: ${project}
provider: bare-metal
database: { cluster: core-pg, name: ${name}, user: ${user} }
`;
  const shared = await problemsFor({ 'a/.infra.yaml': db('a', 'shared', 'a_user'), 'b/.infra.yaml': db('b', 'shared', 'b_user') });
  const p = find(shared, 'own_db');
  assert.ok(p);
  assert.equal(p.file, 'b/.infra.yaml');
  assert.match(p.message, /already owned by "a"/);
  const sameUser = await problemsFor({ 'a/.infra.yaml': db('a', 'a', 'app'), 'b/.infra.yaml': db('b', 'b', 'app') });
  assert.match(find(sameUser, 'own_db')?.message ?? '', /database user "app"/);
  const own = await problemsFor({ 'a/.infra.yaml': db('a', 'a', 'a'), 'b/.infra.yaml': db('b', 'b', 'b') });
  assert.deepEqual(rulesOf(own), []);
});

test('http_coupling: depends_on must name a known project', async () => {
  const problems = await problemsFor({
    'api/.infra.yaml': api('  depends_on: [sso, ap]\n'),
    'sso/.infra.yaml': 'apiVersion: infra/v2\nproject: sso\nprovider: bare-metal\nservice: { host: core, port: 3050, command: x }\n',
  });
  const p = problems.filter((x) => x.rule === 'http_coupling');
  assert.equal(p.length, 1);
  assert.match(p[0]!.message, /unknown project "ap"/);
  assert.match(p[0]!.hint ?? '', /did you mean "api"/);
  assert.equal(p[0]!.line, 8);
});

test("http_coupling: a dependency must exist in the service's environment or in prod, not only elsewhere", async () => {
  const devOnly = 'apiVersion: infra/v2\nproject: devtool\nenvironment: dev\nprovider: local\nservice: { host: laptop, port: 4999, command: x }\n';
  const problems = await problemsFor({ 'api/.infra.yaml': api('  depends_on: [devtool]\n'), 'devtool/.infra.dev.yaml': devOnly });
  const p = problems.filter((x) => x.rule === 'http_coupling');
  assert.equal(p.length, 1, JSON.stringify(problems));
  assert.match(p[0]!.message, /"api" depends on "devtool", which has no prod manifest \(only dev\)/);
  assert.deepEqual([p[0]!.file, p[0]!.line, p[0]!.column, p[0]!.severity], ['api/.infra.yaml', 8, 16, 'error']);
  // A dev service may use a prod dependency, and a dev one: both resolve.
  const dev =
    'apiVersion: infra/v2\nproject: web\nenvironment: dev\nprovider: local\nservice: { host: laptop, port: 5000, command: x, depends_on: [devtool, api] }\n';
  const fine = await problemsFor({ 'api/.infra.yaml': api(), 'devtool/.infra.dev.yaml': devOnly, 'web/.infra.dev.yaml': dev });
  assert.deepEqual(
    fine.filter((x) => x.rule === 'http_coupling'),
    [],
  );
});

test('unit_render: a command units and deploy could not render is caught by validate, located at the command', async () => {
  for (const [command, message] of [
    ['"node \'x"', /unclosed single quote/],
    ['"-rm x"', /ExecStart prefix/],
  ] as const) {
    const problems = await problemsFor({ 'api/.infra.yaml': api().replace('command: node server.js', `command: ${command}`) });
    const p = find(problems, 'unit_render');
    assert.ok(p, `${command}: ${JSON.stringify(problems)}`);
    assert.match(p.message, message);
    assert.deepEqual([p.line, p.column, p.severity], [7, 12, 'error']);
  }
  // PID mode (a local host) renders no unit: nothing to check there.
  const local = 'apiVersion: infra/v2\nproject: tool\nprovider: local\nservice: { host: laptop, port: 4000, command: "-x" }\n';
  assert.equal(find(await problemsFor({ 'tool/.infra.yaml': local }), 'unit_render'), undefined);
});

test('domain_unique: one domain routes to one service', async () => {
  const sso =
    'apiVersion: infra/v2\nproject: sso\nprovider: bare-metal\nservice: { host: core, port: 3050, command: x, domains: [id.example.com, api.example.com] }\n';
  const problems = await problemsFor({ 'api/.infra.yaml': api('  domains: [api.example.com]\n'), 'sso/.infra.yaml': sso });
  const p = problems.filter((x) => x.rule === 'domain_unique');
  assert.equal(p.length, 1, JSON.stringify(problems));
  assert.match(p[0]!.message, /domain "api.example.com" is already routed to "api" \(api\/.infra.yaml\)/);
  assert.deepEqual([p[0]!.file, p[0]!.line], ['sso/.infra.yaml', 4]);
});

test('droplet_naming: the v1 pattern, the inventory convention and duplicates', async () => {
  const v1 = `apiVersion: infra/v1
project: infra
provider: digitalocean
droplets:
  - name: com.uvlava.ct.services
    services: [{ name: forge, kind: forgejo }]
  - name: Bad_Name
    services: []
`;
  const problems = await problemsFor({ '.infra.yaml': v1 });
  const p = find(problems, 'droplet_naming');
  assert.ok(p);
  assert.equal(p.line, 7);
  const conv = await loadTree({
    'mesh-hosts.json': inventory({ conventions: { droplet_naming: { prefix: 'com.example', producers: ['ct'] } } }),
    '.infra.yaml':
      'apiVersion: infra/v2\nproject: infra\nprovider: digitalocean\ndroplets:\n  - { name: com.example.ct.forge, services: [] }\n  - { name: com.example.zz.forge, services: [] }\n  - { name: com.example.ct.forge, services: [] }\n',
  });
  const naming = conv.problems.filter((x) => x.rule === 'droplet_naming');
  assert.equal(naming.length, 2, JSON.stringify(naming));
  assert.ok(naming.some((x) => /does not follow/.test(x.message) && x.line === 6));
  assert.ok(naming.some((x) => /already declared/.test(x.message) && x.line === 7));
});

test('gpu_ondemand: a standing GPU is a warning, on-demand passes', async () => {
  const standing = await problemsFor({ 'ml/.infra.yaml': api('  gpu: { mode: standing }\n').replace('project: api', 'project: ml') });
  const p = find(standing, 'gpu_ondemand');
  assert.equal(p?.severity, 'warning');
  const ondemand = await problemsFor({ 'ml/.infra.yaml': api('  gpu: { mode: on-demand }\n').replace('project: api', 'project: ml') });
  assert.deepEqual(rulesOf(ondemand), []);
});

test('systemd_supervision: a bare-metal service without a unit; PID mode on mac passes', async () => {
  const noUnit = await problemsFor({
    'api/.infra.yaml': 'apiVersion: infra/v1\nproject: api\nprovider: bare-metal\nservice:\n  host: core\n  port: 3030\n',
  });
  const p = find(noUnit, 'systemd_supervision');
  assert.ok(p);
  assert.equal(p.line, 4);
  const v1Unit = await problemsFor({
    'api/.infra.yaml':
      'apiVersion: infra/v1\nproject: api\nprovider: bare-metal\nservice:\n  host: core\n  port: 3030\n  systemd_unit: api.service\n',
  });
  assert.deepEqual(rulesOf(v1Unit), []);
  const mac = await problemsFor({ 'm/.infra.yaml': 'apiVersion: infra/v1\nproject: m\nprovider: mac\nservice:\n  host: mini\n  port: 4444\n' });
  assert.deepEqual(rulesOf(mac), []);
});

test('cloud_provider: the manifest provider must match its host', async () => {
  const problems = await problemsFor({ 'api/.infra.yaml': api().replace('provider: bare-metal', 'provider: digitalocean') });
  const p = find(problems, 'cloud_provider');
  assert.ok(p);
  assert.equal(p.line, 3);
  assert.match(p.hint ?? '', /provider: bare-metal/);
  const droplet = await problemsFor({
    '.infra.yaml':
      'apiVersion: infra/v2\nproject: infra\nprovider: digitalocean\ndroplets:\n  - { name: com.uvlava.forge, provider: bare-metal, services: [] }\n',
  });
  assert.ok(find(droplet, 'cloud_provider'));
});

test('env_variants: the environment field agrees with the file name', async () => {
  const mismatch = await problemsFor({
    'api/.infra.dev.yaml': api().replace('provider: bare-metal', 'environment: prod\nprovider: bare-metal').replace('host: core', 'host: devbox'),
  });
  const p = find(mismatch, 'env_variants');
  assert.ok(p);
  assert.equal(p.line, 3);
  const missing = await problemsFor({ 'api/.infra.dev.yaml': api().replace('host: core', 'host: devbox') });
  assert.match(find(missing, 'env_variants')?.hint ?? '', /environment: dev/);
  const good = await problemsFor({
    'api/.infra.yaml': api(),
    'api/.infra.dev.yaml': api()
      .replace('provider: bare-metal', 'environment: dev\nprovider: bare-metal')
      .replace('host: core', 'host: devbox')
      .replace('3030', '13030'),
  });
  assert.deepEqual(rulesOf(good), []);
  const otherProject = await problemsFor({
    'api/.infra.yaml': api(),
    'api/.infra.dev.yaml': api().replace('project: api', 'project: apx\nenvironment: dev').replace('host: core', 'host: devbox'),
  });
  assert.match(find(otherProject, 'env_variants')?.message ?? '', /names project "apx"/);
});

test('unknown_cluster: database.cluster must be in the inventory', async () => {
  const problems = await problemsFor({
    'api/.infra.yaml': api().replace('service:', 'database: { cluster: core-gp, name: api, user: api }\nservice:'),
  });
  const p = find(problems, 'unknown_cluster');
  assert.ok(p);
  assert.equal(p.line, 4);
  assert.match(p.hint ?? '', /core-pg/);
});

test('port_clash: two services, or a service and a cluster, on one port of one host', async () => {
  const two = await problemsFor({ 'api/.infra.yaml': api(), 'web/.infra.yaml': api().replace('project: api', 'project: web') });
  const p = find(two, 'port_clash');
  assert.ok(p);
  assert.equal(p.file, 'web/.infra.yaml');
  assert.equal(p.line, 6);
  const withCluster = await problemsFor({ 'api/.infra.yaml': api().replace('3030', '25435') });
  assert.match(find(withCluster, 'port_clash')?.message ?? '', /cluster "core-pg"/);
  const otherHost = await problemsFor({
    'api/.infra.yaml': api(),
    'web/.infra.yaml': api().replace('project: api', 'project: web').replace('host: core', 'host: hub').replace('bare-metal', 'digitalocean'),
  });
  assert.deepEqual(rulesOf(otherHost), []);
});

test('mesh_address: outside the CIDR, used twice, network address', async () => {
  const inv = JSON.parse(inventory()) as { hosts: Record<string, { mesh_ip?: string }> };
  inv.hosts['core']!.mesh_ip = '10.9.1.11';
  inv.hosts['mini']!.mesh_ip = '10.9.0.1';
  inv.hosts['devbox']!.mesh_ip = '10.9.0.0';
  const loaded = await loadTree({ 'mesh-hosts.json': JSON.stringify(inv, null, 2) });
  const mesh = loaded.problems.filter((p) => p.rule === 'mesh_address');
  assert.equal(mesh.length, 3, JSON.stringify(mesh));
  assert.ok(mesh.every((p) => p.file === 'mesh-hosts.json' && p.line > 1));
  assert.ok(mesh.some((p) => /outside the mesh/.test(p.message)));
  assert.ok(mesh.some((p) => /already used by "hub"/.test(p.message)));
  assert.ok(mesh.some((p) => /network address/.test(p.message)));
});

test('duplicate_project: one project declared twice for one environment', async () => {
  const problems = await problemsFor({ 'a/.infra.yaml': api(), 'b/.infra.yaml': api().replace('3030', '3031') });
  const p = find(problems, 'duplicate_project');
  assert.ok(p);
  assert.equal(p.file, 'b/.infra.yaml');
  assert.match(p.message, /already declared in a\/.infra.yaml/);
});

test('dependency_cycle: reported on each member, pointing at the depends_on entry', async () => {
  const svc = (project: string, port: number, deps: string) =>
    `apiVersion: infra/v2\nproject: ${project}\nprovider: bare-metal\nservice:\n  host: core\n  port: ${port}\n  command: x\n  depends_on: [${deps}]\n`;
  const problems = await problemsFor({ 'a/.infra.yaml': svc('a', 1, 'b'), 'b/.infra.yaml': svc('b', 2, 'c'), 'c/.infra.yaml': svc('c', 3, 'a') });
  const cycle = problems.filter((p) => p.rule === 'dependency_cycle');
  assert.equal(cycle.length, 3);
  assert.ok(cycle.every((p) => p.line === 8 && /a → b → c → a|b → c → a → b|c → a → b → c/.test(p.message)));
  const acyclic = await problemsFor({ 'a/.infra.yaml': svc('a', 1, 'b'), 'b/.infra.yaml': svc('b', 2, 'c'), 'c/.infra.yaml': svc('c', 3, '') });
  assert.deepEqual(rulesOf(acyclic), []);
});

test('placement: production on a workstation or dev host, new production on a frozen host', async () => {
  const dev = await problemsFor({ 'api/.infra.yaml': api().replace('host: core', 'host: devbox') });
  assert.match(find(dev, 'placement')?.message ?? '', /dev host "devbox"/);
  const ws = await problemsFor({
    'api/.infra.yaml': 'apiVersion: infra/v2\nproject: api\nprovider: local\nservice: { host: laptop, port: 3030, command: x }\n',
  });
  assert.match(find(ws, 'placement')?.message ?? '', /workstation host "laptop"/);
  const frozen = await problemsFor({ 'api/.infra.yaml': api().replace('host: core', 'host: legacy') });
  assert.match(find(frozen, 'placement')?.message ?? '', /frozen/);
  const carried = await problemsFor({
    'identity/.infra.yaml': api().replace('host: core', 'host: legacy').replace('project: api', 'project: identity'),
  });
  assert.deepEqual(rulesOf(carried), []);
  const devOnDevbox = await problemsFor({
    'api/.infra.dev.yaml': api().replace('provider: bare-metal', 'environment: dev\nprovider: bare-metal').replace('host: core', 'host: devbox'),
  });
  assert.deepEqual(rulesOf(devOnDevbox), []);
});

test('secret_in_manifest: secret-named keys and credential-shaped values, never echoed', async () => {
  const token = 'dop_v1_' + 'a1b2c3d4'.repeat(8);
  const problems = await problemsFor({
    'api/.infra.yaml': api(`  env_file: /etc/api/env\n`)
      .replace('service:', `passcode: hunter2hunter2\nservice:`)
      .replace('command: node server.js', `command: node server.js --token ${token}`),
  });
  const secrets = problems.filter((p) => p.rule === 'secret_in_manifest');
  assert.equal(secrets.length, 2, JSON.stringify(problems));
  assert.ok(secrets.some((p) => p.line === 4 && /passcode/.test(p.message)));
  assert.ok(secrets.some((p) => p.line === 8));
  for (const p of problems) assert.doesNotMatch(JSON.stringify(p), /hunter2|dop_v1/);
  const clean = await problemsFor({ 'api/.infra.yaml': api('  env_file: /etc/api/env\n  domains: [api.example.com]\n') });
  assert.deepEqual(rulesOf(clean), []);
});

test('secret_in_manifest: a hex digest is flagged, a long filler run ("aaaa…") is not', () => {
  assert.equal(looksLikeSecret(`key ${'9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'}`), true);
  assert.equal(looksLikeSecret('a'.repeat(5000)), false);
  assert.equal(looksLikeSecret('ab'.repeat(40)), false);
});

test('safe_name and port_range: names that reach remote commands stay plain', async () => {
  const problems = await problemsFor({
    'api/.infra.yaml':
      'apiVersion: infra/v1\nproject: "api; rm -rf /"\nprovider: bare-metal\nservice:\n  host: core\n  port: 70000\n  systemd_unit: "$(reboot).service"\n',
  });
  const rules = rulesOf(problems);
  assert.equal(rules.filter((r) => r === 'safe_name').length, 2);
  assert.ok(rules.includes('port_range'));
});

test('shared_infra_topology: droplet hosts not yet in the inventory are a warning', async () => {
  const problems = await problemsFor({
    '.infra.yaml':
      'apiVersion: infra/v2\nproject: infra\nprovider: digitalocean\ndroplets:\n  - { name: com.uvlava.forge, hosts: [forge], services: [] }\n',
  });
  const p = find(problems, 'shared_infra_topology');
  assert.equal(p?.severity, 'warning');
});

test('swap_ports and port_clash: a swap declares two different ports, one of them service.port, and its other port is taken', async () => {
  const ok = await problemsFor({ 'api/.infra.yaml': api('  swap: { ports: [3030, 3031] }\n') });
  assert.deepEqual(rulesOf(ok), []);
  const same = await problemsFor({ 'api/.infra.yaml': api('  swap: { ports: [3031, 3031] }\n') });
  assert.ok(rulesOf(same).includes('swap_ports'), JSON.stringify(same));
  const notPort = await problemsFor({ 'api/.infra.yaml': api('  swap: { ports: [3040, 3041] }\n') });
  assert.match(find(notPort, 'swap_ports')?.message ?? '', /port 3030 is not one of swap.ports \[3040, 3041\]/);
  const range = await problemsFor({ 'api/.infra.yaml': api('  swap: { ports: [3030, 70000] }\n') });
  assert.ok(rulesOf(range).length > 0, 'a port beyond 65535 is refused');
  const clash = await problemsFor({
    'api/.infra.yaml': api('  swap: { ports: [3030, 3031] }\n'),
    'web/.infra.yaml': api().replace('project: api', 'project: web').replace('port: 3030', 'port: 3031'),
  });
  const p = find(clash, 'port_clash');
  assert.ok(p, JSON.stringify(clash));
});

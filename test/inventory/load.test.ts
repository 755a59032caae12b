/** mesh-hosts.json on its own: schema problems leave out only what they are about; read errors hint right. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MAX_INVENTORY_BYTES } from '../../src/files/read.js';
import { inventoryReadHint, loadInventory, parseInventory } from '../../src/inventory/load.js';
import { MAX_NAME_LENGTH, PLAIN_NAME } from '../../src/names.js';
import { packageRoot } from '../../src/package-root.js';
import { inventory, loadTree, makeTree, removeTree } from '../helpers/tree.js';

const parse = (overrides: Record<string, unknown>) => parseInventory('/x/mesh-hosts.json', 'mesh-hosts.json', inventory(overrides));
const base = JSON.parse(inventory()) as { hosts: Record<string, Record<string, unknown>>; clusters: Record<string, unknown> };

test('a host that fails the schema is left out alone, with its problem; the rest stays usable', () => {
  const inv = parse({
    hosts: { ...base.hosts, laptop: { provider: 'local', role: 'laptop', local: true } },
    tunnels: [
      { name: 't', from: 'core', to: 'hub' },
      { name: 'bad', from: 'core' },
    ],
  });
  assert.equal(inv.valid, false);
  assert.deepEqual(Object.keys(inv.inventory!.hosts).sort(), ['core', 'devbox', 'hub', 'legacy', 'mini']);
  assert.deepEqual(Object.keys(inv.inventory!.clusters!), ['core-pg']);
  assert.deepEqual(
    inv.inventory!.tunnels!.map((t) => t.name),
    ['t'],
  );
  assert.deepEqual([...inv.omitted.hosts], ['laptop']);
  assert.deepEqual([...inv.omitted.tunnels], ['bad']);
  assert.equal(inv.inventory!.mesh?.hub, 'hub');
  assert.deepEqual(
    inv.problems.map((p) => p.rule),
    ['schema', 'schema'],
  );
  assert.match(inv.problems[0]!.message, /hosts\.laptop\.role must be one of/);
});

test('a host name with a space is located at the key itself and only that host is left out', () => {
  const text = inventory({ hosts: { ...base.hosts, 'my host': { provider: 'bare-metal', role: 'dev', alias: 'evil host' } } });
  const inv = parseInventory('/x/mesh-hosts.json', 'mesh-hosts.json', text);
  const line = text.split('\n').findIndex((l) => l.includes('"my host"')) + 1;
  const name = inv.problems.find((p) => /"my host"/.test(p.message) && !p.message.includes('alias'))!;
  assert.equal(name.message, 'the name "my host" in hosts is not a valid name');
  assert.deepEqual([name.line, name.column], [line, 5]);
  assert.match(name.hint!, /letters, digits/);
  assert.doesNotMatch(inv.problems.map((p) => p.message).join('\n'), /\{"/); // no dump of the hosts object
  assert.ok(!inv.problems.some((p) => /property name must be valid/.test(p.message)));
  assert.ok(!('my host' in inv.inventory!.hosts));
  assert.equal(Object.keys(inv.inventory!.hosts).length, 6);
});

test('references to a host left out are not reported a second time', () => {
  const inv = parse({ hosts: { ...base.hosts, core: { provider: 'bare-metal', role: 'nope' } } });
  assert.equal(inv.problems.length, 1, JSON.stringify(inv.problems));
  assert.deepEqual(Object.keys(inv.inventory!.clusters!), ['core-pg']);
});

test('top-level problems leave a sane inventory: the section is left out, hosts stay', () => {
  const badMesh = parse({ mesh: 'abc' });
  assert.equal(badMesh.inventory!.mesh, undefined);
  assert.equal(Object.keys(badMesh.inventory!.hosts).length, 6);
  assert.equal(badMesh.problems.length, 1, JSON.stringify(badMesh.problems)); // no "no mesh section" for every host
  const noCidr = parse({ mesh: { hub: 'hub' } });
  assert.equal(noCidr.inventory!.mesh, undefined);
  assert.match(noCidr.problems[0]!.message, /missing the required key "cidr"/);
  const unknownKey = parse({ extra: 1 });
  assert.equal(Object.keys(unknownKey.inventory!.hosts).length, 6);
  assert.ok(!('extra' in unknownKey.inventory!));
  const hostsList = parse({ hosts: ['a'] });
  assert.deepEqual(hostsList.inventory!.hosts, {});
  assert.deepEqual(Object.keys(hostsList.inventory!.clusters!), ['core-pg']);
  const noHosts = parseInventory('/x/mesh-hosts.json', 'mesh-hosts.json', '{ "version": 1 }');
  assert.deepEqual(noHosts.inventory!.hosts, {});
  assert.match(noHosts.problems[0]!.message, /missing the required key "hosts"/);
  const notObject = parseInventory('/x/mesh-hosts.json', 'mesh-hosts.json', '[]');
  assert.equal(notObject.inventory, undefined);
});

test('the fleet keeps every valid host when one host fails the schema', async () => {
  const loaded = await loadTree({
    'mesh-hosts.json': inventory({ hosts: { ...base.hosts, laptop: { provider: 'local', role: 'laptop' } } }),
    'api/.infra.yaml': 'apiVersion: infra/v2\nproject: api\nprovider: bare-metal\nservice:\n  host: core\n  port: 3030\n  command: node api.js\n',
    'web/.infra.yaml': 'apiVersion: infra/v2\nproject: web\nprovider: local\nservice:\n  host: laptop\n  port: 3000\n',
  });
  assert.deepEqual(
    loaded.fleet.hosts.map((h) => h.name),
    ['core', 'devbox', 'hub', 'legacy', 'mini'],
  );
  assert.equal(loaded.fleet.clusters.length, 1);
  assert.ok(loaded.fleet.mesh);
  // One problem, the schema one: "web" on the left-out host is not a second host_in_mesh error.
  assert.deepEqual(
    loaded.problems.map((p) => `${p.rule}@${p.file}`),
    ['schema@mesh-hosts.json'],
  );
});

test('a duplicate host makes the inventory invalid, as a duplicate key does in YAML', async () => {
  const text = inventory().replace('"hosts": {', '"hosts": {\n    "core": { "provider": "bare-metal", "role": "dev" },');
  const inv = parseInventory('/x/mesh-hosts.json', 'mesh-hosts.json', text);
  assert.equal(inv.inventory, undefined);
  assert.deepEqual(
    inv.problems.map((p) => [p.rule, p.message]),
    [['yaml_syntax', 'duplicate key "core" in hosts']],
  );
});

test('read errors: the hint fits the cause (missing default, --inventory, permissions)', async () => {
  const root = await makeTree({ 'x.json': '{}' });
  try {
    const missing = await loadInventory(join(root, 'mesh-hosts.json'), 'mesh-hosts.json');
    assert.match(missing.problems[0]!.hint!, /create mesh-hosts.json at the root/);
    const given = await loadInventory(join(root, 'nope.json'), 'nope.json', { explicit: true });
    assert.match(given.problems[0]!.message, /not found/);
    assert.doesNotMatch(given.problems[0]!.hint!, /create mesh-hosts.json/);
    const dir = await loadInventory(root, '.', { explicit: true });
    assert.doesNotMatch(dir.problems[0]!.hint!, /create mesh-hosts.json/);
    assert.match(inventoryReadHint('EACCES', false), /permissions/);
    assert.doesNotMatch(inventoryReadHint('EACCES', false), /create/);
    if (process.getuid?.() !== 0) {
      // root reads the file anyway
      await writeFile(join(root, 'mesh-hosts.json'), '{}');
      await chmod(join(root, 'mesh-hosts.json'), 0o000);
      const denied = await loadInventory(join(root, 'mesh-hosts.json'), 'mesh-hosts.json');
      assert.match(denied.problems[0]!.message, /EACCES/);
      assert.match(denied.problems[0]!.hint!, /permissions/);
      assert.doesNotMatch(denied.problems[0]!.hint!, /create/);
    }
  } finally {
    await removeTree(root);
  }
});

test(
  '--inventory that is a FIFO is a readable problem, never a hang; one over 8 MiB is a located file_size problem',
  { timeout: 60_000 },
  async () => {
    const root = await makeTree({ 'mesh-hosts.json': inventory() });
    try {
      const fifo = join(root, 'fifo.json');
      assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
      const fromFifo = await loadInventory(fifo, 'fifo.json', { explicit: true });
      assert.equal(fromFifo.problems[0]?.rule, 'inventory');
      assert.match(fromFifo.problems[0]!.message, /FIFO \(named pipe\), not a regular file/);
      const big = join(root, 'big.json');
      await writeFile(big, `{"version": 1, "hosts": {}, "x": "${'a'.repeat(MAX_INVENTORY_BYTES)}"}`);
      const fromBig = await loadInventory(big, 'big.json');
      assert.deepEqual(
        fromBig.problems.map((p) => [p.rule, p.file, p.line, p.column]),
        [['file_size', 'big.json', 1, 1]],
      );
      assert.match(fromBig.problems[0]!.message, /larger than the limit of 8 MiB/);
    } finally {
      await removeTree(root);
    }
  },
);

test('inventory host names follow the one definition of a name (src/names.ts): a 3,000-character host is left out, the rest stays', () => {
  const long = 'h'.repeat(3000);
  const inv = parse({ hosts: { ...base.hosts, [long]: { provider: 'bare-metal', role: 'production' } } });
  assert.ok(!Object.keys(inv.inventory!.hosts).includes(long));
  assert.ok(Object.keys(inv.inventory!.hosts).includes('core'));
  assert.ok(inv.problems.some((p) => p.rule === 'schema'));
  // The schema's name is the code's name: same pattern, same length limit.
  const schema = JSON.parse(readFileSync(join(packageRoot(), 'schemas/mesh-hosts.schema.json'), 'utf8')) as {
    $defs: { name: { pattern: string; maxLength: number } };
  };
  assert.equal(schema.$defs.name.pattern, PLAIN_NAME.source);
  assert.equal(schema.$defs.name.maxLength, MAX_NAME_LENGTH);
});

test("a mesh laid over the hosts' own LAN (a fake mesh) is a located error; a LAN-only inventory with private and public addresses is valid", () => {
  const text = JSON.stringify(
    {
      version: 1,
      mesh: { cidr: '192.168.1.0/24' },
      hosts: {
        host1: { provider: 'bare-metal', role: 'production', mesh_ip: '192.168.1.10', lan: '192.168.1.10' },
        host2: { provider: 'bare-metal', role: 'production', lan: '10.0.0.2' },
      },
    },
    null,
    2,
  );
  const inv = parseInventory('/x/mesh-hosts.json', 'mesh-hosts.json', text);
  const fake = inv.problems.filter((p) => p.rule === 'mesh_address');
  assert.equal(fake.length, 1, JSON.stringify(inv.problems));
  assert.equal(fake[0]!.severity, 'error');
  assert.match(
    fake[0]!.message,
    /lan 192\.168\.1\.10 of "host1" is inside the mesh 192\.168\.1\.0\/24: a WireGuard interface for that range would take the host's own network into the tunnel/,
  );
  assert.equal(fake[0]!.line, text.split('\n').findIndex((l) => l.includes('"lan": "192.168.1.10"')) + 1);
  const lanOnly = parseInventory(
    '/x/mesh-hosts.json',
    'mesh-hosts.json',
    JSON.stringify({
      version: 1,
      hosts: {
        a: { provider: 'digitalocean', role: 'production', private_ip: '10.110.0.2', public_ip: '203.0.113.4' },
        b: { provider: 'bare-metal', role: 'production', lan: '192.168.1.2' },
      },
    }),
  );
  assert.deepEqual(lanOnly.problems, []);
});

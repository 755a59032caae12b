// Services a producer-root manifest lists under droplets[].services (seed 001: each droplet
// lists the co-located services it runs) are part of the fleet: `hosts`, `ports`, `graph` and
// `net reconcile` show them, and another service claiming their host and port (or domain) is a
// located clash.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { loadFleet } from '../../src/load/fleet.js';
import { cli, inventory, makeTree, removeTree } from '../helpers/tree.js';

const PRODUCER_ROOT = `apiVersion: infra/v2
project: shared-infra
provider: digitalocean
droplets:
  - name: com.example.ct.services
    role: services
    hosts: [hub]
    services:
      - { name: ct-forge, kind: forgejo, producer: ct, port: 3000, domain: forge.example.com }
      - { name: dns, kind: dns, port: 53 }
`;

const WEB = `apiVersion: infra/v2
project: web
provider: digitalocean
service:
  host: hub
  port: 3000
  command: node server.js
  domains: [forge.example.com]
`;

let root = '';

before(async () => {
  root = await makeTree({ 'mesh-hosts.json': inventory(), '.infra.yaml': PRODUCER_ROOT, 'web/.infra.yaml': WEB });
});
after(async () => removeTree(root));

const run = <T>(args: string[]): { status: number; doc: T } => {
  const r = cli([...args, '--root', root, '--json']);
  return { status: r.status, doc: JSON.parse(r.stdout) as T };
};

test("another service on a droplet service's host and port (and domain) is a located clash", async () => {
  const loaded = await loadFleet({ root });
  const clashes = loaded.problems
    .filter((p) => p.rule === 'port_clash' || p.rule === 'domain_unique')
    .map((p) => `${p.file}:${p.line}:${p.column} [${p.rule}] ${p.message}`);
  assert.deepEqual(clashes, [
    'web/.infra.yaml:6:9 [port_clash] port 3000 on host "hub" is already taken by droplet service "ct-forge@com.example.ct.services" (.infra.yaml)',
    'web/.infra.yaml:8:13 [domain_unique] domain "forge.example.com" is already served by droplet service "ct-forge@com.example.ct.services" (.infra.yaml)',
  ]);
  const validate = cli(['validate', '--root', root]);
  assert.equal(validate.status, 1);
  assert.match(validate.stdout + validate.stderr, /error \[port_clash\] web\/\.infra\.yaml:6:9/);
});

test("hosts, ports, graph and net reconcile show the droplet's services", () => {
  const hosts = run<{ hosts: { name: string; services: { project: string; port: number | null; kind: string; droplet: string | null }[] }[] }>([
    'hosts',
  ]);
  const hub = hosts.doc.hosts.find((h) => h.name === 'hub')!;
  assert.deepEqual(
    hub.services.map((s) => [s.project, s.port, s.kind, s.droplet]),
    [
      ['web', 3000, 'app', null],
      ['ct-forge', 3000, 'forgejo', 'com.example.ct.services'],
      ['dns', 53, 'dns', 'com.example.ct.services'],
    ],
  );
  const ports = run<{
    ports: { host: string; port: number; owner: string; type: string }[];
    clashes: { host: string; port: number; owners: string[] }[];
  }>(['ports']);
  assert.equal(ports.status, 1);
  assert.ok(ports.doc.ports.some((p) => p.owner === 'dns@com.example.ct.services' && p.host === 'hub' && p.port === 53 && p.type === 'droplet'));
  assert.deepEqual(ports.doc.clashes, [{ host: 'hub', port: 3000, owners: ['ct-forge@com.example.ct.services', 'web'] }]);
  const graph = run<{ hosts: { name: string; services: string[] }[]; edges: { kind: string; from: string; to: string }[] }>(['graph']);
  assert.deepEqual(graph.doc.hosts.find((h) => h.name === 'hub')!.services, [
    'web',
    'ct-forge@com.example.ct.services',
    'dns@com.example.ct.services',
  ]);
  assert.ok(graph.doc.edges.some((e) => e.kind === 'route' && e.from === 'forge.example.com' && e.to === 'ct-forge@com.example.ct.services'));
  const reconcile = run<{ files: { content: string }[] }>(['net', 'reconcile']);
  const services = (JSON.parse(reconcile.doc.files[0]!.content) as { services: Record<string, { host: string; port?: number; kind?: string }> })
    .services;
  assert.deepEqual(services['ct-forge@com.example.ct.services'], {
    project: 'ct-forge',
    environment: 'prod',
    host: 'hub',
    port: 3000,
    kind: 'forgejo',
    domains: ['forge.example.com'],
    manifest: '.infra.yaml',
  });
  assert.equal(services['dns@com.example.ct.services']?.port, 53);
});

test("a droplet service on one of the droplet's other names clashes too; the same service on two names does not", async () => {
  const other = await makeTree({
    'mesh-hosts.json': inventory(),
    '.infra.yaml': PRODUCER_ROOT.replace('hosts: [hub]', 'hosts: [hub, core]'),
    'api/.infra.yaml': 'apiVersion: infra/v2\nproject: api\nprovider: bare-metal\nservice:\n  host: core\n  port: 53\n  command: node api.js\n',
  });
  try {
    const loaded = await loadFleet({ root: other });
    assert.deepEqual(
      loaded.problems.filter((p) => p.rule === 'port_clash').map((p) => `${p.file}:${p.line} ${p.message}`),
      ['api/.infra.yaml:6 port 53 on host "core" is already taken by droplet service "dns@com.example.ct.services" (.infra.yaml)'],
    );
  } finally {
    await removeTree(other);
  }
});

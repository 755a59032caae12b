/**
 * service.compose (infra/v2): the schema's fields, and what validate reads from the compose file
 * (exists, parses, defines the service, publishes the manifest's port, an image to pin, no
 * secrets), each located; the published ports reach the port registry and port_clash; analysis
 * and rendering see a compose service like any other.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { imageRepository, imageTag, parseCompose, publishedPort } from '../../src/manifest/compose.js';
import { portRegistry } from '../../src/inspect/ports.js';
import { expandTag } from '../../src/ops/image.js';
import { routingEdges } from '../../src/fleet/model.js';
import { find, inventory, loadTree, rulesOf } from '../helpers/tree.js';

const shop = (
  compose = '    file: deploy/compose.yml\n    service: app\n    image: ghcr.io/acme/shop\n    tag: "{env}-{sha}"\n',
  extra = '  port: 8080\n',
) => `apiVersion: infra/v2
project: shop
provider: bare-metal
service:
  host: core
${extra}  compose:
${compose}`;

const composeFile = (ports = '["8080:3000", "127.0.0.1:9090:9090"]', more = '') => `services:
  app:
    image: ghcr.io/acme/shop:latest
    ports: ${ports}
${more}  db:
    image: postgres:16
`;

async function problemsFor(files: Record<string, string>) {
  return (await loadTree({ 'mesh-hosts.json': inventory(), ...files })).problems;
}

test('a compose service with its file, service, image and tag template is valid; v1 and unit services are untouched', async () => {
  const loaded = await loadTree({ 'mesh-hosts.json': inventory(), 'shop/.infra.yaml': shop(), 'shop/deploy/compose.yml': composeFile() });
  assert.deepEqual(loaded.problems, []);
  const s = loaded.fleet.services[0]!;
  assert.equal(s.supervisor, 'compose');
  assert.equal(s.unit, undefined, 'no systemd unit for a container');
  assert.deepEqual(
    { project: s.compose?.project, service: s.compose?.service, image: s.compose?.image, published: s.compose?.published },
    { project: 'shop', service: 'app', image: 'ghcr.io/acme/shop', published: [8080, 9090] },
  );
});

test('schema: compose needs file and service; names, image and tag are checked with located errors', async () => {
  const missing = await problemsFor({ 'shop/.infra.yaml': shop('    file: deploy/compose.yml\n'), 'shop/deploy/compose.yml': composeFile() });
  assert.match(find(missing, 'schema')?.message ?? '', /service/);
  const badTag = await problemsFor({
    'shop/.infra.yaml': shop('    file: deploy/compose.yml\n    service: app\n    tag: "prod-{commit}"\n'),
    'shop/deploy/compose.yml': composeFile(),
  });
  const tag = find(badTag, 'schema');
  assert.equal(tag?.line, 10);
  const escape = await problemsFor({
    'shop/.infra.yaml': shop('    file: ../../etc/compose.yml\n    service: app\n'),
    'shop/deploy/compose.yml': composeFile(),
  });
  assert.equal(find(escape, 'schema')?.line, 8);
  const typo = await problemsFor({
    'shop/.infra.yaml': shop('    file: deploy/compose.yml\n    servce: app\n'),
    'shop/deploy/compose.yml': composeFile(),
  });
  assert.ok(find(typo, 'schema'));
});

test('compose_file: a missing file, a syntax error, an unknown service (did-you-mean), located', async () => {
  const missing = await problemsFor({ 'shop/.infra.yaml': shop() });
  const m = find(missing, 'compose_file');
  assert.equal(m?.file, 'shop/.infra.yaml');
  assert.equal(m?.line, 8);
  assert.match(m?.message ?? '', /shop\/deploy\/compose\.yml does not exist/);
  const broken = await problemsFor({ 'shop/.infra.yaml': shop(), 'shop/deploy/compose.yml': 'services:\n  app:\n    image: [unclosed\n' });
  const b = find(broken, 'compose_file');
  assert.equal(b?.file, 'shop/deploy/compose.yml');
  assert.ok((b?.line ?? 0) >= 3);
  const unknown = await problemsFor({
    'shop/.infra.yaml': shop('    file: deploy/compose.yml\n    service: ap\n    image: ghcr.io/acme/shop\n'),
    'shop/deploy/compose.yml': composeFile(),
  });
  const u = find(unknown, 'compose_file');
  assert.equal(u?.line, 9);
  assert.match(u?.hint ?? '', /did you mean "app"\?/);
});

test("compose_file: the manifest's port must be published (or the host's network used)", async () => {
  const unpublished = await problemsFor({ 'shop/.infra.yaml': shop(undefined, '  port: 8000\n'), 'shop/deploy/compose.yml': composeFile() });
  const p = find(unpublished, 'compose_file');
  assert.equal(p?.line, 6);
  assert.match(p?.message ?? '', /port 8000 is not published by service "app" .*it publishes 8080, 9090/);
  const hostNet = await problemsFor({
    'shop/.infra.yaml': shop(undefined, '  port: 8000\n'),
    'shop/deploy/compose.yml': composeFile('[]', '    network_mode: host\n'),
  });
  assert.deepEqual(rulesOf(hostNet), []);
  const variable = await problemsFor({ 'shop/.infra.yaml': shop(), 'shop/deploy/compose.yml': composeFile('["8080:3000", "${METRICS_PORT}:9090"]') });
  assert.equal(find(variable, 'compose_file')?.severity, 'warning');
});

test('compose_file: a secret written into the compose file is reported, masked; ${VAR} from the env file is fine', async () => {
  const env = (value: string) => composeFile(undefined, `    environment:\n      DATABASE_PASSWORD: ${value}\n      LOG_LEVEL: debug\n`);
  const leaked = await problemsFor({ 'shop/.infra.yaml': shop(), 'shop/deploy/compose.yml': env('hunter2-very-secret') });
  const p = find(leaked, 'secret_in_manifest');
  assert.equal(p?.file, 'shop/deploy/compose.yml');
  assert.equal(p?.redact, true);
  assert.equal(p?.line, 6);
  assert.deepEqual(rulesOf(await problemsFor({ 'shop/.infra.yaml': shop(), 'shop/deploy/compose.yml': env('${DATABASE_PASSWORD}') })), []);
});

test('compose_file: no image to pin; a unit field on a compose service', async () => {
  const noImage = await problemsFor({
    'shop/.infra.yaml': shop('    file: deploy/compose.yml\n    service: app\n'),
    'shop/deploy/compose.yml': 'services:\n  app:\n    image: ${APP_IMAGE}\n    ports: ["8080:80"]\n',
  });
  assert.match(find(noImage, 'compose_file')?.message ?? '', /no image to pin/);
  const withCommand = await problemsFor({
    'shop/.infra.yaml': shop(undefined, '  port: 8080\n  command: node server.js\n'),
    'shop/deploy/compose.yml': composeFile(),
  });
  const c = find(withCommand, 'compose_file');
  assert.equal(c?.line, 7);
  assert.match(c?.message ?? '', /a compose service has no command/);
});

test('port_clash and the port registry see every published port of a compose service', async () => {
  const api = 'apiVersion: infra/v2\nproject: api\nprovider: bare-metal\nservice:\n  host: core\n  port: 9090\n  command: node server.js\n';
  const loaded = await loadTree({
    'mesh-hosts.json': inventory(),
    'shop/.infra.yaml': shop(),
    'shop/deploy/compose.yml': composeFile(),
    'api/.infra.yaml': api,
  });
  const clash = find(loaded.problems, 'port_clash');
  assert.ok(clash, JSON.stringify(loaded.problems));
  assert.match(clash.message, /port 9090 on host "core" is already taken by "api".*deploy\/compose\.yml publishes it/);
  const registry = portRegistry(loaded.fleet);
  assert.deepEqual(registry.clashes, [{ host: 'core', port: 9090, owners: ['api', 'shop'] }]);
});

test('an edge in its own compose project routes domains like any edge', async () => {
  const edge =
    'apiVersion: infra/v2\nproject: edge\nprovider: bare-metal\nservice:\n  host: core\n  port: 443\n  kind: edge\n  compose: { file: compose.yml, service: caddy }\n';
  const loaded = await loadTree({
    'mesh-hosts.json': inventory(),
    'shop/.infra.yaml': shop(undefined, '  port: 8080\n  domains: [shop.example.com]\n'),
    'shop/deploy/compose.yml': composeFile(),
    'edge/.infra.yaml': edge,
    'edge/compose.yml': 'services:\n  caddy:\n    image: caddy:2\n    ports: ["443:443", "80:80"]\n',
  });
  assert.deepEqual(loaded.problems, []);
  const shopService = loaded.fleet.services.find((s) => s.id === 'shop')!;
  assert.deepEqual(
    routingEdges(loaded.fleet, shopService).map((e) => e.id),
    ['edge'],
  );
});

test('compose file helpers: published ports, image repository and tag, tag templates', async () => {
  assert.equal(publishedPort('8080:80'), 8080);
  assert.equal(publishedPort('127.0.0.1:8080:80/tcp'), 8080);
  assert.equal(publishedPort('[::1]:8443:443'), 8443);
  assert.equal(publishedPort('80'), undefined);
  assert.equal(publishedPort({ target: 80, published: '8081' }), 8081);
  assert.deepEqual(publishedPort('${PORT}:80'), { text: '${PORT}:80' });
  assert.equal(imageRepository('reg:5000/app:prod-1'), 'reg:5000/app');
  assert.equal(imageRepository('reg:5000/app@sha256:abc'), 'reg:5000/app');
  assert.equal(imageRepository('reg:5000/app'), 'reg:5000/app');
  assert.equal(imageTag('reg:5000/app:prod-1'), 'prod-1');
  assert.equal(imageTag('reg:5000/app'), undefined);
  assert.equal(await expandTag('{env}-build', { environment: 'preview', projectDir: '/nonexistent' }), 'preview-build');
  const parsed = parseCompose('c.yml', 'services:\n  app:\n    image: x\n    container_name: my-app\n', 'app');
  assert.ok(parsed.ok && parsed.facts.containerName === 'my-app');
});

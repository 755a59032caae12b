// Tenants from templates in the fleet model (docs/tenants.md): a template's instances and routes
// are ordinary services to every later stage (list, ports, net caddy, units), and what a tenant
// gets wrong is located in the tenants file.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { loadFleet } from '../../src/load/fleet.js';
import { packageRoot } from '../../src/package-root.js';
import { renderCaddy } from '../../src/render/caddy.js';
import { renderUnit } from '../../src/render/systemd-unit.js';
import { expandDomain } from '../../src/fleet/tenants.js';
import { find, loadTree } from '../helpers/tree.js';

const fixture = join(packageRoot(), 'test', 'fixtures', 'tenants');

/** The fixture's files, to vary one of them per test. */
function fixtureFiles(): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else out[relative(fixture, path)] = readFileSync(path, 'utf8');
    }
  };
  walk(fixture);
  return out;
}

test('placeholders: {org} and {slug} are the slug, {tld} each TLD', () => {
  assert.deepEqual(expandDomain('ai.{org}.{tld}', { slug: 'cocotte', tlds: ['maison', 'lan'] }), ['ai.cocotte.maison', 'ai.cocotte.lan']);
  assert.deepEqual(expandDomain('{slug}.example.com', { slug: 'x', tlds: ['a', 'b'] }), ['x.example.com']);
  assert.deepEqual(expandDomain('plain.example.com', { slug: 'x', tlds: ['a'] }), ['plain.example.com']);
});

test('the fixture fleet: one instance per tenant with its own port, unit, directory and env; a shared service with one route per tenant', async () => {
  const loaded = await loadFleet({ root: fixture });
  assert.deepEqual(loaded.problems, []);
  const ids = loaded.fleet.services.map((s) => s.id);
  assert.deepEqual(ids, ['analytics', 'assistant', 'edge', 'org-site-cocotte', 'org-site-sansonnet']);
  const cocotte = loaded.fleet.services.find((s) => s.id === 'org-site-cocotte')!;
  assert.equal(cocotte.port, 5201);
  assert.equal(cocotte.unit, 'org-site-cocotte.service');
  assert.equal(cocotte.directory, '/srv/org-site-cocotte');
  assert.deepEqual(cocotte.domains, ['cocotte.maison']);
  assert.deepEqual(cocotte.tenant, { slug: 'cocotte', template: 'org-site' });
  assert.deepEqual(cocotte.env, { TENANT: 'cocotte', TENANT_KIND: 'org', BRAND_NAME: 'Cocotte', ACCENT: '#b5162b' });
  const assistant = loaded.fleet.services.find((s) => s.id === 'assistant')!;
  assert.deepEqual(assistant.domains, ['ai.cocotte.maison', 'ai.sansonnet.maison']);
  // analytics: only the tenant that enables "data", and its own plain name kept.
  assert.deepEqual(loaded.fleet.services.find((s) => s.id === 'analytics')!.domains, ['analytics.internal', 'data.sansonnet.maison']);
  assert.deepEqual(
    loaded.fleet.tenants!.map((t) => t.slug),
    ['cocotte', 'sansonnet'],
  );
  assert.deepEqual(
    loaded.fleet.tenantTemplates!.map((t) => [t.id, t.surface, t.ports ?? null]),
    [
      ['analytics', 'data', null],
      ['assistant', 'ai', null],
      ['org-site', 'site', [5201, 5299]],
    ],
  );
});

test("an instance's unit sets its tenant's config as its environment, quoted for systemd", async () => {
  const loaded = await loadFleet({ root: fixture });
  const cocotte = loaded.fleet.services.find((s) => s.id === 'org-site-cocotte')!;
  const unit = renderUnit(
    { ...cocotte, env: { ...cocotte.env, MOTTO: 'a "b" 100% \\ c' } },
    loaded.fleet.hosts.find((h) => h.name === 'vps-0'),
  );
  assert.match(unit, /^Environment=PORT=5201$/m);
  assert.match(unit, /^Environment="TENANT=cocotte"$/m);
  assert.match(unit, /^Environment="ACCENT=#b5162b"$/m);
  assert.match(unit, /^Environment="MOTTO=a \\"b\\" 100%% \\\\ c"$/m);
  assert.match(unit, /^ExecStart=.*server\.mjs/m);
});

test('net caddy: a route per tenant, the shared service told the tenant by a header the client cannot set; internal names tls internal', async () => {
  const loaded = await loadFleet({ root: fixture });
  const out = renderCaddy(loaded.fleet);
  assert.deepEqual(out.problems, []);
  const caddy = out.files[0]!.content;
  assert.match(caddy, /^ai\.cocotte\.maison \{\n\treverse_proxy 10\.0\.0\.11:3791 \{\n\t\theader_up X-Tenant cocotte\n\t\}\n\}$/m);
  assert.match(caddy, /^ai\.sansonnet\.maison \{\n\treverse_proxy 10\.0\.0\.11:3791 \{\n\t\theader_up X-Tenant sansonnet\n\t\}\n\}$/m);
  assert.match(caddy, /^cocotte\.maison \{\n\treverse_proxy 127\.0\.0\.1:5201\n\}$/m);
  assert.match(caddy, /^analytics\.internal \{\n\ttls internal\n\treverse_proxy 10\.0\.0\.11:3800\n\}$/m);
  assert.doesNotMatch(caddy, /\{org\}|\{tld\}/);
});

test("domain_unique: a tenant whose name is another's is located at the tenant in the tenants file", async () => {
  const files = fixtureFiles();
  // Slug "ai" under TLD cocotte.maison: its site would be ai.cocotte.maison, cocotte's assistant route.
  files['tenants.yaml'] += '  ai:\n    kind: person\n    tlds: [cocotte.maison]\n    surfaces: [site]\n    ports:\n      org-site: 5203\n';
  const { problems } = await loadTree(files);
  const p = find(problems, 'domain_unique');
  assert.ok(p, JSON.stringify(problems));
  assert.equal(p.file, 'tenants.yaml');
  assert.equal(p.line, 20);
  assert.match(p.message, /domain "ai\.cocotte\.maison" of tenant "ai" .* already routed to "assistant" for tenant "cocotte"/);
});

test('port_clash and tenant_port: located at the port in the tenants file, a missing one with the first free port', async () => {
  const files = fixtureFiles();
  files['tenants.yaml'] = files['tenants.yaml']!.replace('org-site: 5202', 'org-site: 5201');
  let p = find((await loadTree(files)).problems, 'port_clash');
  assert.ok(p);
  assert.equal(p.file, 'tenants.yaml');
  assert.equal(p.line, 19);
  files['tenants.yaml'] = fixtureFiles()['tenants.yaml']!.replace('    ports:\n      org-site: 5202\n', '');
  p = find((await loadTree(files)).problems, 'tenant_port');
  assert.ok(p);
  assert.equal(p.file, 'tenants.yaml');
  assert.match(p.hint ?? '', /org-site: 5202/);
  files['tenants.yaml'] = fixtureFiles()['tenants.yaml']!.replace('org-site: 5202', 'org-site: 6000');
  p = find((await loadTree(files)).problems, 'tenant_port');
  assert.match(p?.message ?? '', /outside the template's range 5201-5299/);
});

test("tenant_config: a secret in a tenant's config is refused, located, and never echoed", async () => {
  const files = fixtureFiles();
  files['tenants.yaml'] = files['tenants.yaml']!.replace('BRAND_NAME: Cocotte', 'STRIPE_TOKEN: sk-live-abcdefghijklmnopqrstuvwxyz0123');
  const p = find((await loadTree(files)).problems, 'tenant_config');
  assert.ok(p);
  assert.equal(p.line, 8);
  assert.equal(p.redact, true);
  assert.doesNotMatch(p.message, /abcdefgh/);
});

test('tenant_template: placeholders outside a template, and instances that cannot have a unit of their own', async () => {
  const files = fixtureFiles();
  files['edge/.infra.yaml'] += '  domains: ["{org}.example.com"]\n';
  files['org-site/.infra.yaml'] = files['org-site/.infra.yaml']!.replace('command: node server.mjs', 'systemd_unit: site.service');
  const { problems, fleet } = await loadTree(files);
  const found = problems.filter((p) => p.rule === 'tenant_template');
  assert.deepEqual(
    found.map((p) => [p.file, p.line]),
    [
      ['edge/.infra.yaml', 9],
      ['org-site/.infra.yaml', 6],
    ],
  );
  assert.equal(fleet.services.filter((s) => s.tenant !== undefined).length, 0);
});

test('a bad tenant is left out and reported; the others take part', async () => {
  const files = fixtureFiles();
  files['tenants.yaml'] += '  Bad_Slug:\n    kind: org\n    tlds: [x]\n';
  const { problems, fleet } = await loadTree(files);
  assert.ok(
    problems.some((p) => p.file === 'tenants.yaml' && p.rule === 'schema'),
    JSON.stringify(problems),
  );
  assert.deepEqual(
    fleet.tenants!.map((t) => t.slug),
    ['cocotte', 'sansonnet'],
  );
});

test('a template with instances is a target: its project names every tenant instance (deploy org-site, start org-site, …)', async () => {
  const { selectServices } = await import('../../src/ops/selection.js');
  const loaded = await loadFleet({ root: fixture });
  assert.deepEqual(
    selectServices(loaded.fleet, { targets: ['org-site'] }).services.map((s) => s.id),
    ['org-site-cocotte', 'org-site-sansonnet'],
  );
  assert.deepEqual(
    selectServices(loaded.fleet, { targets: ['org-site-cocotte'] }).services.map((s) => s.id),
    ['org-site-cocotte'],
  );
});

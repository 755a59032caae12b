// tenants list / add / remove without hosts: the documented JSON, --dry-run touches nothing, a
// clashing tenant is a located error and the file stays as it was, usage errors exit 2.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { tenantsAdd, tenantsList, tenantsRemove } from '../../src/app/tenants.js';
import { SilentProgress } from '../../src/ops/progress.js';
import { packageRoot } from '../../src/package-root.js';
import { UsageError } from '../../src/errors.js';

const root = mkdtempSync(join(tmpdir(), 'manage-apps-tenants-'));
cpSync(join(packageRoot(), 'test', 'fixtures', 'tenants'), root, { recursive: true });
const original = readFileSync(join(root, 'tenants.yaml'), 'utf8');
after(() => rmSync(root, { recursive: true, force: true }));

test('tenants list: every tenant with its instances, routes and names; the templates', async () => {
  const answer = await tenantsList({ root });
  assert.equal(answer.exitCode, 0);
  const cocotte = answer.document.tenants.find((t) => t.slug === 'cocotte')!;
  assert.deepEqual(cocotte.instances, [
    { id: 'org-site-cocotte', template: 'org-site', host: 'vps-0', port: 5201, unit: 'org-site-cocotte.service', domains: ['cocotte.maison'] },
  ]);
  assert.deepEqual(cocotte.routes, [{ service: 'assistant', domains: ['ai.cocotte.maison'] }]);
  assert.deepEqual(cocotte.config, ['BRAND_NAME', 'ACCENT']);
  assert.deepEqual(
    cocotte.urls.map((u) => u.url),
    ['https://cocotte.maison/readyz', 'https://ai.cocotte.maison/readyz'],
  );
  assert.equal(answer.document.templates.length, 3);
});

test('tenants add --dry-run: the first free port, the routes, the DNS records to create; nothing written', async () => {
  const answer = await tenantsAdd(
    { root },
    'newco',
    { kind: 'org', tlds: ['maison', 'lan'], surfaces: ['site', 'ai'], config: { BRAND_NAME: 'New Co' } },
    {},
    { dryRun: true },
    new SilentProgress(),
  );
  assert.equal(answer.exitCode, 0, JSON.stringify(answer.document));
  const doc = answer.document;
  assert.deepEqual(doc.instances, ['org-site-newco']);
  assert.deepEqual(answer.loaded.fleet.services.find((s) => s.id === 'org-site-newco')?.port, 5203);
  assert.deepEqual(
    doc.dns.map((d) => [d.domain, d.state]),
    [
      ['newco.maison', 'missing'],
      ['newco.lan', 'internal'],
      ['ai.newco.maison', 'missing'],
      ['ai.newco.lan', 'internal'],
    ],
  );
  assert.equal(doc.dns[0]!.record, 'newco.maison. A 203.0.113.10');
  assert.deepEqual(
    doc.steps.map((s) => [s.step, s.state]),
    [
      ['check', 'ok'],
      ['dns', 'warning'],
      ['declare', 'planned'],
      ['deploy', 'planned'],
      ['edge', 'planned'],
      ['probe', 'planned'],
    ],
  );
  assert.equal(readFileSync(join(root, 'tenants.yaml'), 'utf8'), original);
});

test('tenants add: a tenant whose name another has is a located error, and the file is untouched', async () => {
  const answer = await tenantsAdd(
    { root },
    'ai',
    { kind: 'person', tlds: ['cocotte.maison'], surfaces: ['site'] },
    {},
    { dryRun: false },
    new SilentProgress(),
  );
  assert.equal(answer.exitCode, 1);
  const [p] = answer.document.problems;
  assert.equal(p?.['rule'], 'domain_unique');
  assert.equal(p?.['file'], 'tenants.yaml');
  assert.equal(p?.['line'], 20);
  assert.deepEqual(
    answer.document.steps.map((s) => s.step),
    ['check'],
  );
  assert.equal(readFileSync(join(root, 'tenants.yaml'), 'utf8'), original);
});

test('tenants add: a new tenant needs its kind and TLD; a slug must be a DNS label; a declared one with other values is refused', async () => {
  await assert.rejects(tenantsAdd({ root }, 'newco', {}, {}, { dryRun: true }, new SilentProgress()), UsageError);
  await assert.rejects(tenantsAdd({ root }, 'New_Co', { kind: 'org', tlds: ['x'] }, {}, { dryRun: true }, new SilentProgress()), UsageError);
  await assert.rejects(tenantsAdd({ root }, 'cocotte', { kind: 'person' }, {}, { dryRun: true }, new SilentProgress()), UsageError);
});

test('tenants remove --dry-run: its instances and routes, nothing written', async () => {
  const answer = await tenantsRemove({ root }, 'sansonnet', {}, { dryRun: true }, new SilentProgress());
  assert.equal(answer.exitCode, 0);
  assert.deepEqual(answer.document.instances, ['org-site-sansonnet']);
  assert.equal(answer.document.urls.length, 3);
  assert.equal(readFileSync(join(root, 'tenants.yaml'), 'utf8'), original);
});

/**
 * Which credential store a host's units use (docs/secrets.md): encrypted by systemd-creds on
 * systemd 250 and later, root-only plain files loaded with LoadCredential= on 247 to 249 (the
 * inventory's `systemd`), none before; `secrets push` checks the inventory against the host's own
 * version, read in the same round trip as its secrets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { credentialStore } from '../../src/secrets/layout.js';
import { credentialRefusal } from '../../src/secrets/deliver.js';
import { parseRead, readScript, writeScript } from '../../src/secrets/host-scripts.js';
import { renderUnit, UnitError } from '../../src/render/systemd-unit.js';
import type { Host } from '../../src/fleet/model.js';
import { cli, inventory, loadTree, makeTree, removeTree } from '../helpers/tree.js';

const host = (systemd?: number): Host => ({
  name: 'core',
  alias: 'core',
  provider: 'bare-metal',
  role: 'production',
  local: false,
  ephemeral: false,
  gpus: 0,
  ...(systemd === undefined ? {} : { systemd }),
});

test('the store follows the systemd version: encrypted from 250, plain files from 247, none before', () => {
  assert.equal(credentialStore(undefined), 'encrypted');
  assert.equal(credentialStore(252), 'encrypted');
  assert.equal(credentialStore(250), 'encrypted');
  assert.equal(credentialStore(249), 'file');
  assert.equal(credentialStore(247), 'file');
  assert.equal(credentialStore(245), 'none');
});

test('the unit of a host whose inventory gives systemd 249 loads root-only files with LoadCredential=; 245 is a located error', async () => {
  const files = () => ({
    'mesh-hosts.json': inventory(),
    'api/.infra.yaml':
      'apiVersion: infra/v2\nproject: api\nprovider: bare-metal\nservice:\n  host: core\n  port: 3030\n  command: node server.js\n' +
      '  secrets:\n    SIGNING: { env: SIGNING }\n    SESSION: { env: SESSION, as: env }\n',
  });
  const loaded = await loadTree(files());
  const api = loaded.fleet.services[0]!;
  const current = renderUnit(api, host());
  assert.match(current, /^LoadCredentialEncrypted=SIGNING:\/var\/lib\/manage-apps\/secrets\/prod\/api\/current\/SIGNING\.cred$/m);
  const old = renderUnit(api, host(249));
  assert.match(old, /^LoadCredential=SIGNING:\/var\/lib\/manage-apps\/secrets\/prod\/api\/current\/credentials\/SIGNING$/m);
  assert.doesNotMatch(old, /LoadCredentialEncrypted/);
  assert.match(old, /^EnvironmentFile=-\/var\/lib\/manage-apps\/secrets\/prod\/api\/current\/secrets\.env$/m);
  assert.throws(
    () => renderUnit(api, host(245)),
    (e: unknown) =>
      e instanceof UnitError && /core runs systemd 245, which has no credentials/.test(e.message) && e.path.join('.') === 'service.secrets.SIGNING',
  );
});

test('validate locates a credential on a host whose inventory gives a systemd without credentials', async () => {
  const inv = JSON.parse(inventory()) as { hosts: Record<string, Record<string, unknown>> };
  inv.hosts['core']!['systemd'] = 245;
  const root = await makeTree({
    'mesh-hosts.json': JSON.stringify(inv),
    'api/.infra.yaml':
      'apiVersion: infra/v2\nproject: api\nprovider: bare-metal\nservice:\n  host: core\n  port: 3030\n  command: node server.js\n  secrets:\n    SIGNING: { env: SIGNING }\n',
  });
  try {
    const run = cli(['validate', '--root', root, '--json']);
    assert.equal(run.status, 1, run.stdout + run.stderr);
    const problems = (JSON.parse(run.stdout) as { problems: { rule: string; message: string; line?: number }[] }).problems;
    const p = problems.find((x) => x.rule === 'unit_render');
    assert.ok(p, run.stdout);
    assert.match(p.message, /api: core runs systemd 245, which has no credentials/);
  } finally {
    await removeTree(root);
  }
});

test('push refuses credentials where the unit and the host disagree, with what to do', () => {
  // A current systemd: nothing to refuse, whatever the inventory says down to 247.
  assert.equal(credentialRefusal(host(), { creds: true, systemd: 252 }), undefined);
  assert.equal(credentialRefusal(host(249), { creds: true, systemd: 252 }), undefined);
  assert.equal(credentialRefusal(host(249), { creds: false, systemd: 249 }), undefined);
  // The inventory says nothing, the host has no systemd-creds: the unit would name a .cred nothing can make.
  assert.match(
    credentialRefusal(host(), { creds: false, systemd: 249 })!,
    /^core runs systemd 249, without systemd-creds \(250 brought it\): .*give "systemd": 249 for core in the inventory and deploy again/,
  );
  assert.match(credentialRefusal(host(249), { creds: false, systemd: 245 })!, /core runs systemd 245, which has no credentials/);
  assert.match(credentialRefusal(host(245), { creds: false, systemd: 0 })!, /a systemd whose version it does not tell, which has no credentials/);
});

test("the read reports the host's systemd version; the write sends plain credentials as credfile records", () => {
  assert.match(readScript('/var/lib/manage-apps/secrets', true, []), /systemctl --version/);
  assert.equal(parseRead('@@creds\tno\n@@systemd\t249\n').systemd, 249);
  assert.equal(parseRead('@@systemd\t\n').systemd, 0);
  assert.equal(parseRead('@@systemd\tx; rm\n').systemd, 0);
  const write = (store: 'file' | 'encrypted') =>
    writeScript(
      '/var/lib/manage-apps/secrets',
      true,
      [
        {
          id: 'api',
          environment: 'prod',
          project: 'api',
          credentials: [{ name: 'SIGNING', value: 'v' }],
          credentialStore: store,
          fingerprints: '#\n',
        },
      ],
      'g1',
    );
  assert.match(write('file'), /^credfile SIGNING dg==$/m);
  assert.doesNotMatch(write('file'), /^cred SIGNING/m);
  assert.match(write('encrypted'), /^cred SIGNING dg==$/m);
});

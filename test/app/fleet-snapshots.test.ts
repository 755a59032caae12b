// `ui` keeps the loaded fleet while its files are unchanged: the same answers for requests
// with nothing changed; a new answer after a manifest is edited, added or removed, a new
// project directory appears or the inventory changes; the layout kept when the graph is the same.
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FleetSnapshots } from '../../src/app/fleet-snapshots.js';
import { packageRoot } from '../../src/package-root.js';

describe('FleetSnapshots', () => {
  let root = '';
  let snapshots: FleetSnapshots;
  const serviceIds = async () => (await snapshots.answers()).graph().services.map((s) => s.id);

  before(() => {
    root = mkdtempSync(join(tmpdir(), 'manage-apps-snapshot-'));
    cpSync(join(packageRoot(), 'examples/fleet'), root, { recursive: true });
    snapshots = new FleetSnapshots({ root });
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  test('nothing changed: the same load answers again, and the page is built once', async () => {
    const first = await snapshots.answers();
    assert.equal(await snapshots.answers(), first);
    let builds = 0;
    const make = async () => `page ${++builds}`;
    assert.equal(await snapshots.page(make), 'page 1');
    assert.equal(await snapshots.page(make), 'page 1');
    // Requests that meet a rebuild wait for that one rebuild.
    writeFileSync(join(root, 'projects/beacon/.infra.yaml'), `${readFileSync(join(root, 'projects/beacon/.infra.yaml'), 'utf8')}\n`);
    const [a, b] = await Promise.all([snapshots.answers(), snapshots.answers()]);
    assert.equal(a, b);
    assert.notEqual(a, first);
  });

  test('an edited manifest is loaded again', async () => {
    const before = await snapshots.answers();
    const file = join(root, 'projects/beacon/.infra.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('port: 3070', 'port: 3071'));
    const after = await snapshots.answers();
    assert.notEqual(after, before);
    assert.equal(after.graph().services.find((s) => s.id === 'beacon')?.port, 3071);
  });

  test('a manifest added in a new project directory, then removed, is seen each time', async () => {
    mkdirSync(join(root, 'projects/newbie'));
    writeFileSync(
      join(root, 'projects/newbie/.infra.yaml'),
      'apiVersion: infra/v2\nproject: newbie\nprovider: vps\nservice:\n  host: vps-0\n  port: 3999\n  command: ./run\n',
    );
    assert.ok((await serviceIds()).includes('newbie'));
    rmSync(join(root, 'projects/newbie/.infra.yaml'));
    assert.ok(!(await serviceIds()).includes('newbie'));
  });

  test('an edited inventory is loaded again', async () => {
    const file = join(root, 'mesh-hosts.json');
    const inv = JSON.parse(readFileSync(file, 'utf8')) as { hosts: Record<string, { role?: string }> };
    inv.hosts['vps-0']!.role = 'staging';
    writeFileSync(file, JSON.stringify(inv, null, 2));
    assert.equal((await snapshots.answers()).graph().hosts.find((h) => h.name === 'vps-0')?.role, 'staging');
  });

  test('the layout is kept while the graph is the same, and made again when it changes', async () => {
    const layout = await snapshots.layoutFor((await snapshots.answers()).graph());
    assert.equal(await snapshots.layoutFor((await snapshots.answers()).graph()), layout);
    const file = join(root, 'projects/beacon/.infra.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('port: 3071', 'port: 3072'));
    assert.notEqual(await snapshots.layoutFor((await snapshots.answers()).graph()), layout);
  });
});

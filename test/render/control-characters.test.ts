// Issue 11 item 1: a line break in a project's directory name must never become a directive.
// A real directory named "proj⏎[Service]⏎ExecStartPre=/bin/touch /tmp/PWN⏎#" holds a manifest:
// validate reports it (rule control_character, located), it takes no part in the fleet, and no
// renderer (units, Caddyfiles, WireGuard, ssh config, OpenTofu, services map) emits the
// injected line, even when handed a model that carries the path (defence in depth).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { loadFleet } from '../../src/load/fleet.js';
import type { Fleet } from '../../src/fleet/model.js';
import { renderCaddy } from '../../src/render/caddy.js';
import { renderOpenTofu } from '../../src/render/opentofu.js';
import { renderServicesMap } from '../../src/render/services-map.js';
import { includedFile, managedBlock, renderSshHosts } from '../../src/render/ssh-config.js';
import { renderUnits } from '../../src/render/systemd-unit.js';
import { renderWireguard } from '../../src/render/wireguard.js';
import { cli } from '../helpers/tree.js';
import { copyFixture, FIXTURE, removeDir } from './helpers.js';

const INJECTED = 'ExecStartPre=/bin/touch /tmp/PWN';
const HOSTILE_DIR = `proj\n[Service]\n${INJECTED}\n#`;
let root = '';

before(async () => {
  const api = await readFile(join(FIXTURE, 'api/.infra.yaml'), 'utf8');
  const evil = api.replace('project: api', 'project: evil').replace('port: 3030', 'port: 3999').replace('api.example.com', 'evil.example.com');
  root = await copyFixture({ [`${HOSTILE_DIR}/.infra.yaml`]: evil });
});

after(async () => {
  await removeDir(root);
});

/** Every line of every rendered text: none may be the injected directive. */
function assertNoInjection(texts: string[], where: string): void {
  for (const text of texts) {
    for (const line of text.split(/\r?\n/)) {
      assert.ok(!line.trimStart().startsWith('ExecStartPre'), `${where} rendered an injected line: ${JSON.stringify(line)}`);
    }
  }
}

function everyRendering(fleet: Fleet): Record<string, string[]> {
  const hosts = renderSshHosts(fleet);
  return {
    units: renderUnits(fleet).files.map((f) => f.content),
    caddy: renderCaddy(fleet).files.map((f) => f.content),
    wireguard: renderWireguard(fleet).files.map((f) => f.content),
    tofu: renderOpenTofu(fleet).files.map((f) => f.content),
    'ssh config': [managedBlock(hosts.text, fleet.inventoryFile), includedFile(hosts.text, fleet.inventoryFile)],
    'services map': [JSON.stringify(renderServicesMap(fleet), null, 2)],
  };
}

test('validate reports the directory as a located control_character problem (exit 1)', () => {
  const run = cli(['validate', '--root', root, '--json'], { env: { MANAGE_APPS_CACHE: '0' } });
  assert.equal(run.status, 1, run.stdout + run.stderr);
  const doc = JSON.parse(run.stdout) as { problems: { file: string; line: number; column: number; rule: string; message: string }[] };
  const found = doc.problems.filter((p) => p.rule === 'control_character');
  assert.equal(found.length, 1, run.stdout);
  assert.deepEqual([found[0]!.file, found[0]!.line, found[0]!.column], [`${HOSTILE_DIR}/.infra.yaml`, 1, 1]);
  // The human report shows the path on one line, with the line breaks escaped.
  const human = cli(['validate', '--root', root], { env: { MANAGE_APPS_CACHE: '0', NO_COLOR: '1' } });
  assert.match(human.stdout, /error \[control_character\] proj\\n\[Service\]\\nExecStartPre=\/bin\/touch \/tmp\/PWN\\n#\/\.infra\.yaml:1:1/);
  assertNoInjection([human.stdout, human.stderr], 'validate');
});

test('the manifest takes no part in the fleet, and nothing rendered from the fleet carries the line', async () => {
  const loaded = await loadFleet({ root });
  assert.ok(!loaded.fleet.services.some((s) => s.project === 'evil'), 'the hostile manifest is skipped');
  assert.ok(
    loaded.fleet.services.some((s) => s.project === 'api'),
    'the others are still there',
  );
  for (const [name, texts] of Object.entries(everyRendering(loaded.fleet))) assertNoInjection(texts, name);
});

test('renderers handed the hostile path anyway (manifest, inventory file, service id) keep it inside one comment line', async () => {
  const loaded = await loadFleet({ root: FIXTURE });
  const fleet: Fleet = {
    ...loaded.fleet,
    inventoryFile: `${HOSTILE_DIR}/mesh-hosts.json`,
    services: loaded.fleet.services.map((s) => ({
      ...s,
      manifest: `${HOSTILE_DIR}/.infra.yaml`,
      id: s.project === 'api' ? `api\n${INJECTED}` : s.id,
    })),
  };
  const rendered = everyRendering(fleet);
  for (const [name, texts] of Object.entries(rendered)) assertNoInjection(texts, name);
  // The renderings that carry the path still have it, visibly escaped, on their header lines.
  assert.ok(rendered['units']!.length > 0 && rendered['units']!.every((u) => u.split('\n')[0]!.includes('proj\\n[Service]\\nExecStartPre')));
  for (const unit of rendered['units']!) assert.equal(unit.split('\n').filter((l) => l === '[Service]').length, 1, unit);
  assert.ok(rendered['caddy']!.length > 0 && rendered['caddy']!.some((c) => c.includes('# api\\nExecStartPre')));
  assert.ok(rendered['wireguard']!.every((w) => w.split('\n')[0]!.includes('proj\\n[Service]')));
});

test('the CLI renderers print no injected line (units, net caddy)', () => {
  for (const command of [['units'], ['net', 'caddy']]) {
    const run = cli([...command, '--root', root], { env: { MANAGE_APPS_CACHE: '0' } });
    assertNoInjection([run.stdout], command.join(' '));
  }
});

// A host with no secrets yet gets one salt per command: `deploy --all` pushes each service's
// secrets on its own and side by side, and two services of one fresh host used to bring a salt
// each, so the second stopped with "the host's salt changed during the push" (nothing deployed).
// This machine (PID mode) runs the same write script as a remote host, without ssh.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { loadFleet } from '../../src/load/fleet.js';
import { Ops } from '../../src/ops/context.js';
import { SilentProgress } from '../../src/ops/progress.js';
import { DEFAULT_SETTINGS } from '../../src/ops/settings.js';
import { pushSecrets, secretsStatus } from '../../src/secrets/deliver.js';
import { SecretResolver } from '../../src/secrets/resolve.js';
import { newValue } from './helpers.js';

let root = '';
const env = { SHARED_VALUE: newValue('shared'), OWN_VALUE: newValue('own') };

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'manage-apps-fresh-salt-'));
  await writeFile(
    join(root, 'mesh-hosts.json'),
    JSON.stringify({ version: 1, hosts: { laptop: { provider: 'local', role: 'workstation', local: true } } }),
  );
  for (const [name, port, secrets] of [
    ['api', 47101, '    SHARED: { env: SHARED_VALUE }\n'],
    ['worker', 47102, '    SHARED: { env: SHARED_VALUE }\n    OWN: { env: OWN_VALUE }\n'],
  ] as const) {
    await mkdir(join(root, name));
    await writeFile(
      join(root, name, '.infra.yaml'),
      `apiVersion: infra/v2\nproject: ${name}\nenvironment: dev\nprovider: local\nservice:\n  host: laptop\n  port: ${port}\n` +
        `  command: node server.mjs\n  secrets:\n${secrets}`,
    );
  }
});

after(() => rm(root, { recursive: true, force: true }));

test('two services of a host with no salt yet, pushed side by side in one command: both delivered, one salt, both current', async () => {
  const loaded = await loadFleet({ root });
  const ops = new Ops(loaded.fleet, DEFAULT_SETTINGS);
  const resolver = new SecretResolver(env);
  const options = { dryRun: false, restart: false, sequential: false };
  const [a, b] = await Promise.all(loaded.fleet.services.map((s) => pushSecrets(ops, [s], options, new SilentProgress(), resolver)));
  const outcomes = [...a!.services, ...b!.services].map((r) => [r.id, r.outcome, r.reason ?? '']).sort();
  assert.deepEqual(
    outcomes.map(([id, outcome]) => [id, outcome]),
    [
      ['api', 'delivered'],
      ['worker', 'delivered'],
    ],
    JSON.stringify(outcomes),
  );
  const status = await secretsStatus(ops, loaded.fleet.services, resolver);
  const states = status.services.flatMap((s) => s.secrets.map((x) => `${s.id} ${x.name} ${x.state}`)).sort();
  assert.deepEqual(states, ['api SHARED current', 'worker OWN current', 'worker SHARED current']);
});

// A PID-mode service on this machine reading its secrets from the env file: `secrets push` of a
// changed value restarts it through its gate (the CLI does, after the write: nothing on the host
// supervises it), and a value that fails the gate puts the values before back and restarts on them.
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { freePort, json, runCli } from '../ops/helpers.js';
import { hashOf, newValue, SECRET_APP } from './helpers.js';

let root = '';
let port = 0;
let value = '';
const cli = (...a: string[]) => runCli([...a, '--root', root], { LOCAL_SHARED: value });
const served = async () => {
  const res = await fetch(`http://127.0.0.1:${port}/secret-hash`, { signal: AbortSignal.timeout(5000) });
  return (await res.text()).trim();
};

interface Pushed {
  services: { id: string; outcome: string; restart: { outcome: string; ok: boolean } | null; reverted?: { ok: boolean }; reason?: string }[];
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'manage-apps-secrets-pid-'));
  port = await freePort();
  await writeFile(
    join(root, 'mesh-hosts.json'),
    JSON.stringify({ version: 1, hosts: { laptop: { provider: 'local', role: 'workstation', local: true } } }),
  );
  await mkdir(join(root, 'api'));
  await writeFile(join(root, 'api', 'server.mjs'), SECRET_APP);
  await writeFile(
    join(root, 'api', '.infra.yaml'),
    `apiVersion: infra/v2\nproject: api\nenvironment: dev\nprovider: local\nservice:\n  host: laptop\n  port: ${port}\n` +
      `  command: SECRET_NAMES=SHARED node server.mjs\n  health: { timeout: 5s }\n  secrets:\n    SHARED: { env: LOCAL_SHARED }\n`,
  );
  value = newValue('first');
});

after(async () => {
  await runCli(['stop', '--root', root]);
  await rm(root, { recursive: true, force: true });
});

test('delivered before it runs: not restarted; started, it serves the hash of what it read', async () => {
  const push = await cli('secrets', 'push', '--json');
  assert.equal(push.status, 0, push.stdout + push.stderr);
  assert.deepEqual(
    json<Pushed>(push).services.map((s) => [s.id, s.outcome, s.restart]),
    [['api', 'delivered', null]],
  );
  const start = await cli('start');
  assert.equal(start.status, 0, start.stdout + start.stderr);
  assert.equal(await served(), hashOf(value));
});

test('a changed value: push restarts it through its gate and it serves the new one', async () => {
  value = newValue('second');
  const push = await cli('secrets', 'push', '--json');
  assert.equal(push.status, 0, push.stdout + push.stderr);
  const [row] = json<Pushed>(push).services;
  assert.equal(row?.outcome, 'delivered');
  assert.equal(row?.restart?.ok, true, push.stdout);
  assert.equal(await served(), hashOf(value));
  assert.ok(!push.stdout.includes(value));
});

test('a value that fails the gate: the values before are put back and it runs on them again', async () => {
  const good = value;
  value = newValue('bad');
  const push = await cli('secrets', 'push', '--ready-timeout', '3');
  assert.equal(push.status, 1, push.stdout + push.stderr);
  assert.match(push.stdout, /api\S* failed its readiness gate with the new value of SHARED/);
  assert.match(push.stdout, /runs the values before again/);
  assert.ok(!push.stdout.includes(value) && !push.stderr.includes(value));
  assert.equal(await served(), hashOf(good));
});

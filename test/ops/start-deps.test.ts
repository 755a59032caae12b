// Seed 004's gate, on this machine in PID mode: `manage-apps start atlilith apricot` brings up
// the DB, MinIO and mailpit atlilith depends on first, then atlilith (as `docker compose up`
// does); --no-deps starts only what is named; `stop` names the running services that depend
// on what it stopped (they degrade).
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, test } from 'node:test';
import { packageRoot } from '../../src/package-root.js';
import { makeTree } from '../helpers/tree.js';
import { freePort, json, runCli } from './helpers.js';

let root = '';

interface StartDoc {
  levels: string[][];
  results: { id: string; outcome: string }[];
  dependencies_added: { id: string; host: string; for: string[] }[];
}

interface StopDoc {
  results: { id: string; outcome: string }[];
  degraded: { id: string; host: string; needs: string[]; state: string }[];
}

const service = (project: string, port: number, deps: string[] = []) =>
  `apiVersion: infra/v2\nproject: ${project}\nprovider: local\nservice:\n  host: apricot\n  port: ${port}\n  command: node ../tiny-http.mjs\n  health: { timeout: 10s }\n${deps.length > 0 ? `  depends_on: [${deps.join(', ')}]\n` : ''}`;

before(async () => {
  const ports = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  root = await makeTree({
    'mesh-hosts.json': JSON.stringify({ hosts: { apricot: { provider: 'local', role: 'dev', local: true } } }),
    'atlilith-db/.infra.yaml': service('atlilith-db', ports[0]!),
    'atlilith-minio/.infra.yaml': service('atlilith-minio', ports[1]!),
    'mailpit/.infra.yaml': service('mailpit', ports[2]!),
    'atlilith/.infra.yaml': service('atlilith', ports[3]!, ['atlilith-db', 'atlilith-minio', 'mailpit']),
    'portal/.infra.yaml': service('portal', ports[4]!, ['atlilith']),
  });
  await copyFile(join(packageRoot(), 'examples/fleet/apps/tiny-http.mjs'), join(root, 'tiny-http.mjs'));
});

beforeEach(async () => {
  await runCli(['stop', '--root', root]);
});

after(async () => {
  await runCli(['stop', '--root', root]);
  await rm(root, { recursive: true, force: true });
});

test('start atlilith apricot: DB, MinIO and mailpit first, then atlilith; every one ready', async () => {
  const run = await runCli(['start', 'atlilith', 'apricot', '--root', root, '--json']);
  assert.equal(run.status, 0, run.stdout + run.stderr);
  const doc = json<StartDoc>(run);
  assert.deepEqual(doc.levels, [['atlilith-db', 'atlilith-minio', 'mailpit'], ['atlilith']]);
  assert.deepEqual(
    doc.results.map((r) => [r.id, r.outcome]),
    [
      ['atlilith-db', 'started'],
      ['atlilith-minio', 'started'],
      ['mailpit', 'started'],
      ['atlilith', 'started'],
    ],
  );
  assert.deepEqual(
    doc.dependencies_added.map((a) => [a.id, a.for]),
    [
      ['atlilith-db', ['atlilith']],
      ['atlilith-minio', ['atlilith']],
      ['mailpit', ['atlilith']],
    ],
  );
  const status = json<{ summary: { healthy: number } }>(
    await runCli(['status', 'atlilith-db', 'atlilith-minio', 'mailpit', 'atlilith', '--root', root, '--json']),
  );
  assert.equal(status.summary.healthy, 4);
});

test('transitively: start portal brings up atlilith and what atlilith needs; the human output says why each was added', async () => {
  const run = await runCli(['start', 'portal', '--root', root]);
  assert.equal(run.status, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /\+ atlilith on apricot: a dependency of portal \(--no-deps leaves it out\)/);
  assert.match(run.stdout, /\+ mailpit on apricot: a dependency of atlilith/);
  assert.match(run.stdout, /level 1: atlilith-db, atlilith-minio, mailpit\nlevel 2: atlilith\nlevel 3: portal/);
  assert.match(run.stdout, /5 services up\./);
});

test('--no-deps starts only what is named', async () => {
  const doc = json<StartDoc>(await runCli(['start', 'atlilith', '--no-deps', '--root', root, '--json']));
  assert.deepEqual(
    doc.results.map((r) => r.id),
    ['atlilith'],
  );
  assert.deepEqual(doc.dependencies_added, []);
});

test('stop atlilith-db names the running services that depend on it: they degrade', async () => {
  assert.equal((await runCli(['start', 'portal', '--root', root])).status, 0);
  const run = await runCli(['stop', 'atlilith-db', '--root', root, '--json']);
  assert.equal(run.status, 0, run.stdout + run.stderr);
  const doc = json<StopDoc>(run);
  assert.deepEqual(
    doc.results.map((r) => [r.id, r.outcome]),
    [['atlilith-db', 'stopped']],
  );
  assert.deepEqual(
    doc.degraded.map((d) => [d.id, d.needs, d.state]),
    [
      ['atlilith', ['atlilith-db'], 'running'],
      ['portal', ['atlilith-db'], 'running'],
    ],
  );
  const human = await runCli(['stop', 'mailpit', '--root', root]);
  assert.match(human.stdout, /! atlilith on apricot is still running without mailpit \(it depends on it\): it will degrade/);
  // What is not running does not degrade: nothing is named.
  await runCli(['stop', 'portal', 'atlilith', '--root', root]);
  assert.deepEqual(json<StopDoc>(await runCli(['stop', 'atlilith-minio', '--root', root, '--json'])).degraded, []);
});

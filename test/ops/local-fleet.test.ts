// The README's main command on a copy of the example fleet: its local dev services start in
// PID mode on this machine in dependency order, show healthy, and stop again; prod services on
// remote hosts are not touched (--env dev).
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { packageRoot } from '../../src/package-root.js';
import { freePort, json, runCli } from './helpers.js';

let root = '';

interface StatusDoc {
  hosts: { host: string; transport: string; reachable: boolean }[];
  services: { id: string; host: string; verdict: string; healthy: boolean; supervisor: string; state: { pid: number | null } | null }[];
  summary: { services: number; healthy: number };
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'manage-apps-example-'));
  await cp(join(packageRoot(), 'examples/fleet'), root, { recursive: true, filter: (src) => !src.includes('/.state') });
  // Ports of our own, so a developer's running example fleet is left alone.
  for (const project of ['sso', 'platform-api', 'web-fe']) {
    const file = join(root, 'projects', project, '.infra.dev.yaml');
    const text = await readFile(file, 'utf8');
    await writeFile(file, text.replace(/port: \d+/, `port: ${await freePort()}`));
  }
});

after(async () => {
  await runCli(['stop', '--root', root, '--env', 'dev']);
  await rm(root, { recursive: true, force: true });
});

test('start --env dev brings the dev services up in dependency order, each level ready first', async () => {
  const run = await runCli(['start', '--root', root, '--env', 'dev', '--json']);
  assert.equal(run.status, 0, run.stdout + run.stderr);
  const doc = json<{ levels: string[][]; results: { id: string; outcome: string; level: number }[] }>(run);
  assert.deepEqual(doc.levels, [['sso:dev'], ['platform-api:dev'], ['web-fe:dev']]);
  assert.deepEqual(
    doc.results.map((r) => [r.id, r.outcome]),
    [
      ['sso:dev', 'started'],
      ['platform-api:dev', 'started'],
      ['web-fe:dev', 'started'],
    ],
  );
  assert.equal(run.stderr, '', '--json prints nothing but the document');
  const files = await readdir(join(root, '.state'));
  assert.deepEqual(files.filter((f) => f.endsWith('.pid')).sort(), ['platform-api.dev.pid', 'sso.dev.pid', 'web-fe.dev.pid']);
});

test('status shows them healthy (readiness and liveness), from this machine, in PID mode', async () => {
  const run = await runCli(['status', '--root', root, '--env', 'dev', '--json']);
  assert.equal(run.status, 0, run.stdout);
  const doc = json<StatusDoc>(run);
  assert.deepEqual(
    doc.hosts.map((h) => [h.host, h.transport, h.reachable]),
    [['laptop', 'local', true]],
  );
  assert.equal(doc.summary.healthy, 3);
  for (const s of doc.services) assert.equal(s.supervisor, 'pid');
  const human = await runCli(['status', '--root', root, '--env', 'dev']);
  assert.match(human.stdout, /3 services: 3 healthy\./);
  assert.match(human.stdout.trimEnd().split('\n').pop() ?? '', /^Stop them with: manage-apps stop --root \S+ --env dev$/);
});

test('a second start finds them running and changes nothing', async () => {
  const before = json<StatusDoc>(await runCli(['status', '--root', root, '--env', 'dev', '--json']));
  const run = await runCli(['start', '--root', root, '--env', 'dev', '--json']);
  assert.equal(run.status, 0);
  assert.deepEqual(
    json<{ results: { outcome: string }[] }>(run).results.map((r) => r.outcome),
    ['running', 'running', 'running'],
  );
  const after = json<StatusDoc>(await runCli(['status', '--root', root, '--env', 'dev', '--json']));
  assert.deepEqual(
    after.services.map((s) => s.state?.pid),
    before.services.map((s) => s.state?.pid),
  );
});

test('logs shows the log file of a PID-mode service', async () => {
  const run = await runCli(['logs', 'sso', '--root', root, '--env', 'dev', '-n', '5']);
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /sso:dev listening on http:\/\/127\.0\.0\.1:\d+/);
});

test('stop walks the levels backwards; status then says stopped and exits 1', async () => {
  const run = await runCli(['stop', '--root', root, '--env', 'dev', '--json']);
  assert.equal(run.status, 0, run.stdout);
  const doc = json<{ levels: string[][]; results: { id: string; outcome: string }[] }>(run);
  assert.deepEqual(doc.levels, [['web-fe:dev'], ['platform-api:dev'], ['sso:dev']]);
  assert.deepEqual(
    doc.results.map((r) => r.outcome),
    ['stopped', 'stopped', 'stopped'],
  );
  const status = await runCli(['status', '--root', root, '--env', 'dev', '--json']);
  assert.equal(status.status, 1);
  assert.deepEqual(
    json<StatusDoc>(status).services.map((s) => s.verdict),
    ['stopped', 'stopped', 'stopped'],
  );
});

test('a target that matches nothing, or does not exist, is a usage error (exit 2)', async () => {
  const unknown = await runCli(['status', 'no-such-thing', '--root', root]);
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /unknown target "no-such-thing"/);
  const none = await runCli(['start', 'sso', '--root', root, '--env', 'staging']);
  assert.equal(none.status, 2);
  assert.match(none.stderr, /no service matches sso --env staging/);
});

test('deploy: a bare deploy is refused and says --all; --all (dry run) plans every service (README: "nothing means everything", deploy needs --all)', async () => {
  const tree = await mkdtemp(join(tmpdir(), 'manage-apps-deploy-all-'));
  try {
    await writeFile(
      join(tree, 'mesh-hosts.json'),
      JSON.stringify({ version: 1, hosts: { core: { provider: 'bare-metal', role: 'production', address: '10.0.0.11', user: 'ops' } } }),
    );
    for (const [project, port] of [
      ['api', 3030],
      ['web', 3040],
    ] as const) {
      await cp(join(packageRoot(), 'examples/fleet/apps'), join(tree, project, 'dist'), { recursive: true });
      await writeFile(
        join(tree, project, '.infra.yaml'),
        `apiVersion: infra/v2\nproject: ${project}\nprovider: bare-metal\nservice:\n  host: core\n  port: ${port}\n  command: node tiny-http.mjs\n  artifact: dist\n`,
      );
    }
    const bare = await runCli(['deploy', '--root', tree]);
    assert.equal(bare.status, 2, bare.stdout + bare.stderr);
    assert.match(bare.stderr, /deploy needs a target, or --all to deploy every service under the root/);
    const all = await runCli(['deploy', '--all', '--dry-run', '--json', '--root', tree]);
    assert.equal(all.status, 0, all.stdout + all.stderr);
    assert.deepEqual(
      json<{ plan: { id: string }[] }>(all)
        .plan.map((p) => p.id)
        .sort(),
      ['api', 'web'],
    );
    const both = await runCli(['deploy', 'api', '--all', '--root', tree]);
    assert.equal(both.status, 2);
    const readme = await readFile(join(packageRoot(), 'README.md'), 'utf8');
    assert.match(
      readme.replace(/\s+/g, ' '),
      /nothing means everything under the root, except for `deploy`, which ships everything only when asked to with `--all`/,
    );
  } finally {
    await rm(tree, { recursive: true, force: true });
  }
});

// start on a copy of the example fleet when things go wrong: the port is taken by another
// process, the dev manifests have a dependency cycle, a service fails and its dependents are
// skipped (and counted once), a failure's diagnosis shows only this start's log lines.
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, test } from 'node:test';
import { packageRoot } from '../../src/package-root.js';
import { freePort, json, runCli } from './helpers.js';

let root = '';
const ports: Record<string, number> = {};

interface StartDoc {
  levels: string[][];
  results: { id: string; outcome: string; ok: boolean; detail?: string; diagnosis?: { journal: string[] } }[];
  summary: { ok: number; failed: number; skipped: number };
}

const manifest = (project: string) => join(root, 'projects', project, '.infra.dev.yaml');

async function edit(project: string, change: (text: string) => string): Promise<void> {
  await writeFile(manifest(project), change(await readFile(manifest(project), 'utf8')));
}

const setCommand = (project: string, command: string) => edit(project, (t) => t.replace(/command: .*/, `command: ${command}`));

async function pidFiles(): Promise<string[]> {
  return (await readdir(join(root, '.state')).catch(() => [])).filter((f) => f.endsWith('.pid'));
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'manage-apps-start-failures-'));
  await cp(join(packageRoot(), 'examples/fleet'), root, { recursive: true, filter: (src) => !src.includes('/.state') });
  for (const project of ['sso', 'platform-api', 'web-fe']) {
    ports[project] = await freePort();
    await edit(project, (t) => t.replace(/port: \d+/, `port: ${ports[project]}`));
  }
});

// Each test from nothing running and no state, so one failing test cannot fail the next.
beforeEach(async () => {
  await runCli(['stop', '--root', root, '--env', 'dev']);
  await rm(join(root, '.state'), { recursive: true, force: true });
});

after(async () => {
  await runCli(['stop', '--root', root, '--env', 'dev']);
  await rm(root, { recursive: true, force: true });
});

test('start fails, naming the port, when another process already listens on it (exit 1)', async () => {
  const other = createServer((_req, res) => res.end('not sso'));
  await new Promise<void>((resolve) => other.listen(ports['sso'], '127.0.0.1', resolve));
  try {
    const run = await runCli(['start', 'sso', '--root', root, '--env', 'dev', '--json']);
    assert.equal(run.status, 1, run.stdout);
    const doc = json<StartDoc>(run);
    assert.equal(doc.results[0]?.outcome, 'failed');
    assert.match(doc.results[0]?.detail ?? '', new RegExp(`port ${ports['sso']} is already in use`));
    assert.deepEqual(doc.summary, { ok: 0, failed: 1, skipped: 0 });
    assert.deepEqual(await pidFiles(), [], 'nothing started');
  } finally {
    await new Promise((resolve) => other.close(resolve));
  }
});

test('a dependency cycle among the selected services: nothing starts (or stops), exit 1, the cycle named', async () => {
  // platform-api → sso → web-fe → platform-api (dev manifests only; → is "depends on").
  await edit('sso', (t) => t.replace('  health:', '  depends_on: [web-fe]\n  health:'));
  try {
    for (const action of ['start', 'stop', 'restart']) {
      const run = await runCli([action, '--root', root, '--env', 'dev']);
      assert.equal(run.status, 1, `${action}: ${run.stdout}${run.stderr}`);
      assert.match(run.stderr, /dependency cycle among the selected services: (\S+:dev → ){3}\S+:dev/);
      assert.equal(run.stdout, '');
    }
    const doc = json<{ error: { code: string; message: string } }>(await runCli(['start', '--root', root, '--env', 'dev', '--json']));
    assert.equal(doc.error.code, 'E_PROBLEMS');
    assert.match(doc.error.message, /platform-api:dev → sso:dev → web-fe:dev → platform-api:dev/);
    assert.deepEqual(await pidFiles(), [], 'nothing started');
    // start sso brings up what sso depends on, which is the cycle; with --no-deps the selection leaves it out and works.
    const withDeps = await runCli(['start', 'sso', '--root', root, '--env', 'dev']);
    assert.equal(withDeps.status, 1);
    assert.match(withDeps.stderr, /dependency cycle among the selected services/);
    const part = await runCli(['start', 'sso', '--no-deps', '--root', root, '--env', 'dev', '--json']);
    assert.equal(part.status, 0, part.stdout);
    assert.equal((await runCli(['stop', 'sso', '--root', root, '--env', 'dev'])).status, 0);
  } finally {
    await edit('sso', (t) => t.replace('  depends_on: [web-fe]\n', ''));
  }
});

test('a failed service and the dependents skipped for it are counted once each', async () => {
  await setCommand('sso', `node -e "process.exit(3)"`);
  try {
    const run = await runCli(['start', '--root', root, '--env', 'dev', '--json']);
    assert.equal(run.status, 1);
    const doc = json<StartDoc>(run);
    assert.deepEqual(
      doc.results.map((r) => [r.id, r.outcome]),
      [
        ['sso:dev', 'failed'],
        ['platform-api:dev', 'skipped'],
        ['web-fe:dev', 'skipped'],
      ],
    );
    assert.deepEqual(doc.summary, { ok: 0, failed: 1, skipped: 2 });
    const human = await runCli(['start', '--root', root, '--env', 'dev']);
    assert.equal(human.status, 1);
    assert.match(human.stdout, /^0 services up, 1 failed, 2 skipped\.$/m);
  } finally {
    await setCommand('sso', 'node ../../apps/tiny-http.mjs');
  }
});

test("a failed start's diagnosis shows this start's log lines only, not an earlier run's", async () => {
  await setCommand('sso', `node -e "console.error('first failure'); process.exit(3)"`);
  await runCli(['start', 'sso', '--root', root, '--env', 'dev']);
  await setCommand('sso', `node -e "console.error('second failure'); process.exit(3)"`);
  try {
    const doc = json<StartDoc>(await runCli(['start', 'sso', '--root', root, '--env', 'dev', '--json']));
    const journal = doc.results[0]?.diagnosis?.journal.join('\n') ?? '';
    assert.match(journal, /second failure/);
    assert.doesNotMatch(journal, /first failure/);
    assert.match(await readFile(join(root, '.state', 'sso.dev.log'), 'utf8'), /first failure/, 'the log itself keeps both');
  } finally {
    await setCommand('sso', 'node ../../apps/tiny-http.mjs');
  }
});

// The background process on real test hosts: drift, status, secrets status and validate answer
// with the same bytes and exit code through it as in their own process, on a deployed fleet with
// delivered secrets; the secrets' values resolve in the client's environment for each command
// (nothing of them kept between two), so a value changed in the client's environment makes the
// next `secrets status` say so, through the process as in its own.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { packageRoot } from '../../src/package-root.js';
import { realHostsSkipReason, TestFleet } from '../harness/test-fleet.js';
import { json, type CliRun } from '../ops/helpers.js';

const repo = packageRoot();
const skip = realHostsSkipReason();

describe('the background process on real hosts', { skip }, () => {
  let fleet: TestFleet;
  let work = '';
  let root = '';
  let runtime = '';
  const secrets = { DAEMON_TEST_KEY: 'first-value-of-the-key', DAEMON_TEST_TOKEN: 'first-value-of-the-token' };

  const cli = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> =>
    new Promise((resolve) => {
      const t0 = Date.now();
      const child = spawn(
        process.execPath,
        [
          join(repo, 'bin', 'manage-apps.js'),
          ...args,
          ...(args[0] === 'daemon' ? [] : ['--root', root]),
          ...(args[0] === 'daemon' || args[0] === 'validate' ? [] : ['--ssh-config', fleet.sshConfigPath]),
        ],
        {
          env: { ...process.env, NO_COLOR: '1', XDG_RUNTIME_DIR: runtime, MANAGE_APPS_CONTROL_DIR: join(work, 'ctl'), ...secrets, ...env },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
      child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
      child.on('close', (status) => resolve({ status, stdout, stderr, ms: Date.now() - t0 }));
    });
  const served = async () => json<{ requests: number }>(await cli(['daemon', 'status', '--json'])).requests;

  before(async () => {
    fleet = await TestFleet.up({ count: 2 }, { connectTimeoutSec: 5 });
    work = mkdtempSync(join(tmpdir(), 'manage-apps-daemon-hosts-'));
    runtime = join(work, 'runtime');
    mkdirSync(runtime, { mode: 0o700 });
    mkdirSync(join(work, 'ctl'), { mode: 0o700 });
    for (const h of fleet.hosts) await fleet.waitForSystemState(h);
    // Only what the fleet declares runs (drift finds nothing): the image's Caddy is not part of it.
    await Promise.all(fleet.hosts.map((h) => fleet.exec(h, ['sh', '-c', 'systemctl disable --now caddy.service >/dev/null 2>&1; true'])));
    root = join(work, 'root');
    mkdirSync(root);
    writeFileSync(
      join(root, 'mesh-hosts.json'),
      JSON.stringify({
        version: 1,
        hosts: Object.fromEntries(
          fleet.hosts.map((h) => [h.name, { alias: h.alias, address: h.address, provider: 'bare-metal', role: 'production' }]),
        ),
      }),
    );
    const app = readFileSync(join(repo, 'examples', 'fleet', 'apps', 'tiny-http.mjs'), 'utf8');
    for (const [i, h] of fleet.hosts.entries())
      for (const j of [1, 2]) {
        const project = `${h.name}-app${j}`;
        mkdirSync(join(root, project, 'app'), { recursive: true });
        writeFileSync(join(root, project, 'app', 'tiny-http.mjs'), app);
        writeFileSync(
          join(root, project, '.infra.yaml'),
          [
            'apiVersion: infra/v2',
            `project: ${project}`,
            'provider: bare-metal',
            'service:',
            `  host: ${h.name}`,
            `  port: ${9100 + i * 10 + j}`,
            '  command: node tiny-http.mjs',
            '  artifact: app',
            '  health: { timeout: 30s }',
            '  secrets:',
            '    SIGNING_KEY: { env: DAEMON_TEST_KEY }',
            '    API_TOKEN: { env: DAEMON_TEST_TOKEN, as: env }',
            '',
          ].join('\n'),
        );
      }
    const deployed = await cli(['deploy', '--all', '--json']);
    assert.equal(deployed.status, 0, `${deployed.stdout.slice(-2000)}\n${deployed.stderr.slice(-2000)}`);
    const pushed = await cli(['secrets', 'push', '--json']);
    assert.equal(pushed.status, 0, `${pushed.stdout.slice(-2000)}\n${pushed.stderr.slice(-2000)}`);
    const started = await cli(['daemon', 'start', '--json']);
    assert.equal(started.status, 0, started.stderr);
  });
  after(async () => {
    if (runtime) await cli(['daemon', 'stop']);
    await fleet?.down();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** The same command in its own process, then through the background process: same bytes (but for hosts' answer times) and exit code. */
  async function sameBothWays(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
    const before = await served();
    const own = await cli(args, { ...env, MANAGE_APPS_DAEMON: '0' });
    const through = await cli(args, env);
    // How long each host took to answer is the one thing two runs may not share.
    const timeless = (text: string) => text.replace(/"durationMs": \d+/g, '"durationMs": N');
    assert.equal(timeless(through.stdout), timeless(own.stdout), `stdout of ${args.join(' ')}`);
    assert.equal(through.stderr, own.stderr, `stderr of ${args.join(' ')}`);
    assert.equal(through.status, own.status, `exit code of ${args.join(' ')}`);
    assert.equal(await served(), before + 1, `${args.join(' ')} was served by the background process`);
    return through;
  }

  test('drift, status, secrets status and validate: the same --json bytes and exit code through the process', async () => {
    for (const args of [
      ['drift', '--json'],
      ['status', '--json'],
      ['secrets', 'status', '--json'],
      ['validate', '--json'],
      ['drift'],
      ['secrets', 'status'],
    ]) {
      const run = await sameBothWays(args);
      assert.equal(run.status, 0, `${args.join(' ')}: ${run.stdout.slice(0, 2000)} ${run.stderr}`);
    }
  });

  test("secrets resolve in the client's environment for each command: a changed value is seen at once, and the old one again after", async () => {
    const changed = await sameBothWays(['secrets', 'status', '--json'], { DAEMON_TEST_KEY: 'a-value-the-hosts-do-not-have' });
    assert.equal(changed.status, 1, changed.stdout.slice(0, 2000));
    assert.notEqual(changed.stdout, (await cli(['secrets', 'status', '--json'])).stdout);
    const unset = await sameBothWays(['secrets', 'status', '--json'], { DAEMON_TEST_KEY: '' });
    assert.notEqual(unset.status, 0);
    const back = await sameBothWays(['secrets', 'status', '--json']);
    assert.equal(back.status, 0, back.stdout.slice(0, 2000));
  });
});

// drift and secrets status open their ssh connections before the fleet is loaded (src/ops/prewarm.ts):
// on two real test hosts, counted by an ssh earlier on PATH that logs each invocation and runs the
// real one, each host gets exactly one ssh (the early one carries the host's script; a second
// would mean the early one went unused), and a connection opened for a host the command turns out
// not to need is ended without keeping the command waiting.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { realHostsSkipReason, TestFleet } from '../harness/test-fleet.js';
import { json, runCli } from './helpers.js';

describe('connections opened before the fleet is loaded', { skip: realHostsSkipReason(), timeout: 240_000 }, () => {
  let fleet: TestFleet;
  let work = '';
  let root = '';
  let log = '';
  let env: NodeJS.ProcessEnv = {};
  before(async () => {
    fleet = await TestFleet.up({ count: 2 }, { connectTimeoutSec: 5 });
    for (const h of fleet.hosts) await fleet.waitForSystemState(h);
    work = mkdtempSync(join(tmpdir(), 'manage-apps-prewarm-'));
    root = join(work, 'root');
    const [one, two] = fleet.hosts as [(typeof fleet.hosts)[number], (typeof fleet.hosts)[number]];
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
    // One service per host; only the first declares a secret.
    for (const [host, project, secrets] of [
      [one.name, 'alpha', '  secrets:\n    SIGNING_KEY: { env: PREWARM_TEST_KEY }\n'],
      [two.name, 'beta', ''],
    ] as const) {
      mkdirSync(join(root, project));
      writeFileSync(
        join(root, project, '.infra.yaml'),
        `apiVersion: infra/v2\nproject: ${project}\nprovider: bare-metal\nservice:\n  host: ${host}\n  port: 9001\n  command: /bin/sleep 600\n${secrets}`,
      );
    }
    const shim = join(work, 'shim');
    log = join(work, 'ssh.log');
    mkdirSync(shim);
    writeFileSync(
      join(shim, 'ssh'),
      `#!/bin/sh\ncase " $* " in *" -O "*) ;; *) for a; do prev=$dest; dest=$a; done; printf '%s\\n' "$prev" >> ${JSON.stringify(log)} ;; esac\nexec /usr/bin/ssh "$@"\n`,
    );
    chmodSync(join(shim, 'ssh'), 0o755);
    const control = join(work, 'cm');
    mkdirSync(control, { mode: 0o700 });
    env = { PATH: `${shim}:${process.env['PATH'] ?? ''}`, MANAGE_APPS_CONTROL_DIR: control, PREWARM_TEST_KEY: 'a-value-for-the-test' };
  });
  after(async () => {
    await fleet?.down();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** The hosts (ssh destinations) the last command opened a session to, sorted; the log is emptied. */
  const sessions = () => {
    const lines = readFileSync(log, 'utf8').split('\n').filter(Boolean).sort();
    writeFileSync(log, '');
    return lines;
  };
  const aliases = () => fleet.hosts.map((h) => h.alias).sort();

  test('drift: one ssh per host, and it carries the host script', async () => {
    writeFileSync(log, '');
    const r = await runCli(['drift', '--root', root, '--ssh-config', fleet.sshConfigPath, '--json'], env);
    // Nothing was deployed: the units are missing (exit 1), but every host was read.
    assert.equal(r.status, 1, r.stderr);
    const doc = json<{ hosts: { host: string; reachable: boolean }[] }>(r);
    assert.deepEqual(
      doc.hosts.map((h) => h.reachable),
      [true, true],
      r.stdout,
    );
    assert.deepEqual(sessions(), aliases());
  });

  test('secrets status: the host without secrets had its early connection ended; the other was read on its own', async () => {
    writeFileSync(log, '');
    const r = await runCli(['secrets', 'status', '--root', root, '--ssh-config', fleet.sshConfigPath, '--json'], env);
    assert.equal(r.status, 1, r.stderr); // delivered nowhere yet: missing
    const doc = json<{ services: { id: string; unreachable?: string; secrets: { state: string }[] }[] }>(r);
    assert.deepEqual(
      doc.services.map((s) => [s.id, s.unreachable ?? null, s.secrets.map((x) => x.state)]),
      [['alpha', null, ['missing']]],
      r.stdout,
    );
    assert.deepEqual(sessions(), aliases());
  });
});

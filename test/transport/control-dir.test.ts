// The ssh control directory (issue 20, item 7): when the home path is too long for a socket path,
// the CLI keeps its ControlPath sockets in <tmp>/manage-apps-<uid>/ssh. Another local user (a real
// account made here with useradd) who gets to a name on that path first could swap in a master
// socket of their own and receive every script the CLI sends. Each attack prepares the path as
// that user would, then runs a real command against a real test host: every one is refused with
// a located message, nothing is sent; the untouched path works and is made 0700.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { realHostsSkipReason, TestFleet } from '../harness/test-fleet.js';
import { json, runCli } from '../ops/helpers.js';
import { fleetRoot } from '../ops/real-fleet.js';

const HOST = 'alpha';

describe('ssh control directory: the whole path is checked', { skip: realHostsSkipReason(), timeout: 300_000 }, () => {
  let fleet: TestFleet;
  let root = '';
  let work = '';
  const attacker = `ma-cd-${process.pid % 100000}`;
  let attackerUid = 0;
  const uid = process.getuid!();

  /** A fresh shared temporary directory like /tmp (root-owned, 1777) and a home too long for a socket path. */
  const scene = (name: string) => {
    const tmp = join(work, name, 't');
    mkdirSync(tmp, { recursive: true });
    chmodSync(tmp, 0o1777);
    const home = join(work, name, 'a-home-directory-whose-path-is-far-too-long-for-a-unix-socket');
    mkdirSync(home, { recursive: true });
    return { tmp, home, parent: join(tmp, `manage-apps-${uid}`) };
  };
  const status = (env: { tmp: string; home: string }) =>
    runCli(['status', '--json', '--root', root, '--ssh-config', fleet.sshConfigPath, '--connect-timeout', '5'], {
      TMPDIR: env.tmp,
      HOME: env.home,
      MANAGE_APPS_CONTROL_DIR: undefined,
      MANAGE_APPS_CACHE: '0',
    });

  before(async () => {
    execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', attacker]);
    attackerUid = Number(execFileSync('id', ['-u', attacker], { encoding: 'utf8' }).trim());
    work = mkdtempSync(join(tmpdir(), 'macd-')); // short: the socket path must fit
    chmodSync(work, 0o755);
    fleet = await TestFleet.up({ names: [HOST] });
    root = await fleetRoot(fleet.hosts, {
      'app/.infra.yaml': `apiVersion: infra/v2\nproject: app\nprovider: bare-metal\nservice:\n  host: ${HOST}\n  systemd_unit: app.service\n`,
    });
  });

  after(async () => {
    await fleet?.down();
    for (const d of [root, work]) if (d) rmSync(d, { recursive: true, force: true });
    execFileSync('userdel', [attacker], { stdio: 'ignore' });
  });

  test('the fallback under the temporary directory works and is private', async () => {
    const env = scene('n');
    const r = await status(env);
    assert.equal(r.status, 1, r.stdout + r.stderr); // app.service does not exist: a problem, but the host answered
    const doc = json<{ hosts?: { host: string; reachable: boolean }[]; services: { id: string }[] }>(r);
    assert.equal(doc.services[0]?.id, 'app', r.stdout);
    assert.deepEqual(
      doc.hosts?.map((h) => [h.host, h.reachable]),
      [[HOST, true]],
      r.stdout,
    );
    const dir = join(env.parent, 'ssh');
    assert.equal(lstatSync(env.parent).mode & 0o7777, 0o700);
    assert.equal(lstatSync(dir).mode & 0o7777, 0o700);
    assert.ok(readdirSync(dir).length > 0, `the master socket lives in the checked directory: ${r.stdout}`);
    // A second run reuses it.
    assert.equal((await status(env)).status, 1);
  });

  test('a path another local user prepared is refused, nothing is sent', async () => {
    const attacks: { name: string; prepare: (env: ReturnType<typeof scene>) => void; why: RegExp }[] = [
      {
        name: 'the parent made first by another user (0755)',
        prepare: (e) => {
          mkdirSync(e.parent, { mode: 0o755 });
          chownSync(e.parent, attackerUid, attackerUid);
        },
        why: /manage-apps-\d+ is owned by uid \d+, not by you/,
      },
      {
        name: 'the parent made first by another user, writable by all',
        prepare: (e) => {
          mkdirSync(e.parent);
          chmodSync(e.parent, 0o777);
          chownSync(e.parent, attackerUid, attackerUid);
        },
        why: /is owned by uid \d+, not by you/,
      },
      {
        name: 'the parent and ssh made by another user',
        prepare: (e) => {
          mkdirSync(join(e.parent, 'ssh'), { recursive: true, mode: 0o700 });
          chownSync(e.parent, attackerUid, attackerUid);
          chownSync(join(e.parent, 'ssh'), attackerUid, attackerUid);
        },
        why: /is owned by uid \d+, not by you/,
      },
      {
        name: "the parent a link (another user's) to a directory of ours",
        prepare: (e) => {
          const ours = join(e.tmp, 'ours');
          mkdirSync(ours, { mode: 0o700 });
          symlinkSync(ours, e.parent);
          execFileSync('chown', ['-h', `${attacker}:${attacker}`, e.parent]);
        },
        why: /is a symbolic link/,
      },
      {
        name: 'the parent ours but writable by all (ssh can be renamed away and replaced)',
        prepare: (e) => {
          mkdirSync(e.parent);
          chmodSync(e.parent, 0o777);
        },
        why: /is writable by its group \(mode 777\)/,
      },
      {
        name: 'the temporary directory itself owned by another user',
        prepare: (e) => {
          chownSync(e.tmp, attackerUid, attackerUid);
        },
        why: /\/t is owned by uid \d+, not by root or you/,
      },
      {
        name: 'the temporary directory writable by all without the sticky bit',
        prepare: (e) => {
          chmodSync(e.tmp, 0o777);
        },
        why: /\/t is writable by its group \(mode 777\)/,
      },
    ];
    let refused = 0;
    for (const [i, attack] of attacks.entries()) {
      const env = scene(`a${i}`);
      attack.prepare(env);
      const r = await status(env);
      const sockets = existsSync(join(env.parent, 'ssh')) ? readdirSync(join(env.parent, 'ssh')).length : 0;
      const ok =
        r.status === 2 &&
        /the ssh control directory .* is not private: /.test(r.stderr) &&
        attack.why.test(r.stderr) &&
        !r.stderr.includes('    at ') &&
        sockets === 0;
      if (ok) refused++;
      else console.log(`not refused: ${attack.name}: exit ${r.status}\n${r.stderr}${r.stdout.slice(0, 500)}`);
    }
    console.log(`attacks refused: ${refused}/${attacks.length}`);
    assert.equal(refused, attacks.length);
  });
});

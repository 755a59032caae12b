// The launchd runtime's scripts under POSIX shells (dash and busybox sh), with a stand-in for
// launchctl on PATH: there is no launchd here. The stand-in records its argv and answers
// `launchctl print` in launchctl's format (top-level keys one tab deep, nested blocks deeper);
// for a domain `gui/<uid>` it has no session unless told. Only what writes nothing outside the
// test's directory runs here: status, stop, and an agent's start refused for want of a session
// (a daemon's start writes /Library/LaunchDaemons: not run on this machine, docs/launchd.md).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { hostStatusScript, parseHostStatus } from '../../src/runtime/host-status-script.js';
import { launchd, lifecycleScript } from '../../src/runtime/launchd.js';
import type { RuntimeService } from '../../src/runtime/types.js';

const SHELLS = [['dash'], ['busybox', 'sh']].filter((sh) => spawnSync(sh[0]!, [...sh.slice(1), '-c', 'true']).status === 0);

const daemon: RuntimeService = {
  id: 'mail-sync',
  key: 'mail-sync',
  readiness: '/readyz',
  liveness: '/livez',
  launchd: {
    label: 'manage-apps.mail-sync',
    domain: 'system',
    user: 'quinn',
    plistPath: '/Library/LaunchDaemons/manage-apps.mail-sync.plist',
    daemons: '/Library/LaunchDaemons',
    plist: '<plist/>',
    stdout: '/Library/Logs/manage-apps/manage-apps.mail-sync/out.log',
    stderr: '/Library/Logs/manage-apps/manage-apps.mail-sync/err.log',
  },
};
const agent: RuntimeService = {
  ...daemon,
  id: 'mac-sync',
  key: 'mac-sync',
  // An account this machine has (busybox sh runs its own `id`, so no stand-in can answer for another).
  launchd: {
    ...daemon.launchd!,
    label: 'manage-apps.mac-sync',
    domain: 'gui',
    user: 'nobody',
    plistPath: '~nobody/Library/LaunchAgents/manage-apps.mac-sync.plist',
  },
};

describe(
  'launchd scripts under POSIX sh with a launchctl stand-in',
  { skip: process.getuid?.() === 0 ? undefined : 'runs as root (no sudo in the scripts)' },
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'manage-apps-launchd-'));
    const log = join(dir, 'argv');
    after(() => rmSync(dir, { recursive: true, force: true }));
    const uid = spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).stdout.trim();
    writeFileSync(
      join(dir, 'launchctl'),
      `#!/bin/sh
printf '%s\\n' "$*" >> ${JSON.stringify(log)}
case "$1 $2" in
  'print system') echo 'system = {'; echo '}'; exit 0 ;;
  'print system/manage-apps.mail-sync')
    [ -f ${JSON.stringify(join(dir, 'booted-out'))} ] && { echo 'Could not find service "manage-apps.mail-sync" in domain for system'; exit 113; }
    printf 'system/manage-apps.mail-sync = {\\n\\tactive count = 1\\n\\tpath = /Library/LaunchDaemons/manage-apps.mail-sync.plist\\n\\ttype = LaunchDaemon\\n\\tstate = running\\n\\n\\tprogram = /bin/sh\\n\\tpid = 4242\\n\\truns = 3\\n\\tlast exit code = 1\\n\\n\\tproperties = {\\n\\t\\tstate = nested\\n\\t\\tpid = 1\\n\\t}\\n}\\n'; exit 0 ;;
  'print gui/'*) echo 'Bad request.'; echo 'Could not find domain for user gui: 501'; exit 113 ;;
  'bootout system/manage-apps.mail-sync') : > ${JSON.stringify(join(dir, 'booted-out'))}; exit 0 ;;
esac
exit 0
`,
    );
    chmodSync(join(dir, 'launchctl'), 0o755);
    const run = (shell: string[], script: string) => {
      rmSync(log, { force: true });
      const r = spawnSync(shell[0]!, [...shell.slice(1), '-c', script], { encoding: 'utf8', env: { PATH: `${dir}:/usr/bin:/bin`, LC_ALL: 'C' } });
      return { ...r, argv: existsSync(log) ? readFileSync(log, 'utf8').split('\n').slice(0, -1) : [] };
    };

    for (const shell of SHELLS) {
      test(`${shell.join(' ')}: status asks launchctl print once per job and reads its top-level keys, not the nested ones`, () => {
        rmSync(join(dir, 'booted-out'), { force: true });
        const input = { groups: [{ runtime: launchd, services: [daemon, agent] }] };
        const r = run(shell, hostStatusScript(input));
        assert.equal(r.status, 0, r.stderr);
        assert.deepEqual(r.argv, ['print system', 'print system/manage-apps.mail-sync', `print gui/${uid}`]);
        const report = parseHostStatus(input, r.stdout);
        assert.deepEqual(report.services[0]?.state, { load: 'loaded', active: 'active', sub: 'running', since: null, restarts: 2, pid: 4242 });
        // Nobody is logged in at the screen: the agent's domain does not exist.
        assert.equal(report.services[1]?.state?.load, 'no-session');
      });

      test(`${shell.join(' ')}: stop is launchctl bootout <domain>/<label>, then print until launchd no longer knows it`, () => {
        rmSync(join(dir, 'booted-out'), { force: true });
        const r = run(shell, lifecycleScript(daemon, 'stop', 1000));
        assert.equal(r.status, 0, r.stdout + r.stderr);
        assert.deepEqual(r.argv, ['bootout system/manage-apps.mail-sync', 'print system/manage-apps.mail-sync']);
        assert.match(r.stdout, /@@gate\tstopped\tunloaded system\/manage-apps.mail-sync/);
      });

      test(`${shell.join(' ')}: an agent's start without a GUI session says so and bootstraps nothing`, () => {
        const r = run(shell, lifecycleScript(agent, 'start', 1000));
        assert.equal(r.status, 1);
        assert.deepEqual(r.argv, [`print gui/${uid}`]);
        assert.match(r.stdout, /@@gate\tcrashed\tnobody is not logged in at the screen of this Mac: a LaunchAgent/);
      });
    }

    test('both shells ran', () => {
      assert.equal(SHELLS.length, 2, 'dash and busybox (apt-get install dash busybox)');
    });
  },
);

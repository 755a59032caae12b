// The launchd property lists, checked by a real parser: Python's plistlib reads each back to the
// same value (plutil -lint too where it exists: not on this Linux machine). The domain choice for
// both kinds of service, the calendar as launchd fields, and what launchd cannot take, located.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { launchdPlacement, launchdPlist, launchdSchedule, plistXml, renderPlist } from '../../src/runtime/launchd-plist.js';
import { find, inventory, loadTree } from '../helpers/tree.js';

/** A Mac service that opts in to launchd (service.launchd); `launchd:` in `service` replaces the empty block. */
const mac = (service: string, project = 'mail-sync') =>
  `apiVersion: infra/v2\nproject: ${project}\nprovider: mac\nservice:\n  host: mini\n${service.includes('launchd:') ? '' : '  launchd: {}\n'}${service}`;

/** The plist as Python's plistlib reads it (JSON of the value), or its error. */
function plistlib(xml: string): unknown {
  const r = spawnSync('python3', ['-c', 'import sys,json,plistlib; print(json.dumps(plistlib.loads(sys.stdin.buffer.read())))'], {
    input: xml,
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

async function service(yaml: string, project?: string) {
  const loaded = await loadTree({ 'mesh-hosts.json': inventory(), [`${project ?? 'p'}/.infra.yaml`]: yaml });
  return { loaded, service: loaded.fleet.services[0]! };
}

test('a Mac service without service.launchd stays in PID mode (launchd is opted in to until it has run on a real Mac)', async () => {
  const { service: s } = await service('apiVersion: infra/v2\nproject: p\nprovider: mac\nservice:\n  host: mini\n  user: quinn\n  command: ./p\n');
  assert.equal(s.supervisor, 'pid');
});

test('a standing service on a Mac is a LaunchDaemon in the system domain, run as service.user; plistlib reads it back', async () => {
  const { loaded, service: s } = await service(
    mac('  port: 4444\n  user: quinn\n  command: ./bin/mail-sync --smtp 127.0.0.1:1025\n  env_file: /etc/mail-sync/env\n'),
  );
  assert.deepEqual(loaded.problems, []);
  assert.equal(s.supervisor, 'launchd');
  const place = launchdPlacement(s);
  assert.equal(place.domain, 'system');
  assert.equal(place.plistPath, '/Library/LaunchDaemons/manage-apps.mail-sync.plist');
  const xml = renderPlist(s);
  assert.deepEqual(plistlib(xml), launchdPlist(s));
  assert.deepEqual(launchdPlist(s), {
    Label: 'manage-apps.mail-sync',
    ProgramArguments: [
      '/bin/sh',
      '-c',
      'set -a; [ -r /etc/mail-sync/env ] && . /etc/mail-sync/env; set +a; exec "$0" "$@"',
      '/srv/mail-sync/current/bin/mail-sync',
      '--smtp',
      '127.0.0.1:1025',
    ],
    WorkingDirectory: '/srv/mail-sync/current',
    UserName: 'quinn',
    EnvironmentVariables: { PORT: '4444' },
    RunAtLoad: true,
    KeepAlive: { SuccessfulExit: false },
    ThrottleInterval: 5,
    ProcessType: 'Standard',
    StandardOutPath: '/Library/Logs/manage-apps/manage-apps.mail-sync/out.log',
    StandardErrorPath: '/Library/Logs/manage-apps/manage-apps.mail-sync/err.log',
  });
  // The env file's values never reach the plist (a plist is world-readable).
  assert.doesNotMatch(xml, /PASSWORD|SECRET/);
  if (spawnSync('plutil', ['-help']).error === undefined) {
    const lint = spawnSync('plutil', ['-lint', '-'], { input: xml, encoding: 'utf8' });
    assert.equal(lint.status, 0, lint.stdout + lint.stderr);
  }
});

test('a service that needs the user’s session is a LaunchAgent in gui/<uid>, its plist in that user’s home; without a reason it is a located problem', async () => {
  const { loaded, service: s } = await service(
    mac(
      '  port: 3100\n  user: quinn\n  command: node sync.js\n  launchd:\n    session: gui\n    reason: reads iMessage from the Messages database\n',
      'mac-sync',
    ),
  );
  assert.deepEqual(loaded.problems, []);
  const place = launchdPlacement(s);
  assert.equal(place.domain, 'gui');
  assert.equal(place.plistPath, '~quinn/Library/LaunchAgents/manage-apps.mac-sync.plist');
  const value = plistlib(renderPlist(s)) as Record<string, unknown>;
  assert.equal(value['LimitLoadToSessionType'], 'Aqua');
  assert.equal(value['UserName'], undefined);
  const noReason = await service(mac('  user: quinn\n  command: node sync.js\n  launchd:\n    session: gui\n', 'mac-sync'));
  const p = find(noReason.loaded.problems, 'runtime');
  assert.match(p?.message ?? '', /a LaunchAgent runs only while its user is logged in at the screen/);
  assert.equal(p?.line, 9);
  const root = await service(mac('  command: ./daemon\n'));
  assert.match(find(root.loaded.problems, 'runtime')?.message ?? '', /a LaunchDaemon without an account would run as root/);
});

test('scheduled jobs on a Mac: StartCalendarInterval from the simple words; a systemd expression is a located problem', async () => {
  assert.deepEqual(launchdSchedule('hourly'), { StartCalendarInterval: { Minute: 0 } });
  assert.deepEqual(launchdSchedule('daily 03:30'), { StartCalendarInterval: { Hour: 3, Minute: 30 } });
  assert.deepEqual(launchdSchedule('weekly mon 04:30'), { StartCalendarInterval: { Weekday: 1, Hour: 4, Minute: 30 } });
  assert.deepEqual(launchdSchedule('every 20m'), { StartCalendarInterval: [{ Minute: 0 }, { Minute: 20 }, { Minute: 40 }] });
  assert.deepEqual(launchdSchedule('every 15s'), { StartInterval: 15 });
  const { loaded, service: s } = await service(mac('  user: quinn\n  kind: worker\n  command: ./sweep\n  schedule:\n    calendar: daily 03:00\n'));
  assert.deepEqual(loaded.problems, []);
  const value = plistlib(renderPlist(s)) as Record<string, unknown>;
  assert.deepEqual(value['StartCalendarInterval'], { Hour: 3, Minute: 0 });
  assert.equal(value['RunAtLoad'], false);
  assert.equal(value['KeepAlive'], undefined);
  const expr = await service(mac('  user: quinn\n  kind: worker\n  command: ./sweep\n  schedule:\n    calendar: Mon..Fri *-*-* 09:00\n'));
  const p = find(expr.loaded.problems, 'runtime');
  assert.match(p?.message ?? '', /launchd cannot run "Mon..Fri \*-\*-\* 09:00"/);
  assert.equal(p?.line, 11);
});

test('the XML escapes what it must and refuses what a plist cannot carry', () => {
  const xml = plistXml({ Label: 'a&b<c>', ProgramArguments: ['/bin/sh', '-c', 'echo "x" > /dev/null'] });
  assert.deepEqual(plistlib(xml), { Label: 'a&b<c>', ProgramArguments: ['/bin/sh', '-c', 'echo "x" > /dev/null'] });
  assert.throws(() => plistXml({ Label: 'bell\u0007' }), /control character/);
});

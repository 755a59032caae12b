/**
 * service.schedule: the simple words, the rendered unit and timer (read by the real
 * systemd-analyze verify), validation with the real `systemd-analyze calendar` (located errors),
 * and a job counted as production work by impact and the independence check.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { analyzeImpact } from '../../src/analysis/impact.js';
import { checkIndependence } from '../../src/analysis/independence.js';
import { FleetIndex } from '../../src/analysis/topology.js';
import { jobSchedule, onCalendarOf, ScheduleWordsError } from '../../src/fleet/schedule.js';
import { renderTimer, renderUnit } from '../../src/render/systemd-unit.js';
import { requireTool } from '../render/helpers.js';
import { find, inventory, loadTree } from '../helpers/tree.js';

const job = (schedule: string, service = '') =>
  `apiVersion: infra/v2\nproject: sweep\nprovider: bare-metal\nservice:\n  host: core\n  kind: worker\n  command: ./sweep --once\n${service}  schedule:\n${schedule}`;

test('simple words become systemd calendar expressions; systemd expressions pass as written', () => {
  assert.equal(onCalendarOf('hourly'), 'hourly');
  assert.equal(onCalendarOf('daily 03:00'), '*-*-* 03:00:00');
  assert.equal(onCalendarOf('daily 3:05'), '*-*-* 03:05:00');
  assert.equal(onCalendarOf('weekly mon 04:30'), 'Mon *-*-* 04:30:00');
  assert.equal(onCalendarOf('hourly :15'), '*-*-* *:15:00');
  assert.equal(onCalendarOf('every 10s'), '*-*-* *:*:00/10');
  assert.equal(onCalendarOf('every 5m'), '*-*-* *:00/5:00');
  assert.equal(onCalendarOf('every 2h'), '*-*-* 00/2:00:00');
  assert.equal(onCalendarOf('Mon..Fri *-*-* 09:00'), 'Mon..Fri *-*-* 09:00');
  assert.throws(() => onCalendarOf('daily 25:00'), ScheduleWordsError);
  assert.throws(() => onCalendarOf('every 7m'), /does not divide an hour evenly/);
  const s = jobSchedule({ calendar: 'hourly', timeout: '50m', randomized_delay: '5m' });
  assert.deepEqual(s, { calendar: 'hourly', onCalendar: 'hourly', timeoutS: 3000, catchUp: true, randomizedDelayS: 300, graceS: 3300 });
  assert.equal(jobSchedule({ calendar: 'daily', catch_up: false, grace: 60 }).graceS, 60);
});

test('the job unit is a hardened oneshot with its run record; the timer says when; systemd-analyze verify reads both', async (t) => {
  const loaded = await loadTree({
    'mesh-hosts.json': inventory(),
    'sweep/.infra.yaml': job('    calendar: daily 03:00\n    timeout: 20m\n    randomized_delay: 90s\n    catch_up: false\n'),
  });
  assert.deepEqual(loaded.problems, []);
  const s = loaded.fleet.services[0]!;
  const unit = renderUnit(s, undefined);
  for (const line of ['Type=oneshot', 'TimeoutStartSec=1200', 'ExecStart=/srv/sweep/current/sweep --once', 'DynamicUser=yes', 'ProtectSystem=strict'])
    assert.ok(unit.split('\n').includes(line), `${line}\n${unit}`);
  assert.doesNotMatch(unit, /^Restart=/m);
  assert.doesNotMatch(unit, /WantedBy=multi-user.target/);
  assert.match(unit, /^ExecCondition=\+\/bin\/sh -c /m);
  assert.match(unit, /^ExecStopPost=\+\/bin\/sh -c /m);
  const timer = renderTimer(s, undefined);
  for (const line of [
    'OnCalendar=*-*-* 03:00:00',
    'Persistent=false',
    'RandomizedDelaySec=90',
    'AccuracySec=1s',
    'Unit=sweep.service',
    'WantedBy=timers.target',
  ])
    assert.ok(timer.split('\n').includes(line), `${line}\n${timer}`);
  if (!requireTool(t, 'systemd-analyze', 'apt-get install systemd')) return;
  const dir = mkdtempSync(join(tmpdir(), 'manage-apps-job-'));
  try {
    writeFileSync(join(dir, 'sweep.service'), unit);
    writeFileSync(join(dir, 'sweep.timer'), timer);
    const v = spawnSync('systemd-analyze', ['verify', '--man=no', join(dir, 'sweep.timer'), join(dir, 'sweep.service')], { encoding: 'utf8' });
    // The working directory and program exist only on the host: that is all verify may say.
    const said = `${v.stdout}${v.stderr}`.split('\n').filter((l) => l.trim() !== '' && !/\/srv\/sweep\/current/.test(l));
    assert.deepEqual(said, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('validate: a calendar systemd rejects is located at schedule.calendar with systemd-analyze’s reason; words it cannot read too', async (t) => {
  if (!requireTool(t, 'systemd-analyze', 'apt-get install systemd')) return;
  const bad = await loadTree({ 'mesh-hosts.json': inventory(), 'sweep/.infra.yaml': job('    calendar: "*-*-* 25:00"\n') });
  const p = find(bad.problems, 'schedule');
  assert.ok(p, JSON.stringify(bad.problems));
  assert.equal(p.file, 'sweep/.infra.yaml');
  assert.equal(p.line, 9);
  assert.match(p.message, /systemd rejects the calendar "\*-\*-\* 25:00": Invalid argument/);
  const words = await loadTree({ 'mesh-hosts.json': inventory(), 'sweep/.infra.yaml': job('    calendar: every 7m\n') });
  assert.match(find(words.problems, 'schedule')?.message ?? '', /"every 7m" does not divide an hour evenly/);
  const good = await loadTree({ 'mesh-hosts.json': inventory(), 'sweep/.infra.yaml': job('    calendar: Mon..Fri *-*-* 09:00\n') });
  assert.deepEqual(good.problems, []);
});

test('validate: a job has no port, no swap, a command, and a host that runs timers', async () => {
  const withPort = await loadTree({ 'mesh-hosts.json': inventory(), 'sweep/.infra.yaml': job('    calendar: hourly\n', '  port: 8080\n') });
  assert.match(find(withPort.problems, 'schedule')?.message ?? '', /a scheduled job has no port/);
  const onMac = await loadTree({
    'mesh-hosts.json': inventory(),
    'sweep/.infra.yaml': job('    calendar: hourly\n').replace('host: core', 'host: mini').replace('provider: bare-metal', 'provider: mac'),
  });
  assert.match(find(onMac.problems, 'schedule')?.message ?? '', /PID mode starts nothing on a schedule/);
});

test('impact and the independence check count a scheduled job as production work', async () => {
  const loaded = await loadTree({
    'mesh-hosts.json': inventory(),
    'sweep/.infra.yaml': job('    calendar: hourly\n').replace('host: core', 'host: devbox'),
  });
  const index = new FleetIndex(loaded.fleet);
  assert.deepEqual(
    analyzeImpact(index, ['devbox']).down.map((s) => s.id),
    ['sweep'],
  );
  const r = checkIndependence(index);
  assert.equal(r.ok, false);
  assert.deepEqual(
    r.hosts.find((h) => h.host === 'devbox')?.down.map((s) => s.id),
    ['sweep'],
  );
});

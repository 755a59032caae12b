/** units: golden unit files, ExecStart quoting, renderUnit for deploy, idempotent --write, and `systemd-analyze verify`. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { units } from '../../src/cli/commands/render/units.js';
import type { Service } from '../../src/fleet/model.js';
import { execStart, parseCommand, quoteExecWord, renderUnit, renderUnits, UnitError } from '../../src/render/systemd-unit.js';
import { copyFixture, expectGolden, FIXTURE, loadFixture, removeDir, requireTool, run, tempDir } from './helpers.js';

const FILES = ['core/api.service', 'core/cron.service', 'core/worker.service', 'edge/web.service'];

test('units: golden unit files; v1 units, edge packages and PID-mode services are listed, not rendered', async () => {
  const { loaded, locator } = await loadFixture();
  const out = renderUnits(loaded.fleet, locator);
  assert.deepEqual(out.problems, []);
  assert.deepEqual(
    out.files.map((f) => f.path),
    FILES,
  );
  for (const f of out.files) await expectGolden(`units/${f.path}`, f.content);
  assert.deepEqual(out.skipped, [
    { name: 'api:dev', reason: 'PID mode (local or mac): no systemd unit' },
    { name: 'edge', reason: 'caddy.service: installed outside manage-apps (no command to render a unit from)' },
    { name: 'legacy', reason: 'legacy.service: managed by its deploy script (no command to render a unit from)' },
    { name: 'macapp', reason: 'PID mode (local or mac): no systemd unit' },
  ]);
  const api = out.files[0]!.content;
  for (const line of [
    'User=api',
    'WorkingDirectory=/srv/api/current',
    'EnvironmentFile=-/etc/api/env',
    'Environment=PORT=3030',
    'ExecStart=node server.js',
    'Restart=on-failure',
    'RestartSec=5s',
    'WantedBy=multi-user.target',
  ]) {
    assert.ok(api.split('\n').includes(line), line);
  }
});

test('renderUnit (what deploy installs) is pure and deterministic; releaseDir pins the working directory', async () => {
  const { loaded } = await loadFixture();
  const web = loaded.fleet.services.find((s) => s.id === 'web')!;
  const host = loaded.fleet.hosts.find((h) => h.name === 'edge');
  const text = renderUnit(web, host);
  assert.equal(renderUnit(structuredClone(web), structuredClone(host)), text);
  assert.equal(renderUnit(web, host), renderUnits((await loadFixture()).loaded.fleet).files.find((f) => f.path === 'edge/web.service')!.content);
  // The whole set: same bytes whatever order the services and hosts come in.
  const reversed = { ...loaded.fleet, services: [...loaded.fleet.services].reverse(), hosts: [...loaded.fleet.hosts].reverse() };
  assert.deepEqual(renderUnits(reversed), renderUnits(loaded.fleet));
  assert.match(text, /^ExecStart=\/opt\/web\/current\/bin\/web --listen 127\.0\.0\.1$/m);
  const pinned = renderUnit(web, host, { releaseDir: '/opt/web/releases/20240101' });
  assert.match(pinned, /^WorkingDirectory=\/opt\/web\/releases\/20240101$/m);
  assert.match(pinned, /^ExecStart=\/opt\/web\/releases\/20240101\/bin\/web /m);
  assert.throws(() => renderUnit({ ...web, command: undefined } as Service, host), UnitError);
});

test('ExecStart: direct argv when no shell is needed, /bin/sh -c otherwise; % and $ never expanded by systemd', () => {
  assert.deepEqual(parseCommand(`node dist/x.js --name "a b" 'c d' e\\ f`), {
    words: ['node', 'dist/x.js', '--name', 'a b', 'c d', 'e f'],
    shell: false,
  });
  for (const shellish of [
    'a | b',
    'a && b',
    'a; b',
    'a > log',
    'node $ENTRY',
    'echo "$HOME"',
    'ls *.js',
    'cd ~',
    'A=1 node x',
    'a `b`',
    'x # comment',
  ]) {
    assert.equal(parseCommand(shellish).shell, true, shellish);
  }
  assert.throws(() => parseCommand('node "x'), /unclosed double quote/);
  assert.throws(() => parseCommand("node 'x"), /unclosed single quote/);
  assert.throws(() => parseCommand('   '), /empty/);
  assert.equal(quoteExecWord('plain/path.js'), 'plain/path.js');
  assert.equal(quoteExecWord('50%'), '50%%');
  assert.equal(quoteExecWord('$HOME'), '"$$HOME"');
  assert.equal(quoteExecWord('say "hi"\\n'), '"say \\"hi\\"\\\\n"');
  assert.equal(quoteExecWord(''), '""');
  assert.equal(quoteExecWord('a\nb'), '"a\\nb"');
  assert.equal(execStart('./bin/app serve', '/srv/app/current'), '/srv/app/current/bin/app serve');
  assert.equal(execStart('bin/app', '/srv/app/current'), '/srv/app/current/bin/app');
  assert.equal(execStart('../shared/app', '/srv/app/current'), '/srv/app/shared/app');
  assert.equal(execStart('/usr/bin/python3 -m app', '/srv/app/current'), '/usr/bin/python3 -m app');
  assert.equal(execStart('python3 -m app', '/srv/app/current'), 'python3 -m app');
  assert.equal(execStart(`node x.js | tee -a "out log"`, '/w'), '/bin/sh -c "node x.js | tee -a \\"out log\\""');
  assert.throws(() => execStart('-x', '/w'), /ExecStart prefix/);
});

test('units: an unrenderable command is located at service.command; nothing is rendered', async () => {
  const root = await copyFixture({
    'api/.infra.yaml': 'apiVersion: infra/v2\nproject: api\nprovider: bare-metal\nservice:\n  host: core\n  port: 3030\n  command: node "server.js\n',
  });
  try {
    const r = await units({ root });
    assert.equal(r.exitCode, 1);
    const json = r.json as { files: unknown[]; problems: { file: string; line: number; column: number; rule: string; message: string }[] };
    assert.deepEqual(json.files, []);
    // Loading finds it first: the unit_render rule validate runs.
    assert.deepEqual(
      json.problems.map((p) => [p.file, p.line, p.column, p.rule, p.message]),
      [['api/.infra.yaml', 7, 12, 'unit_render', 'api: the command has an unclosed double quote']],
    );
  } finally {
    await removeDir(root);
  }
});

test('units --write --out: <host>/<unit>, unchanged on the second run; --check; --host', async () => {
  const dir = await tempDir();
  try {
    assert.equal((await units({ root: FIXTURE, write: true, out: dir })).exitCode, 0);
    assert.deepEqual((await readdir(join(dir, 'core'))).sort(), ['api.service', 'cron.service', 'worker.service']);
    const mtimes = await Promise.all(FILES.map(async (f) => (await stat(join(dir, f))).mtimeMs));
    const again = await units({ root: FIXTURE, write: true, out: dir });
    assert.deepEqual(
      (again.json as { files: { status: string }[] }).files.map((f) => f.status),
      FILES.map(() => 'unchanged'),
    );
    assert.deepEqual(await Promise.all(FILES.map(async (f) => (await stat(join(dir, f))).mtimeMs)), mtimes);
    assert.equal((await units({ root: FIXTURE, check: true, out: dir })).exitCode, 0);
    await writeFile(join(dir, 'core/api.service'), 'changed\n');
    assert.equal((await units({ root: FIXTURE, check: true, out: dir })).exitCode, 1);
    const one = await units({ root: FIXTURE, host: 'edge' });
    assert.deepEqual(
      (one.json as { files: { path: string }[] }).files.map((f) => f.path),
      ['edge/web.service'],
    );
    // --host: skip notes only about that host's services.
    const hostsOfSkipped = (one.json as { skipped: { name: string }[] }).skipped.map((x) => x.name);
    const all = (await units({ root: FIXTURE })).json as { skipped: { name: string }[] };
    assert.ok(hostsOfSkipped.length < all.skipped.length, JSON.stringify({ hostsOfSkipped, all: all.skipped }));

    // A unit an earlier rendering wrote, for a service that is gone: reported as stale (never deleted);
    // --check fails on it. A file of the user's (no manage-apps header) and backups are left alone.
    await units({ root: FIXTURE, write: true, out: dir }); // puts back the api.service edited above
    await writeFile(join(dir, 'core/gone.service'), '# gone.service: rendered by manage-apps from gone/.infra.yaml; do not edit by hand.\n');
    await writeFile(join(dir, 'core/notes.txt'), 'mine\n');
    const stale = await units({ root: FIXTURE, check: true, out: dir });
    assert.equal(stale.exitCode, 1);
    const files = (stale.json as { files: { path: string; status: string }[] }).files;
    assert.deepEqual(
      files.filter((f) => f.status !== 'up-to-date').map((f) => [f.path.slice(dir.length + 1), f.status]),
      [['core/gone.service', 'stale']],
    );
    assert.equal((await readFile(join(dir, 'core/gone.service'), 'utf8')).length > 0, true);
    assert.equal((await units({ root: FIXTURE, check: true, out: dir, host: 'edge' })).exitCode, 0, "another host's leftovers are not this host's");
  } finally {
    await removeDir(dir);
  }
});

test('systemd-analyze verify accepts every rendered unit, with no warning', async (t) => {
  const analyze = requireTool(t, 'systemd-analyze', 'apt-get install systemd');
  if (!analyze) return;
  const dir = await tempDir();
  try {
    const { loaded } = await loadFixture();
    const rendered = loaded.fleet.services.filter((s) => s.command !== undefined && s.supervisor === 'systemd');
    // verify checks that ExecStart's program exists: relative programs live under a real service directory here.
    const extra: Service[] = [
      { ...rendered[0]!, id: 'sleeper', project: 'sleeper', unit: 'sleeper.service', command: 'sleep 1000', runAs: undefined, envFile: undefined },
      {
        ...rendered[0]!,
        id: 'quoted',
        project: 'quoted',
        unit: 'quoted.service',
        command: `/bin/echo --queue "jobs high" --format '%d $HOME' "a\\"b" 'c\\d'`,
      },
    ];
    for (const service of [...rendered, ...extra]) {
      const serviceDir = join(dir, 'srv', service.project);
      const s = { ...service, directory: serviceDir };
      const program = parseCommand(s.command!).words?.[0];
      if (program !== undefined && program.includes('/') && !program.startsWith('/')) {
        const path = join(serviceDir, 'current', program);
        await mkdir(join(path, '..'), { recursive: true });
        await writeFile(path, '#!/bin/sh\nexit 0\n');
        await chmod(path, 0o755);
      }
      const unitDir = join(dir, 'units', service.project);
      await mkdir(unitDir, { recursive: true });
      const path = join(unitDir, s.unit!);
      await writeFile(
        path,
        renderUnit(
          s,
          loaded.fleet.hosts.find((h) => h.name === s.host),
        ),
      );
      const r = run(analyze, ['verify', '--man=no', path]);
      assert.equal(r.status, 0, `${s.unit}: ${r.stdout}${r.stderr}`);
      assert.equal(r.stdout + r.stderr, '', `${s.unit}: systemd-analyze printed: ${r.stdout}${r.stderr}`);
    }
  } finally {
    await removeDir(dir);
  }
});

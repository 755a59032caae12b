// The read of `secrets status` (and of push's first round trip), run by real shells: a local tree
// of generations (links, fingerprints files with comments) read by each sh this machine has (dash,
// the Debian default, and busybox's), by the shell itself and through the command a non-root
// operator's sudo runs, and on a real test host with real systemd units (active, inactive, one
// whose process started before its secrets switched, one after, in slices nested up to four deep,
// a oneshot that stays active after exiting).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  FINGERPRINT_HEADER,
  parseRead,
  parseWrite,
  readScript,
  writeScript,
  type GenerationWrite,
  type HostSecretsState,
  type SecretsDirTarget,
  type ServiceSecretsState,
} from '../../src/secrets/host-scripts.js';
import { serviceSecretsDir } from '../../src/secrets/layout.js';
import { quote } from '../../src/transport/quote.js';
import { realHostsSkipReason, TestFleet } from '../harness/test-fleet.js';

const FP = (name: string, delivery: string, hex: string) => `${name}\t${delivery}\thmac-sha256:${hex}`;

/** A tree as push leaves it: per service a generation directory, `current` (and maybe `previous`) links to generations. */
function writeTree(root: string): void {
  mkdirSync(root, { recursive: true });
  writeFileSync(join(root, 'salt'), `${'ab'.repeat(32)}\n`);
  const gen = (dir: string, name: string, fingerprints: string) => {
    mkdirSync(join(dir, name), { recursive: true });
    writeFileSync(join(dir, name, 'fingerprints'), fingerprints);
  };
  const a = serviceSecretsDir(root, 'prod', 'alpha');
  gen(a, 'g.2', `# fingerprints, written by manage-apps\n${FP('SIGNING_KEY', 'credential', 'aa')}\n\n${FP('API_TOKEN', 'env', 'bb')}\n`);
  gen(a, 'g.1', `${FP('SIGNING_KEY', 'credential', '00')}\n`);
  symlinkSync('g.2', join(a, 'current'));
  symlinkSync('g.1', join(a, 'previous'));
  // Nothing delivered yet, but a generation lies there (a push cut before its switch): not read.
  const b = serviceSecretsDir(root, 'prod', 'beta');
  gen(b, 'g.9', `${FP('SIGNING_KEY', 'credential', 'cc')}\n`);
  // Another environment (an id with a colon), an empty fingerprints file.
  const c = serviceSecretsDir(root, 'staging', 'gamma');
  gen(c, 'g.3', '# fingerprints\n');
  symlinkSync('g.3', join(c, 'current'));
}

const TARGETS: SecretsDirTarget[] = [
  { id: 'alpha', environment: 'prod', project: 'alpha' },
  { id: 'beta', environment: 'prod', project: 'beta' },
  { id: 'gamma:staging', environment: 'staging', project: 'gamma' },
  // Not on this host at all.
  { id: 'delta', environment: 'prod', project: 'delta' },
];

const plain = (state: HostSecretsState) => ({ ...state, services: Object.fromEntries(state.services) });

function expected(root: string): ReturnType<typeof plain> {
  const switched = (dir: string) => Math.floor(lstatSync(join(dir, 'current')).mtimeMs / 1000);
  const row = (id: string, current: string, previous: string, switchedAt: number, fingerprints: ServiceSecretsState['fingerprints']) => ({
    id,
    current,
    previous,
    switchedAt,
    runningOlder: false,
    active: false,
    fingerprints,
  });
  return {
    salt: 'ab'.repeat(32),
    creds: spawnSync('sh', ['-c', 'command -v systemd-creds']).status === 0,
    systemd: Number(/^systemd (\d+)/.exec(spawnSync('systemctl', ['--version'], { encoding: 'utf8' }).stdout ?? '')?.[1] ?? 0),
    services: {
      alpha: row('alpha', 'g.2', 'g.1', switched(serviceSecretsDir(root, 'prod', 'alpha')), [
        { name: 'SIGNING_KEY', delivery: 'credential', fingerprint: 'hmac-sha256:aa' },
        { name: 'API_TOKEN', delivery: 'env', fingerprint: 'hmac-sha256:bb' },
      ]),
      beta: row('beta', '', '', 0, []),
      'gamma:staging': row('gamma:staging', 'g.3', '', switched(serviceSecretsDir(root, 'staging', 'gamma')), []),
      delta: row('delta', '', '', 0, []),
    },
  };
}

describe('secrets read script on this machine', () => {
  let work = '';
  before(() => {
    work = mkdtempSync(join(tmpdir(), 'manage-apps-secrets-read-'));
    writeTree(join(work, 'secrets'));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  const shells: [string, string[]][] = [['dash', ['sh']]];
  if (existsSync('/usr/bin/busybox')) shells.push(['busybox sh', ['/usr/bin/busybox', 'sh']]);
  for (const [name, shell] of shells)
    for (const through of ['the shell', 'sudo'] as const)
      test(`every service's generations and fingerprints, read by ${name} through ${through}`, () => {
        const root = join(work, 'secrets');
        // The reads a host makes for a non-root login: each through `sudo -n` (here as root).
        const script = readScript(root, false, TARGETS);
        const input = through === 'sudo' ? script.replace(/^SUDO=$/m, "SUDO='sudo -n'") : script;
        if (through === 'sudo') assert.notEqual(input, script, 'the script sets SUDO for this machine');
        const r = spawnSync(shell[0]!, [...shell.slice(1), '-s'], { input, encoding: 'utf8' });
        assert.equal(r.status, 0, r.stderr);
        assert.deepEqual(plain(parseRead(r.stdout)), expected(root), r.stdout);
      });

  test("a process's start is taken at the latest it can be: never counted as older than a switch it may have followed", () => {
    // A host without /proc/PID/stat: the age from ps and now from date, both whole seconds rounded down.
    const read = (age: number, start?: number) =>
      parseRead(
        [
          '@@target\tsvc\tsvc.service\t/s/prod/svc',
          '@@link\t/s/prod/svc/current\tg.2\t1000.5',
          '@@unit\tsvc.service\tactive',
          ...(start === undefined ? [`@@age\tsvc.service\t7\t${age}`, '@@now\t1010'] : [`@@pid\tsvc.service\t7\t${start}`, '@@boot\t900']),
          '',
        ].join('\n'),
      ).services.get('svc')!.runningOlder;
    // now 1010 and age 10: it started between 1000 and 1001, maybe after the switch at 1000.5.
    assert.equal(read(10), false);
    assert.equal(read(11), true);
    // boot at 900 (900 to 901), 99.49 s after it: 999.49 to 1000.5, maybe after the switch.
    assert.equal(read(0, 9949), false);
    assert.equal(read(0, 9948), true);
  });

  test('no service: the salt and nothing else', () => {
    const root = join(work, 'secrets');
    const r = spawnSync('sh', ['-s'], { input: readScript(root, false, []), encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(parseRead(r.stdout).services.size, 0);
    assert.equal(parseRead(r.stdout).salt, 'ab'.repeat(32));
  });
});

describe('secrets read script on a real host with systemd units', { skip: realHostsSkipReason(), timeout: 180_000 }, () => {
  let fleet: TestFleet;
  before(async () => {
    fleet = await TestFleet.up({ count: 1 }, { connectTimeoutSec: 5 });
    await fleet.waitForSystemState(fleet.hosts[0]!);
  });
  after(async () => {
    await fleet?.down();
  });

  test('active and inactive units; a process older than its last switch is told from a newer one', async () => {
    const host = fleet.hosts[0]!;
    const root = '/var/lib/manage-apps/secrets';
    const dir = (p: string) => serviceSecretsDir(root, 'prod', p);
    // A tenant's unit runs in a slice in a slice (tenant.slice/tenant-acme.slice), one deeper still
    // in a third, one in a fourth (deeper than the read looks for cgroups: systemd is asked).
    const slice: Record<string, string> = { tenant: 'tenant-acme.slice', deep: 'tenant-acme-web.slice', deeper: 'tenant-acme-web-api.slice' };
    const unit = (p: string) =>
      p === 'exited'
        ? '[Unit]\nDescription=exited\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n'
        : `[Unit]\nDescription=${p}\n[Service]\nExecStart=/bin/sleep 600\n${slice[p] === undefined ? '' : `Slice=${slice[p]}\n`}`;
    const UNITS = ['older', 'newer', 'stopped', 'tenant', 'deep', 'deeper', 'exited'];
    const setup = [
      ...UNITS.map((p) => `printf '%s' ${quote(unit(p))} > /etc/systemd/system/${p}.service`),
      'systemctl daemon-reload',
      // stopped ran once and was stopped: systemd still has it loaded, with no process.
      'systemctl start older.service newer.service tenant.service deep.service deeper.service exited.service stopped.service',
      'systemctl stop stopped.service',
      // older switched after its process started (restart pending); newer switched before it.
      ...UNITS.map(
        (p) =>
          `mkdir -p ${dir(p)}/g.1 && printf '%s\\n' ${quote(FP('K', 'credential', p === 'older' ? '11' : '22'))} > ${dir(p)}/g.1/fingerprints && ln -s g.1 ${dir(p)}/current`,
      ),
      `touch -h -d '@'$(( $(date +%s) + 30 )) ${dir('older')}/current ${dir('tenant')}/current ${dir('deep')}/current ${dir('deeper')}/current ${dir('exited')}/current`,
      `touch -h -d '@'$(( $(date +%s) - 3600 )) ${dir('newer')}/current ${dir('stopped')}/current`,
      `printf '%s\\n' ${'cd'.repeat(32)} > ${root}/salt`,
    ].join(' && ');
    const made = await fleet.ssh(host, setup);
    assert.equal(made.exitCode, 0, made.stderr);
    assert.match(
      (await fleet.ssh(host, 'systemctl show -p ControlGroup --value tenant.service deep.service deeper.service')).stdout,
      /tenant\.slice\/tenant-acme\.slice\/tenant\.service\n[\s\S]*tenant-acme-web\.slice\/deep\.service\n[\s\S]*tenant-acme-web-api\.slice\/deeper\.service/,
    );
    const targets: SecretsDirTarget[] = [...UNITS, 'absent'].map((p) => ({
      id: p,
      environment: 'prod',
      project: p,
      unit: `${p}.service`,
    }));
    // systemctl on PATH records what it is asked: a unit's state is read from its cgroup, or from
    // its having none and no invocation; systemd is asked of a started unit with no cgroup there.
    const recorder = `mkdir -p /root/rec && printf '#!/bin/sh\\nprintf "%%s\\\\n" "$*" >> /root/rec/log\\nexec /usr/bin/systemctl "$@"\\n' > /root/rec/systemctl && chmod +x /root/rec/systemctl && : > /root/rec/log`;
    assert.equal((await fleet.ssh(host, recorder)).exitCode, 0);
    const r = await fleet.ssh(host, `PATH=/root/rec:$PATH sh -c ${quote(readScript(root, true, targets))}`);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.deepEqual((await fleet.ssh(host, 'cat /root/rec/log')).stdout.trim().split('\n').sort(), [
      'show -p ActiveState,MainPID -- deeper.service',
      'show -p ActiveState,MainPID -- exited.service',
    ]);
    const state = parseRead(r.stdout);
    assert.equal(state.salt, 'cd'.repeat(32));
    const got = Object.fromEntries(
      [...state.services].map(([id, s]) => [
        id,
        { current: s.current, active: s.active, runningOlder: s.runningOlder, fp: s.fingerprints.map((f) => f.fingerprint) },
      ]),
    );
    assert.deepEqual(got, {
      older: { current: 'g.1', active: true, runningOlder: true, fp: ['hmac-sha256:11'] },
      newer: { current: 'g.1', active: true, runningOlder: false, fp: ['hmac-sha256:22'] },
      stopped: { current: 'g.1', active: false, runningOlder: false, fp: ['hmac-sha256:22'] },
      absent: { current: '', active: false, runningOlder: false, fp: [] },
      tenant: { current: 'g.1', active: true, runningOlder: true, fp: ['hmac-sha256:22'] },
      deep: { current: 'g.1', active: true, runningOlder: true, fp: ['hmac-sha256:22'] },
      deeper: { current: 'g.1', active: true, runningOlder: true, fp: ['hmac-sha256:22'] },
      exited: { current: 'g.1', active: true, runningOlder: false, fp: ['hmac-sha256:22'] },
    });
    assert.ok(state.services.get('older')!.switchedAt > Date.now() / 1000, "the switch time is the link's own");
  });

  test('the write refuses a directory of the tree, or one above it, that another account owns or may write; the first write and a repeat one go through', async () => {
    const host = fleet.hosts[0]!;
    const write = (root: string, generation: string, value: string): GenerationWrite => ({
      id: 'svc',
      environment: 'prod',
      project: 'svc',
      credentials: [],
      envFile: `TOKEN=${value}\n`,
      fingerprints: `${FINGERPRINT_HEADER}\nTOKEN\tenv\thmac-sha256:${generation}\n`,
    });
    const run = async (root: string, generation: string, value = generation) => {
      const r = await fleet.ssh(host, `sh -c ${quote(writeScript(root, true, [write(root, generation, value)], generation))}`);
      return parseWrite(r.stdout).get('svc') ?? { ok: false, error: `no answer: ${r.stdout} ${r.stderr}` };
    };
    const root = '/var/lib/ma-write-test/secrets';
    const dir = serviceSecretsDir(root, 'prod', 'svc');
    const current = async () => (await fleet.ssh(host, `readlink ${dir}/current; cat ${dir}/current/secrets.env`)).stdout;

    // A fresh tree (each directory made and checked in turn), then a repeat (all read by one stat).
    assert.deepEqual(await run(root, 'aa1'), { ok: true, generation: 'g.aa1' });
    assert.deepEqual(await run(root, 'bb2'), { ok: true, generation: 'g.bb2' });
    assert.equal(await current(), 'g.bb2\nTOKEN=bb2\n');
    const fp = await fleet.ssh(host, `cat ${dir}/current/fingerprints; stat -c %a ${dir}/current/fingerprints`);
    assert.equal(fp.stdout, `${FINGERPRINT_HEADER}\nTOKEN\tenv\thmac-sha256:bb2\n600\n`);

    const refused = async (setup: string, undo: string, pattern: RegExp, where: string) => {
      assert.equal((await fleet.ssh(host, setup)).exitCode, 0);
      const r = await run(root, 'cc3');
      assert.equal((await fleet.ssh(host, undo)).exitCode, 0);
      assert.equal(r.ok, false, `${where}: written`);
      assert.match(r.error ?? '', pattern, where);
      assert.equal(await current(), 'g.bb2\nTOKEN=bb2\n', `${where}: current moved`);
      assert.equal((await fleet.ssh(host, `ls ${dir}`)).stdout.includes('g.cc3'), false, `${where}: a generation left behind`);
    };
    await refused(`chown nobody ${dir}`, `chown root ${dir}`, /\/svc is owned by another account/, "the service's directory is nobody's");
    await refused(
      `chmod g+w ${root}/prod`,
      `chmod g-w ${root}/prod`,
      /\/prod is writable by another account/,
      "the environment's directory is group-writable",
    );
    await refused(`chown nobody ${root}`, `chown root ${root}`, /\/secrets is owned by another account/, "the root of the secrets is nobody's");
    await refused(
      `chmod o+w /var/lib/ma-write-test`,
      `chmod o-w /var/lib/ma-write-test`,
      /ma-write-test is writable by another account/,
      'a directory above the root is world-writable',
    );
    await refused(
      `mv ${dir} ${dir}.real && ln -s ${dir}.real ${dir}`,
      `rm ${dir} && mv ${dir}.real ${dir}`,
      /is a symbolic link: not used/,
      "the service's directory is a link",
    );
    // Above a root that does not exist yet: nothing is made under a directory another account owns.
    assert.equal((await fleet.ssh(host, 'mkdir -p /srv/ma-hostile && chown nobody /srv/ma-hostile')).exitCode, 0);
    const hostile = await run('/srv/ma-hostile/secrets', 'dd4');
    assert.equal(hostile.ok, false);
    assert.match(hostile.error ?? '', /ma-hostile is owned by another account/);
    assert.equal((await fleet.ssh(host, 'ls -A /srv/ma-hostile')).stdout, '');
  });
});

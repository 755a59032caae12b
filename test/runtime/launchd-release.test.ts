// launchd's deploy, rollback, dead-man switch and scheduled jobs, end to end in a sandbox: the
// same host scripts a deploy sends to a Mac (release.ts's layout, revert.ts's switch, launchd.ts's
// fragments) run under dash and busybox sh, with a fake filesystem root where / would be
// (nothing writes the real /Library) and stand-ins on PATH for what only a Mac has:
//   launchctl  records its argv and keeps the loaded jobs as files (bootstrap copies the plist,
//              bootout removes it, print answers in launchctl's format; kickstart of a job runs
//              its ProgramArguments, as launchd would, so the job's own run recorder runs for real;
//              a standing service "crashes" when `current` points at the release the test marks bad);
//   mv         BSD's: refuses GNU's -T, takes -h (done with GNU mv -T: the same rename);
//   systemctl, systemd-run, journalctl   record and fail: a Mac has none, and none may be called.
// What this cannot show is how the real launchd answers (docs/launchd.md says what was not run).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { hostStatusScript, parseHostStatus } from '../../src/runtime/host-status-script.js';
import { launchd, launchdActivation, launchdView, lifecycleScript, runNowScript } from '../../src/runtime/launchd.js';
import {
  activateScript,
  confirmScript,
  fallBackScript,
  lockScript,
  parseReleaseStates,
  scriptThenData,
  shipScript,
} from '../../src/runtime/release.js';
import { records } from '../../src/runtime/shell.js';
import type { RuntimeService } from '../../src/runtime/types.js';
import { inventory, loadTree } from '../helpers/tree.js';

const SHELLS = [['dash'], ['busybox', 'sh']].filter((sh) => spawnSync(sh[0]!, [...sh.slice(1), '-c', 'true']).status === 0);
const asRoot = process.getuid?.() === 0;

/**
 * A cut connection at the Nth call of a stand-in: while "$S/cut-at" exists, each call counts, and
 * the one whose count it names sends SIGHUP to the script's process group first (what sshd sends
 * a session whose connection went away), before doing anything itself.
 */
const FAULT_HOOK = `if [ -f "$S/cut-at" ]; then n=$(( $(cat "$S/calls" 2>/dev/null || echo 0) + 1 )); echo "$n" > "$S/calls"; [ "$n" = "$(cat "$S/cut-at")" ] && kill -HUP -- "-$(cat "$S/pgid")"; fi`;

/** A sandbox: the fake root, the stand-ins, the argv logs. */
function sandbox(project: string) {
  const label = `manage-apps.${project}`;
  const dir = mkdtempSync(join(tmpdir(), 'manage-apps-launchd-release-'));
  const root = join(dir, 'root');
  const directory = join(root, 'srv', project);
  const bin = join(dir, 'bin');
  const jobs = join(dir, 'launchd');
  for (const d of [root, bin, jobs, join(root, 'Library/LaunchDaemons'), join(root, 'Library/Logs')]) mkdirSync(d, { recursive: true });
  const log = join(dir, 'argv');
  const q = JSON.stringify;
  writeFileSync(
    join(bin, 'launchctl'),
    `#!/bin/sh
printf 'launchctl %s\\n' "$*" >> ${q(log)}
S=${q(jobs)}
${FAULT_HOOK}
label_of() { python3 -c 'import plistlib,sys; print(plistlib.load(open(sys.argv[1],"rb"))["Label"])' "$1"; }
running() { [ -f "$S/$1.pid" ] && kill -0 "$(cat "$S/$1.pid")" 2>/dev/null && case "$(ps -o stat= -p "$(cat "$S/$1.pid")")" in Z*) false ;; esac; }
case "$1" in
  print)
    case "$2" in system) echo 'system = {'; echo '}'; exit 0 ;; gui/*) echo 'Could not find domain for user gui'; exit 113 ;; esac
    t=\${2#system/}
    [ -f "$S/$t" ] || { echo "Could not find service \\"$t\\" in domain for system"; exit 113; }
    if [ "$t" = ${q(label)} ] && [ -f "$S/crash-when" ] && [ "$(readlink ${q(`${directory}/current`)})" = "releases/$(cat "$S/crash-when")" ]; then
      printf '%s = {\\n\\tstate = not running\\n\\truns = 2\\n\\tlast exit code = 78: EX_CONFIG\\n}\\n' "$2"
    elif [ -f "$S/$t.job" ]; then
      if running "$t" && [ -f "$S/release-after" ]; then k=$(( $(cat "$S/release-after") - 1 )); echo "$k" > "$S/release-after"; [ "$k" -le 0 ] && rm -f "$S/hold" "$S/release-after"; fi
      if running "$t"; then printf '%s = {\\n\\tstate = running\\n\\tpid = %s\\n\\truns = 1\\n}\\n' "$2" "$(cat "$S/$t.pid")"
      else printf '%s = {\\n\\tstate = not running\\n\\truns = 1\\n\\tlast exit code = (never exited)\\n}\\n' "$2"; fi
    else
      printf '%s = {\\n\\tstate = running\\n\\tpid = 4242\\n\\truns = 1\\n\\tlast exit code = (never exited)\\n}\\n' "$2"
    fi ;;
  bootstrap)
    t=$(label_of "$3") || exit 1
    [ -f "$S/$t" ] && { echo 'Bootstrap failed: 5: Input/output error'; exit 5; }
    cp "$3" "$S/$t"
    # A scheduled job (not the revert's one-shot job, which this stand-in never fires by itself).
    case "$t" in manage-apps.revert.*) ;; *) python3 -c 'import plistlib,sys; p=plistlib.load(open(sys.argv[1],"rb")); sys.exit(0 if "StartInterval" in p or "StartCalendarInterval" in p else 1)' "$3" && : > "$S/$t.job" ;; esac
    exit 0 ;;
  bootout) t=\${2#system/}; [ -f "$S/$t" ] || { echo 'Boot-out failed: 3: No such process'; exit 3; }; rm -f "$S/$t" "$S/$t.job"; exit 0 ;;
  kickstart)
    [ "$2" = -k ] && shift
    t=\${2#system/}
    [ -f "$S/$t" ] || exit 113
    running "$t" && exit 0
    # Runs the job's ProgramArguments as launchd would: its own session, its output to its log files.
    python3 -c 'import plistlib,subprocess,sys
p=plistlib.load(open(sys.argv[1],"rb"))
o=open(p["StandardOutPath"],"ab"); e=open(p["StandardErrorPath"],"ab")
pr=subprocess.Popen(p["ProgramArguments"],stdout=o,stderr=e,stdin=subprocess.DEVNULL,cwd="/",start_new_session=True)
open(sys.argv[2],"w").write(str(pr.pid))' "$S/$t" "$S/$t.pid"
    exit 0 ;;
  kill) t=\${3#system/}; running "$t" && /bin/kill -s TERM -- "-$(cat "$S/$t.pid")"; rm -f "$S/hold"; exit 0 ;;
esac
exit 0
`,
  );
  // BSD mv: no -T ("illegal option"), -h renames onto a link to a directory instead of into it.
  writeFileSync(
    join(bin, 'mv'),
    `#!/bin/sh
S=${q(jobs)}
${FAULT_HOOK}
case " $* " in *' -T '*) printf 'mv %s\\n' "$*" >> ${q(log)}; echo 'mv: illegal option -- T' >&2; exit 64 ;; *' -h '*) printf 'mv %s\\n' "$*" >> ${q(log)}; shift; exec /bin/mv -T "$@" ;; esac
exec /bin/mv "$@"
`,
  );
  for (const tool of ['systemctl', 'systemd-run', 'journalctl'])
    writeFileSync(join(bin, tool), `#!/bin/sh\nprintf '${tool} %s\\n' "$*" >> ${q(log)}\necho '${tool}: command not found' >&2\nexit 127\n`);
  for (const f of ['launchctl', 'mv', 'systemctl', 'systemd-run', 'journalctl']) chmodSync(join(bin, f), 0o755);
  const run = (shell: string[], script: string, input?: Buffer) => {
    rmSync(log, { force: true });
    const r = spawnSync(shell[0]!, [...shell.slice(1), '-c', script], {
      encoding: 'utf8',
      env: { PATH: `${bin}:/usr/bin:/bin:/usr/sbin:/sbin`, LC_ALL: 'C' },
      ...(input === undefined ? {} : { input }),
      timeout: 60_000,
    });
    const argv = existsSync(log) ? readFileSync(log, 'utf8').split('\n').slice(0, -1) : [];
    return { ...r, argv, recs: records(r.stdout) };
  };
  /** Runs a script as its own process group (setsid), so a cut can end all of it. */
  const runGroup = (shell: string[], script: string) =>
    spawnSync('setsid', ['sh', '-c', `echo $$ > ${q(join(jobs, 'pgid'))}; exec "$@"`, 'sh', ...shell, '-c', script], {
      encoding: 'utf8',
      env: { PATH: `${bin}:/usr/bin:/bin:/usr/sbin:/sbin`, LC_ALL: 'C' },
      timeout: 60_000,
    });
  return { dir, root, jobs, run, runGroup, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A Mac service in the sandbox: its directory and its Mac's / under `root`. */
async function macService(root: string, project: string, extra: string): Promise<RuntimeService> {
  const loaded = await loadTree({
    'mesh-hosts.json': inventory(),
    [`${project}/.infra.yaml`]: `apiVersion: infra/v2\nproject: ${project}\nprovider: mac\nservice:\n  host: mini\n  launchd: {}\n  user: nobody\n  directory: ${root}/srv/${project}\n${extra}`,
  });
  assert.deepEqual(loaded.problems, []);
  const service = loaded.fleet.services[0]!;
  assert.equal(service.supervisor, 'launchd');
  return launchdView(service, { id: service.id, key: service.id, readiness: '/readyz', liveness: '/livez' }, root);
}

/** The same line repeated (a gate's polls, a wait's) counts once: the order is what is asserted. */
const squeeze = (lines: readonly string[]) => lines.filter((l, i) => l !== lines[i - 1]);

/**
 * busybox sh runs its own mv applet (GNU's -T) whatever PATH says: the BSD mv stand-in, and so
 * the -T refused / -h taken branch, is exercised under dash; under busybox the mv lines are absent.
 */
const expectMv = (shell: string[], lines: string[]) => (shell[0] === 'busybox' ? lines.filter((l) => !l.startsWith('mv ')) : lines);

const tarOf = (files: Record<string, string>, dir: string): Buffer => {
  const src = mkdtempSync(join(dir, 'artifact-'));
  for (const [name, text] of Object.entries(files)) {
    writeFileSync(join(src, name), text);
    chmodSync(join(src, name), 0o755);
  }
  const r = spawnSync('tar', ['-c', '-C', src, '.']);
  assert.equal(r.status, 0);
  return r.stdout;
};

const plistlib = (path: string): Record<string, unknown> => {
  const r = spawnSync('python3', ['-c', 'import sys,json,plistlib; print(json.dumps(plistlib.load(open(sys.argv[1],"rb"))))', path], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Record<string, unknown>;
};

describe(
  'launchd deploy, rollback and the dead-man switch in a sandbox',
  { skip: asRoot ? undefined : 'runs as root (no sudo in the scripts)' },
  () => {
    for (const shell of SHELLS) {
      test(`${shell.join(' ')}: deploy, a failed gate switched back, an unconfirmed release reverted by the one-shot job, rollback`, async () => {
        const boxed = sandbox('mail-sync');
        after(boxed.cleanup);
        const rsb = await macService(boxed.root, 'mail-sync', '  command: ./bin/mail-sync\n');
        const dir = rsb.directory!;
        const { run, root, jobs } = boxed;
        const runtime = launchdActivation(rsb);
        const plistPath = `${root}/Library/LaunchDaemons/manage-apps.mail-sync.plist`;
        const revertPlist = `${root}/Library/LaunchDaemons/manage-apps.revert.mail-sync.plist`;
        const lock = (token: string) => ({ ownerText: `token=${token}\nowner=test`, token });

        const ship = (base: string, token: string) => {
          const { command, header } = scriptThenData(shipScript(dir, runtime.key, lock(token), { base, gzip: false, plistText: rsb.launchd!.plist }));
          const r = run(shell, command.text, Buffer.concat([header, tarOf({ 'mail-sync': '#!/bin/sh\nexit 0\n' }, boxed.dir)]));
          assert.equal(r.recs.find((x) => x[0] === 'shipped')?.[1], 'ok', r.stdout + r.stderr);
          return r.recs.find((x) => x[0] === 'release')![1]!;
        };
        const activate = (release: string, token: string) =>
          run(shell, activateScript(runtime, dir, { release, timeoutMs: 20_000, arm: { windowS: 30, token, by: 'test@here' } }));

        // 1. The first release: shipped with its plist, the revert armed as a one-shot LaunchDaemon, switched (BSD mv -h), bootstrapped, gated.
        const r1 = ship('20260101T000000000Z-aaaaaaaa', 't1');
        assert.equal(readFileSync(`${dir}/.units/${r1}.plist`, 'utf8'), rsb.launchd!.plist);
        const a1 = activate(r1, 't1');
        assert.equal(a1.recs.find((x) => x[0] === 'gate')?.[1], 'ready', a1.stdout + a1.stderr);
        assert.deepEqual(
          squeeze(a1.argv),
          expectMv(shell, [
            'launchctl bootout system/manage-apps.revert.mail-sync',
            'launchctl print system/manage-apps.revert.mail-sync',
            `launchctl bootstrap system ${revertPlist}`,
            `mv -T ${dir}/.current.manage-apps ${dir}/current`,
            `mv -h ${dir}/.current.manage-apps ${dir}/current`,
            'launchctl print system/manage-apps.mail-sync',
            `launchctl bootstrap system ${plistPath}`,
            'launchctl print system/manage-apps.mail-sync',
          ]),
        );
        assert.equal(readlinkSync(`${dir}/current`), `releases/${r1}`);
        const installed = statSync(plistPath);
        assert.equal(installed.mode & 0o777, 0o644);
        assert.equal(installed.uid, 0);
        // The revert job: root's (no UserName), fired once the window has passed since it was loaded, never at load.
        const revertJob = plistlib(revertPlist);
        assert.deepEqual(
          { ...revertJob, Comment: undefined },
          {
            Label: 'manage-apps.revert.mail-sync',
            ProgramArguments: ['/bin/sh', `${dir}/.revert/revert.sh`],
            RunAtLoad: false,
            StartInterval: 30,
            ProcessType: 'Standard',
            StandardOutPath: `${root}/Library/Logs/manage-apps/manage-apps.mail-sync/revert.log`,
            StandardErrorPath: `${root}/Library/Logs/manage-apps/manage-apps.mail-sync/revert.log`,
            Comment: undefined,
          },
        );
        assert.match(
          readFileSync(`${dir}/.revert/armed`, 'utf8'),
          /^via=launchd\njob=system\/manage-apps.revert.mail-sync\nplist=.*manage-apps.revert.mail-sync.plist$/m,
        );
        // status sees it armed, through launchctl print of the revert job (not systemctl).
        const st = run(shell, hostStatusScript({ groups: [{ runtime: launchd, services: [rsb] }] }));
        assert.equal(parseHostStatus({ groups: [{ runtime: launchd, services: [rsb] }] }, st.stdout).services[0]?.revert?.state, 'armed');

        const c1 = run(shell, confirmScript(dir, runtime.key, { release: r1, keep: 5, token: 't1' }));
        assert.ok(
          c1.recs.some((x) => x[0] === 'confirmed'),
          c1.stdout + c1.stderr,
        );
        assert.deepEqual(c1.argv, ['launchctl bootout system/manage-apps.revert.mail-sync']);
        assert.equal(existsSync(revertPlist), false, 'the revert plist is removed: a reboot does not load it again');
        assert.equal(existsSync(`${jobs}/manage-apps.revert.mail-sync`), false);

        // 2. A release that crashes: the gate fails, the fall-back switches back and kickstarts -k the previous one.
        const r2 = ship('20260102T000000000Z-bbbbbbbb', 't2');
        writeFileSync(`${jobs}/crash-when`, r2);
        const a2 = activate(r2, 't2');
        assert.equal(a2.recs.find((x) => x[0] === 'gate')?.[1], 'crashed', a2.stdout);
        // launchctl prints the code with its meaning ("78: EX_CONFIG"): the number is read.
        assert.equal(a2.recs.find((x) => x[0] === 'gate')?.[2], 'the job exited (last exit code 78)');
        const b2 = run(shell, fallBackScript(runtime, dir, { release: r2, keep: 5, timeoutMs: 20_000, reason: 'crashed', token: 't2' }));
        assert.equal(b2.recs.find((x) => x[0] === 'back')?.[1], r1, b2.stdout + b2.stderr);
        assert.equal(b2.recs.filter((x) => x[0] === 'gate').pop()?.[1], 'ready', b2.stdout);
        assert.ok(b2.recs.some((x) => x[0] === 'unlocked'));
        assert.deepEqual(
          squeeze(b2.argv),
          expectMv(shell, [
            'launchctl print system/manage-apps.mail-sync',
            'launchctl bootout system/manage-apps.revert.mail-sync',
            `mv -T ${dir}/.current.manage-apps ${dir}/current`,
            `mv -h ${dir}/.current.manage-apps ${dir}/current`,
            'launchctl print system/manage-apps.mail-sync',
            'launchctl kickstart -k system/manage-apps.mail-sync',
            'launchctl print system/manage-apps.mail-sync',
          ]),
        );
        assert.equal(readlinkSync(`${dir}/current`), `releases/${r1}`);

        // 3. A release nobody confirms (the CLI died): launchd fires the one-shot job, which switches back by itself.
        rmSync(`${jobs}/crash-when`);
        const r3 = ship('20260103T000000000Z-cccccccc', 't3');
        const a3 = activate(r3, 't3');
        assert.equal(a3.recs.find((x) => x[0] === 'gate')?.[1], 'ready');
        const fired = plistlib(revertPlist)['ProgramArguments'] as string[];
        const rv = run(shell, fired.map((w) => `'${w}'`).join(' '));
        assert.equal(rv.status, 0, rv.stdout + rv.stderr);
        assert.match(rv.stdout, new RegExp(`@@reverted\\t${r3}\\t${r1}\\tswitched back to ${r1}: ready`));
        assert.equal(readlinkSync(`${dir}/current`), `releases/${r1}`);
        assert.equal(squeeze(rv.argv).at(-1), 'launchctl bootout system/manage-apps.revert.mail-sync', 'the job ends itself last');
        assert.equal(existsSync(revertPlist), false);
        assert.equal(existsSync(`${dir}/.deploy.lock`), false, 'the revert released the lock of the deploy that armed it');
        assert.match(readFileSync(`${dir}/.history/${r3}`, 'utf8'), /outcome=unconfirmed .*no confirmation within 30s/);
        const st3 = run(shell, hostStatusScript({ groups: [{ runtime: launchd, services: [rsb] }] }));
        assert.equal(parseHostStatus({ groups: [{ runtime: launchd, services: [rsb] }] }, st3.stdout).services[0]?.revert?.state, 'fired');
        // Should the job fire once more before it is gone, it does nothing but end itself.
        const again = run(shell, fired.map((w) => `'${w}'`).join(' '));
        assert.deepEqual(again.argv, ['launchctl bootout system/manage-apps.revert.mail-sync']);
        assert.equal(readlinkSync(`${dir}/current`), `releases/${r1}`);

        // 4. rollback: the lock, then the same activation back to the release that passed before (r1 → r1 is no move: ship r4, roll back to r1).
        const r4 = ship('20260104T000000000Z-dddddddd', 't4');
        assert.equal(activate(r4, 't4').recs.find((x) => x[0] === 'gate')?.[1], 'ready');
        run(shell, confirmScript(dir, runtime.key, { release: r4, keep: 5, token: 't4' }));
        const l5 = run(shell, lockScript(dir, runtime.key, lock('t5')));
        const state = parseReleaseStates(l5.stdout).get('')!;
        assert.equal(state.current, r4);
        assert.deepEqual(
          state.releases.map((r) => [r.id, r.outcome]),
          [
            [r1, 'passed'],
            [r2, 'failed'],
            [r3, 'unconfirmed'],
            [r4, 'passed'],
          ],
        );
        assert.equal(activate(r1, 't5').recs.find((x) => x[0] === 'gate')?.[1], 'ready');
        const c5 = run(shell, confirmScript(dir, runtime.key, { release: r1, from: r4, keep: 5, token: 't5' }));
        assert.ok(c5.recs.some((x) => x[0] === 'confirmed'));
        assert.equal(readlinkSync(`${dir}/current`), `releases/${r1}`);
        assert.match(readFileSync(`${dir}/.history/${r4}`, 'utf8'), /outcome=reverted .*rolled back to/);
        // Nothing of systemd was called on the "Mac", in any step.
        for (const r of [a1, c1, a2, b2, a3, rv, again, l5, c5])
          assert.deepEqual(
            r.argv.filter((l) => /^(systemctl|systemd-run|journalctl) /.test(l)),
            [],
          );
        assert.ok(lstatSync(`${dir}/current`).isSymbolicLink());
      });
    }
    for (const shell of SHELLS)
      test(`${shell.join(' ')}: start, restart and stop of a daemon outside a deploy`, async () => {
        const box = sandbox('mail-sync');
        after(box.cleanup);
        const rs = await macService(box.root, 'mail-sync', '  command: ./bin/mail-sync\n');
        const plistPath = `${box.root}/Library/LaunchDaemons/manage-apps.mail-sync.plist`;
        const start = box.run(shell, lifecycleScript(rs, 'start', 3000));
        assert.equal(start.recs.find((x) => x[0] === 'gate')?.[1], 'ready', start.stdout + start.stderr);
        assert.deepEqual(squeeze(start.argv), [
          'launchctl print system/manage-apps.mail-sync',
          `launchctl bootstrap system ${plistPath}`,
          'launchctl print system/manage-apps.mail-sync',
        ]);
        assert.equal(readFileSync(plistPath, 'utf8'), rs.launchd!.plist);
        assert.equal(statSync(plistPath).mode & 0o777, 0o644);
        // The logs: a root-owned directory, the files the job's user's.
        assert.equal(statSync(rs.launchd!.stdout).mode & 0o777, 0o640);
        assert.equal(statSync(join(rs.launchd!.stdout, '..')).uid, 0);
        // Loaded, plist unchanged: start kickstarts (no second bootstrap: "Bootstrap failed: 5"), restart kickstarts -k.
        const again = box.run(shell, lifecycleScript(rs, 'start', 3000));
        assert.deepEqual(squeeze(again.argv), [
          'launchctl print system/manage-apps.mail-sync',
          'launchctl kickstart system/manage-apps.mail-sync',
          'launchctl print system/manage-apps.mail-sync',
        ]);
        const restart = box.run(shell, lifecycleScript(rs, 'restart', 3000));
        assert.deepEqual(squeeze(restart.argv), [
          'launchctl print system/manage-apps.mail-sync',
          'launchctl kickstart -k system/manage-apps.mail-sync',
          'launchctl print system/manage-apps.mail-sync',
        ]);
        // A changed plist: bootout, waited for, then bootstrap.
        writeFileSync(plistPath, '<plist version="1.0"><dict/></plist>\n');
        const changed = box.run(shell, lifecycleScript(rs, 'restart', 3000));
        assert.deepEqual(squeeze(changed.argv), [
          'launchctl print system/manage-apps.mail-sync',
          'launchctl bootout system/manage-apps.mail-sync',
          'launchctl print system/manage-apps.mail-sync',
          `launchctl bootstrap system ${plistPath}`,
          'launchctl print system/manage-apps.mail-sync',
        ]);
        const stop = box.run(shell, lifecycleScript(rs, 'stop', 3000));
        assert.equal(stop.recs.find((x) => x[0] === 'gate')?.[1], 'stopped');
        assert.deepEqual(stop.argv, ['launchctl bootout system/manage-apps.mail-sync', 'launchctl print system/manage-apps.mail-sync']);
      });
    test('both shells ran', () => assert.equal(SHELLS.length, 2, 'dash and busybox (apt-get install dash busybox)'));
  },
);

describe('scheduled jobs on launchd in a sandbox', { skip: asRoot ? undefined : 'runs as root (no sudo in the scripts)' }, () => {
  for (const shell of SHELLS) {
    test(`${shell.join(' ')}: run <job> kickstarts and follows, a run in progress is joined (never doubled), status shows the failed run and overdue, deploy waits or --force kills`, async () => {
      const box = sandbox('sweep');
      after(box.cleanup);
      const rs = await macService(box.root, 'sweep', '  kind: worker\n  command: ./job.sh\n  schedule:\n    calendar: every 20s\n    grace: 1s\n');
      const dir = rs.directory!;
      const { run, root, jobs } = box;
      const logDir = `${root}/Library/Logs/manage-apps/manage-apps.sweep`;
      const runtime = launchdActivation(rs);
      const lock = { ownerText: 'token=t1\nowner=test', token: 't1' };
      const { command, header } = scriptThenData(
        shipScript(dir, runtime.key, lock, { base: '20260101T000000000Z-aaaaaaaa', gzip: false, plistText: rs.launchd!.plist }),
      );
      // The run lasts while the hold file exists (no race with a loaded machine): the launchctl
      // stand-in removes it after as many `print`s of the job as "$S/release-after" says.
      const hold = join(jobs, 'hold');
      const job = `#!/bin/sh\necho "sweep: running"\nsleep 0.5\nwhile [ -f '${hold}' ]; do sleep 0.1; done\nexit 3\n`;
      const kickstartHeld = (prints: number) => {
        writeFileSync(hold, '');
        writeFileSync(join(jobs, 'release-after'), String(prints));
        spawnSync('sh', ['-c', `PATH=${join(box.dir, 'bin')}:$PATH launchctl kickstart system/manage-apps.sweep`]);
      };
      const shipped = run(shell, command.text, Buffer.concat([header, tarOf({ 'job.sh': job }, box.dir)]));
      const r1 = shipped.recs.find((x) => x[0] === 'release')![1]!;
      const a1 = run(shell, activateScript(runtime, dir, { release: r1, timeoutMs: 20_000, arm: { windowS: 30, token: 't1', by: 'test' } }));
      assert.equal(a1.recs.find((x) => x[0] === 'gate')?.[1], 'ready', a1.stdout + a1.stderr);
      assert.ok(!a1.argv.some((l) => l.startsWith('launchctl kickstart')), 'loading a job does not run it');
      run(shell, confirmScript(dir, runtime.key, { release: r1, keep: 5, token: 't1' }));
      // The job's plist: a recorder around the program, StartInterval, no KeepAlive.
      const value = plistlib(rs.launchd!.plistPath);
      assert.equal(value['StartInterval'], 20);
      assert.equal((value['ProgramArguments'] as string[]).at(-1), `${dir}/current/job.sh`);

      // run <job>: nothing runs: kickstart (never -k), follow the log, the run's record.
      const first = run(shell, runNowScript(rs));
      assert.equal(first.status, 1, first.stdout + first.stderr);
      assert.deepEqual(
        first.recs.filter((x) => x[0] === 'run' || x[0] === 'ran'),
        [
          ['run', 'started'],
          ['ran', 'exit-code', '3'],
        ],
      );
      assert.match(first.stdout, /sweep: running/);
      assert.deepEqual(
        squeeze(first.argv).filter((l) => !l.startsWith('launchctl print')),
        ['launchctl kickstart system/manage-apps.sweep'],
      );

      // A run in progress (launchd started it at its due time): run joins it, kickstarts nothing.
      kickstartHeld(3);
      const joined = run(shell, runNowScript(rs));
      assert.deepEqual(
        joined.recs.filter((x) => x[0] === 'run' || x[0] === 'ran'),
        [
          ['run', 'joined'],
          ['ran', 'exit-code', '3'],
        ],
      );
      assert.ok(!joined.argv.some((l) => l.startsWith('launchctl kickstart')), joined.argv.join('\n'));

      // status: the job block from launchctl print and the run files the job wrote itself.
      const input = { groups: [{ runtime: launchd, services: [rs] }] };
      // The sandbox's launchctl says the job is running until the held run's process has gone, a
      // moment after its record was written (longer on a busy machine): read status once it is.
      const status = () => parseHostStatus(input, run(shell, hostStatusScript(input)).stdout).services[0]!;
      let s = status();
      for (let i = 0; i < 50 && s.state?.sub === 'running'; i++) {
        spawnSync('sleep', ['0.1']);
        s = status();
      }
      assert.equal(s.state?.sub, 'scheduled');
      assert.equal(s.job?.last?.exit_status, 3);
      assert.equal(s.job?.last?.ok, false);
      assert.ok((s.job?.last?.duration_ms ?? 0) >= 0);
      assert.equal(s.job?.period_s, 20);
      assert.equal(s.job?.overdue, false, 'loaded just now: not overdue yet');
      // Nothing succeeded since it was loaded, longer ago than the period plus grace: overdue.
      writeFileSync(`${logDir}/loaded`, `at=${(Math.floor(Date.now() / 1000) - 22) * 1000}\n`);
      const late = parseHostStatus(input, run(shell, hostStatusScript(input)).stdout).services[0]!;
      assert.equal(late.job?.overdue, true);
      // The job's user may write its run files, not turn them into links root would read.
      rmSync(`${logDir}/last`);
      spawnSync('ln', ['-s', '/etc/shadow', `${logDir}/last`]);
      const linked = run(shell, hostStatusScript(input));
      assert.doesNotMatch(linked.stdout, /root:/);
      assert.equal(parseHostStatus(input, linked.stdout).services[0]?.job?.last, null);

      // deploy during a run: waits for it; with --force, launchctl kill SIGTERM, and says so.
      for (const force of [false, true]) {
        kickstartHeld(force ? 1000 : 4);
        const act = launchdActivation(rs, force ? { force: true } : {});
        const l = run(shell, lockScript(dir, act.key, { ownerText: `token=f${force}`, token: `f${force}` }));
        assert.equal(l.recs.find((x) => x[0] === 'lock')?.[1], 'acquired');
        const a = run(shell, activateScript(act, dir, { release: r1, timeoutMs: 20_000, arm: { windowS: 30, token: `f${force}`, by: 'test' } }));
        const met = a.recs.find((x) => x[0] === 'jobrun' && x[1] !== 'waiting');
        assert.equal(met?.[1], force ? 'killed' : 'waited', a.stdout + a.stderr);
        assert.equal(a.argv.includes('launchctl kill SIGTERM system/manage-apps.sweep'), force);
        assert.equal(a.recs.find((x) => x[0] === 'gate')?.[1], 'ready');
        run(shell, confirmScript(dir, act.key, { release: r1, keep: 5, token: `f${force}` }));
      }
      assert.ok(existsSync(`${jobs}/manage-apps.sweep`));
    });
  }
});

describe(
  'launchd deploy: the connection cut at each step, the host ends consistent',
  { skip: asRoot ? undefined : 'runs as root (no sudo in the scripts)' },
  () => {
    test('dash: every fault point ends with one live release, its plist loaded, nothing armed, the next deploy free to go', async () => {
      const shell = ['dash'];
      type Outcome = { point: string; problem?: string };
      const outcomes: Outcome[] = [];
      // Where the cuts go: each launchctl or mv call of an activation (counted in a clean run), then
      // between the activation and the confirmation, then during the confirmation.
      const calls = async (): Promise<number> => {
        const box = sandbox('mail-sync');
        try {
          const f = await fixture(box);
          const a = box.run(shell, f.activate(f.r2, 't2'));
          return a.argv.length;
        } finally {
          box.cleanup();
        }
      };
      const n = await calls();
      const points = [
        ...Array.from({ length: n }, (_, i) => ({ at: 'activate', call: i + 1 })),
        { at: 'between', call: 0 },
        { at: 'confirm', call: 1 },
      ];
      for (const point of points) {
        const box = sandbox('mail-sync');
        try {
          const f = await fixture(box);
          const name = point.at === 'activate' ? `activate, call ${point.call}` : point.at;
          if (point.at === 'activate') {
            writeFileSync(`${box.jobs}/cut-at`, String(point.call));
            box.runGroup(shell, f.activate(f.r2, 't2'));
          } else {
            box.run(shell, f.activate(f.r2, 't2'));
            if (point.at === 'confirm') {
              writeFileSync(`${box.jobs}/cut-at`, '1');
              box.runGroup(shell, confirmScript(f.dir, f.runtime.key, { release: f.r2, keep: 5, token: 't2' }));
            }
          }
          rmSync(`${box.jobs}/cut-at`, { force: true });
          // The CLI is gone: launchd fires the revert job if it is loaded (its interval passed).
          if (existsSync(`${box.jobs}/manage-apps.revert.mail-sync`)) box.run(shell, `/bin/sh '${f.dir}/.revert/revert.sh'`);
          // The next deploy breaks the dead one's lock and finds nothing left to settle.
          const next = box.run(shell, lockScript(f.dir, f.runtime.key, { ownerText: 'token=t3', token: 't3', breakToken: 't2' }));
          const live = readlinkSync(`${f.dir}/current`).replace('releases/', '');
          const confirmed = existsSync(`${f.dir}/.history/${f.r2}`) && readFileSync(`${f.dir}/.history/${f.r2}`, 'utf8').includes('outcome=passed');
          const want = confirmed ? f.r2 : f.r1;
          const problems = [
            live !== want && `current is ${live}, not ${want}`,
            next.recs.find((x) => x[0] === 'lock')?.[1] !== 'acquired' && 'the next deploy could not take the lock',
            next.recs.some((x) => x[0] === 'leftover') && `the next deploy still had to settle it (${next.stdout})`,
            existsSync(`${f.dir}/.revert/armed`) && 'a revert is still armed',
            existsSync(`${box.jobs}/manage-apps.revert.mail-sync`) && 'the revert job is still loaded',
            existsSync(f.revertPlist) && 'the revert plist is still in LaunchDaemons',
            !existsSync(`${box.jobs}/manage-apps.mail-sync`) && 'the service is not loaded',
            readFileSync(f.plistPath, 'utf8') !== (confirmed ? f.plist2 : f.plist1) && 'the installed plist is not the live release’s',
            readFileSync(`${box.jobs}/manage-apps.mail-sync`, 'utf8') !== (confirmed ? f.plist2 : f.plist1) &&
              'launchd runs another plist than the live release’s',
          ].filter((x): x is string => typeof x === 'string');
          outcomes.push({ point: name, ...(problems.length === 0 ? {} : { problem: problems.join('; ') }) });
        } finally {
          box.cleanup();
        }
      }
      const survived = outcomes.filter((o) => o.problem === undefined).length;
      console.log(`${survived}/${outcomes.length} fault points survived`);
      assert.deepEqual(
        outcomes.filter((o) => o.problem !== undefined),
        [],
      );
      assert.ok(outcomes.length >= 8, `only ${outcomes.length} fault points`);
    });
  },
);

/** r1 deployed and confirmed; r2 (another command, so another plist) shipped, not yet activated. */
async function fixture(box: ReturnType<typeof sandbox>) {
  const rs1 = await macService(box.root, 'mail-sync', '  command: ./bin/mail-sync\n');
  const rs2 = await macService(box.root, 'mail-sync', '  command: ./bin/mail-sync --v2\n');
  const dir = rs1.directory!;
  const runtime = launchdActivation(rs1);
  const ship = (base: string, token: string, plistText: string) => {
    const { command, header } = scriptThenData(
      shipScript(dir, runtime.key, { ownerText: `token=${token}`, token }, { base, gzip: false, plistText }),
    );
    const r = box.run(['dash'], command.text, Buffer.concat([header, tarOf({ 'mail-sync': '#!/bin/sh\n' }, box.dir)]));
    box.run(['dash'], `rm -rf '${dir}/.deploy.lock'`);
    return r.recs.find((x) => x[0] === 'release')![1]!;
  };
  const activate = (release: string, token: string) =>
    activateScript(runtime, dir, { release, timeoutMs: 20_000, arm: { windowS: 30, token, by: 'test' } });
  const r1 = ship('20260101T000000000Z-aaaaaaaa', 't1', rs1.launchd!.plist);
  assert.equal(box.run(['dash'], activate(r1, 't1')).recs.find((x) => x[0] === 'gate')?.[1], 'ready');
  assert.ok(box.run(['dash'], confirmScript(dir, runtime.key, { release: r1, keep: 5, token: 't1' })).recs.some((x) => x[0] === 'confirmed'));
  const r2 = ship('20260102T000000000Z-bbbbbbbb', 't2', rs2.launchd!.plist);
  // The deploy of r2 holds the lock from here (its ship took it).
  box.run(['dash'], lockScript(dir, runtime.key, { ownerText: 'token=t2', token: 't2' }));
  return {
    dir,
    runtime,
    r1,
    r2,
    activate,
    plist1: rs1.launchd!.plist,
    plist2: rs2.launchd!.plist,
    plistPath: rs1.launchd!.plistPath,
    revertPlist: `${rs1.launchd!.daemons}/manage-apps.revert.mail-sync.plist`,
  };
}

// Scheduled jobs on real test hosts (service.schedule → a oneshot unit and a .timer): a job every
// 10 s runs on time with the CLI gone; a run longer than the period is never doubled (the due time
// that passed during it is skipped and counted); a failing run shows as failed with its exit status;
// a stopped timer shows overdue once the period plus grace has passed; a deploy during a run waits
// for it (with --force: stops it and says so); `run` streams a run; and a job's deploy killed or cut
// off at each step ends with the timer and the job's release consistent.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseOwner, staleness } from '../../src/ops/lock-owner.js';
import type { JobStatus } from '../../src/runtime/types.js';
import { realHostsSkipReason, TestFleet } from '../harness/test-fleet.js';
import { applyFault } from './faults.js';
import { eventually, json, runCli, sleep, startCli } from './helpers.js';
import { fleetRoot } from './real-fleet.js';

const HOSTS = ['j1', 'j2', 'j3', 'j4'] as const;
type HostName = (typeof HOSTS)[number];
const PERIOD_S = 10;
const GRACE_S = 4;
// Readiness timeout 5 s + a 2 s margin: the host reverts 7 s after an unconfirmed switch.
const WINDOW = ['--ready-timeout', '5', '--revert-margin', '2'];

interface Row {
  id: string;
  verdict: string;
  reason?: string;
  job?: JobStatus;
}

/** The job: what it does is read from /etc/jobctl/mode on its host (ok, fail, slow N). */
const JOB = `#!/bin/sh
mode=$(cat /etc/jobctl/mode 2>/dev/null || echo ok)
echo "run $(cat VERSION) start $(date +%s) mode $mode"
case $mode in
  fail) echo "the sweep found 3 broken rows" >&2; exit 3 ;;
  slow*) sleep "\${mode#slow }" ;;
esac
echo "run $(cat VERSION) end $(date +%s)"
`;

describe('scheduled jobs on real hosts', { skip: realHostsSkipReason(), timeout: 900_000 }, () => {
  let fleet: TestFleet;
  let root = '';
  let work = '';
  let controlDir = '';
  const art: Record<string, string> = {};
  const env = () => ({ MANAGE_APPS_CONTROL_DIR: controlDir });
  const project = (h: HostName) => `sweep-${h}`;
  const dir = (h: HostName) => `/srv/${project(h)}`;
  const args = (...a: string[]) => [...a, '--root', root, '--ssh-config', fleet.sshConfigPath, '--connect-timeout', '2'];
  const cli = (...a: string[]) => runCli(args(...a), env());
  const deploy = (h: HostName, version: string, ...extra: string[]) =>
    cli('deploy', project(h), '--artifact', art[version]!, '--json', ...WINDOW, ...extra);
  const inHost = async (h: HostName, script: string) => (await fleet.exec(h, ['sh', '-c', script])).stdout.trim();
  const mode = (h: HostName, m: string) =>
    inHost(h, `mkdir -p /etc/jobctl && printf '%s\\n' '${m}' > /etc/jobctl/mode && chmod 644 /etc/jobctl/mode`);
  const row = async (h: HostName): Promise<Row> => {
    const r = await cli('status', project(h), '--json');
    return json<{ services: Row[] }>(r).services[0]!;
  };
  const running = async (h: HostName) => (await inHost(h, `systemctl show -p ActiveState --value ${project(h)}.service`)) === 'activating';
  /** The job's own lines in the journal: "run <version> start|end <epoch> …". */
  const runLines = async (h: HostName) =>
    (await inHost(h, `journalctl -u ${project(h)}.service -o cat --no-pager | grep -E '^run '`)).split('\n').filter(Boolean);
  const current = (h: HostName) => inHost(h, `c=$(readlink ${dir(h)}/current); echo "\${c#releases/}"`);

  before(async () => {
    fleet = await TestFleet.up({ names: [...HOSTS] });
    work = mkdtempSync(join(tmpdir(), 'manage-apps-jobs-'));
    controlDir = mkdtempSync(join(tmpdir(), 'manage-apps-cm-'));
    for (const v of ['v1', 'v2', 'v3']) {
      const d = join(work, v);
      mkdirSync(d, { recursive: true });
      writeFileSync(join(d, 'job.sh'), JOB, { mode: 0o755 });
      writeFileSync(join(d, 'VERSION'), `${v}\n`);
      art[v] = d;
    }
    const files: Record<string, string> = {};
    for (const h of HOSTS)
      files[`${project(h)}/.infra.yaml`] =
        `apiVersion: infra/v2\nproject: ${project(h)}\nprovider: bare-metal\nservice:\n  host: ${h}\n  kind: worker\n  command: ./job.sh\n` +
        `  schedule:\n    calendar: every ${PERIOD_S}s\n    timeout: 60\n    grace: ${GRACE_S}s\n  keep_releases: 4\n`;
    root = await fleetRoot(fleet.hosts, files);
    await Promise.all(HOSTS.map((h) => mode(h, 'ok')));
    const first = await Promise.all(HOSTS.map((h) => deploy(h, 'v1')));
    first.forEach((r) => assert.equal(r.status, 0, r.stdout + r.stderr));
  });

  after(async () => {
    await fleet?.down();
    for (const d of [root, work, controlDir]) if (d) rmSync(d, { recursive: true, force: true });
  });

  test('validate: the unit and timer are rendered; a calendar systemd rejects is a located error', async () => {
    const units = await runCli(['units', '--json', '--root', root]);
    const files = json<{ files: { path: string; content: string }[] }>(units).files;
    const timer = files.find((f) => f.path === 'j1/sweep-j1.timer')?.content ?? '';
    assert.match(timer, /^OnCalendar=\*-\*-\* \*:\*:00\/10$/m);
    assert.match(timer, /^Persistent=true$/m);
    // What the host runs is what `units` renders, byte for byte.
    assert.equal(await inHost('j1', 'cat /etc/systemd/system/sweep-j1.timer'), timer.trim());
    const unit = files.find((f) => f.path === 'j1/sweep-j1.service')?.content ?? '';
    assert.equal(await inHost('j1', 'cat /etc/systemd/system/sweep-j1.service'), unit.trim());
    // Drift sees a freshly deployed job as declared: its timer is a unit of its own, and the timer, not the
    // job's unit, is what is enabled.
    // (The base image's own Caddy listens on 80 and nothing here declares it: drift rightly calls that extra.)
    const drift = await cli('drift', project('j1'), '--json');
    const findings = json<{ findings: { kind: string; subject: string; detail: string }[] }>(drift).findings;
    assert.deepEqual(
      findings.filter((f) => !(f.kind === 'port' && /caddy\.service/.test(f.detail))),
      [],
      drift.stdout + drift.stderr,
    );
  });

  test('it runs on time with the CLI gone; status shows the next and the last run; logs show its output', async () => {
    const h: HostName = 'j1';
    // The deploy ended in before(): every run since came from the host's timer alone.
    await eventually('two runs', 40_000, async () => (await runLines(h)).filter((l) => / end /.test(l)).length >= 2);
    const starts = (await runLines(h)).filter((l) => / start /.test(l)).map((l) => Number(/start (\d+)/.exec(l)![1]));
    // On its due times (every 10 s on the clock), give or take the second systemd may take.
    for (const s of starts) assert.ok(s % PERIOD_S <= 1, `a run started at ${s}, not on a ${PERIOD_S}-second boundary`);
    const r = await row(h);
    assert.equal(r.verdict, 'healthy', JSON.stringify(r));
    assert.equal(r.job?.scheduled, true);
    assert.ok(r.job?.last?.ok);
    assert.equal(r.job?.last?.exit_status, 0);
    assert.ok(r.job?.last_success);
    assert.equal(r.job?.period_s, PERIOD_S);
    assert.ok(r.job?.next === null || Date.parse(r.job.next) > Date.now() - 2000, JSON.stringify(r.job));
    const text = await cli('status', project(h));
    assert.match(text.stdout, /JOB +SCHEDULE +NEXT RUN/);
    const logs = await cli('logs', project(h), '-n', '20');
    assert.match(logs.stdout, /run v1 end \d+/);
  });

  test('a failing run shows failed with its exit status; run <job> streams a run and exits with its outcome', async () => {
    const h: HostName = 'j2';
    await mode(h, 'fail');
    const r = await eventually('a failed run', 30_000, async () => {
      const x = await row(h);
      return x.verdict === 'failed' ? x : undefined;
    });
    assert.equal(r.job?.last?.exit_status, 3);
    assert.equal(r.job?.last?.result, 'exit-code');
    assert.match(r.reason ?? '', /last run failed \(exit-code, exit status 3\)/);
    const status = await cli('status', project(h));
    assert.equal(status.status, 1);
    assert.match(status.stdout, /exit-code \(exit 3\)/);
    // Right after a due run (so the next is ~10 s away and this is not taken for one that ended just then).
    const ran = await cli('run', project(h), '--json');
    assert.equal(ran.status, 1, ran.stdout + ran.stderr);
    assert.equal(json<{ runs: { exit_status: number; run: string }[] }>(ran).runs[0]?.exit_status, 3);
    assert.match(ran.stderr, /the sweep found 3 broken rows/);
    await mode(h, 'ok');
    const ok = await cli('run', project(h));
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /run v1 start \d+ mode ok/);
    assert.match(ok.stdout, /✔ sweep-j2 on j2: success/);
  });

  test('a run longer than the period is never doubled: the due time that passed during it is skipped and reported', async () => {
    const h: HostName = 'j3';
    const before = (await row(h)).job?.skipped.count ?? 0;
    await mode(h, 'slow 14');
    // Count the job's processes every 200 ms while slow runs go: never two at once.
    let most = 0;
    const watch = (async () => {
      const until = Date.now() + 40_000;
      while (Date.now() < until) {
        // Runs, not processes: a command substitution in the job forks a child with the same
        // command line for a moment, so only job.sh processes whose parent is not one count.
        // ("[j]ob": the pattern does not match this command's own shell.)
        const runs =
          Number(
            await inHost(
              h,
              `ps -eo pid=,ppid=,args= | awk '/[j]ob[.]sh/ { parent[$1] = $2 } END { n = 0; for (p in parent) if (!(parent[p] in parent)) n++; print n }'`,
            ),
          ) || 0;
        most = Math.max(most, runs);
        await sleep(200);
      }
    })();
    const r = await eventually('a skipped run', 45_000, async () => {
      const x = await row(h);
      return (x.job?.skipped.count ?? 0) > before ? x : undefined;
    });
    await watch;
    await mode(h, 'ok');
    assert.equal(most, 1, 'two runs of the job at once');
    assert.ok(r.job!.skipped.last);
    // The journal says why, and every start has its end before the next start.
    assert.match(await inHost(h, `journalctl -u ${project(h)}.service -o cat --no-pager`), /run skipped: the previous run was still going/);
    let open = false;
    for (const line of await runLines(h)) {
      if (/ start /.test(line)) {
        assert.ok(!open, 'a run started while another had not ended');
        open = true;
      } else open = false;
    }
  });

  test('stopping the timer for longer than the period plus grace shows overdue; start brings it back', async () => {
    const h: HostName = 'j1';
    await inHost(h, `systemctl stop ${project(h)}.timer`);
    const r = await eventually('overdue', 40_000, async () => {
      const x = await row(h);
      return x.verdict !== 'healthy' ? x : undefined;
    });
    // A stopped timer is said first (no runs are scheduled); the job itself is overdue.
    assert.equal(r.verdict, 'stopped', JSON.stringify(r));
    await eventually('overdue flag', 30_000, async () => (await row(h)).job?.overdue === true);
    const started = await cli('start', project(h));
    assert.equal(started.status, 0, started.stdout + started.stderr);
    const back = await eventually('healthy again', 30_000, async () => {
      const x = await row(h);
      return x.verdict === 'healthy' ? x : undefined;
    });
    assert.equal(back.job?.overdue, false);
    // And overdue with the timer running but no success: the runs fail for longer than period + grace.
    await mode(h, 'fail');
    const o = await eventually('failed, then overdue', 40_000, async () => {
      const x = await row(h);
      return x.job?.overdue ? x : undefined;
    });
    assert.equal(o.verdict, 'failed');
    await mode(h, 'ok');
  });

  test('a deploy during a run waits for it and says so; with --force it stops the run and says which', async () => {
    const h: HostName = 'j4';
    await mode(h, 'slow 8');
    await eventually('a run in progress', 30_000, () => running(h));
    const t0 = Date.now();
    const waited = await deploy(h, 'v2');
    assert.equal(waited.status, 0, waited.stdout + waited.stderr);
    const d = json<{ deploys: { job_run?: { action: string; ms: number; pid: number } }[] }>(waited).deploys[0]!;
    assert.equal(d.job_run?.action, 'waited');
    assert.ok(d.job_run.ms > 1000, JSON.stringify(d.job_run));
    assert.ok(Date.now() - t0 > 1000);
    // The run it waited for ended on its own, successfully, on the old release.
    const lines = await runLines(h);
    assert.ok(
      lines.some((l) => /^run v1 end/.test(l)),
      lines.join('\n'),
    );
    await eventually('a run in progress', 30_000, () => running(h));
    // Without --json: what it did is said in words.
    const forced = await cli('deploy', project(h), '--artifact', art['v3']!, ...WINDOW, '--force');
    assert.equal(forced.status, 0, forced.stdout + forced.stderr);
    assert.match(forced.stdout + forced.stderr, /--force: stopped the run in progress \(pid \d+, started \S+\) before switching/);
    const r = await row(h);
    assert.equal(r.job?.last?.ok, false, JSON.stringify(r.job));
    assert.equal(r.job?.last?.signal, 'TERM');
    await mode(h, 'ok');
  });

  test('kill the CLI and cut the network at each step of a job deploy: the timer and the release end consistent', async () => {
    type Point = 'waiting for the run in progress' | 'after the ship' | 'right after the switch';
    const plan: [HostName, Point][] = [
      ['j2', 'waiting for the run in progress'],
      ['j3', 'after the ship'],
      ['j4', 'right after the switch'],
    ];
    const outcomes: { host: HostName; fault: string; point: Point; problem?: string; note: string }[] = [];

    async function inconsistency(h: HostName): Promise<string | undefined> {
      const facts = new Map(
        (
          await inHost(
            h,
            `d=${dir(h)}; c=$(readlink $d/current); c=\${c#releases/}; echo "current=$c"; echo "timer=$(systemctl is-active ${project(h)}.timer)"; ` +
              `echo "enabled=$(systemctl is-enabled ${project(h)}.timer)"; ` +
              `cmp -s /etc/systemd/system/${project(h)}.service $d/.units/$c.service && echo unit=same || echo unit=differs; ` +
              `cmp -s /etc/systemd/system/${project(h)}.timer $d/.units/$c.timer && echo timerfile=same || echo timerfile=differs; ` +
              `echo "lock=$(tr '\\n' ' ' < $d/.deploy.lock/owner 2>/dev/null)"`,
          )
        )
          .split('\n')
          .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const),
      );
      const problems: string[] = [];
      if (!facts.get('current')) problems.push('no current release');
      if (facts.get('timer') !== 'active') problems.push(`timer ${facts.get('timer')}`);
      if (facts.get('enabled') !== 'enabled') problems.push(`timer ${facts.get('enabled')}`);
      if (facts.get('unit') !== 'same') problems.push('the installed unit is not the current release’s');
      if (facts.get('timerfile') !== 'same') problems.push('the installed timer is not the current release’s');
      const lock = facts.get('lock') ?? '';
      if (lock !== '' && !staleness(parseOwner(lock.replace(/ /g, '\n'))).stale) problems.push(`the lock is held and not provably stale: ${lock}`);
      return problems.length > 0 ? problems.join('; ') : undefined;
    }

    /** Nothing of the deploy is still going on the host: no run it waits for, no armed revert. */
    const settle = async (h: HostName) => {
      await eventually(`${h}: the run ended`, 40_000, async () => !(await running(h)));
      await sleep(3000);
      await eventually(
        `${h}: the revert settled`,
        40_000,
        async () => (await inHost(h, `test -e ${dir(h)}/.revert/armed && echo armed || echo clear`)) === 'clear',
      );
    };

    async function faultCase(h: HostName, fault: 'kill' | 'cut', point: Point): Promise<void> {
      await mode(h, point === 'waiting for the run in progress' ? 'slow 8' : 'ok');
      if (point === 'waiting for the run in progress') await eventually('a run in progress', 30_000, () => running(h));
      const before = await current(h);
      let activating = false;
      const run = startCli(args('deploy', project(h), '--artifact', art['v2']!, ...WINDOW), env(), (chunk) => {
        if (/switching to /.test(chunk)) activating = true;
      });
      if (point === 'right after the switch') await eventually('switched', 30_000, async () => (await current(h)) !== before);
      else await eventually('shipped', 30_000, async () => activating);
      if (point === 'waiting for the run in progress') assert.ok(await running(h), 'the run ended before the fault');
      const { result, at: t0 } = await applyFault(fleet, run, fault === 'kill' ? { kind: 'kill' } : { kind: 'cut', host: h });
      const exitS = ((Date.now() - t0) / 1000).toFixed(1);
      await settle(h);
      const problem = await inconsistency(h);
      const live = await current(h);
      await mode(h, 'ok');
      const next = await deploy(h, 'v1');
      const nextProblem = next.status === 0 ? undefined : `the next deploy failed: ${next.stdout}`;
      outcomes.push({
        host: h,
        fault,
        point,
        ...((problem ?? nextProblem) ? { problem: [problem, nextProblem].filter(Boolean).join('; ') } : {}),
        note: `CLI exit ${result.status ?? 'signal'} ${exitS}s after the fault; then ${live === before ? 'the release from before' : 'the new release'} (${live}) with its timer`,
      });
    }

    await Promise.all(
      plan.map(async ([h, point]) => {
        await faultCase(h, 'kill', point);
        await faultCase(h, 'cut', point);
      }),
    );
    for (const o of outcomes)
      console.log(
        `  ${o.problem ? '✖' : '✔'} ${o.fault === 'kill' ? 'SIGKILL' : 'network cut'} ${o.point} (${o.host}): ${o.problem ?? 'consistent'} — ${o.note}`,
      );
    const survived = outcomes.filter((o) => !o.problem).length;
    console.log(`${survived}/${outcomes.length} fault points survived`);
    assert.equal(outcomes.length, 6);
    assert.equal(
      survived,
      outcomes.length,
      outcomes
        .filter((o) => o.problem)
        .map((o) => `${o.fault} ${o.point}: ${o.problem}`)
        .join('\n'),
    );
  });
});

// reapply under faults, on a real test host: a service drifted by hand (its unit's ExecStart
// edited, a drop-in added, both running), then `reapply` with its CLI killed (SIGKILL) or the
// host's network cut at each step it reports. Each ends with the service healthy on either the
// drifted or the declared state (never a mix the host did not run), `drift` afterwards telling
// the truth about what is on the host, and the next `reapply` converging to zero findings.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { realHostsSkipReason, TestFleet } from '../harness/test-fleet.js';
import { killWithChildren } from '../harness/faults.js';
import { applyFault } from '../ops/faults.js';
import { eventually, json, runCli, sleep, startCli } from '../ops/helpers.js';
import { appSource, fleetRoot } from '../ops/real-fleet.js';

const HOST = 'r1';
const PORT = 8080;
const UNIT = '/etc/systemd/system/shop.service';
const DROP_IN = '/etc/systemd/system/shop.service.d/debug.conf';

/** A progress line without what changes from run to run (a release's id, a duration, a size), so a step of one run finds the same step of the next. */
const shape = (line: string) =>
  line
    .trim()
    .replace(/\d{8}T\d{6,9}Z-[0-9a-f]{8}/g, '<release>')
    .replace(/\b\d+(\.\d+)?\s?(s|ms|bytes)\b/g, '<n>')
    .replace(/set-aside\/[^/\s]+\//g, 'set-aside/<run>/');

interface Finding {
  id: string;
  kind: string;
  subject: string;
  verdict: string;
}

describe('reapply under faults on a real host', { skip: realHostsSkipReason(), timeout: 1_800_000 }, () => {
  let fleet: TestFleet;
  let root = '';
  let controlDir = '';
  let declaredUnit = '';
  const env = () => ({ MANAGE_APPS_CONTROL_DIR: controlDir });
  const args = (...a: string[]) => [...a, '--root', root, '--ssh-config', fleet.sshConfigPath, '--connect-timeout', '2'];
  const cli = (...a: string[]) => runCli(args(...a), env());
  const inHost = async (script: string) => {
    const r = await fleet.exec(HOST, ['sh', '-c', script]);
    assert.equal(r.exitCode, 0, `${script}\n${r.stdout}${r.stderr}`);
    return r.stdout;
  };
  const served = async () => {
    try {
      return (await (await fetch(`http://${fleet.host(HOST).address}:${PORT}/`, { signal: AbortSignal.timeout(3000) })).text()).trim();
    } catch (error) {
      return `no answer (${(error as Error).message})`;
    }
  };
  const drift = async () => {
    const r = await cli('drift', '--json');
    if (r.status !== 0 && r.status !== 1) throw new Error(`drift exit ${r.status}: ${r.stdout}${r.stderr}`);
    return json<{ findings: Finding[] }>(r).findings;
  };
  /** The hand edits: ExecStart with a flag, a drop-in; systemd reloaded and the service restarted on them (the drifted state runs). */
  const driftByHand = () =>
    inHost(
      `sed -i 's|^ExecStart=.*|ExecStart=/usr/bin/node --no-warnings server.mjs|' ${UNIT} && mkdir -p ${UNIT}.d && printf '[Service]\\nEnvironment=DEBUG=1\\n' > ${DROP_IN} && systemctl daemon-reload && systemctl restart shop.service`,
    );
  /** No deploy of shop is in flight or armed: the host's revert window has passed. */
  const settle = () =>
    eventually(
      'the revert settled',
      60_000,
      async () => (await fleet.exec(HOST, ['sh', '-c', 'test -e /srv/shop/.revert/armed && echo armed || echo clear'])).stdout.trim() === 'clear',
    );

  before(async () => {
    fleet = await TestFleet.up({ names: [HOST] });
    controlDir = mkdtempSync(join(tmpdir(), 'manage-apps-cm-'));
    root = await fleetRoot(fleet.hosts, {
      'shop/.infra.yaml': `apiVersion: infra/v2\nproject: shop\nprovider: bare-metal\nservice:\n  host: ${HOST}\n  port: ${PORT}\n  command: node server.mjs\n  artifact: app\n  health: { timeout: 8s }\n`,
      'shop/app/server.mjs': appSource({ version: 'v1' }),
    });
    const d = await cli('deploy', '--all', '--json');
    assert.equal(d.status, 0, d.stdout + d.stderr);
    declaredUnit = await inHost(`cat ${UNIT}`);
    await inHost('systemctl disable --now caddy.service >/dev/null 2>&1; true');
    assert.deepEqual(await drift(), [], 'a freshly deployed host has no drift');
  });

  after(async () => {
    await fleet?.down();
    for (const d of [root, controlDir]) if (d) rmSync(d, { recursive: true, force: true });
  });

  test('the CLI killed or the network cut at each step of reapply: the service healthy on one state, drift truthful, the next reapply converges', async () => {
    // The steps reapply reports (its progress on stderr), from a run without faults.
    await driftByHand();
    const clean = await cli('reapply', '--ready-timeout', '5');
    assert.equal(clean.status, 0, clean.stdout + clean.stderr);
    const steps = [...new Set(clean.stderr.split('\n').map(shape))].filter((l) => l !== '');
    assert.ok(steps.length >= 2, `reapply reports its steps:\n${clean.stderr}`);
    console.log(`# reapply's steps: ${steps.join(' | ')}`);
    let points = 0;
    let survived = 0;
    const failures: string[] = [];
    for (const line of steps) {
      for (const kind of ['kill', 'cut'] as const) {
        points++;
        const label = `${kind} at "${line}"`;
        await driftByHand();
        const drifted = await inHost(`cat ${UNIT}`);
        let fire: () => void = () => {};
        const fired = new Promise<'fired'>((resolve) => (fire = () => resolve('fired')));
        let seen = '';
        const run = startCli(args('reapply', '--ready-timeout', '5'), env(), (chunk) => {
          seen += chunk;
          if (seen.split('\n').some((l) => shape(l) === line)) fire();
        });
        if ((await Promise.race([fired, run.done.then(() => 'ended' as const)])) !== 'fired') {
          failures.push(`${label}: the step never showed (${(await run.done).stderr})`);
          continue;
        }
        if (kind === 'kill') {
          killWithChildren(run.pid);
          await run.done;
        } else await applyFault(fleet, run, { kind: 'cut', host: HOST });
        const problems: string[] = [];
        try {
          await settle();
        } catch (error) {
          problems.push((error as Error).message);
        }
        await sleep(1000);
        // One state, the host's own: the unit is the drifted or the declared one, and the service runs it and answers.
        const unit = await inHost(`cat ${UNIT}`);
        const state = unit === drifted ? 'drifted' : unit === declaredUnit ? 'declared' : 'neither';
        if (state === 'neither') problems.push(`the unit is neither the drifted nor the declared one:\n${unit}`);
        const active = (await fleet.exec(HOST, ['systemctl', 'is-active', 'shop.service'])).stdout.trim();
        if (active !== 'active') problems.push(`shop.service is ${active}`);
        const answer = await eventually('shop answers', 20_000, async () => (await served()) === 'v1').then(
          () => 'v1',
          async () => served(),
        );
        if (answer !== 'v1') problems.push(`shop answers ${answer}`);
        const dropIn = (await fleet.exec(HOST, ['test', '-f', DROP_IN])).exitCode === 0;
        // drift tells the truth about what is there.
        const found = await drift();
        const unitFinding = found.find((f) => f.kind === 'unit' && f.subject === UNIT);
        if (state === 'drifted' && unitFinding?.verdict !== 'edited on host')
          problems.push(`the unit is the hand-edited one, drift says ${unitFinding?.verdict ?? 'nothing'}`);
        if (state === 'declared' && unitFinding !== undefined) problems.push(`the unit is the declared one, drift says ${unitFinding.verdict}`);
        const dropInFinding = found.some((f) => f.kind === 'drop-in' && f.subject === DROP_IN);
        if (dropIn !== dropInFinding)
          problems.push(`the drop-in is ${dropIn ? 'there' : 'gone'}, drift ${dropInFinding ? 'reports' : 'does not report'} it`);
        const others = found.filter((f) => !(f.kind === 'unit' && f.subject === UNIT) && !(f.kind === 'drop-in' && f.subject === DROP_IN));
        if (others.length > 0) problems.push(`drift reports more: ${others.map((f) => `${f.id} ${f.verdict}`).join(', ')}`);
        // The next reapply converges.
        const rerun = await cli('reapply', '--ready-timeout', '5', '--json');
        if (rerun.status !== 0) problems.push(`the next reapply exits ${rerun.status}: ${rerun.stdout.slice(-1500)}`);
        const left = await drift();
        if (left.length > 0) problems.push(`after the next reapply drift still finds ${left.map((f) => f.id).join(', ')}`);
        if ((await inHost(`cat ${UNIT}`)) !== declaredUnit) problems.push('after the next reapply the unit is not the declared one');
        console.log(`# ${label}: ${problems.length === 0 ? `${state}, healthy, drift truthful, converged` : problems.join('; ')}`);
        if (problems.length === 0) survived++;
        else failures.push(`${label}: ${problems.join('; ')}`);
      }
    }
    console.log(`# ${survived}/${points} fault points survived`);
    assert.deepEqual(failures, []);
  });
});

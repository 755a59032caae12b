/**
 * Benchmark (not a test) of delivered secrets on real test hosts, in one run:
 *
 * 1. `manage-apps secrets status` on N hosts × M services (two secrets each, delivered by one
 *    `secrets push`), against the floor: one bare `ssh <host> cat <salt> <its fingerprints files>`
 *    per host, all hosts in parallel, with manage-apps' own ssh options; cold connections (a fresh
 *    ControlPath directory each run) and warm ones (a live master). Target ≤ 1.3×.
 * 2. One `secrets push` of a changed value to one running service (the write, the switch and the
 *    restart through its readiness gate) against the bare restart (`ssh <host> 'systemctl restart
 *    <unit>; until <readiness answers 200>'`) and against `manage-apps restart <service>` (the
 *    CLI's own gated restart). Target: adds < 0.3 s, ≤ 2 ssh round trips per host.
 *
 * `secrets status` is also timed through the resident process (`manage-apps daemon start`,
 * docs/performance.md "Resident process") in the same run against the same floor; the plain runs
 * never use it (MANAGE_APPS_DAEMON=0). `secrets push` changes hosts: it always runs in a process of
 * its own, so part 2 has no such column.
 *
 * Round trips are counted by an `ssh` earlier on PATH that logs each invocation and runs the real
 * one (control commands `-O` not counted).
 *
 *   npm run build && npx tsc -p tsconfig.test.json && node .build-test/bench/secrets-status.js [--hosts 10] [--services 5] [--reps 3]
 *
 * Needs what the real test hosts need (Linux, root; see docs/test-hosts.md). Prints medians and
 * the ratios with PASS/MISS, and one JSON line. Timings never fail the process.
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { packageRoot } from '../src/package-root.js';
import { sshBaseArgs } from '../src/transport/ssh.js';
import { prerequisites } from '../test/harness/test-fleet.js';
import { controlDirs, withBenchFleet, writeTinyServicesRoot } from './lib/fleet.js';
import { fmt, median, run, runMain } from './lib/measure.js';

const { values } = parseArgs({
  options: { hosts: { type: 'string', default: '10' }, services: { type: 'string', default: '5' }, reps: { type: 'string', default: '3' } },
});
const HOSTS = Number(values.hosts);
const SERVICES = Number(values.services);
const REPS = Number(values.reps);
const repo = packageRoot();
const bin = join(repo, 'bin', 'manage-apps.js');
const SECRETS_ROOT = '/var/lib/manage-apps/secrets';

async function main(): Promise<number> {
  const pre = prerequisites();
  if (!pre.ok) {
    console.error(`bench/secrets-status: real test hosts unavailable: ${pre.reason}`);
    return 2;
  }
  const app = readFileSync(join(repo, 'examples/fleet/apps/tiny-http.mjs'), 'utf8');
  console.error(`booting ${HOSTS} hosts…`);
  return withBenchFleet({ count: HOSTS }, { connectTimeoutSec: 5 }, 'manage-apps-bench-secrets-', async (fleet, work) => {
    for (const h of fleet.hosts) await fleet.waitForSystemState(h);
    // The ssh that counts round trips: each invocation logged, then the real ssh.
    const shimDir = join(work, 'shim');
    const log = join(work, 'ssh.log');
    mkdirSync(shimDir);
    writeFileSync(
      join(shimDir, 'ssh'),
      `#!/bin/sh\ncase " $* " in *" -O "*) ;; *) for a; do last=$a; done; printf '%s\\n' "$last" >> ${JSON.stringify(log)} ;; esac\nexec /usr/bin/ssh "$@"\n`,
    );
    chmodSync(join(shimDir, 'ssh'), 0o755);
    const counted = { PATH: `${shimDir}:${process.env['PATH'] ?? ''}` };
    const roundTrips = () => {
      let lines: string[] = [];
      try {
        lines = readFileSync(log, 'utf8').split('\n').filter(Boolean);
      } catch {
        lines = [];
      }
      writeFileSync(log, '');
      return lines.length;
    };

    const root = join(work, 'root');
    const projects = writeTinyServicesRoot(
      root,
      fleet,
      SERVICES,
      app,
      `  secrets:\n    SIGNING_KEY: { env: BENCH_SIGNING_KEY }\n    API_TOKEN: { env: BENCH_API_TOKEN, as: env }\n`,
    );
    const config = fleet.sshConfigPath;
    const { fresh, cold } = controlDirs(fleet, work);
    const secretEnv = { BENCH_SIGNING_KEY: randomBytes(24).toString('base64url'), BENCH_API_TOKEN: randomBytes(24).toString('base64url') };
    const warmDir = fresh();
    const cli = (args: string[], controlDir: string, extra: NodeJS.ProcessEnv = {}) =>
      run(process.execPath, [bin, ...args, '--root', root, '--ssh-config', config], {
        MANAGE_APPS_CONTROL_DIR: controlDir,
        MANAGE_APPS_DAEMON: '0',
        ...secretEnv,
        ...extra,
      });
    const runtime = join(work, 'runtime');
    mkdirSync(runtime, { mode: 0o700 });
    const viaDaemon = { XDG_RUNTIME_DIR: runtime, MANAGE_APPS_DAEMON: '1' };
    const started = await run(process.execPath, [bin, 'daemon', 'start', '--idle', '10m', '--json'], viaDaemon);
    if (started.status !== 0) throw new Error(`daemon start failed: ${started.stderr}`);
    const served = async () =>
      (JSON.parse((await run(process.execPath, [bin, 'daemon', 'status', '--json'], viaDaemon)).stdout) as { requests: number }).requests;

    console.error(`delivering ${projects.length * 2} secrets…`);
    const pushed = await cli(['secrets', 'push', '--json'], warmDir);
    if (pushed.status !== 0) throw new Error(`secrets push failed: ${pushed.stdout.slice(-3000)} ${pushed.stderr.slice(-2000)}`);

    // ---- 1. secrets status against bare ssh cat -------------------------------------------------
    const onHost = (host: string) =>
      `cat ${SECRETS_ROOT}/salt ${projects
        .filter((p) => p.host === host)
        .map((p) => `${SECRETS_ROOT}/prod/${p.project}/current/fingerprints`)
        .join(' ')}`;
    const floor = async (controlDir: string) => {
      const t = process.hrtime.bigint();
      const results = await Promise.all(
        fleet.hosts.map((h) => run('ssh', [...sshBaseArgs({ configFile: config, controlDir, connectTimeoutS: 10 }), '--', h.alias, onHost(h.name)])),
      );
      const bad = results.find((r) => r.status !== 0 || !r.stdout.includes('hmac-sha256:'));
      if (bad) throw new Error(`floor ssh failed: ${bad.stderr}`);
      return Number(process.hrtime.bigint() - t) / 1e6;
    };
    const status = async (controlDir: string, extra: NodeJS.ProcessEnv = {}) => {
      const r = await cli(['secrets', 'status', '--json'], controlDir, extra);
      if (r.status !== 0) throw new Error(`secrets status is not all current (exit ${r.status}): ${r.stdout.slice(0, 3000)} ${r.stderr}`);
      return r.ms;
    };
    const daemonStatus = (controlDir: string) => status(controlDir, viaDaemon);
    const times: Record<string, number[]> = {
      floorCold: [],
      statusCold: [],
      daemonCold: [],
      floorWarm: [],
      statusWarm: [],
      daemonWarm: [],
      nodeStart: [],
    };
    await floor(warmDir);
    await status(warmDir);
    await daemonStatus(warmDir);
    const servedBefore = await served();
    for (let i = 0; i < REPS; i++) {
      const order: Array<[string, () => Promise<number>]> = [
        ['floorCold', cold(floor)],
        ['statusCold', cold(status)],
        ['daemonCold', cold(daemonStatus)],
        ['floorWarm', () => floor(warmDir)],
        ['statusWarm', () => status(warmDir)],
        ['daemonWarm', () => daemonStatus(warmDir)],
        // What any command of a CLI written for node pays before its first line runs: `node -e 0`.
        ['nodeStart', async () => (await run(process.execPath, ['-e', '0'])).ms],
      ];
      if (i % 2 === 1) order.reverse();
      for (const [name, f] of order) times[name]!.push(await f());
    }
    // Every daemon run was served there (none fell back to a process of its own).
    const servedCount = (await served()) - servedBefore;
    if (servedCount !== 2 * REPS) throw new Error(`the resident process served ${servedCount} of ${2 * REPS} runs`);
    await run(process.execPath, [bin, 'daemon', 'stop'], viaDaemon);
    roundTrips();
    await cli(['secrets', 'status', '--json'], warmDir, counted);
    const statusTrips = roundTrips();

    // ---- 2. one push + gated restart against the bare restart -----------------------------------
    const target = projects[0]!;
    console.error(`deploying ${target.project}…`);
    const deployed = await cli(['deploy', target.project, '--json'], warmDir);
    if (deployed.status !== 0) throw new Error(`deploy failed: ${deployed.stdout.slice(-3000)} ${deployed.stderr.slice(-2000)}`);
    const alias = fleet.hosts.find((h) => h.name === target.host)!.alias;
    const bareRestart = async () => {
      const t = process.hrtime.bigint();
      const r = await run('ssh', [
        ...sshBaseArgs({ configFile: config, controlDir: warmDir, connectTimeoutS: 10 }),
        '--',
        alias,
        `systemctl restart ${target.project}.service && until [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 http://127.0.0.1:${target.port}/readyz)" = 200 ]; do sleep 0.02; done`,
      ]);
      if (r.status !== 0) throw new Error(`bare restart failed: ${r.stderr}`);
      return Number(process.hrtime.bigint() - t) / 1e6;
    };
    const cliRestart = async () => {
      const r = await cli(['restart', target.project, '--json'], warmDir);
      if (r.status !== 0) throw new Error(`manage-apps restart failed: ${r.stdout.slice(-2000)}`);
      return r.ms;
    };
    const push = async (extra: NodeJS.ProcessEnv = {}) => {
      // A new value each time: the push writes, switches and restarts through the gate.
      const r = await cli(['secrets', 'push', target.project, '--json'], warmDir, {
        BENCH_API_TOKEN: randomBytes(24).toString('base64url'),
        ...extra,
      });
      const doc = JSON.parse(r.stdout) as { services: { outcome: string; restart: { ok: boolean } | null }[] };
      if (r.status !== 0 || doc.services[0]?.outcome !== 'delivered' || doc.services[0].restart?.ok !== true)
        throw new Error(`secrets push did not deliver and restart: ${r.stdout.slice(-2000)} ${r.stderr}`);
      return r.ms;
    };
    // Where push's time goes: node's start and the CLI's import (--version), then what a dry run
    // adds (the fleet loaded, the values resolved, the read round trip), then the rest (the write
    // round trip: write, switch, restart, the gate).
    const version = async () => (await run(process.execPath, [bin, '--version'])).ms;
    const pushDry = async () => {
      const r = await cli(['secrets', 'push', target.project, '--dry-run', '--json'], warmDir, {
        BENCH_API_TOKEN: randomBytes(24).toString('base64url'),
      });
      if (r.status !== 0) throw new Error(`secrets push --dry-run failed: ${r.stdout.slice(-2000)} ${r.stderr}`);
      return r.ms;
    };
    const restartTimes: Record<string, number[]> = { bare: [], cliRestart: [], push: [], version: [], pushDry: [] };
    await bareRestart();
    await cliRestart();
    await push();
    for (let i = 0; i < REPS; i++) {
      const order: Array<[string, () => Promise<number>]> = [
        ['bare', bareRestart],
        ['cliRestart', cliRestart],
        ['push', () => push()],
        ['version', version],
        ['pushDry', pushDry],
      ];
      if (i % 2 === 1) order.reverse();
      for (const [name, f] of order) restartTimes[name]!.push(await f());
    }
    roundTrips();
    await push(counted);
    const pushTrips = roundTrips();

    const m = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)])) as Record<string, number>;
    const r = Object.fromEntries(Object.entries(restartTimes).map(([k, v]) => [k, median(v)])) as Record<string, number>;
    const ratioCold = m['statusCold']! / m['floorCold']!;
    const ratioWarm = m['statusWarm']! / m['floorWarm']!;
    const daemonRatioCold = m['daemonCold']! / m['floorCold']!;
    const daemonRatioWarm = m['daemonWarm']! / m['floorWarm']!;
    // The least a command that starts node can take warm: the floor's round trips plus node's start.
    const boundWarm = (m['floorWarm']! + m['nodeStart']!) / m['floorWarm']!;
    const addsBare = r['push']! - r['bare']!;
    const addsCli = r['push']! - r['cliRestart']!;
    const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');
    console.log(
      [
        `manage-apps secrets, ${HOSTS} hosts × ${SERVICES} services × 2 secrets, median of ${REPS} (machine: ${cpus().length} CPUs)`,
        `  floor (ssh cat salt + fingerprints, parallel)   cold ${fmt(m['floorCold']!)}   warm ${fmt(m['floorWarm']!)}`,
        `  manage-apps secrets status (whole CLI)          cold ${fmt(m['statusCold']!)}   warm ${fmt(m['statusWarm']!)}   (${statusTrips} ssh round trips for ${HOSTS} hosts)`,
        `  ratio to the floor                              cold ${ratioCold.toFixed(2)}×   warm ${ratioWarm.toFixed(2)}×   target ≤ 1.3×: cold ${verdict(ratioCold <= 1.3)}, warm ${verdict(ratioWarm <= 1.3)}`,
        `  secrets status through the resident process    cold ${fmt(m['daemonCold']!)}   warm ${fmt(m['daemonWarm']!)}`,
        `  ratio to the floor                              cold ${daemonRatioCold.toFixed(2)}×   warm ${daemonRatioWarm.toFixed(2)}×   target ≤ 1.3×: cold ${verdict(daemonRatioCold <= 1.3)}, warm ${verdict(daemonRatioWarm <= 1.3)}`,
        `  least any node CLI can take warm (floor + node -e 0)  ${fmt(m['floorWarm']! + m['nodeStart']!)} = ${boundWarm.toFixed(2)}× the floor${boundWarm > 1.3 ? ': the warm target is below what node alone costs here' : ''}`,
        `one service: push of a changed value + gated restart`,
        `  bare restart (ssh systemctl restart; until readiness 200)   ${fmt(r['bare']!)}`,
        `  manage-apps restart (whole CLI, gated)                       ${fmt(r['cliRestart']!)}`,
        `  manage-apps secrets push (whole CLI: write, switch, gated restart)   ${fmt(r['push']!)}   (${pushTrips} ssh round trips)`,
        `  of which: node's start + the CLI's import (--version) ${fmt(r['version']!)}; + the fleet, the values and the read (--dry-run) ${fmt(r['pushDry']! - r['version']!)}; + the write round trip (write, switch, restart, gate) ${fmt(r['push']! - r['pushDry']!)}`,
        `  push adds ${fmt(addsBare)} to the bare restart, ${fmt(addsCli)} to manage-apps restart; target < 0.3 s: ${verdict(addsBare < 300)} (bare), ${verdict(addsCli < 300)} (CLI restart); ≤ 2 round trips: ${verdict(pushTrips <= 2)}`,
      ].join('\n'),
    );
    console.log(
      JSON.stringify({
        hosts: HOSTS,
        services: SERVICES,
        reps: REPS,
        status_medians_ms: m,
        status_round_trips: statusTrips,
        ratio: { cold: ratioCold, warm: ratioWarm },
        daemon_ratio: { cold: daemonRatioCold, warm: daemonRatioWarm },
        node_bound_ratio_warm: boundWarm,
        restart_medians_ms: r,
        push_round_trips: pushTrips,
        push_adds_ms: { bare: addsBare, cli_restart: addsCli },
      }),
    );
    return 0;
  });
}

runMain(main);

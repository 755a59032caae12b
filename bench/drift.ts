/**
 * Benchmark (not a test): `manage-apps drift` on 10 real test hosts with 5 deployed services
 * each (units rendered by manage-apps, releases, fingerprints), against the floor: one bare
 * `ssh <host> 'systemctl cat <its units>; cat <its files>'` per host, all hosts in parallel, with
 * the same ssh options and multiplexing manage-apps uses — cold connections (a fresh ControlPath
 * directory each run) and warm ones (a live master). The files are what drift reads besides the
 * units: each service's release history and current link, and the fingerprints.
 *
 *   npm run build && npx tsc -p tsconfig.test.json && node .build-test/bench/drift.js [--hosts 10] [--services 5] [--reps 3]
 *
 * In the same run, drift is also timed through the resident process (`manage-apps daemon start`,
 * docs/performance.md "Resident process"): one started for the run, in a socket directory of its
 * own, against the same floor; the plain runs never use it (MANAGE_APPS_DAEMON=0).
 *
 * Needs what the real test hosts need (Linux, root; see docs/test-hosts.md). Drift must report
 * zero findings on the freshly deployed fleet, or the run stops. Prints medians and the ratios
 * with PASS/MISS against the target (≤ 1.5× the floor), and one JSON line. Timings never fail
 * the process.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
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

async function main(): Promise<number> {
  const pre = prerequisites();
  if (!pre.ok) {
    console.error(`bench/drift: real test hosts unavailable: ${pre.reason}`);
    return 2;
  }
  const app = readFileSync(join(repo, 'examples/fleet/apps/tiny-http.mjs'), 'utf8');
  console.error(`booting ${HOSTS} hosts…`);
  return withBenchFleet({ count: HOSTS }, { connectTimeoutSec: 5 }, 'manage-apps-bench-drift-', async (fleet, work) => {
    for (const h of fleet.hosts) await fleet.waitForSystemState(h);
    // Only what the fleet declares runs: the image's Caddy is not part of it.
    await Promise.all(fleet.hosts.map((h) => fleet.exec(h, ['sh', '-c', 'systemctl disable --now caddy.service >/dev/null 2>&1; true'])));
    const root = join(work, 'root');
    const projects = writeTinyServicesRoot(root, fleet, SERVICES, app);
    const config = fleet.sshConfigPath;
    const { fresh, cold } = controlDirs(fleet, work);
    const warmDir = fresh();
    console.error(`deploying ${projects.length} services…`);
    const deployed = await run(process.execPath, [bin, 'deploy', '--all', '--root', root, '--ssh-config', config, '--json'], {
      MANAGE_APPS_CONTROL_DIR: warmDir,
    });
    if (deployed.status !== 0) throw new Error(`deploy failed: ${deployed.stdout.slice(-3000)} ${deployed.stderr.slice(-2000)}`);

    const onHost = (host: string) => {
      const mine = projects.filter((p) => p.host === host);
      const units = mine.map((p) => `${p.project}.service`);
      const files = mine.flatMap((p) => [`/srv/${p.project}/.history`]);
      return `systemctl cat ${units.join(' ')}; readlink ${mine.map((p) => `/srv/${p.project}/current`).join(' ')}; cat ${files.join(' ')} /var/lib/manage-apps/written/* 2>/dev/null`;
    };
    const floor = async (controlDir: string) => {
      const t = process.hrtime.bigint();
      const results = await Promise.all(
        fleet.hosts.map((h) => run('ssh', [...sshBaseArgs({ configFile: config, controlDir, connectTimeoutS: 10 }), '--', h.alias, onHost(h.name)])),
      );
      const bad = results.find((r) => r.status === 255 || !r.stdout.includes('rendered by manage-apps'));
      if (bad) throw new Error(`floor ssh failed: ${bad.stderr}`);
      return Number(process.hrtime.bigint() - t) / 1e6;
    };
    const runtime = join(work, 'runtime');
    mkdirSync(runtime, { mode: 0o700 });
    const viaDaemon = { XDG_RUNTIME_DIR: runtime };
    const started = await run(process.execPath, [bin, 'daemon', 'start', '--idle', '10m', '--json'], viaDaemon);
    if (started.status !== 0) throw new Error(`daemon start failed: ${started.stderr}`);
    const served = async () =>
      (JSON.parse((await run(process.execPath, [bin, 'daemon', 'status', '--json'], viaDaemon)).stdout) as { requests: number }).requests;
    const drift = async (controlDir: string, env: NodeJS.ProcessEnv = { MANAGE_APPS_DAEMON: '0' }) => {
      const r = await run(process.execPath, [bin, 'drift', '--root', root, '--ssh-config', config, '--json'], {
        MANAGE_APPS_CONTROL_DIR: controlDir,
        ...env,
      });
      if (r.status !== 0)
        throw new Error(`drift found something on a freshly deployed fleet (exit ${r.status}): ${r.stdout.slice(0, 3000)} ${r.stderr}`);
      return r.ms;
    };
    const daemonDrift = (controlDir: string) => drift(controlDir, viaDaemon);
    const times: Record<string, number[]> = {
      floorCold: [],
      driftCold: [],
      daemonCold: [],
      floorWarm: [],
      driftWarm: [],
      daemonWarm: [],
      nodeStart: [],
    };
    await floor(warmDir);
    await drift(warmDir); // warms node's disk cache too
    await daemonDrift(warmDir); // and the resident process's model and compiled code
    const servedBefore = await served();
    for (let i = 0; i < REPS; i++) {
      const order: Array<[string, () => Promise<number>]> = [
        ['floorCold', cold(floor)],
        ['driftCold', cold(drift)],
        ['daemonCold', cold(daemonDrift)],
        ['floorWarm', () => floor(warmDir)],
        ['driftWarm', () => drift(warmDir)],
        ['daemonWarm', () => daemonDrift(warmDir)],
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
    const m = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)])) as Record<string, number>;
    const nodeStart = m['nodeStart']!;
    // The least a command that starts node can take warm: the floor's round trips plus node's start.
    const boundWarm = (m['floorWarm']! + nodeStart) / m['floorWarm']!;
    const ratioCold = m['driftCold']! / m['floorCold']!;
    const ratioWarm = m['driftWarm']! / m['floorWarm']!;
    const daemonRatioCold = m['daemonCold']! / m['floorCold']!;
    const daemonRatioWarm = m['daemonWarm']! / m['floorWarm']!;
    console.log(
      [
        `manage-apps drift, ${HOSTS} hosts × ${SERVICES} services (deployed: units, releases, fingerprints), median of ${REPS} (machine: ${cpus().length} CPUs)`,
        `  floor (ssh systemctl cat + cat files, parallel)   cold ${fmt(m['floorCold']!)}   warm ${fmt(m['floorWarm']!)}`,
        `  manage-apps drift (whole CLI, zero findings)      cold ${fmt(m['driftCold']!)}   warm ${fmt(m['driftWarm']!)}   (node -e 0 alone: ${fmt(nodeStart)})`,
        `  ratio to the floor                                cold ${ratioCold.toFixed(2)}×   warm ${ratioWarm.toFixed(2)}×   target ≤ 1.5×: cold ${ratioCold <= 1.5 ? 'PASS' : 'MISS'}, warm ${ratioWarm <= 1.5 ? 'PASS' : 'MISS'}`,
        `  manage-apps drift through the resident process    cold ${fmt(m['daemonCold']!)}   warm ${fmt(m['daemonWarm']!)}`,
        `  ratio to the floor                                cold ${daemonRatioCold.toFixed(2)}×   warm ${daemonRatioWarm.toFixed(2)}×   target ≤ 1.5×: cold ${daemonRatioCold <= 1.5 ? 'PASS' : 'MISS'}, warm ${daemonRatioWarm <= 1.5 ? 'PASS' : 'MISS'}`,
        `  least any node CLI can take warm (floor + node -e 0)  ${fmt(m['floorWarm']! + nodeStart)} = ${boundWarm.toFixed(2)}× the floor${boundWarm > 1.5 ? ': the warm target is below what node alone costs here' : ''}`,
      ].join('\n'),
    );
    console.log(
      JSON.stringify({
        hosts: HOSTS,
        services: SERVICES,
        reps: REPS,
        medians_ms: m,
        node_start_ms: nodeStart,
        node_bound_ratio_warm: boundWarm,
        ratio: { cold: ratioCold, warm: ratioWarm },
        daemon_ratio: { cold: daemonRatioCold, warm: daemonRatioWarm },
      }),
    );
    return 0;
  });
}

runMain(main);

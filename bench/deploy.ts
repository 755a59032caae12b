/**
 * Benchmark (not a test): what one `manage-apps deploy` of a small release costs on a real test
 * host beyond its restart and health wait, and how many ssh round trips it makes.
 *
 *   npm run build && npx tsc -p tsconfig.test.json && node .build-test/bench/deploy.js [--reps 7]
 *
 * Each deploy ships a new release of a small HTTP app over a warm (multiplexed) connection:
 *   - restart + health wait: measured on the host by the gate (`timings.gateMs`);
 *   - added by the deploy: everything else inside the deploy (`timings.overheadMs`: lock, ship,
 *     arming the host's revert, install, switch, the confirmation, prune, unlock, and the
 *     round trips between them), target < 0.3 s;
 *   - the whole CLI run (node start-up and loading the fleet on top);
 *   - ssh round trips, counted independently of manage-apps: an `ssh` on PATH that logs each
 *     invocation, then runs the real one (target ≤ 3).
 * Needs what the real test hosts need (Linux, root; docs/test-hosts.md). Timings never fail
 * the process.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { packageRoot } from '../src/package-root.js';
import { fmt, median, run, runMain } from './lib/measure.js';
import { sshBaseArgs } from '../src/transport/ssh.js';
import { prerequisites } from '../test/harness/test-fleet.js';
import { withBenchFleet } from './lib/fleet.js';

const { values } = parseArgs({ options: { reps: { type: 'string', default: '7' } } });
const REPS = Number(values.reps);
const repo = packageRoot();
const bin = join(repo, 'bin', 'manage-apps.js');

async function main(): Promise<number> {
  const pre = prerequisites();
  if (!pre.ok) {
    console.error(`bench/deploy: real test hosts unavailable: ${pre.reason}`);
    return 2;
  }
  const app = readFileSync(join(repo, 'examples/fleet/apps/tiny-http.mjs'), 'utf8');
  return withBenchFleet({ count: 1 }, { connectTimeoutSec: 5 }, 'manage-apps-bench-deploy-', async (fleet, work) => {
    const h = fleet.hosts[0]!;
    await fleet.waitForSystemState(h);
    const root = join(work, 'root');
    mkdirSync(join(root, 'shop'), { recursive: true });
    writeFileSync(
      join(root, 'mesh-hosts.json'),
      JSON.stringify({
        version: 1,
        mesh: { cidr: '10.98.0.0/16' },
        hosts: { [h.name]: { alias: h.alias, provider: 'bare-metal', role: 'production' } },
      }),
    );
    writeFileSync(
      join(root, 'shop', '.infra.yaml'),
      `apiVersion: infra/v2\nproject: shop\nprovider: bare-metal\nservice:\n  host: ${h.name}\n  port: 8080\n  command: node tiny-http.mjs\n  health: { timeout: 20s }\n`,
    );
    // An ssh that logs each invocation, then runs the real one.
    const shim = join(work, 'shim');
    const log = join(work, 'ssh.log');
    mkdirSync(shim);
    writeFileSync(join(shim, 'ssh'), `#!/bin/sh\necho x >> ${log}\nexec /usr/bin/ssh "$@"\n`);
    chmodSync(join(shim, 'ssh'), 0o755);
    const env = { MANAGE_APPS_CONTROL_DIR: join(work, 'cm'), PATH: `${shim}:${process.env['PATH'] ?? ''}` };
    const overhead: number[] = [];
    const gate: number[] = [];
    const total: number[] = [];
    const cli: number[] = [];
    const trips: number[] = [];
    const reported: number[] = [];
    // The floor, measured between the deploys (same load): three empty round trips on the same
    // warm connection, with manage-apps' own ssh options: what any 3-round-trip deploy pays.
    const floor: number[] = [];
    const sshArgs = [...sshBaseArgs({ configFile: fleet.sshConfigPath, controlDir: env.MANAGE_APPS_CONTROL_DIR }), '--', h.alias, 'sh -s'];
    const emptyTrip = () =>
      new Promise<void>((resolve) => {
        const child = spawn('/usr/bin/ssh', sshArgs, { stdio: ['pipe', 'ignore', 'ignore'] });
        child.on('close', () => resolve());
        child.stdin.end('exit 0\n');
      });
    for (let i = 0; i <= REPS; i++) {
      const dir = join(work, `release-${i}`);
      mkdirSync(dir);
      writeFileSync(join(dir, 'tiny-http.mjs'), `${app}\n// release ${i}\n`);
      writeFileSync(log, '');
      const r = await run(
        process.execPath,
        [bin, 'deploy', 'shop', '--root', root, '--ssh-config', fleet.sshConfigPath, '--artifact', dir, '--json'],
        env,
      );
      if (r.status !== 0) throw new Error(`deploy failed: ${r.stdout} ${r.stderr}`);
      const d = (
        JSON.parse(r.stdout) as {
          deploys: { roundTrips: number; timings: { totalMs: number; gateMs: number; overheadMs: number; shipMs: number; activateMs: number } }[];
        }
      ).deploys[0]!;
      if (process.env['BENCH_VERBOSE']) console.error(JSON.stringify(d.timings));
      if (i === 0) continue; // the first one installs the unit and opens the master connection
      overhead.push(d.timings.overheadMs);
      gate.push(d.timings.gateMs);
      total.push(d.timings.totalMs);
      cli.push(r.ms);
      trips.push(readFileSync(log, 'utf8').split('\n').filter(Boolean).length);
      reported.push(d.roundTrips);
      const f0 = process.hrtime.bigint();
      for (let k = 0; k < 3; k++) await emptyTrip();
      floor.push(Number(process.hrtime.bigint() - f0) / 1e6);
    }
    const o = median(overhead);
    const t = Math.max(...trips);
    console.log(
      [
        `manage-apps deploy of a small release, 1 test host, warm connection, median of ${REPS} (machine: ${cpus().length} CPUs)`,
        `  restart + health wait (on the host)    ${fmt(median(gate))}`,
        `  added by the deploy beyond it          ${fmt(o)}   target < 0.3 s: ${o < 300 ? 'PASS' : 'MISS'}`,
        `    of which three empty round trips     ${fmt(median(floor))} (the floor, measured between the deploys; load average ${loadavg()[0]!.toFixed(1)})`,
        `    the deploy's own work on top          ${fmt(o - median(floor))}`,
        `  the deploy itself                      ${fmt(median(total))}`,
        `  the whole CLI run                      ${fmt(median(cli))}`,
        `  ssh round trips per deploy             ${t} (counted by an ssh shim; manage-apps reports ${median(reported)})   target ≤ 3: ${t <= 3 ? 'PASS' : 'MISS'}`,
      ].join('\n'),
    );
    console.log(
      JSON.stringify({
        reps: REPS,
        medians_ms: { gate: median(gate), overhead: o, floor_3_round_trips: median(floor), deploy: median(total), cli: median(cli) },
        load_average: loadavg()[0],
        round_trips: { counted_max: t, reported: median(reported) },
      }),
    );
    return 0;
  });
}

runMain(main);

/**
 * Benchmark (not a test): `manage-apps move` of a stateless service between two real test hosts
 * against the floor of the same move done by hand with bare commands, in one run.
 *
 *   npm run build && npx tsc -p tsconfig.test.json && node .build-test/bench/move.js [--reps 5] [--mb 20]
 *
 * The service: a small HTTP app with a payload of --mb MiB of incompressible bytes in its release.
 *   - manage-apps: `move shop --to <other>` (read the release live on the source onto this
 *     machine, deploy it on the target with lock, unit, start and readiness gate, stop and disable
 *     the source's unit, edit the manifest), alternately in each direction;
 *   - the floor: `ssh source tar -c <release> | ssh target tar -x`, a unit written by hand,
 *     `systemctl start`, a curl loop until /readyz answers, `systemctl stop` on the source —
 *     over the same warm ssh connections.
 * Target: move ≤ 1.3× the floor. Databases are not moved by `move` yet: this measures the
 * stateless part only. Timings never fail the process.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { packageRoot } from '../src/package-root.js';
import { sshBaseArgs } from '../src/transport/ssh.js';
import { prerequisites } from '../test/harness/test-fleet.js';
import { withBenchFleet } from './lib/fleet.js';
import { fmt, median, run, runMain } from './lib/measure.js';

const { values } = parseArgs({ options: { reps: { type: 'string', default: '5' }, mb: { type: 'string', default: '20' } } });
const REPS = Number(values.reps);
const MB = Number(values.mb);
const repo = packageRoot();
const bin = join(repo, 'bin', 'manage-apps.js');

async function main(): Promise<number> {
  const pre = prerequisites();
  if (!pre.ok) {
    console.error(`bench/move: real test hosts unavailable: ${pre.reason}`);
    return 2;
  }
  return withBenchFleet({ names: ['src1', 'dst1'] }, { connectTimeoutSec: 5 }, 'manage-apps-bench-move-', async (fleet, work) => {
    const [a, b] = fleet.hosts as [(typeof fleet.hosts)[0], (typeof fleet.hosts)[0]];
    for (const h of fleet.hosts) await fleet.waitForSystemState(h);
    const root = join(work, 'root');
    mkdirSync(join(root, 'shop'), { recursive: true });
    writeFileSync(
      join(root, 'mesh-hosts.json'),
      JSON.stringify({
        version: 1,
        mesh: { cidr: '10.98.0.0/16' },
        hosts: Object.fromEntries(fleet.hosts.map((h) => [h.name, { alias: h.alias, provider: 'bare-metal', role: 'production' }])),
      }),
    );
    const manifest = join(root, 'shop', '.infra.yaml');
    writeFileSync(
      manifest,
      `apiVersion: infra/v2\nproject: shop\nprovider: bare-metal\nservice:\n  host: ${a.name}\n  port: 8080\n  command: node tiny-http.mjs\n  health: { timeout: 20s }\n`,
    );
    const release = join(work, 'release');
    mkdirSync(release);
    writeFileSync(join(release, 'tiny-http.mjs'), readFileSync(join(repo, 'examples/fleet/apps/tiny-http.mjs')));
    writeFileSync(join(release, 'payload.bin'), randomBytes(MB * 1024 * 1024));
    const env = { MANAGE_APPS_CONTROL_DIR: join(work, 'cm') };
    const cli = (...args: string[]) => run(process.execPath, [bin, ...args, '--root', root, '--ssh-config', fleet.sshConfigPath], env);
    const first = await cli('deploy', 'shop', '--artifact', release);
    if (first.status !== 0) throw new Error(`deploy failed: ${first.stdout} ${first.stderr}`);

    const ssh = (alias: string, remote: string) =>
      ['/usr/bin/ssh', [...sshBaseArgs({ configFile: fleet.sshConfigPath, controlDir: env.MANAGE_APPS_CONTROL_DIR }), '--', alias, remote]] as const;
    /** The floor: the same move by hand, from one host to the other (a pipe between two ssh). */
    const byHand = (from: typeof a, to: typeof a) =>
      new Promise<number>((resolve, reject) => {
        const t0 = process.hrtime.bigint();
        const [cmd, readArgs] = ssh(from.alias, 'tar -C /srv/shop/current/ -cf - .');
        const unit = '[Service]\\nEnvironment=PORT=8090\\nWorkingDirectory=/srv/shop-hand\\nExecStart=/usr/bin/node tiny-http.mjs\\n';
        const [, writeArgs] = ssh(
          to.alias,
          `rm -rf /srv/shop-hand && mkdir -p /srv/shop-hand && tar -C /srv/shop-hand -xf - && printf '${unit}' > /etc/systemd/system/shop-hand.service && systemctl daemon-reload && systemctl start shop-hand.service && until curl -fs http://127.0.0.1:8090/readyz >/dev/null; do sleep 0.05; done`,
        );
        const reader = spawn(cmd, readArgs, { stdio: ['ignore', 'pipe', 'inherit'] });
        const writer = spawn(cmd, writeArgs, { stdio: ['pipe', 'ignore', 'inherit'] });
        reader.stdout.pipe(writer.stdin);
        writer.on('close', (code) => {
          if (code !== 0) return reject(new Error(`the move by hand failed (${code})`));
          const [, stopArgs] = ssh(from.alias, 'systemctl stop shop-hand.service 2>/dev/null; true');
          spawn(cmd, stopArgs, { stdio: 'ignore' }).on('close', () => resolve(Number(process.hrtime.bigint() - t0) / 1e6));
        });
      });
    const moves: number[] = [];
    const floors: number[] = [];
    let here = a;
    for (let i = 0; i <= REPS; i++) {
      const there = here === a ? b : a;
      const m = await cli('move', 'shop', '--to', there.name);
      if (m.status !== 0) throw new Error(`move failed: ${m.stdout} ${m.stderr}`);
      if (process.env['BENCH_VERBOSE']) console.error(`${m.stderr}  (the whole run: ${fmt(m.ms)})`);
      const f = await byHand(here, there);
      here = there;
      if (i === 0) continue; // the first opens the master connections and installs the unit on the target
      moves.push(m.ms);
      floors.push(f);
    }
    const ratio = median(moves) / median(floors);
    console.log(
      [
        `manage-apps move of a stateless service (${MB} MiB release) between 2 test hosts, median of ${REPS} (machine: ${cpus().length} CPUs, load average ${loadavg()[0]!.toFixed(1)})`,
        `  manage-apps move (the whole CLI run)   ${fmt(median(moves))}`,
        `  by hand: tar | tar, unit, systemctl start, readiness, stop   ${fmt(median(floors))}`,
        `  ratio                                  ${ratio.toFixed(2)}×   target ≤ 1.3×: ${ratio <= 1.3 ? 'PASS' : 'MISS'}`,
      ].join('\n'),
    );
    console.log(
      JSON.stringify({ reps: REPS, mb: MB, medians_ms: { move: median(moves), floor: median(floors) }, ratio, load_average: loadavg()[0] }),
    );
    return 0;
  });
}

runMain(main);

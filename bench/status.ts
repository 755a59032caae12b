/**
 * Benchmark (not a test): `manage-apps status` on 10 real test hosts with 5 units each, against
 *   (a) the floor: one batched `ssh <host> systemctl show …` per host, all hosts in parallel
 *       (the same ssh options and multiplexing manage-apps uses),
 *   (a') the floor with the health probes status also makes: the same, plus one curl per host
 *       for every readiness and liveness path (what status learns, with nothing else), and
 *   (b) Ansible's service_facts on the same hosts, when ansible-playbook is installed
 *       (Debian: apt-get install -y ansible-core),
 * with cold connections (a fresh ControlPath directory each run) and warm ones (a live
 * multiplexed master). Then what a deploy adds beyond its restart and health wait.
 *
 *   npm run build && npx tsc -p tsconfig.test.json && node .build-test/bench/status.js [--hosts 10] [--units 5] [--reps 5]
 *
 * Needs what the real test hosts need (Linux, root; see docs/test-hosts.md). Prints medians and
 * ratios with PASS/MISS against the targets (within 1.3× of the floor; ≥ 10× faster than
 * Ansible), and one JSON line. Timings never fail the process.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { packageRoot } from '../src/package-root.js';
import { fmt, median, run, runMain } from './lib/measure.js';
import { sshBaseArgs } from '../src/transport/ssh.js';
import { prerequisites, writeUpperFile, ensureUpperDir } from '../test/harness/test-fleet.js';
import { withBenchFleet } from './lib/fleet.js';
import { symlinkSync } from 'node:fs';

const { values } = parseArgs({
  options: { hosts: { type: 'string', default: '10' }, units: { type: 'string', default: '5' }, reps: { type: 'string', default: '5' } },
});
const HOSTS = Number(values.hosts);
const UNITS = Number(values.units);
const REPS = Number(values.reps);
const repo = packageRoot();
const bin = join(repo, 'bin', 'manage-apps.js');

async function main(): Promise<number> {
  const pre = prerequisites();
  if (!pre.ok) {
    console.error(`bench/status: real test hosts unavailable: ${pre.reason}`);
    return 2;
  }
  const units = Array.from({ length: UNITS }, (_, j) => `bench${j + 1}.service`);
  const app = readFileSync(join(repo, 'examples/fleet/apps/tiny-http.mjs'), 'utf8');
  console.error(`booting ${HOSTS} hosts with ${UNITS} units each…`);
  const t0 = Date.now();
  return withBenchFleet(
    { count: HOSTS },
    {
      connectTimeoutSec: 5,
      prepareHost: ({ upperDir }) => {
        writeUpperFile(upperDir, 'opt/apps/tiny-http.mjs', app);
        const wants = ensureUpperDir(upperDir, 'etc/systemd/system/multi-user.target.wants');
        units.forEach((unit, j) => {
          writeUpperFile(
            upperDir,
            `etc/systemd/system/${unit}`,
            `[Service]\nEnvironment=PORT=${9001 + j}\nExecStart=/usr/bin/node /opt/apps/tiny-http.mjs\nRestart=on-failure\n[Install]\nWantedBy=multi-user.target\n`,
          );
          symlinkSync(`/etc/systemd/system/${unit}`, join(wants, unit));
        });
      },
    },
    'manage-apps-bench-',
    async (fleet, work) => {
      console.error(`up in ${((Date.now() - t0) / 1000).toFixed(1)} s; waiting for the units…`);
      for (const h of fleet.hosts) await fleet.waitForSystemState(h);
      // The fleet under manage-apps: one manifest per unit.
      const root = join(work, 'root');
      mkdirSync(root);
      writeFileSync(
        join(root, 'mesh-hosts.json'),
        JSON.stringify({
          version: 1,
          mesh: { cidr: '10.98.0.0/16' },
          hosts: Object.fromEntries(fleet.hosts.map((h) => [h.name, { alias: h.alias, provider: 'bare-metal', role: 'production' }])),
        }),
      );
      for (const h of fleet.hosts) {
        units.forEach((unit, j) => {
          const project = `${h.name}-app${j + 1}`;
          mkdirSync(join(root, project));
          writeFileSync(
            join(root, project, '.infra.yaml'),
            `apiVersion: infra/v2\nproject: ${project}\nprovider: bare-metal\nservice:\n  host: ${h.name}\n  port: ${9001 + j}\n  systemd_unit: ${unit}\n`,
          );
        });
      }
      const config = fleet.sshConfigPath;
      const props = 'Id,LoadState,ActiveState,SubState,ActiveEnterTimestamp,NRestarts,MainPID';

      // (a) the floor: the same ssh options manage-apps passes, one systemctl show per host, all in parallel.
      const floor = async (controlDir: string) => {
        const t = process.hrtime.bigint();
        const results = await Promise.all(
          fleet.hosts.map((h) =>
            run('ssh', [
              ...sshBaseArgs({ configFile: config, controlDir, connectTimeoutS: 10 }),
              '--',
              h.alias,
              `systemctl show -p ${props} ${units.join(' ')}`,
            ]),
          ),
        );
        const bad = results.find((r) => r.status !== 0);
        if (bad) throw new Error(`floor ssh failed: ${bad.stderr}`);
        return Number(process.hrtime.bigint() - t) / 1e6;
      };
      // (a') the same round trip plus the 2 × UNITS loopback probes status makes, in one curl.
      const urls = units.flatMap((_, j) => ['readyz', 'livez'].flatMap((path) => ['-o', '/dev/null', `http://127.0.0.1:${9001 + j}/${path}`]));
      const probes = `curl -s -g -Z --max-time 2 -w '%{url} %{http_code}\\n' ${urls.join(' ')}`;
      const floorProbes = async (controlDir: string) => {
        const t = process.hrtime.bigint();
        const results = await Promise.all(
          fleet.hosts.map((h) =>
            run('ssh', [
              ...sshBaseArgs({ configFile: config, controlDir, connectTimeoutS: 10 }),
              '--',
              h.alias,
              `systemctl show -p ${props} ${units.join(' ')}; ${probes}`,
            ]),
          ),
        );
        const bad = results.find((r) => r.status !== 0 || (r.stdout.match(/ 200$/gm) ?? []).length !== 2 * UNITS);
        if (bad) throw new Error(`floor with probes failed: ${bad.stdout} ${bad.stderr}`);
        return Number(process.hrtime.bigint() - t) / 1e6;
      };
      const status = async (controlDir: string) => {
        const r = await run(process.execPath, [bin, 'status', '--root', root, '--ssh-config', config, '--json'], {
          MANAGE_APPS_CONTROL_DIR: controlDir,
        });
        if (r.status !== 0) throw new Error(`manage-apps status failed (${r.status}): ${r.stdout.slice(0, 2000)} ${r.stderr}`);
        const doc = JSON.parse(r.stdout) as { summary: { healthy: number } };
        if (doc.summary.healthy !== HOSTS * UNITS) throw new Error(`expected ${HOSTS * UNITS} healthy services, got ${doc.summary.healthy}`);
        return r.ms;
      };
      const fresh = () => {
        const dir = join(work, `cm-${Math.random().toString(36).slice(2, 8)}`);
        mkdirSync(dir, { mode: 0o700 });
        return dir;
      };
      const dropMasters = (dir: string) =>
        Promise.all(fleet.hosts.map((h) => run('ssh', [...sshBaseArgs({ configFile: config, controlDir: dir }), '-O', 'exit', '--', h.alias])));

      const times: Record<string, number[]> = { floorCold: [], probesCold: [], statusCold: [], floorWarm: [], probesWarm: [], statusWarm: [] };
      const warmDir = fresh();
      await floor(warmDir); // start the masters
      await status(warmDir); // and warm node's disk cache
      for (let i = 0; i < REPS; i++) {
        // Alternate the order so neither side always runs first.
        const pair: Array<[string, () => Promise<number>]> = [
          [
            'floorCold',
            async () => {
              const d = fresh();
              const ms = await floor(d);
              await dropMasters(d);
              return ms;
            },
          ],
          [
            'probesCold',
            async () => {
              const d = fresh();
              const ms = await floorProbes(d);
              await dropMasters(d);
              return ms;
            },
          ],
          [
            'statusCold',
            async () => {
              const d = fresh();
              const ms = await status(d);
              await dropMasters(d);
              return ms;
            },
          ],
          ['floorWarm', () => floor(warmDir)],
          ['probesWarm', () => floorProbes(warmDir)],
          ['statusWarm', () => status(warmDir)],
        ];
        if (i % 2 === 1) pair.reverse();
        for (const [name, f] of pair) times[name]!.push(await f());
      }

      // (b) Ansible service_facts, when installed.
      let ansible: { cold: number; warm: number; version: string } | { skipped: string };
      const which = spawnSync('sh', ['-c', 'command -v ansible-playbook']);
      if (which.status !== 0) ansible = { skipped: 'ansible-playbook is not installed (Debian: apt-get install -y ansible-core)' };
      else {
        const inv = join(work, 'inventory.ini');
        writeFileSync(
          inv,
          `[fleet]\n${fleet.hosts.map((h) => h.alias).join('\n')}\n\n[fleet:vars]\nansible_ssh_common_args=-F ${config}\nansible_python_interpreter=/usr/bin/python3\n`,
        );
        const play = join(work, 'facts.yml');
        writeFileSync(play, '- hosts: fleet\n  gather_facts: false\n  tasks:\n    - ansible.builtin.service_facts:\n');
        const cfgDir = () => fresh();
        const runAnsible = async (cpDir: string) => {
          const r = await run('ansible-playbook', ['-i', inv, '-f', String(HOSTS), play], {
            ANSIBLE_SSH_CONTROL_PATH_DIR: cpDir,
            ANSIBLE_HOST_KEY_CHECKING: 'True',
            ANSIBLE_NOCOLOR: '1',
            ANSIBLE_LOCAL_TEMP: join(work, 'ansible-tmp'),
          });
          if (r.status !== 0) throw new Error(`ansible-playbook failed: ${r.stdout.slice(-2000)} ${r.stderr.slice(-2000)}`);
          return r.ms;
        };
        const cold: number[] = [];
        const warm: number[] = [];
        const warmCp = cfgDir();
        await runAnsible(warmCp);
        for (let i = 0; i < Math.min(REPS, 3); i++) {
          cold.push(await runAnsible(cfgDir()));
          warm.push(await runAnsible(warmCp));
        }
        const version = spawnSync('ansible-playbook', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0] ?? '';
        ansible = { cold: median(cold), warm: median(warm), version };
      }

      // What a deploy adds beyond its restart and health wait (one host, a small release).
      const deployRoot = join(work, 'deploy-root');
      mkdirSync(join(deployRoot, 'shop'), { recursive: true });
      const h1 = fleet.hosts[0]!;
      writeFileSync(
        join(deployRoot, 'mesh-hosts.json'),
        JSON.stringify({
          version: 1,
          mesh: { cidr: '10.98.0.0/16' },
          hosts: { [h1.name]: { alias: h1.alias, provider: 'bare-metal', role: 'production' } },
        }),
      );
      writeFileSync(
        join(deployRoot, 'shop', '.infra.yaml'),
        `apiVersion: infra/v2\nproject: shop\nprovider: bare-metal\nservice:\n  host: ${h1.name}\n  port: 8080\n  command: node tiny-http.mjs\n  health: { timeout: 20s }\n`,
      );
      const overhead: number[] = [];
      const gate: number[] = [];
      const total: number[] = [];
      for (let i = 0; i < 4; i++) {
        const dir = join(work, `release-${i}`);
        mkdirSync(dir);
        writeFileSync(join(dir, 'tiny-http.mjs'), `${app}\n// release ${i}\n`);
        const r = await run(process.execPath, [bin, 'deploy', 'shop', '--root', deployRoot, '--ssh-config', config, '--artifact', dir, '--json'], {
          MANAGE_APPS_CONTROL_DIR: warmDir,
        });
        if (r.status !== 0) throw new Error(`deploy failed: ${r.stdout} ${r.stderr}`);
        const d = (JSON.parse(r.stdout) as { deploys: { timings: { totalMs: number; gateMs: number; overheadMs: number } }[] }).deploys[0]!;
        if (i === 0) continue; // the first one installs the unit
        overhead.push(d.timings.overheadMs);
        gate.push(d.timings.gateMs);
        total.push(r.ms);
      }

      const m = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)])) as Record<string, number>;
      const ratioCold = m['statusCold']! / m['floorCold']!;
      const ratioWarm = m['statusWarm']! / m['floorWarm']!;
      const probesCold = m['statusCold']! / m['probesCold']!;
      const probesWarm = m['statusWarm']! / m['probesWarm']!;
      // What any node CLI pays before its first line runs: part of every status figure above.
      const nodeStarts: number[] = [];
      for (let i = 0; i < 5; i++) nodeStarts.push((await run(process.execPath, ['-e', '0'])).ms);
      const nodeStart = median(nodeStarts);
      const lines = [
        `manage-apps status, ${HOSTS} hosts × ${UNITS} units, median of ${REPS} (machine: ${cpus().length} CPUs)`,
        `  floor (ssh systemctl show, parallel)   cold ${fmt(m['floorCold']!)}   warm ${fmt(m['floorWarm']!)}`,
        `  floor + the same health probes (curl)   cold ${fmt(m['probesCold']!)}   warm ${fmt(m['probesWarm']!)}`,
        `  manage-apps status (whole CLI)          cold ${fmt(m['statusCold']!)}   warm ${fmt(m['statusWarm']!)}   (node -e 0 alone: ${fmt(nodeStart)})`,
        `  ratio to the floor                      cold ${ratioCold.toFixed(2)}×   warm ${ratioWarm.toFixed(2)}×   target ≤ 1.3×: ${ratioCold <= 1.3 && ratioWarm <= 1.3 ? 'PASS' : 'MISS'}`,
        `  ratio to the floor with probes          cold ${probesCold.toFixed(2)}×   warm ${probesWarm.toFixed(2)}×`,
      ];
      if ('skipped' in ansible) lines.push(`  ansible service_facts: skipped (${ansible.skipped})`);
      else {
        const fc = ansible.cold / m['statusCold']!;
        const fw = ansible.warm / m['statusWarm']!;
        lines.push(
          `  ansible service_facts (${ansible.version})  cold ${fmt(ansible.cold)}   warm ${fmt(ansible.warm)}`,
          `  manage-apps is faster than ansible by  cold ${fc.toFixed(1)}×   warm ${fw.toFixed(1)}×   target ≥ 10×: ${fc >= 10 && fw >= 10 ? 'PASS' : 'MISS'}`,
        );
      }
      lines.push(
        `deploy of a small release (warm connection, median of ${overhead.length}): whole CLI ${fmt(median(total))}, restart + health wait ${fmt(median(gate))}, added beyond it ${fmt(median(overhead))}`,
      );
      console.log(lines.join('\n'));
      console.log(
        JSON.stringify({
          hosts: HOSTS,
          units: UNITS,
          reps: REPS,
          medians_ms: m,
          node_start_ms: nodeStart,
          ratio: { cold: ratioCold, warm: ratioWarm },
          ratio_to_probes: { cold: probesCold, warm: probesWarm },
          ansible,
          deploy: { total_ms: median(total), gate_ms: median(gate), overhead_ms: median(overhead) },
        }),
      );
      return 0;
    },
  );
}

runMain(main);

/**
 * Benchmark (not a test) for compose services on real test hosts (dockerd per host, Debian's
 * docker-compose, a registry on a second host; see test/harness/docker.ts):
 *
 *   1. deploy: `manage-apps deploy <svc> --tag T` (the whole CLI: lock, ship the bundle, pin,
 *      pull, up, gate, record the digest, prune, unlock) against the floor: one ssh running
 *      `docker-compose pull <svc> && docker-compose up -d --no-deps <svc>` and a curl loop until
 *      /readyz answers 2xx, over the same warm ssh connection; tags alternate between two images
 *      already in the registry, so every run really recreates the container. Target: manage-apps
 *      adds < 0.5 s.
 *   2. status: `manage-apps status --host web` of a host with 5 compose services against one bare
 *      `ssh web docker inspect <5 containers>`, warm connections. Target: within 1.3×.
 *
 *   npm run build && npx tsc -p tsconfig.test.json && flock /tmp/bench.lock node .build-test/bench/compose.js [--reps 5]
 *
 * Prints medians, ratios with PASS/MISS and one JSON line. Timings never fail the process.
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { packageRoot } from '../src/package-root.js';
import { fmt, median, run, runMain } from './lib/measure.js';
import { sshBaseArgs } from '../src/transport/ssh.js';
import {
  buildAndPush,
  dockerLogin,
  dockerSkipReason,
  prepareDockerHost,
  REGISTRY_PORT,
  waitForDocker,
  writeImageContexts,
  type ImageSpec,
} from '../test/harness/docker.js';
import { prerequisites } from '../test/harness/test-fleet.js';
import { withBenchFleet } from './lib/fleet.js';

const { values } = parseArgs({ options: { reps: { type: 'string', default: '5' } } });
const REPS = Number(values.reps);
const bin = join(packageRoot(), 'bin', 'manage-apps.js');
const REGISTRY = `reg:${REGISTRY_PORT}`;
const SERVICES = 5;

const image = (version: string): ImageSpec => ({
  www: { readyz: 'ready\n', livez: 'alive\n', version: `${version}\n` },
  cmd: ['/bin/busybox', 'httpd', '-f', '-p', '80', '-h', '/www'],
});

async function main(): Promise<number> {
  const pre = prerequisites();
  const docker = dockerSkipReason();
  if (!pre.ok || docker) {
    console.error(`bench/compose: unavailable: ${pre.ok ? docker : pre.reason}`);
    return 2;
  }
  console.error('booting reg (registry) and web (dockerd)…');
  const prepareHost = ({ name, upperDir }: { name: string; upperDir: string }) => {
    prepareDockerHost(upperDir, { registry: name === 'reg', insecureRegistries: [REGISTRY] });
    if (name === 'reg') writeImageContexts(upperDir, { a: image('a'), b: image('b') });
  };
  return withBenchFleet({ names: ['reg', 'web'] }, { connectTimeoutSec: 5, prepareHost }, 'manage-apps-bench-compose-', async (fleet, work) => {
    const controlDir = join(work, 'cm');
    mkdirSync(controlDir, { mode: 0o700 });
    await Promise.all([waitForDocker(fleet, 'reg', { registry: true }), waitForDocker(fleet, 'web')]);
    await Promise.all([dockerLogin(fleet, 'reg', REGISTRY), dockerLogin(fleet, 'web', REGISTRY)]);
    for (const t of ['a', 'b']) await buildAndPush(fleet, 'reg', t, `${REGISTRY}/app:${t}`);
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
    for (let i = 1; i <= SERVICES; i++) {
      mkdirSync(join(root, `app${i}`));
      writeFileSync(
        join(root, `app${i}`, '.infra.yaml'),
        `apiVersion: infra/v2\nproject: app${i}\nprovider: bare-metal\nservice:\n  host: web\n  port: ${8000 + i}\n  compose: { file: compose.yml, service: app, image: ${REGISTRY}/app }\n`,
      );
      writeFileSync(
        join(root, `app${i}`, 'compose.yml'),
        `services:\n  app:\n    image: ${REGISTRY}/app:a\n    ports: ["${8000 + i}:80"]\n    init: true\n`,
      );
    }
    // An ssh that logs each invocation, then runs the real one: round trips per command.
    const shim = join(work, 'shim');
    const log = join(work, 'ssh.log');
    mkdirSync(shim);
    writeFileSync(join(shim, 'ssh'), `#!/bin/sh\necho x >> ${log}\nexec /usr/bin/ssh "$@"\n`);
    chmodSync(join(shim, 'ssh'), 0o755);
    const trips = () => readFileSync(log, 'utf8').split('\n').filter(Boolean).length;
    const env = { MANAGE_APPS_CONTROL_DIR: controlDir, NO_COLOR: '1', PATH: `${shim}:${process.env['PATH'] ?? ''}` };
    const cli = (...args: string[]) => run(process.execPath, [bin, ...args, '--root', root, '--ssh-config', fleet.sshConfigPath], env);
    const ssh = (command: string) =>
      run('ssh', [...sshBaseArgs({ connectTimeoutS: 5, configFile: fleet.sshConfigPath, controlDir }), fleet.host('web').alias, command]);
    console.error('deploying 5 compose services…');
    for (let i = 1; i <= SERVICES; i++) {
      const r = await cli('deploy', `app${i}`, '--tag', 'a', '--json');
      if (r.status !== 0) throw new Error(`deploy app${i}: ${r.stdout}${r.stderr}`);
    }
    // The floor's own compose project: the same image, the same host, no manage-apps.
    await ssh(
      `mkdir -p /srv/floor && printf 'services:\\n  app:\\n    image: \${IMG}\\n    ports: ["8100:80"]\\n    init: true\\n' > /srv/floor/compose.yml`,
    );
    const floorDeploy = (tag: string) =>
      ssh(
        `cd /srv/floor && export IMG=${REGISTRY}/app:${tag} && docker-compose -p floor pull -q app && docker-compose -p floor up -d --no-deps app 2>/dev/null && until curl -fs -o /dev/null http://127.0.0.1:8100/readyz; do sleep 0.1; done`,
      );
    await floorDeploy('a');

    const deployMs: number[] = [];
    const floorMs: number[] = [];
    const hostGateMs: number[] = [];
    const deployTrips: number[] = [];
    for (let rep = 0; rep < REPS; rep++) {
      const tag = rep % 2 === 0 ? 'b' : 'a';
      const f = await floorDeploy(tag);
      if (f.status !== 0) throw new Error(`floor deploy: ${f.stderr}`);
      floorMs.push(f.ms);
      const before = trips();
      const d = await cli('deploy', 'app1', '--tag', tag, '--json');
      if (d.status !== 0) throw new Error(`deploy: ${d.stdout}${d.stderr}`);
      deployTrips.push(trips() - before);
      deployMs.push(d.ms);
      hostGateMs.push((JSON.parse(d.stdout) as { deploys: { timings: { gateMs: number } }[] }).deploys[0]!.timings.gateMs);
    }
    const names = Array.from({ length: SERVICES }, (_, i) => `app${i + 1}_app_1`).join(' ');
    const statusMs: number[] = [];
    const inspectMs: number[] = [];
    const nodeMs: number[] = [];
    const statusTrips: number[] = [];
    for (let rep = 0; rep < REPS; rep++) {
      const f = await ssh(`docker inspect ${names} >/dev/null`);
      if (f.status !== 0) throw new Error(`docker inspect: ${f.stderr}`);
      inspectMs.push(f.ms);
      const before = trips();
      const s = await cli('status', '--host', 'web', '--json');
      if (s.status !== 0) throw new Error(`status: ${s.stdout}${s.stderr}`);
      statusMs.push(s.ms);
      statusTrips.push(trips() - before);
      // What any Node CLI pays before its first line runs.
      nodeMs.push((await run(process.execPath, ['-e', '0'])).ms);
    }
    const deploy = median(deployMs);
    const floor = median(floorMs);
    const status = median(statusMs);
    const inspect = median(inspectMs);
    const overhead = deploy - floor;
    const ratio = status / inspect;
    const node = median(nodeMs);
    const load = loadavg()
      .map((l) => l.toFixed(2))
      .join(' ');
    console.log(`load average (1/5/15 min) at the end: ${load}`);
    console.log(
      `compose deploy, whole CLI (warm connection)          ${fmt(deploy)}   (host side: up and health wait ${fmt(median(hostGateMs))}; ${median(deployTrips)} ssh round trips)`,
    );
    console.log(`floor: ssh docker-compose pull && up -d + /readyz wait ${fmt(floor)}`);
    console.log(`manage-apps adds                                      ${fmt(overhead)}   target < 0.5 s: ${overhead < 500 ? 'PASS' : 'MISS'}`);
    console.log(`status of a host with ${SERVICES} containers, whole CLI         ${fmt(status)}`);
    console.log(`floor: ssh docker inspect <${SERVICES} containers>               ${fmt(inspect)}`);
    console.log(
      `ratio                                                 ${ratio.toFixed(2)}×   target ≤ 1.3×: ${ratio <= 1.3 ? 'PASS' : 'MISS'}   (${median(statusTrips)} ssh round trip)`,
    );
    console.log(
      `  node -e 0 alone                                     ${fmt(node)}   (${(node / inspect).toFixed(2)}× the floor before manage-apps runs a line)`,
    );
    console.log(`  status beyond node's own start                      ${fmt(status - node)}   ${((status - node) / inspect).toFixed(2)}× the floor`);
    console.log(
      JSON.stringify({
        reps: REPS,
        loadAverage: loadavg(),
        deployMs: deploy,
        floorDeployMs: floor,
        deployOverheadMs: overhead,
        hostGateMs: median(hostGateMs),
        deployRoundTrips: median(deployTrips),
        statusMs: status,
        inspectMs: inspect,
        statusRatio: ratio,
        statusRoundTrips: median(statusTrips),
        nodeStartMs: node,
      }),
    );
    return 0;
  });
}

runMain(main);

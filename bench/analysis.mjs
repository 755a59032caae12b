#!/usr/bin/env node
/**
 * Benchmark (not a test) for the fleet analysis (issue 5): on a generated fleet of
 * 200 hosts and 5,000 services, `impact` of any one host and `graph --format json`
 * must each finish in under 1 s.
 *
 *   npm run build && node bench/analysis.mjs [--hosts 200] [--services 5000] [--reps 7] [--cli-reps 5] [--keep]
 *
 * Imports the compiled dist/ (build first). Writes the fleet as real files (one
 * .infra.yaml per service + mesh-hosts.json) in a temp dir, checks that it loads
 * without a single problem, then times, separately: loadFleet (files → model), the
 * analysis index, impact of one host (the busiest workstation, a mesh host, and every
 * host once), graph JSON, and the real CLI end to end (`impact`, `graph --format json`).
 * Prints medians, minima and ratios with PASS/MISS against the 1 s target. Timings never
 * fail the process; exit 1 only if the generated fleet has problems, 2 on a setup error.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { generateFleet } from './lib/analysis-fleet.mjs';
import { prng } from './lib/fleet-tree.mjs';

const repo = fileURLToPath(new URL('..', import.meta.url));
// In-process loads parse every manifest (no cache); the CLI rows say which way they ran.
process.env.MANAGE_APPS_CACHE = '0';
const dist = join(repo, 'dist');
const bin = join(repo, 'bin', 'manage-apps.js');
const { values: args } = parseArgs({
  options: {
    hosts: { type: 'string', default: '200' },
    services: { type: 'string', default: '5000' },
    clusters: { type: 'string', default: '100' },
    reps: { type: 'string', default: '7' },
    'cli-reps': { type: 'string', default: '5' },
    seed: { type: 'string', default: '20260703' },
    keep: { type: 'boolean', default: false },
  },
});
const HOSTS = Number(args.hosts);
const SERVICES = Number(args.services);
const CLUSTERS = Number(args.clusters);
const REPS = Number(args.reps);
const CLI_REPS = Number(args['cli-reps']);
const TARGET_MS = 1000;

if (!existsSync(join(dist, 'analysis', 'impact.js'))) {
  console.error('bench/analysis.mjs: dist/ has no analysis build. Run `npm run build` first.');
  process.exit(2);
}
const load = async (rel) => import(pathToFileURL(join(dist, rel)).href);
const { loadFleet } = await load('load/fleet.js');
const { FleetIndex, Reachability } = await load('analysis/topology.js');
const { analyzeImpact } = await load('analysis/impact.js');
const { buildGraph } = await load('analysis/graph.js');
const { checkIndependence } = await load('analysis/independence.js');
const { planDrain } = await load('analysis/drain.js');
const { backupReport } = await load('analysis/backups.js');

// ---- timing helpers ---------------------------------------------------------------------------------------
const now = () => Number(process.hrtime.bigint()) / 1e6;
async function time(reps, fn) {
  const ms = [];
  let result;
  for (let i = 0; i < reps; i++) {
    const t0 = now();
    result = await fn();
    ms.push(now() - t0);
  }
  ms.sort((a, b) => a - b);
  return { median: ms[Math.floor(ms.length / 2)], min: ms[0], max: ms[ms.length - 1], result };
}
const fmt = (ms) => (ms >= 100 ? `${ms.toFixed(0)} ms` : `${ms.toFixed(1)} ms`);
const verdict = (ms) => (ms < TARGET_MS ? 'PASS' : 'MISS');
const rows = [];
const row = (what, t, target = false) => {
  rows.push([what, fmt(t.median), fmt(t.min), target ? `${(t.median / TARGET_MS).toFixed(2)} of 1 s  ${verdict(t.median)}` : '']);
};

// ---- run ----------------------------------------------------------------------------------------------------
const dir = mkdtempSync(join(os.tmpdir(), 'manage-apps-bench-analysis-'));
try {
  const t0 = now();
  const rnd = prng(Number(args.seed));
  const picks = generateFleet(dir, rnd, { hosts: HOSTS, services: SERVICES, clusters: CLUSTERS });
  console.log(`generated ${HOSTS} hosts, ${SERVICES} services, ${CLUSTERS} clusters in ${fmt(now() - t0)} → ${dir}`);
  console.log(
    `node ${process.version}, ${os.cpus().length}× ${os.cpus()[0]?.model ?? '?'}; medians of ${REPS} in-process runs, ${CLI_REPS} CLI runs\n`,
  );

  const loaded = await time(REPS, () => loadFleet({ root: dir }));
  const { fleet, problems } = loaded.result;
  if (problems.length > 0) {
    console.error(
      `the generated fleet has ${problems.length} problem(s), e.g.: ${problems
        .slice(0, 3)
        .map((p) => `${p.file}:${p.line} ${p.rule} ${p.message}`)
        .join(' | ')}`,
    );
    process.exit(1);
  }
  console.log(
    `loaded: ${fleet.hosts.length} hosts, ${fleet.services.length} services, ${fleet.clusters.length} clusters, ${fleet.tunnels.length} tunnels`,
  );
  row('loadFleet (files → model; not analysis)', loaded);
  const indexed = await time(REPS, () => new FleetIndex(fleet));
  const index = indexed.result;
  console.log(`index: ${index.edges.length} dependency edges\n`);
  row('FleetIndex (graph build)', indexed);

  const ws = picks.workstations[0];
  const meshHost = picks.mesh[1];
  const impactWs = await time(REPS, () => analyzeImpact(index, [ws]));
  row(`impact ${ws} (workstation, index reused)`, impactWs, true);
  const impactMesh = await time(REPS, () => analyzeImpact(index, [meshHost]));
  row(`impact ${meshHost} (mesh host, index reused)`, impactMesh, true);
  const coldImpact = await time(REPS, () => analyzeImpact(new FleetIndex(fleet), [ws]));
  row(`index + impact ${ws} (what the CLI does after loading)`, coldImpact, true);
  // Every host once: the slowest single-host impact.
  const baseline = new Reachability(index);
  let worst = { host: '', ms: 0 };
  const allStart = now();
  for (const h of fleet.hosts) {
    const s = now();
    analyzeImpact(index, [h.name], { baseline });
    const ms = now() - s;
    if (ms > worst.ms) worst = { host: h.name, ms };
  }
  const allMs = now() - allStart;
  rows.push([
    `impact of every host, one at a time (${fleet.hosts.length})`,
    fmt(allMs),
    '',
    `slowest: ${worst.host} ${fmt(worst.ms)}  ${verdict(worst.ms)}`,
  ]);
  const graphJson = await time(REPS, () => JSON.stringify(buildGraph(new FleetIndex(fleet))));
  row('index + graph JSON (build + stringify)', graphJson, true);
  row('check independence (every workstation/dev host)', await time(REPS, () => checkIndependence(index)), true);
  row(`drain ${meshHost} --to ${picks.mesh[2]}`, await time(REPS, () => planDrain(index, meshHost, picks.mesh[2])), true);
  row('backups', await time(REPS, () => backupReport(index)), true);
  const r = impactWs.result;
  console.log(`impact ${ws}: ${r.down.length} down, ${r.degraded.length} degraded, ${r.tunnels.length} tunnels, ${r.lanes.length} lanes`);
  const g = JSON.parse(graphJson.result);
  console.log(
    `graph: ${g.hosts.length} hosts, ${g.services.length} services, ${g.edges.length} edges, ${(graphJson.result.length / 1024).toFixed(0)} KiB of JSON\n`,
  );

  // The CLI twice: with the manifest cache off (every manifest parsed), and warm (an unchanged tree, second run).
  const cacheDir = mkdtempSync(join(os.tmpdir(), 'manage-apps-bench-cache-'));
  const cli = (argv, cache) => {
    const env = { ...process.env, MANAGE_APPS_CACHE: cache ? '1' : '0', MANAGE_APPS_CACHE_DIR: cacheDir };
    const res = spawnSync(process.execPath, [bin, ...argv, '--root', dir], { encoding: 'utf8', maxBuffer: 1 << 28, env });
    if (res.status !== 0) throw new Error(`manage-apps ${argv.join(' ')} exited ${res.status}: ${res.stderr.slice(0, 500)}`);
    return res.stdout.length;
  };
  for (const cache of [false, true]) {
    if (cache) cli(['validate'], true); // fills the cache
    const how = cache ? 'warm manifest cache' : 'no cache';
    row(`CLI: manage-apps impact ${ws} --json (${how})`, await time(CLI_REPS, () => cli(['impact', ws, '--json'], cache)), true);
    row(`CLI: manage-apps graph --format json (${how})`, await time(CLI_REPS, () => cli(['graph', '--format', 'json'], cache)), true);
    row(`CLI: manage-apps validate (${how}; the load alone)`, await time(CLI_REPS, () => cli(['validate'], cache)));
  }
  rmSync(cacheDir, { recursive: true, force: true });

  const widths = [0, 1, 2, 3].map((i) => Math.max(...[['WHAT', 'MEDIAN', 'MIN', 'AGAINST TARGET'], ...rows].map((x) => x[i].length)));
  for (const x of [['WHAT', 'MEDIAN', 'MIN', 'AGAINST TARGET'], ...rows])
    console.log(
      x
        .map((c, i) => c.padEnd(widths[i]))
        .join('  ')
        .trimEnd(),
    );
  console.log('');
  console.log(
    `ratios: impact/loadFleet ${(impactWs.median / loaded.median).toFixed(3)}, graph JSON/loadFleet ${(graphJson.median / loaded.median).toFixed(3)}`,
  );
} finally {
  if (args.keep) console.log(`kept ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}

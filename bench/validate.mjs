#!/usr/bin/env node
/**
 * Benchmark (not a test): discovery + full validation against a bare crawl of
 * the same tree, and the CLI's cold start against `node -e 0`.
 *
 *   npm run build && node bench/validate.mjs [--reps 9] [--cli-reps 5] [--start-reps 21] [--keep] [--dir DIR]
 *
 * It imports the compiled dist/ (build first: this script does not build, so it
 * never races an edit in progress). It generates a deterministic tree (default
 * 100,000 files, 1,000 manifests, mesh-hosts.json with 50 hosts and 50 clusters)
 * in a temp dir, removes it afterwards (unless --keep), and prints medians, minima
 * and ratios with PASS/MISS against the targets. Timings never fail the process;
 * it exits 1 only if the generated fleet does not validate cleanly (a benchmark
 * of the error path would measure the wrong thing), 2 on a setup error.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import v8 from 'node:v8';
import vm from 'node:vm';
import { planTree, writeTree } from './lib/fleet-tree.mjs';

const repo = fileURLToPath(new URL('..', import.meta.url));
// The figures measure full parsing and validation: the manifest cache is off, except for the one
// row that says it measures a warm cache.
process.env.MANAGE_APPS_CACHE = '0';
const dist = join(repo, 'dist');
const bin = join(repo, 'bin', 'manage-apps.js');

const { values: args } = parseArgs({
  options: {
    reps: { type: 'string', default: '9' },
    warmup: { type: 'string', default: '2' },
    'cli-reps': { type: 'string', default: '5' },
    'start-reps': { type: 'string', default: '21' },
    files: { type: 'string', default: '100000' },
    manifests: { type: 'string', default: '1000' },
    seed: { type: 'string', default: '20240611' },
    dir: { type: 'string' },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  const lines = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n');
  console.log(
    lines
      .slice(2, lines.indexOf(' */'))
      .map((l) => l.replace(/^ \* ?/, ''))
      .join('\n'),
  );
  process.exit(0);
}
const REPS = Number(args.reps);
const WARMUP = Number(args.warmup);
const CLI_REPS = Number(args['cli-reps']);
const START_REPS = Number(args['start-reps']);

// ---- dist/ must be there and current ------------------------------------------------------------------------
if (!existsSync(join(dist, 'fleet', 'load.js')) || !existsSync(join(dist, 'cli', 'main.js'))) {
  console.error('bench/validate.mjs: dist/ is missing. Run `npm run build` first (npm run build && node bench/validate.mjs).');
  process.exit(2);
}
const newest = (dir, ext) => {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newest(p, ext));
    else if (e.name.endsWith(ext)) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
};
if (newest(join(repo, 'src'), '.ts') > newest(dist, '.js')) {
  console.error('warning: src/ is newer than dist/: the figures are for the last build. Run `npm run build` first.\n');
}

// A clean heap before each timed call keeps one sample's garbage out of the next.
v8.setFlagsFromString('--expose_gc');
const gc = vm.runInNewContext('gc');

const load = (rel) => import(pathToFileURL(join(dist, rel)).href);
let t0 = performance.now();
const { loadFleet } = await load('load/fleet.js');
const importMs = performance.now() - t0;
const { discoverManifests } = await load('manifest/discover.js');
const fdirUrl = import.meta.resolve('fdir');
const { fdir } = await import(fdirUrl);

// ---- the tree -----------------------------------------------------------------------------------------------
const loadBefore = os.loadavg();
t0 = performance.now();
const { files, stats } = planTree({
  seed: Number(args.seed),
  files: Number(args.files),
  manifests: Number(args.manifests),
  devVariants: Math.round(Number(args.manifests) * 0.3),
});
const root = mkdtempSync(join(args.dir ?? os.tmpdir(), 'manage-apps-bench-'));
const cleanup = () => {
  if (!args.keep) rmSync(root, { recursive: true, force: true });
};
process.on('SIGINT', () => {
  cleanup();
  process.exit(130);
});
const dirCount = writeTree(root, files) + 1;
const generateMs = performance.now() - t0;
files.clear();

let exitCode = 0;
try {
  exitCode = await run();
} catch (err) {
  console.error(err);
  exitCode = 2;
} finally {
  cleanup();
  if (args.keep) console.log(`\ntree kept at ${root}`);
}
process.exit(exitCode);

async function run() {
  console.log(`command: node bench/validate.mjs${process.argv.length > 2 ? ` ${process.argv.slice(2).join(' ')}` : ''}`);
  console.log(
    `manage-apps validate benchmark — node ${process.version}, ${os.availableParallelism()} CPUs (${os.cpus()[0]?.model ?? '?'}), ${os.platform()} ${os.release()}`,
  );
  console.log(
    `tree: ${stats.files} files in ${dirCount} directories (${stats.inSkippedDirs} under node_modules/.git/dist), ${stats.manifests} manifests (${stats.v1} infra/v1, ${stats.devVariants} .infra.dev.yaml, ${stats.producers} producer roots), mesh-hosts.json with ${stats.hosts} hosts and ${stats.clusters} clusters`,
  );
  console.log(`generated in ${fmt(generateMs)} ms at ${root}; load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')}\n`);

  // ---- the fleet must be clean: measure the success path ------------------------------------------------------
  gc();
  t0 = performance.now();
  const first = await loadFleet({ root });
  const firstMs = performance.now() - t0;
  if (first.manifests.length !== stats.manifests || first.problems.length > 0) {
    console.error(
      `the generated fleet did not validate cleanly: ${first.manifests.length}/${stats.manifests} manifests, ${first.problems.length} problems`,
    );
    for (const p of first.problems.slice(0, 20)) console.error(`  ${p.file}:${p.line}:${p.column} ${p.rule} ${p.message}`);
    return 1;
  }
  console.log(
    `loadFleet: ${first.manifests.length} manifests, ${first.fleet.services.length} services, ${first.fleet.hosts.length} hosts, ${first.fleet.clusters.length} clusters, 0 problems ✔`,
  );
  console.log(
    `first call in this process (ajv compiles the schemas, JIT cold): ${fmt(firstMs)} ms; importing dist/load/fleet.js: ${fmt(importMs)} ms\n`,
  );

  // ---- in-process: floors, discovery, discovery + validation -------------------------------------------------
  const expectFiles = (n, what) => {
    if (n !== stats.files) throw new Error(`${what} saw ${n} files, expected ${stats.files}`);
  };
  const cases = [
    {
      key: 'fdir',
      label: 'floor: fdir crawl, no filters (async)',
      fn: async () => expectFiles((await new fdir().withFullPaths().crawl(root).withPromise()).length, 'fdir'),
    },
    { key: 'walk', label: 'floor: fs.promises.readdir walk', fn: async () => expectFiles(await walkAsync(root), 'readdir walk') },
    { key: 'walkSync', label: 'floor: fs.readdirSync walk', fn: async () => expectFiles(walkSync(root), 'readdirSync walk') },
    {
      key: 'discover',
      label: 'discoverManifests (skips node_modules, .git, dist…)',
      fn: async () => {
        const d = await discoverManifests(root);
        if (d.manifests.length !== stats.manifests || d.problems.length > 0)
          throw new Error(`discovery found ${d.manifests.length} manifests, ${d.problems.length} problems`);
      },
    },
    {
      key: 'loadFleet',
      label: 'loadFleet: discovery + full validation',
      fn: async () => {
        const l = await loadFleet({ root });
        if (l.problems.length > 0) throw new Error(`loadFleet reported ${l.problems.length} problems`);
      },
    },
  ];
  const samples = Object.fromEntries(cases.map((c) => [c.key, []]));
  // CPU time (user + system, thread pool included) next to wall time: less sensitive to other load on a shared machine.
  const cpu = Object.fromEntries(cases.map((c) => [c.key, []]));
  for (let round = 0; round < WARMUP + REPS; round++) {
    // Rotate the order each round so no case always runs right after the same neighbour.
    for (let k = 0; k < cases.length; k++) {
      const c = cases[(k + round) % cases.length];
      gc();
      const c0 = process.cpuUsage();
      const s = performance.now();
      await c.fn();
      const ms = performance.now() - s;
      const used = process.cpuUsage(c0);
      if (round >= WARMUP) {
        samples[c.key].push(ms);
        cpu[c.key].push((used.user + used.system) / 1000);
      }
    }
  }

  // ---- where loadFleet's time goes (same dist modules, phase by phase) ---------------------------------------
  const phases = await phaseBreakdown();

  // ---- the real CLI, end to end, against a process that only crawls ------------------------------------------
  const cliArgs = [bin, 'validate', '--root', root, '--json'];
  const crawlScript = `import { fdir } from ${JSON.stringify(fdirUrl)};\nconst n = (await new fdir().withFullPaths().crawl(${JSON.stringify(root)}).withPromise()).length;\nif (n !== ${stats.files}) { console.error('crawl saw ' + n); process.exit(3); }`;
  const cli = [];
  const crawlProc = [];
  for (let i = 0; i < 1 + CLI_REPS; i++) {
    const a = spawnTimed(cliArgs, (r) => {
      if (r.status !== 0) throw new Error(`CLI validate exited ${r.status}: ${r.stderr.slice(0, 2000)}`);
      const summary = JSON.parse(r.stdout).summary;
      if (summary.manifests !== stats.manifests || summary.errors !== 0 || summary.warnings !== 0)
        throw new Error(`CLI validate summary ${JSON.stringify(summary)}`);
    });
    const b = spawnTimed(['--input-type=module', '-e', crawlScript], (r) => {
      if (r.status !== 0) throw new Error(`crawl process exited ${r.status}: ${r.stderr}`);
    });
    if (i > 0) {
      cli.push(a);
      crawlProc.push(b);
    }
  }

  // ---- the same CLI with a warm manifest cache (what a second run in an unchanged tree costs) ----------------
  const cacheDir = mkdtempSync(join(os.tmpdir(), 'manage-apps-bench-cache-'));
  const warmEnv = { ...process.env, MANAGE_APPS_CACHE: '1', MANAGE_APPS_CACHE_DIR: cacheDir };
  const warmCli = [];
  for (let i = 0; i < 1 + CLI_REPS; i++) {
    const ms = spawnTimed(
      cliArgs,
      (r) => {
        if (r.status !== 0) throw new Error(`CLI validate (warm cache) exited ${r.status}`);
      },
      warmEnv,
    );
    if (i > 0) warmCli.push(ms);
  }
  rmSync(cacheDir, { recursive: true, force: true });
  console.log(
    `CLI validate with a warm manifest cache (MANAGE_APPS_CACHE on): median ${median(warmCli).toFixed(0)} ms, min ${Math.min(...warmCli).toFixed(0)} ms`,
  );

  // ---- cold start: --version against node -e 0, alternating ----------------------------------------------------
  const version = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')).version;
  const start = [];
  const bare = [];
  for (let i = 0; i < 3 + START_REPS; i++) {
    const a = spawnTimed([bin, '--version'], (r) => {
      if (r.status !== 0 || r.stdout.trim() !== version) throw new Error(`--version printed ${JSON.stringify(r.stdout)} (exit ${r.status})`);
    });
    const b = spawnTimed(['-e', '0'], (r) => {
      if (r.status !== 0) throw new Error('node -e 0 failed');
    });
    if (i >= 3) {
      start.push(a);
      bare.push(b);
    }
  }
  const loadAfter = os.loadavg();

  // ---- report ---------------------------------------------------------------------------------------------------
  const floors = ['fdir', 'walk', 'walkSync'].map((k) => ({ key: k, median: median(samples[k]) }));
  const floor = floors.reduce((a, b) => (b.median < a.median ? b : a));
  const floorLabel = cases.find((c) => c.key === floor.key).label.replace(/^floor: /, '');
  const rows = [];
  for (const c of cases) {
    const med = median(samples[c.key]);
    const ratio = med / floor.median;
    let verdict = '';
    if (c.key === 'loadFleet') verdict = `${ratio < 2 ? 'PASS' : 'MISS'} <2× floor; ${med < 1000 ? 'PASS' : 'MISS'} <1 s`;
    else if (c.key === floor.key) verdict = 'the floor';
    rows.push([c.label, fmt(med), fmt(Math.min(...samples[c.key])), fmt(median(cpu[c.key])), `${ratio.toFixed(2)}×`, verdict]);
  }
  const cliMed = median(cli);
  const procMed = median(crawlProc);
  rows.push(['process floor: `node -e` that imports fdir and crawls', fmt(procMed), fmt(Math.min(...crawlProc)), '', '', 'floor for the CLI']);
  rows.push([
    'CLI: `manage-apps validate --root T --json`',
    fmt(cliMed),
    fmt(Math.min(...cli)),
    '',
    `${(cliMed / procMed).toFixed(2)}× process floor`,
    `${cliMed / procMed < 2 ? 'PASS' : 'MISS'} <2×; ${cliMed < 1000 ? 'PASS' : 'MISS'} <1 s`,
  ]);
  const startMed = median(start);
  const bareMed = median(bare);
  rows.push(['`node -e 0`', fmt(bareMed), fmt(Math.min(...bare)), '', '', 'floor for cold start']);
  rows.push([
    'cold start: `manage-apps --version`',
    fmt(startMed),
    fmt(Math.min(...start)),
    '',
    `${(startMed / bareMed).toFixed(2)}× node -e 0`,
    `${startMed / bareMed < 2 ? 'PASS' : 'MISS'} <2×`,
  ]);

  console.log(
    `in-process: ${WARMUP} warm-up + ${REPS} timed rounds, order rotated each round; CLI: 1 + ${CLI_REPS} runs; cold start: 3 + ${START_REPS} runs each, alternating`,
  );
  console.log(`floor = ${floorLabel} (fastest of the three crawls by median)\n`);
  console.log(markdownTable(['measure', 'median ms', 'min ms', 'CPU ms (median)', 'ratio (median)', 'target'], rows));
  if (phases) {
    console.log(`\nloadFleet by phase (median of ${REPS}; sequential re-enactment of src/load/fleet.ts with the same dist modules):\n`);
    console.log(markdownTable(['phase', 'median ms', 'share'], phases));
  }
  console.log(`\nload average before ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, after ${loadAfter.map((l) => l.toFixed(2)).join(' ')}`);
  return 0;
}

/** loadFleet's steps timed one by one (discovery and inventory in sequence here, concurrent in loadFleet). */
async function phaseBreakdown() {
  let mods;
  try {
    mods = {
      discover: await load('manifest/discover.js'),
      inventory: await load('inventory/load.js'),
      manifest: await load('manifest/load.js'),
      document: await load('source/document.js'),
      schema: await load('source/schema-check.js'),
      build: await load('fleet/build.js'),
      rules: await load('checks/rules.js'),
    };
  } catch (err) {
    console.log(`\n(phase breakdown unavailable: ${err.message})`);
    return undefined;
  }
  const { default: pLimit } = await import(import.meta.resolve('p-limit'));
  // loadManifest (read + parse + schema) is timed as loadFleet runs it; parse and schema are then re-run on the
  // texts in memory to split it, so "read and the rest" is what remains: file I/O, promise and limiter overhead.
  const names = [
    'discoverManifests',
    'loadInventory (read + JSON + schema + checks)',
    'loadManifest × N (limit 64)',
    '  of which: parse YAML (SourceDocument.parseYaml)',
    '  of which: JSON Schema (checkSchema, ajv)',
    '  of which: read and the rest',
    'buildFleet',
    'checkRules',
  ];
  const times = names.map(() => []);
  for (let round = 0; round < WARMUP + REPS; round++) {
    const t = [];
    gc();
    let s = performance.now();
    const discovery = await mods.discover.discoverManifests(root);
    t.push(performance.now() - s);
    s = performance.now();
    const inventory = await mods.inventory.loadInventory(join(root, 'mesh-hosts.json'), 'mesh-hosts.json');
    t.push(performance.now() - s);
    gc();
    s = performance.now();
    const limit = pLimit(64);
    const manifests = await Promise.all(discovery.manifests.map((f) => limit(() => mods.manifest.loadManifest(f))));
    const loadMs = performance.now() - s;
    t.push(loadMs);
    gc();
    s = performance.now();
    const sources = manifests.map((m) => mods.document.SourceDocument.parseYaml(m.file, m.source.text));
    const parseMs = performance.now() - s;
    t.push(parseMs);
    s = performance.now();
    for (const source of sources) {
      const schema = mods.manifest.API_VERSIONS[source.value?.apiVersion];
      if (schema) mods.schema.checkSchema(schema, source, source.value);
    }
    const schemaMs = performance.now() - s;
    t.push(schemaMs, Math.max(0, loadMs - parseMs - schemaMs));
    s = performance.now();
    const fleet = mods.build.buildFleet(root, manifests, inventory);
    t.push(performance.now() - s);
    s = performance.now();
    mods.rules.checkRules(fleet, manifests, inventory);
    t.push(performance.now() - s);
    if (round >= WARMUP) t.forEach((ms, i) => times[i].push(ms));
  }
  const medians = times.map(median);
  const total = medians.reduce((a, b, i) => (names[i].startsWith('  ') ? a : a + b), 0);
  return [...names.map((n, i) => [n, fmt(medians[i]), `${((medians[i] / total) * 100).toFixed(0)}%`]), ['sum (sequential)', fmt(total), '100%']];
}

async function walkAsync(dir) {
  const entries = await readdir(dir, { withFileTypes: true });
  const subs = [];
  let n = 0;
  for (const e of entries) {
    if (e.isDirectory()) subs.push(walkAsync(join(dir, e.name)));
    else n++;
  }
  for (const m of await Promise.all(subs)) n += m;
  return n;
}

function walkSync(top) {
  const stack = [top];
  let n = 0;
  while (stack.length > 0) {
    const dir = stack.pop();
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) stack.push(join(dir, e.name));
      else n++;
    }
  }
  return n;
}

function spawnTimed(argv, check, env = process.env) {
  const s = performance.now();
  const r = spawnSync(process.execPath, argv, { cwd: repo, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, env });
  const ms = performance.now() - s;
  if (r.error) throw r.error;
  check(r);
  return ms;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function fmt(ms) {
  return ms >= 100 ? ms.toFixed(0) : ms.toFixed(1);
}

function markdownTable(headers, rows) {
  const all = [headers, ...rows];
  const widths = headers.map((_, i) => Math.max(...all.map((r) => String(r[i]).length)));
  const line = (r) => `| ${r.map((c, i) => String(c).padEnd(widths[i])).join(' | ')} |`;
  return [line(headers), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...rows.map(line)].join('\n');
}

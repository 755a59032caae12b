#!/usr/bin/env node
/**
 * Benchmark (not a test) for the dashboard (issue 15): how long until the page answers a click,
 * for the example fleet (target < 1 s) and a generated fleet of 200 hosts / 5,000 services
 * (target < 2 s), in real headless Chromium (/usr/bin/chromium, playwright-core); what `ui`
 * adds before it; and that `ui` adds nothing to the other commands' start-up.
 *
 *   npm run build && flock /tmp/bench.lock node bench/dashboard.mjs [--hosts 200] [--services 5000] [--reps 3]
 *   flock /tmp/bench.lock node bench/dashboard.mjs --page before.html --page after.html [--reps 3]
 *
 * For each fleet:
 *  - SERVER: `manage-apps graph --format html` end to end (load, analysis, ELK layout, page),
 *    wall and CPU time, and the page's size;
 *  - UI: `manage-apps ui`: the first page load right after it printed its URL (it builds the
 *    page in the background from start-up, so this is what is left of that build), then a
 *    reload (the page kept while the files are unchanged: a stat of each input);
 *  - BROWSER: the saved page loaded in Chromium. "ready" is the page's script having wired
 *    every panel (html[data-ready]); "interactive" is the page answering a click on a host:
 *    measured inside the page (no harness round trip in it), after the first frame the
 *    browser renders once ready (its style, layout and paint of the picture: the earliest a
 *    user's click can be hit-tested and handled), a click is dispatched on the first host's
 *    card and the time taken (performance.now(), from navigation start) once the page's own
 *    handler has marked that host offline. PASS/MISS compares that with the target. "busy" is
 *    the renderer's main-thread time (CPU, not the wait for a core).
 * Then START-UP: `--version` and `validate` on the example fleet, from two copies of the
 * package as built (bin, dist, schemas, package.json; node_modules linked), one with
 * dist/dashboard deleted: if any other command imported the dashboard, that copy would fail
 * or be faster. (Copies both: a copy runs slower than the repository itself here, so the
 * repository is no fair baseline.)
 * Never fails on timings. Needs /usr/bin/time (Debian package `time`).
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { generateFleet } from './lib/analysis-fleet.mjs';
import { prng } from './lib/fleet-tree.mjs';

const repo = fileURLToPath(new URL('..', import.meta.url));
const bin = join(repo, 'bin', 'manage-apps.js');
const { values: args } = parseArgs({
  options: {
    hosts: { type: 'string', default: '200' },
    services: { type: 'string', default: '5000' },
    reps: { type: 'string', default: '3' },
    'start-reps': { type: 'string', default: '11' },
    page: { type: 'string', multiple: true },
  },
});
const REPS = Number(args.reps);
const now = () => Number(process.hrtime.bigint()) / 1e6;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (ms) => `${ms.toFixed(0)} ms`;

const tmp = mkdtempSync(join(os.tmpdir(), 'manage-apps-bench-dashboard-'));
const big = join(tmp, 'fleet');
mkdirSync(big);
if (!args.page) generateFleet(big, prng(20260703), { hosts: Number(args.hosts), services: Number(args.services), clusters: 100 });
const fleets = [
  { name: 'examples/fleet', root: join(repo, 'examples/fleet'), target: 1000 },
  { name: 'test/fixtures/five-hosts', root: join(repo, 'test/fixtures/five-hosts'), target: 1000 },
  { name: `generated ${args.hosts} hosts / ${args.services} services`, root: big, target: 2000 },
];

/** `ui --port 0` on `root`: the first page load after it listens, then a reload (ms). */
async function uiPageLoads(root) {
  const child = spawn(process.execPath, [bin, 'ui', '--port', '0', '--json', '--interval', '3600', '--root', root], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    const url = await new Promise((resolve, reject) => {
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (c) => {
        out += c;
        if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]).url);
      });
      child.on('close', (code) => reject(new Error(`ui exited ${code}`)));
    });
    const load = async () => {
      const t0 = now();
      const res = await fetch(url);
      await res.text();
      if (!res.ok) throw new Error(`ui answered ${res.status}`);
      return now() - t0;
    };
    return { first: await load(), again: await load() };
  } finally {
    child.kill('SIGTERM');
  }
}

const profile = mkdtempSync(join(os.tmpdir(), 'manage-apps-bench-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
  viewport: { width: 1600, height: 1000 },
});
// Once the page says ready: after the next frame (rAF runs before it, the timer after it), a
// click on the first host's card; answered when the page's own handler has marked it offline.
await context.addInitScript(() => {
  new MutationObserver((_, observer) => {
    if (document.documentElement.dataset.ready !== '1') return;
    observer.disconnect();
    requestAnimationFrame(() =>
      setTimeout(() => {
        const host = document.querySelector('g.host');
        host.querySelector('.card').dispatchEvent(new MouseEvent('click', { bubbles: true, cancelable: true, view: window }));
        window.hostClickAnsweredAt = host.classList.contains('offline') ? performance.now() : -1;
      }),
    );
    // The document, not its <html> element: that does not exist yet when this script runs.
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-ready'] });
});
console.log(
  `node ${process.version}, ${os.cpus().length}× ${os.cpus()[0]?.model ?? '?'}, load average ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}; medians of ${REPS}\n`,
);
/** One load of a saved page: ready, interactive and busy (ms). */
async function loadInBrowser(file) {
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('Performance.enable');
  await page.goto(pathToFileURL(file).href, { waitUntil: 'commit' });
  await page.waitForFunction(() => window.hostClickAnsweredAt !== undefined, undefined, { timeout: 120_000 });
  const [ready, interactive, elements] = await page.evaluate(() => [
    window.dashboardReadyAt,
    window.hostClickAnsweredAt,
    document.getElementsByTagName('*').length,
  ]);
  if (interactive < 0) throw new Error(`${file}: the page did not answer the click on a host`);
  // The renderer's main-thread busy time (CPU, not waiting for a core on a loaded machine).
  const { metrics } = await cdp.send('Performance.getMetrics');
  await page.close();
  return { ready, interactive, elements, busy: 1000 * metrics.find((m) => m.name === 'TaskDuration').value };
}

if (args.page) {
  // --page FILE (repeatable): only the browser side, on saved pages (`graph --format html`
  // output, e.g. from two builds), loaded alternately so a change in load falls on all.
  const runs = new Map(args.page.map((p) => [p, []]));
  try {
    for (let i = 0; i < REPS; i++) for (const p of args.page) runs.get(p).push(await loadInBrowser(p));
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
    rmSync(tmp, { recursive: true, force: true });
  }
  for (const [p, rs] of runs) {
    const all = (k) => rs.map((r) => fmt(r[k])).join(' / ');
    console.log(`${p}: ${rs[0].elements} elements; ready ${all('ready')}; interactive ${all('interactive')}; busy ${all('busy')}`);
  }
  console.log(
    `\nload average after: ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  process.exit(0);
}
const rows = [['FLEET', 'SERVER: graph --format html (wall, cpu)', 'UI: 1st load, reload', 'PAGE', 'BROWSER: ready', 'interactive (busy)', 'TARGET']];
try {
  for (const f of fleets) {
    const server = [];
    const serverCpu = [];
    let html = '';
    for (let i = 0; i < REPS; i++) {
      const t0 = now();
      // /usr/bin/time -f: the child's user+system CPU seconds on stderr's last line.
      const res = spawnSync('/usr/bin/time', ['-f', '%U %S', process.execPath, bin, 'graph', '--format', 'html', '--root', f.root], {
        encoding: 'utf8',
        maxBuffer: 1 << 30,
      });
      server.push(now() - t0);
      const [u, sy] = res.stderr.trim().split('\n').pop().split(' ').map(Number);
      serverCpu.push(1000 * (u + sy));
      if (res.status !== 0) throw new Error(`graph --format html --root ${f.root} exited ${res.status}: ${res.stderr.slice(0, 400)}`);
      html = res.stdout;
    }
    const ui = [];
    for (let i = 0; i < REPS; i++) ui.push(await uiPageLoads(f.root));
    const file = join(tmp, `${f.name.replace(/[^a-z0-9]+/gi, '-')}.html`);
    writeFileSync(file, html);
    const ready = [];
    const answered = [];
    const busy = [];
    for (let i = 0; i < REPS; i++) {
      const r = await loadInBrowser(file);
      ready.push(r.ready);
      answered.push(r.interactive);
      busy.push(r.busy);
    }
    const a = median(answered);
    rows.push([
      f.name,
      `${fmt(median(server))} (cpu ${fmt(median(serverCpu))})`,
      `${fmt(median(ui.map((u) => u.first)))}, ${fmt(median(ui.map((u) => u.again)))}`,
      `${(html.length / 1024).toFixed(0)} KiB`,
      fmt(median(ready)),
      `${fmt(a)} (busy ${fmt(median(busy))})`,
      `${a < f.target ? 'PASS' : 'MISS'} (< ${f.target / 1000} s)`,
    ]);
  }
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
for (const r of rows)
  console.log(
    r
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')
      .trimEnd(),
  );

// Start-up: two copies of the package, one without dist/dashboard (node_modules linked).
const copy = (name) => {
  const dir = join(tmp, name);
  for (const part of ['bin', 'dist', 'schemas', 'package.json']) cpSync(join(repo, part), join(dir, part), { recursive: true });
  symlinkSync(join(repo, 'node_modules'), join(dir, 'node_modules'));
  return dir;
};
const built = copy('as-built');
const bare = copy('without-dashboard');
rmSync(join(bare, 'dist', 'dashboard'), { recursive: true, force: true });
const START_REPS = Number(args['start-reps']);
const startRows = [['START-UP (median of ' + START_REPS + ')', 'as built', 'without dist/dashboard']];
try {
  for (const [label, argv] of [
    ['--version', ['--version']],
    ['validate examples/fleet', ['validate', '--root', join(repo, 'examples/fleet')]],
  ]) {
    const times = { built: [], bare: [] };
    for (let i = 0; i < START_REPS; i++) {
      // Alternated, so a change in the machine's load falls on both.
      for (const [which, b] of [
        ['built', join(built, 'bin', 'manage-apps.js')],
        ['bare', join(bare, 'bin', 'manage-apps.js')],
      ]) {
        const t0 = now();
        const res = spawnSync(process.execPath, [b, ...argv], { encoding: 'utf8' });
        times[which].push(now() - t0);
        if (res.status !== 0) throw new Error(`${which}: manage-apps ${argv.join(' ')} exited ${res.status}: ${res.stderr.slice(0, 400)}`);
      }
    }
    startRows.push([label, fmt(median(times.built)), fmt(median(times.bare))]);
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
const sw = startRows[0].map((_, i) => Math.max(...startRows.map((r) => r[i].length)));
console.log('');
for (const r of startRows)
  console.log(
    r
      .map((c, i) => c.padEnd(sw[i]))
      .join('  ')
      .trimEnd(),
  );
console.log(
  `\nload average after: ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);

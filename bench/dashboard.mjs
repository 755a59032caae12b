#!/usr/bin/env node
/**
 * Benchmark (not a test) for the dashboard (issue 15): how long until the page is interactive,
 * for the example fleet (target < 1 s) and a generated fleet of 200 hosts / 5,000 services
 * (target < 2 s), in real headless Chromium (/usr/bin/chromium, playwright-core).
 *
 *   npm run build && node bench/dashboard.mjs [--hosts 200] [--services 5000] [--reps 3]
 *
 * Two parts, timed separately for each fleet:
 *  - server side: `manage-apps graph --format html` end to end (load, analysis, ELK layout,
 *    SVG; the same work `ui` does for each page load), and the page's size;
 *  - browser side: from navigation start to the page's script having wired every panel
 *    (html[data-ready]; performance.now() at that moment), loading the saved file.
 * Prints medians and PASS/MISS against the targets (the browser side, which is what the user
 * waits for once the page is served; the server row says what `ui` adds before it), with CPU
 * time beside wall time: on a shared machine the wall time mostly measures the queue for a
 * core. Never fails on timings. Needs /usr/bin/time (Debian package `time`).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { generateFleet } from './lib/analysis-fleet.mjs';
import { prng } from './lib/fleet-tree.mjs';

const repo = fileURLToPath(new URL('..', import.meta.url));
const bin = join(repo, 'bin', 'manage-apps.js');
const { values: args } = parseArgs({ options: { hosts: { type: 'string', default: '200' }, services: { type: 'string', default: '5000' }, reps: { type: 'string', default: '3' } } });
const REPS = Number(args.reps);
const now = () => Number(process.hrtime.bigint()) / 1e6;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (ms) => `${ms.toFixed(0)} ms`;

const tmp = mkdtempSync(join(os.tmpdir(), 'manage-apps-bench-dashboard-'));
const big = join(tmp, 'fleet');
mkdirSync(big);
generateFleet(big, prng(20260703), { hosts: Number(args.hosts), services: Number(args.services), clusters: 100 });
const fleets = [
  { name: 'examples/fleet', root: join(repo, 'examples/fleet'), target: 1000 },
  { name: 'test/fixtures/seed000', root: join(repo, 'test/fixtures/seed000'), target: 1000 },
  { name: `generated ${args.hosts} hosts / ${args.services} services`, root: big, target: 2000 },
];

const profile = mkdtempSync(join(os.tmpdir(), 'manage-apps-bench-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1600, height: 1000 },
});
console.log(`node ${process.version}, ${os.cpus().length}× ${os.cpus()[0]?.model ?? '?'}, load ${os.loadavg()[0].toFixed(1)}; medians of ${REPS}\n`);
const rows = [['FLEET', 'SERVER: graph --format html (wall, cpu)', 'PAGE', 'BROWSER: interactive (wall, main thread busy)', 'TARGET']];
try {
  for (const f of fleets) {
    const server = [];
    const serverCpu = [];
    let html = '';
    for (let i = 0; i < REPS; i++) {
      const t0 = now();
      // /usr/bin/time -f: the child's user+system CPU seconds on stderr's last line.
      const res = spawnSync('/usr/bin/time', ['-f', '%U %S', process.execPath, bin, 'graph', '--format', 'html', '--root', f.root], { encoding: 'utf8', maxBuffer: 1 << 30 });
      server.push(now() - t0);
      const [u, sy] = res.stderr.trim().split('\n').pop().split(' ').map(Number);
      serverCpu.push(1000 * (u + sy));
      if (res.status !== 0) throw new Error(`graph --format html --root ${f.root} exited ${res.status}: ${res.stderr.slice(0, 400)}`);
      html = res.stdout;
    }
    const file = join(tmp, `${f.name.replace(/[^a-z0-9]+/gi, '-')}.html`);
    writeFileSync(file, html);
    const browser = [];
    const busy = [];
    for (let i = 0; i < REPS; i++) {
      const page = await context.newPage();
      const cdp = await context.newCDPSession(page);
      await cdp.send('Performance.enable');
      await page.goto(pathToFileURL(file).href);
      await page.waitForSelector('html[data-ready="1"]', { timeout: 120_000 });
      browser.push(await page.evaluate(() => window.dashboardReadyAt));
      // The renderer's main-thread busy time (CPU, not waiting for a core on a loaded machine).
      const { metrics } = await cdp.send('Performance.getMetrics');
      busy.push(1000 * metrics.find((m) => m.name === 'TaskDuration').value);
      await page.close();
    }
    const b = median(browser);
    rows.push([f.name, `${fmt(median(server))} (cpu ${fmt(median(serverCpu))})`, `${(html.length / 1024).toFixed(0)} KiB`, `${fmt(b)} (busy ${fmt(median(busy))})`, `${b < f.target ? 'PASS' : 'MISS'} (< ${f.target / 1000} s)`]);
  }
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
  rmSync(tmp, { recursive: true, force: true });
}
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd());

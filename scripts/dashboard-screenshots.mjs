#!/usr/bin/env node
// Screenshots for the docs: the dashboard page (`graph --format html`) of a five-host
// fleet (test/fixtures/five-hosts) in headless Chromium: the picture, a what-if, a drain.
//   npm run build && node scripts/dashboard-screenshots.mjs
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const repo = fileURLToPath(new URL('..', import.meta.url));
const tmp = mkdtempSync(join(os.tmpdir(), 'manage-apps-shots-'));
const res = spawnSync(process.execPath, [join(repo, 'bin/manage-apps.js'), 'graph', '--format', 'html', '--root', 'test/fixtures/five-hosts'], {
  cwd: repo,
  encoding: 'utf8',
});
if (res.status !== 0) throw new Error(res.stderr);
const file = join(tmp, 'fleet.html');
writeFileSync(file, res.stdout);
const context = await chromium.launchPersistentContext(join(tmp, 'profile'), {
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
  viewport: { width: 2400, height: 820 },
});
try {
  const page = await context.newPage();
  await page.goto(pathToFileURL(file).href);
  await page.waitForSelector('html[data-ready="1"]');
  await page.screenshot({ path: join(repo, 'docs/dashboard-fleet.png') });
  await page.click('g.host[data-host="vps-0"] .card');
  await page.waitForSelector('#impact-title');
  await page.screenshot({ path: join(repo, 'docs/dashboard-whatif.png') });
  await page.click('g.host[data-host="vps-0"] .card');
  await page.click('nav [data-tab="drain"]');
  await page.selectOption('#drain-from', 'black');
  await page.selectOption('#drain-to', 'apricot');
  await page.click('#drain-go');
  await page.waitForSelector('#drain-waves');
  await page.screenshot({ path: join(repo, 'docs/dashboard-drain.png') });
} finally {
  await context.close();
  rmSync(tmp, { recursive: true, force: true });
}

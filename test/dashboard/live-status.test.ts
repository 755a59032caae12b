// The live dashboard on a real test host (systemd + sshd): status rounds over ssh pushed to
// the page; a service stopped on the host turns red by the next round; restart, deploy and
// rollback from the page (--allow-actions, confirmed) run the verbs' own functions: the restart
// brings the service back, the deploy ships a release the host then serves (checked over HTTP),
// the rollback brings the previous release back.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { packageRoot } from '../../src/package-root.js';
import { ensureUpperDir, realHostsSkipReason, TestFleet, writeUpperFile, type HostPreparation } from '../harness/test-fleet.js';
import { appSource, fleetRoot, nodeUnit } from '../ops/real-fleet.js';
import { browserSkipReason, launchBrowser, startUi, type Browser, type UiProcess } from './browser.js';

const APP = '/opt/apps/tiny-http.mjs';
const manifest = (project: string, port: number) =>
  `apiVersion: infra/v2\nproject: ${project}\nprovider: bare-metal\nservice:\n  host: alpha\n  systemd_unit: ${project}.service\n  port: ${port}\n  health: { timeout: 10s }\n`;
/** Deployed from the page: releases of its dist/ directory (the manifest's artifact). */
const SHOP_PORT = 7203;
const shopManifest = `apiVersion: infra/v2\nproject: shop\nprovider: bare-metal\nservice:\n  host: alpha\n  port: ${SHOP_PORT}\n  command: node server.mjs\n  artifact: dist\n  health: { timeout: 10s }\n`;

function prepare({ upperDir }: HostPreparation): void {
  writeUpperFile(upperDir, APP.slice(1), readFileSync(join(packageRoot(), 'examples/fleet/apps/tiny-http.mjs'), 'utf8'));
  const wants = ensureUpperDir(upperDir, 'etc/systemd/system/multi-user.target.wants');
  for (const [name, port] of [
    ['web', 7201],
    ['api', 7202],
  ] as const) {
    writeUpperFile(upperDir, `etc/systemd/system/${name}.service`, nodeUnit(APP, { PORT: String(port), NAME: name }, { restart: false }));
    symlinkSync(`/etc/systemd/system/${name}.service`, `${wants}/${name}.service`);
  }
}

const skip = realHostsSkipReason() ?? browserSkipReason();

describe('live dashboard on a real host', { skip, timeout: 300_000 }, () => {
  let fleet: TestFleet;
  let browser: Browser;
  let ui: UiProcess;
  let page: Page;
  let root = '';
  const controlDir = mkdtempSync(join(tmpdir(), 'manage-apps-cm-'));
  const rowClass = (id: string) => page.locator(`svg#fleet g.row[data-service="${id}"]`).getAttribute('class');
  const rounds = () => page.evaluate(() => (globalThis as any).statusRounds as number);

  before(async () => {
    fleet = await TestFleet.up({ names: ['alpha'] }, { prepareHost: prepare });
    root = await fleetRoot(fleet.hosts, {
      'web/.infra.yaml': manifest('web', 7201),
      'api/.infra.yaml': manifest('api', 7202),
      'shop/.infra.yaml': shopManifest,
      'shop/dist/server.mjs': appSource({ version: 'v1' }),
    });
    ui = await startUi(['--root', root, '--ssh-config', fleet.sshConfigPath, '--interval', '2', '--allow-actions'], {
      MANAGE_APPS_CONTROL_DIR: controlDir,
    });
    browser = await launchBrowser();
    page = await browser.context.newPage();
    await page.goto(ui.url);
    await page.waitForSelector('html[data-ready="1"]');
  });
  after(async () => {
    await browser?.close();
    if (ui) assert.equal(await ui.stop(), 0, ui.stderr());
    await fleet?.down();
    if (root) rmSync(root, { recursive: true, force: true });
    rmSync(controlDir, { recursive: true, force: true });
  });

  test('every running service is green once the first status round arrives', async () => {
    await page.waitForFunction(() => (globalThis as any).statusRounds >= 1, undefined, { timeout: 60_000 });
    await page.waitForSelector('svg#fleet g.row[data-service="web"].st-ok', { timeout: 30_000 });
    assert.match((await rowClass('api')) ?? '', /st-ok/);
    // shop is not deployed yet: red until the deploy below.
    assert.match((await rowClass('shop')) ?? '', /st-bad/);
    assert.equal(await page.locator('#summary-counts').textContent(), '2/3 healthy');
  });

  test('a service stopped on the host turns red within one refresh', async () => {
    const stop = await fleet.ssh('alpha', 'systemctl stop web.service');
    assert.equal(stop.exitCode, 0, stop.stderr);
    // A round already under way may have probed before the stop; the one after it must see it.
    const seen = await rounds();
    await page.waitForSelector('svg#fleet g.row[data-service="web"].st-bad', { timeout: 60_000 });
    const after = await rounds();
    assert.ok(after <= seen + 2, `red after ${after - seen} rounds (at most: the one under way, then the next)`);
    assert.match((await rowClass('api')) ?? '', /st-ok/, 'the other service stays green');
  });

  test('restart from the page (confirmed) runs the restart verb and the row turns green again', async () => {
    await page.click('nav [data-tab="status"]');
    page.once('dialog', (d) => void d.accept());
    await page.click('#status-table tr[data-service="web"] button[data-verb="restart"]');
    await page.waitForFunction(
      () => ((globalThis as any).document.querySelector('#action-result h2')?.textContent ?? '').includes('exit 0'),
      undefined,
      { timeout: 60_000 },
    );
    assert.equal((await fleet.ssh('alpha', 'systemctl is-active web.service')).stdout.trim(), 'active');
    await page.waitForSelector('svg#fleet g.row[data-service="web"].st-ok', { timeout: 60_000 });
    assert.match(ui.stderr(), /restart web \(confirmed on the page\)/);
  });

  /** Clicks VERB on shop's row, accepts the confirmation, and returns the verb's --json document. */
  const shopAction = async (verb: 'deploy' | 'rollback') => {
    await page.click('nav [data-tab="status"]');
    let asked = '';
    page.once('dialog', (d) => {
      asked = d.message();
      void d.accept();
    });
    const answer = page.waitForResponse((r) => r.url().endsWith('/api/action'), { timeout: 120_000 });
    await page.click(`#status-table tr[data-service="shop"] button[data-verb="${verb}"]`);
    const body = (await (await answer).json()) as {
      verb: string;
      target: string;
      exit_code: number;
      result: { deploys?: { id: string; ok: boolean; release: string | null }[] };
    };
    assert.match(asked, new RegExp(`^${verb} shop\\?`), 'the page asked first');
    await page.waitForFunction(
      (v) => ((globalThis as any).document.querySelector('#action-result h2')?.textContent ?? '').startsWith(`${v} shop: exit`),
      verb,
    );
    assert.equal(await page.locator('#action-result h2').textContent(), `${verb} shop: exit ${body.exit_code}`);
    assert.match(ui.stderr(), new RegExp(`${verb} shop \\(confirmed on the page\\)`));
    return body;
  };
  const served = async () =>
    (await fetch(`http://${fleet.host('alpha').address}:${SHOP_PORT}/`, { signal: AbortSignal.timeout(5000) })).text().then((t) => t.trim());
  let firstRelease: string | null = null;

  test('deploy from the page (confirmed) ships a release that the host serves, and the row turns green', async () => {
    const body = await shopAction('deploy');
    assert.equal(body.exit_code, 0, JSON.stringify(body.result));
    const [d] = body.result.deploys ?? [];
    assert.equal(d?.id, 'shop');
    assert.equal(d?.ok, true);
    firstRelease = d?.release ?? null;
    assert.ok(firstRelease);
    assert.equal(await served(), 'v1');
    assert.equal((await fleet.ssh('alpha', 'readlink /srv/shop/current')).stdout.trim(), `releases/${firstRelease}`);
    await page.waitForSelector('svg#fleet g.row[data-service="shop"].st-ok', { timeout: 60_000 });
  });

  test('a second deploy from the page ships the edited artifact; rollback from the page brings the first back', async () => {
    writeFileSync(join(root, 'shop/dist/server.mjs'), appSource({ version: 'v2' }));
    const second = await shopAction('deploy');
    assert.equal(second.exit_code, 0, JSON.stringify(second.result));
    const release2 = second.result.deploys?.[0]?.release;
    assert.ok(release2 && release2 !== firstRelease);
    assert.equal(await served(), 'v2');
    const back = await shopAction('rollback');
    assert.equal(back.exit_code, 0, JSON.stringify(back.result));
    assert.equal(await served(), 'v1');
    assert.equal((await fleet.ssh('alpha', 'readlink /srv/shop/current')).stdout.trim(), `releases/${firstRelease}`);
  });

  test('a dismissed confirmation runs nothing', async () => {
    page.once('dialog', (d) => void d.dismiss());
    const before = ui.stderr();
    await page.click('#status-table tr[data-service="api"] button[data-verb="restart"]');
    // The page asks again next round; the server heard nothing.
    const seen = await rounds();
    await page.waitForFunction((n) => (globalThis as any).statusRounds > n, seen, { timeout: 60_000 });
    assert.equal(ui.stderr(), before);
  });
});

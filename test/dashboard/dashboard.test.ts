// The dashboard in real headless Chromium on the example fleet: the static page
// (`graph --format html`) and picture (`graph --format svg`), and the `ui` server: every host
// and service drawn as text, what-if and drain answers equal to the CLI's, the token, the
// read-only default and cross-site requests refused.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import type { Page } from 'playwright-core';
import { packageRoot } from '../../src/package-root.js';
import { appendRecords, LEDGER_FILE } from '../../src/promotion/ledger.js';
import { eventually, json, runCli } from '../ops/helpers.js';
import { browserSkipReason, launchBrowser, startUi, type Browser, type UiProcess } from './browser.js';

const ROOT = join(packageRoot(), 'examples/fleet');
interface GraphDoc {
  hosts: { name: string }[];
  services: { id: string }[];
  clusters: { name: string }[];
}
interface ImpactDoc {
  down: { id: string }[];
  degraded: { id: string }[];
  data: { name: string }[];
  tunnels: { name: string }[];
}

async function cliJson<T>(...args: string[]): Promise<T> {
  return json<T>(await runCli([...args, '--root', ROOT, '--json']));
}

/** The what-if panel's lists, as the page shows them. */
async function panelImpact(page: Page) {
  const ids = (sel: string) => page.$$eval(sel, (els) => els.map((e) => e.getAttribute('data-id')!).sort());
  return {
    down: await ids('#impact-down li'),
    degraded: await ids('#impact-degraded li'),
    data: (await page.$$eval('#impact-data tr td:first-child', (els) => els.map((e) => e.textContent!.replace(/ \(.*$/, '')))).sort(),
    tunnels: (await page.$$eval('#impact-tunnels li', (els) => els.map((e) => e.textContent!.split(':')[0]!))).sort(),
  };
}
const cliImpact = (r: ImpactDoc) => ({
  down: r.down.map((s) => s.id).sort(),
  degraded: r.degraded.map((s) => s.id).sort(),
  data: r.data.map((d) => d.name).sort(),
  tunnels: r.tunnels.map((t) => t.name).sort(),
});

async function assertEverythingDrawn(page: Page, g: GraphDoc) {
  for (const h of g.hosts)
    assert.equal(await page.locator(`svg#fleet g.host[data-host="${h.name}"] text.host-name`).textContent(), h.name, `host ${h.name} drawn`);
  for (const s of g.services)
    assert.equal(await page.locator(`svg#fleet g.row[data-service="${s.id}"] tspan.row-label`).textContent(), s.id, `service ${s.id} drawn`);
  for (const c of g.clusters)
    assert.equal(await page.locator(`svg#fleet g.row[data-cluster="${c.name}"] tspan.row-label`).textContent(), c.name, `cluster ${c.name} drawn`);
}

/** A raw request, headers as given (a browser on another site sends these). */
function raw(url: string, options: { method?: string; headers?: Record<string, string>; body?: string }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers: options.headers ?? {} }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

describe('dashboard in headless Chromium (example fleet)', { skip: browserSkipReason(), timeout: 240_000 }, () => {
  let browser: Browser;
  let graph: GraphDoc;
  const dir = mkdtempSync(join(tmpdir(), 'manage-apps-dashboard-'));

  before(async () => {
    browser = await launchBrowser();
    graph = await cliJson<GraphDoc>('graph');
  });
  after(async () => {
    await browser?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('graph --format html: one file that draws every host, service and cluster as text and asks for nothing', async () => {
    const run = await runCli(['graph', '--format', 'html', '--root', ROOT]);
    assert.equal(run.status, 0, run.stderr);
    assert.doesNotMatch(run.stdout, /https?:\/\/(?!www\.w3\.org)/, 'no URL to fetch anything from');
    const file = join(dir, 'fleet.html');
    writeFileSync(file, run.stdout);
    const page = await browser.context.newPage();
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(pathToFileURL(file).href);
    await page.waitForSelector('html[data-ready="1"]');
    await assertEverythingDrawn(page, graph);
    // Real text: the browser finds the names in the page's text.
    assert.ok((await page.locator('body').innerText()).includes('model-boss'));

    // What if: the answer `impact black --json` gives.
    await page.click('svg#fleet g.host[data-host="black"] .card');
    await page.waitForSelector('#impact-title');
    assert.deepEqual(await panelImpact(page), cliImpact(await cliJson<ImpactDoc>('impact', 'black')));
    assert.ok((await page.locator('svg#fleet path.edge.lit').count()) > 0, 'the paths that explain it are highlighted');

    // Drain: the waves of `drain black --to apricot --json`, drawn.
    await page.click('nav [data-tab="drain"]');
    await page.selectOption('#drain-from', 'black');
    await page.selectOption('#drain-to', 'apricot');
    await page.click('#drain-go');
    await page.waitForSelector('#drain-waves');
    const plan = await cliJson<{ waves: { items: { name: string }[] }[] }>('drain', 'black', '--to', 'apricot');
    assert.deepEqual(
      await page.$$eval('#drain-waves li', (els) => els.map((e) => e.firstChild!.textContent)),
      plan.waves.map((w) => w.items.map((i) => i.name + ('kind' in i && i.kind === 'cluster' ? ' (db)' : '')).join(', ')),
    );
    assert.equal(
      await page.locator('svg#fleet text.wave-badge').count(),
      plan.waves.reduce((n, w) => n + w.items.length, 0),
    );
    assert.deepEqual(requests, [pathToFileURL(file).href], 'the static page made no request of its own');
    await page.close();
  });

  test('graph --format svg: the picture with every name as <text>', async () => {
    const run = await runCli(['graph', '--format', 'svg', '--root', ROOT]);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    for (const name of [...graph.hosts.map((h) => h.name), ...graph.clusters.map((c) => c.name)]) assert.ok(run.stdout.includes(`>${name}</`), name);
    for (const s of graph.services) assert.ok(run.stdout.includes(`<tspan class="row-label">${s.id}</tspan>`), s.id);
  });

  test('the ledger tab: per service of a promotion path, the promoted release, its evidence and whether the chain verifies (as `ledger verify` says)', async () => {
    const root = join(dir, 'promoted');
    const put = (path: string, content: string) => {
      mkdirSync(join(root, path, '..'), { recursive: true });
      writeFileSync(join(root, path), content);
    };
    put(
      'mesh-hosts.json',
      JSON.stringify({
        version: 1,
        hosts: {
          pv: { address: '10.0.0.21', provider: 'bare-metal', role: 'staging' },
          pd: { address: '10.0.0.22', provider: 'bare-metal', role: 'production' },
        },
      }),
    );
    const service = (host: string) => `provider: bare-metal\nservice:\n  host: ${host}\n  port: 8080\n  command: node server.mjs\n`;
    put(
      'shop/.infra.yaml',
      `apiVersion: infra/v2\nproject: shop\n${service('pd')}promotion:\n  path: [preview, prod]\n  observe: 10m\n  approve: [prod]\n`,
    );
    put('shop/.infra.preview.yaml', `apiVersion: infra/v2\nproject: shop\nenvironment: preview\n${service('pv')}`);
    const key = join(dir, 'alice');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'alice', '-f', key]);
    put('allowed_signers', `alice@example.org ${readFileSync(`${key}.pub`, 'utf8')}`);
    const release = '20261206T101500123Z-1a2b3c4d';
    const content = 'c'.repeat(64);
    const [deployed] = appendRecords(root, () => [
      {
        kind: 'deploy',
        project: 'shop',
        env: 'preview',
        service: 'shop:preview',
        host: 'pv',
        release,
        content,
        image_digest: null,
        outcome: 'passed',
        previous: null,
      },
    ]);
    const [observed] = appendRecords(root, () => [
      {
        kind: 'observation',
        project: 'shop',
        env: 'preview',
        release,
        content,
        since: deployed!.time,
        window_s: 600,
        samples: 10,
        failed: [],
        verdict: 'passed',
      },
    ]);
    // The approval as operators make it: `approve`, signed with the key in allowed_signers.
    const approved = await runCli(['approve', 'shop', '--to', 'prod', '--key', key, '--json', '--root', root]);
    assert.equal(approved.status, 0, approved.stdout + approved.stderr);
    const signer = json<{ signer: { fingerprint: string }; line: number; hash: string }>(approved);
    const [promoted] = appendRecords(root, () => [
      {
        kind: 'promotion',
        project: 'shop',
        env: 'prod',
        service: 'shop',
        host: 'pd',
        from: 'preview',
        release,
        content,
        image_digest: null,
        previous: null,
        outcome: 'passed',
        source: { release, content, image_digest: null, ledger: deployed!.hash },
        observation: observed!.hash,
        approval: signer.hash,
        approved_by: { principal: 'alice@example.org', fingerprint: signer.signer.fingerprint },
        drill: null,
      },
    ]);

    const ledgerTab = async () => {
      const run = await runCli(['graph', '--format', 'html', '--root', root]);
      assert.equal(run.status, 0, run.stderr);
      const file = join(dir, 'promoted.html');
      writeFileSync(file, run.stdout);
      const page = await browser.context.newPage();
      await page.goto(pathToFileURL(file).href);
      await page.waitForSelector('html[data-ready="1"]');
      await page.click('nav [data-tab="ledger"]');
      await page.waitForSelector('#ledger-state');
      return page;
    };
    const page = await ledgerTab();
    const verified = await runCli(['ledger', 'verify', '--json', '--root', root]);
    assert.equal(verified.status, 0, verified.stdout);
    assert.equal(
      await page.locator('#ledger-state').textContent(),
      `✔ release-ledger.jsonl: 4 records, the chain holds, 1 approval signature(s) verify`,
    );
    const prod = page.locator('#ledger-services tr[data-service="shop"]');
    assert.equal(await prod.locator('td.release').textContent(), release);
    assert.match((await prod.locator('td.because').textContent()) ?? '', new RegExp(`^promotion from preview, line ${promoted!.seq}, `));
    assert.deepEqual(await prod.locator('ul.evidence li').allTextContents(), [
      `gate: passed in preview (deploy, line ${deployed!.seq})`,
      `observed: 600s, 10 sample(s), passed (line ${observed!.seq})`,
      'drill: not required',
      `approved by alice@example.org ${signer.signer.fingerprint} (line ${signer.line})`,
    ]);
    assert.equal(
      await page.locator('#ledger-services tr[data-service="shop:preview"] td.because').textContent(),
      `deploy, line 1, ${deployed!.time.replace('T', ' ').slice(0, 19)} UTC`,
    );
    await page.close();

    // The live page (`ui`) as well, kept while nothing changes, built again when the ledger does.
    const ui = await startUi(['--root', root, '--interval', '30']);
    try {
      const livePage = await browser.context.newPage();
      await livePage.goto(ui.url);
      await livePage.waitForSelector('html[data-ready="1"]');
      await livePage.click('nav [data-tab="ledger"]');
      assert.match((await livePage.locator('#ledger-state').textContent()) ?? '', /^✔ release-ledger\.jsonl: 4 records/);
      appendRecords(root, () => [
        {
          kind: 'rollback',
          project: 'shop',
          env: 'prod',
          service: 'shop',
          host: 'pd',
          from: release,
          release: '20261205T101500123Z-00000000',
          outcome: 'passed',
        },
      ]);
      await livePage.reload();
      await livePage.waitForSelector('html[data-ready="1"]');
      await livePage.click('nav [data-tab="ledger"]');
      assert.match((await livePage.locator('#ledger-state').textContent()) ?? '', /^✔ release-ledger\.jsonl: 5 records/);
      assert.match((await livePage.locator('#ledger-services tr[data-service="shop"] td.because').textContent()) ?? '', /^rollback, line 5, /);
      // A line changed in place (the file rewritten, its directory untouched): the next page load sees it.
      const ledgerFile = join(root, LEDGER_FILE);
      const kept = readFileSync(ledgerFile, 'utf8');
      writeFileSync(ledgerFile, kept.replace('"samples":10', '"samples":11'));
      await livePage.reload();
      await livePage.waitForSelector('html[data-ready="1"]');
      await livePage.click('nav [data-tab="ledger"]');
      assert.match((await livePage.locator('#ledger-state').textContent()) ?? '', /^✖ release-ledger\.jsonl does not verify: line 2 /);
      writeFileSync(ledgerFile, kept);
      await livePage.close();
    } finally {
      await ui.stop();
    }

    // One byte of an old line changed: the tab says what `ledger verify` says.
    const path = join(root, LEDGER_FILE);
    writeFileSync(path, readFileSync(path, 'utf8').replace('"window_s":600', '"window_s":601'));
    const broken = await runCli(['ledger', 'verify', '--json', '--root', root]);
    assert.equal(broken.status, 1);
    const message = json<{ broken: { message: string } }>(broken).broken.message;
    const tampered = await ledgerTab();
    assert.equal(await tampered.locator('#ledger-state').textContent(), `✖ release-ledger.jsonl does not verify: ${message}`);
    assert.match(message, /line 2/);
    await tampered.close();
  });

  test("a big fleet's compact picture: every service a <tspan> of real text, a click on a host answers as `impact`", async () => {
    // Over COMPACT_ROW_LIMIT rows: the generated fleet of bench/dashboard.mjs, smaller.
    const { generateFleet } = (await import(pathToFileURL(join(packageRoot(), 'bench/lib/analysis-fleet.mjs')).href)) as {
      generateFleet: (dir: string, rnd: () => number, o: { hosts: number; services: number; clusters: number }) => void;
    };
    const { prng } = (await import(pathToFileURL(join(packageRoot(), 'bench/lib/fleet-tree.mjs')).href)) as { prng: (seed: number) => () => number };
    const root = join(dir, 'big');
    mkdirSync(root);
    generateFleet(root, prng(15), { hosts: 30, services: 1100, clusters: 20 });
    const run = await runCli(['graph', '--format', 'html', '--root', root]);
    assert.equal(run.status, 0, run.stderr);
    const file = join(dir, 'big.html');
    writeFileSync(file, run.stdout);
    const big = json<GraphDoc>(await runCli(['graph', '--root', root, '--json']));
    const page = await browser.context.newPage();
    await page.goto(pathToFileURL(file).href);
    await page.waitForSelector('html[data-ready="1"]');
    assert.equal(await page.locator('svg#fleet.compact').count(), 1);
    const drawn = await page.$$eval('svg#fleet tspan.row.service', (els) =>
      els.map((e) => `${e.getAttribute('data-service')} ${e.textContent!.split(' ')[0]}`),
    );
    assert.deepEqual(drawn.sort(), big.services.map((s) => `${s.id} ${s.id}`).sort());
    assert.equal(await page.locator('svg#fleet g.row').count(), 0, 'no per-row group');
    // The search box marks the row; a click on a host answers as `impact <host> --json`.
    await page.fill('#search', big.services[7]!.id);
    assert.match((await page.locator(`svg#fleet tspan.row[data-service="${big.services[7]!.id}"]`).getAttribute('class')) ?? '', /match/);
    const host = big.hosts[3]!.name;
    await page.click(`svg#fleet g.host[data-host="${host}"] .card`);
    await page.waitForSelector('#impact-title');
    assert.deepEqual(await panelImpact(page), cliImpact(json<ImpactDoc>(await runCli(['impact', host, '--root', root, '--json']))));
    assert.ok((await page.locator('svg#fleet tspan.row.w-down').count()) > 0, 'the rows that go down are marked');
    await page.close();
  });

  describe('ui (read-only)', () => {
    let ui: UiProcess;
    before(async () => {
      ui = await startUi(['--root', ROOT, '--interval', '30']);
    });
    after(async () => {
      assert.equal(await ui?.stop(), 0, ui?.stderr());
    });

    test('binds 127.0.0.1 and needs the token', async () => {
      assert.match(ui.url, /^http:\/\/127\.0\.0\.1:\d+\/[A-Za-z0-9_-]{32}\/$/);
      const base = `http://127.0.0.1:${ui.port}`;
      assert.equal((await raw(`${base}/`, {})).status, 403);
      assert.equal((await raw(`${base}/not-the-token/`, {})).status, 403);
      assert.equal((await raw(`${base}/not-the-token/api/impact?host=black`, {})).status, 403);
      assert.equal((await raw(ui.url, {})).status, 200);
      // A page on another name for this address (DNS rebinding) is refused.
      assert.equal((await raw(ui.url, { headers: { host: `attacker.example:${ui.port}` } })).status, 403);
    });

    test('clicking hosts gives the answer of `impact <hosts> --json`', async () => {
      const page = await browser.context.newPage();
      await page.goto(ui.url);
      await page.waitForSelector('html[data-ready="1"]');
      await assertEverythingDrawn(page, graph);
      await page.click('svg#fleet g.host[data-host="apricot"] .card');
      await page.waitForFunction(() => (globalThis as any).document.querySelector('#impact-title')?.textContent.includes('apricot goes'));
      assert.deepEqual(await panelImpact(page), cliImpact(await cliJson<ImpactDoc>('impact', 'apricot')));
      await page.click('svg#fleet g.host[data-host="vps-0"] .card');
      await page.waitForFunction(() => (globalThis as any).document.querySelector('#impact-title')?.textContent.includes('vps-0 go'));
      assert.deepEqual(await panelImpact(page), cliImpact(await cliJson<ImpactDoc>('impact', 'apricot', 'vps-0')));
      await page.close();
    });

    test('an action is refused without --allow-actions, even from the page with its CSRF token', async () => {
      const page = await browser.context.newPage();
      await page.goto(ui.url);
      await page.waitForSelector('html[data-ready="1"]');
      // The page's own script context: its origin, its CSRF token.
      const answer = (await page.evaluate(async () => {
        const w = globalThis as any;
        const data = JSON.parse(w.document.getElementById('fleet-data').textContent);
        const res = await w.fetch('api/action', {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-csrf-token': data.live.csrf },
          body: JSON.stringify({ verb: 'restart', target: 'beacon' }),
        });
        return { status: res.status, body: await res.json() };
      })) as { status: number; body: { error: { code: string } } };
      assert.equal(answer.status, 403);
      assert.equal(answer.body.error.code, 'E_READ_ONLY');
      assert.equal(await page.locator('button[data-verb]').count(), 0, 'no action buttons on a read-only page');
      await page.close();
    });
  });

  describe('ui --allow-actions', () => {
    let ui: UiProcess;
    let attacker: Server;
    let attackerPort = 0;
    before(async () => {
      ui = await startUi(['--root', ROOT, '--interval', '30', '--allow-actions']);
      attacker = createServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/html' });
        // A site that knows the whole dashboard URL and tries a simple (no-preflight) POST.
        res.end(
          `<!doctype html><script>fetch(${JSON.stringify(`${ui.url}api/action`)}, { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body: '{"verb":"restart","target":"beacon"}' }).finally(() => { document.title = 'sent'; });</script>`,
        );
      });
      await new Promise<void>((r) => attacker.listen(0, '127.0.0.1', () => r()));
      attackerPort = (attacker.address() as { port: number }).port;
    });
    after(async () => {
      attacker?.close();
      assert.equal(await ui?.stop(), 0, ui?.stderr());
    });

    test('a cross-site POST is refused', async () => {
      const page = await browser.context.newPage();
      // The browser sends it; the server refuses it (and the browser hides even the refusal from the page).
      const failed = page.waitForEvent('requestfailed', (r) => r.url() === `${ui.url}api/action`);
      await page.goto(`http://localhost:${attackerPort}/`);
      await failed;
      await eventually('the refusal in the log', 5000, async () =>
        ui.stderr().includes(`action refused (E_ORIGIN) from origin "http://localhost:${attackerPort}"`),
      );
      assert.doesNotMatch(ui.stderr(), /restart beacon/);
      await page.close();

      const url = `${ui.url}api/action`;
      const body = JSON.stringify({ verb: 'restart', target: 'beacon' });
      const own = `http://127.0.0.1:${ui.port}`;
      const csrf = /"csrf":"([^"]+)"/.exec((await raw(ui.url, {})).body)![1]!;
      const post = (headers: Record<string, string>) =>
        raw(url, { method: 'POST', headers, body }).then((r) => `${r.status} ${(JSON.parse(r.body) as { error?: { code: string } }).error?.code}`);
      assert.equal(await post({ origin: 'https://evil.example', 'content-type': 'application/json', 'x-csrf-token': csrf }), '403 E_ORIGIN');
      assert.equal(await post({ 'content-type': 'application/json', 'x-csrf-token': csrf }), '403 E_ORIGIN', 'no Origin at all');
      assert.equal(
        await post({ origin: own, 'sec-fetch-site': 'cross-site', 'content-type': 'application/json', 'x-csrf-token': csrf }),
        '403 E_ORIGIN',
      );
      assert.equal(await post({ origin: own, 'content-type': 'text/plain', 'x-csrf-token': csrf }), '415 E_TYPE');
      assert.equal(await post({ origin: own, 'content-type': 'application/json' }), '403 E_CSRF');
      assert.equal(await post({ origin: own, 'content-type': 'application/json', 'x-csrf-token': 'guess' }), '403 E_CSRF');
      assert.equal((await raw(url, { method: 'GET' })).status, 405);
    });
  });
});

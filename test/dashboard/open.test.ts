// `ui --open` (issue 20, item 9): the desktop opener's argv is readable by every local user
// (/proc/<pid>/cmdline). The opener here is an argv recorder on PATH (no desktop runs here) that
// hands the link on to a real Chromium, as xdg-open would. The token is never in that argv; the
// link it gets works once, for the browser, and an attacker who replays it afterwards (read from
// the recorded argv, as from ps) or forges one is refused.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { packageRoot } from '../../src/package-root.js';
import { browserSkipReason, launchBrowser, startUi, type UiProcess } from './browser.js';

const ROOT = join(packageRoot(), 'examples/fleet');

describe('ui --open: the opener never gets the token', { skip: browserSkipReason(), timeout: 120_000 }, () => {
  let ui: UiProcess;
  let bin = '';
  const argvFile = () => join(bin, 'argv');

  before(async () => {
    bin = mkdtempSync(join(tmpdir(), 'manage-apps-opener-'));
    for (const opener of ['xdg-open', 'open']) {
      writeFileSync(
        join(bin, opener),
        `#!/bin/sh\nprintf '%s\\n' "$0" "$@" > ${JSON.stringify(argvFile())}.tmp && mv ${JSON.stringify(argvFile())}.tmp ${JSON.stringify(argvFile())}\n`,
      );
      chmodSync(join(bin, opener), 0o755);
    }
    ui = await startUi(['--open', '--root', ROOT, '--interval', '30'], { PATH: `${bin}:${process.env['PATH']}` });
  });

  after(async () => {
    await ui?.stop();
    if (bin) rmSync(bin, { recursive: true, force: true });
  });

  test("the opener's argv holds a one-time link: the browser gets in once; a replay or a forged link is refused", async () => {
    const deadline = Date.now() + 10_000;
    while (!existsSync(argvFile()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const argv = readFileSync(argvFile(), 'utf8').trim().split('\n');
    const token = new URL(ui.url).pathname.split('/')[1]!;
    const link = argv[1]!;
    const attacks: [string, boolean][] = [];
    attacks.push(['the token in the opener argv (ps, /proc/<pid>/cmdline)', !argv.join(' ').includes(token)]);
    assert.match(link, new RegExp(`^http://127\\.0\\.0\\.1:${ui.port}/open/[A-Za-z0-9_-]{32}$`));

    // The browser the opener hands it to: it lands on the dashboard.
    const browser = await launchBrowser();
    try {
      const page = await browser.context.newPage();
      const answer = await page.goto(link);
      assert.equal(answer?.status(), 200);
      assert.equal(page.url(), ui.url);
    } finally {
      await browser.close();
    }
    // Another local user replays what they read from the argv: dead.
    const replay = await fetch(link, { redirect: 'manual' });
    attacks.push(['the link replayed after the browser used it', replay.status === 403 && !(replay.headers.get('location') ?? '').includes(token)]);
    const forged = await fetch(`http://127.0.0.1:${ui.port}/open/${'A'.repeat(32)}`, { redirect: 'manual' });
    attacks.push(['a forged link', forged.status === 403]);
    const refused = attacks.filter((a) => a[1]).length;
    for (const [name, ok] of attacks) if (!ok) console.log(`not refused: ${name}`);
    console.log(`attacks refused: ${refused}/${attacks.length}`);
    assert.equal(refused, attacks.length);
  });
});

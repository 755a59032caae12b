// Application text on the operator's terminal (issue 20, item 9): an application answers its
// readiness probe, writes its journal and prints from its deploy script with escape sequences
// that would set the terminal's title, write its clipboard (OSC 52), clear the screen, move the
// cursor back over what manage-apps printed (CR, CSI as ESC [ and as the C1 byte U+009B) — on a
// real test host. Whatever path the text takes to the terminal (a failed start's diagnosis, a
// deploy script's output, `logs`, on a pipe and on a real pseudo-terminal), no sequence arrives
// intact; `logs --raw` keeps the bytes for a pipe only.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { packageRoot } from '../../src/package-root.js';
import { forTerminal, inert } from '../../src/text/control.js';
import { realHostsSkipReason, TestFleet, writeUpperFile, type HostPreparation } from '../harness/test-fleet.js';
import { runCli } from '../ops/helpers.js';
import { fleetRoot, nodeUnit } from '../ops/real-fleet.js';

const HOST = 'alpha';
const EVIL = '\u001b]0;pwned-title\u0007\u001b]52;c;cm0gLXJmIH4K\u0007\u001b[2J\u001b[1;1H\u009b2K\rFAKE: all healthy';
const APP = `import http from 'node:http';
const evil = ${JSON.stringify(EVIL)};
console.log('starting ' + evil);
http.createServer((q, r) => { r.writeHead(503); r.end('not ready ' + evil + '\\n'); }).listen(Number(process.env.PORT), '127.0.0.1');
`;
/** The application's sequences, live: OSC (title, clipboard), BEL, clear screen, cursor home, the C1 CSI, a bare CR before its fake line. */
const LIVE = /\u001b\]|\u0007|\u001b\[2J|\u001b\[1;1H|\u009b|\rFAKE/;

function prepare({ upperDir }: HostPreparation): void {
  writeUpperFile(upperDir, 'opt/hostile.mjs', APP);
  writeUpperFile(upperDir, 'etc/systemd/system/hostile.service', nodeUnit('/opt/hostile.mjs', { PORT: '7100' }, { restart: false }));
}

describe("an application's text never drives the operator's terminal", { skip: realHostsSkipReason(), timeout: 300_000 }, () => {
  let fleet: TestFleet;
  let root = '';
  let control = '';
  const args = (...a: string[]) => [...a, '--root', root, '--ssh-config', fleet.sshConfigPath, '--connect-timeout', '5'];
  const cli = (...a: string[]) => runCli(args(...a), { MANAGE_APPS_CONTROL_DIR: control });
  /** The CLI on a real pseudo-terminal (util-linux script), colours on: what the operator's terminal receives. */
  const onTty = (...a: string[]) => {
    const command = [process.execPath, join(packageRoot(), 'bin/manage-apps.js'), ...args(...a)]
      .map((w) => `'${w.replace(/'/g, `'\\''`)}'`)
      .join(' ');
    try {
      return execFileSync('script', ['-qec', `stty cols 160 rows 50; ${command}`, '/dev/null'], {
        encoding: 'utf8',
        env: { ...process.env, MANAGE_APPS_CONTROL_DIR: control, TERM: 'xterm-256color', NO_COLOR: undefined } as NodeJS.ProcessEnv,
        timeout: 60_000,
      });
    } catch (error) {
      return String((error as { stdout?: string }).stdout ?? '');
    }
  };
  /** Whether any of the application's sequences reached the output live (the progress list's own cursor codes are manage-apps'). */
  const active = (text: string) => LIVE.test(text);

  before(async () => {
    fleet = await TestFleet.up({ names: [HOST] }, { prepareHost: prepare });
    control = mkdtempSync(join(tmpdir(), 'manage-apps-cm-'));
    root = await fleetRoot(fleet.hosts, {
      'hostile/.infra.yaml': `apiVersion: infra/v2\nproject: hostile\nprovider: bare-metal\nservice:\n  host: ${HOST}\n  port: 7100\n  systemd_unit: hostile.service\n  health: { readiness: /, timeout: 3s }\n`,
      'scripted/.infra.yaml': `apiVersion: infra/v1\nproject: scripted\nprovider: bare-metal\nservice:\n  host: ${HOST}\n  port: 7101\n  systemd_unit: scripted.service\n  deploy: deploy.sh\n`,
      'scripted/deploy.sh':
        "#!/bin/sh\nprintf 'building \\033]0;pwned-title\\007\\033]52;c;cm0gLXJmIH4K\\007\\033[2J\\033[1;1H\\302\\2332K\\rFAKE: all healthy\\n'\nexit 1\n",
    });
  });

  after(async () => {
    await fleet?.down();
    for (const d of [root, control]) if (d) rmSync(d, { recursive: true, force: true });
  });

  test('readiness answers, deploy script output and logs reach the terminal inert (pipe and pty)', async () => {
    const attacks: [string, () => Promise<string>][] = [
      [
        'a failed start: the readiness answer (pipe)',
        async () => {
          const r = await cli('start', 'hostile');
          return r.stdout + r.stderr;
        },
      ],
      ['a failed start: the readiness answer (terminal)', async () => onTty('restart', 'hostile')],
      [
        "a failed deploy: the project's deploy script output (pipe)",
        async () => {
          const r = await cli('deploy', 'scripted');
          return r.stdout + r.stderr;
        },
      ],
      ["a failed deploy: the project's deploy script output (terminal)", async () => onTty('deploy', 'scripted')],
      [
        'logs (pipe)',
        async () => {
          const r = await cli('logs', 'hostile');
          return r.stdout + r.stderr;
        },
      ],
      ['logs --raw on a terminal', async () => onTty('logs', 'hostile', '--raw')],
    ];
    let refused = 0;
    for (const [name, run] of attacks) {
      const out = await run();
      // The attempt reached the output (escaped), and nothing in it is live.
      const reached = /pwned-title|building|-- No entries --|blob data|starting/.test(out);
      if (reached && !active(out)) refused++;
      else console.log(`not refused: ${name}: ${JSON.stringify(out.slice(0, 600))}`);
    }
    console.log(`attacks refused: ${refused}/${attacks.length}`);
    assert.equal(refused, attacks.length);
    // The readiness answer is shown, escaped: the operator still sees what the app said.
    assert.match((await cli('start', 'hostile')).stdout, /not ready \\x1b\]0;pwned-title\\x07/);
    // Into a pipe, --raw keeps the journal's bytes as journalctl gave them.
    const raw = await cli('logs', 'hostile', '--raw');
    assert.equal(raw.status, 0, raw.stderr);
  });
});

test('inert and forTerminal: every control but line breaks and tabs is escaped; the own colours stay only with keepStyle', () => {
  assert.equal(inert('a\u001b[31mb\tc\nd\re\u009bf\u0007'), 'a\\x1b[31mb\tc\nd\\re\\x9bf\\x07');
  assert.equal(forTerminal('\u001b[31mred\u001b[39m \u001b]0;t\u0007 \u001b[2J', true), '\u001b[31mred\u001b[39m \\x1b]0;t\\x07 \\x1b[2J');
  assert.equal(forTerminal('\u001b[31mred\u001b[39m', false), '\\x1b[31mred\\x1b[39m');
  const long = '\u001b'.repeat(200_000);
  assert.equal(forTerminal(long, true).length, long.length * 4);
});

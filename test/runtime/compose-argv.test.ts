// The compose command line, v1 and v2. Compose v2 (the `docker compose` plugin) cannot be
// installed on this machine (Debian 12 ships only docker-compose v1, and nothing may be
// downloaded), so the real-host tests (compose.test.ts) exercise v1 only. This checks what can
// be checked without an engine: the scripts' own shell (detection and ma_compose, run by sh)
// hands `docker` (v2) exactly the argv it hands `docker-compose` (v1) after the command words,
// and that argv is composeUpArgv's. The `docker` and `docker-compose` on PATH here only record
// their argv: they stand in for nothing else.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  COMPOSE_COMMANDS,
  COMPOSE_FUNCTIONS,
  composeActivation,
  composeUpArgs,
  composeUpArgv,
  composeUsed,
  FAILED_CONTAINER_STOP_S,
} from '../../src/runtime/compose.js';
import type { ComposeTarget } from '../../src/runtime/types.js';
import { quote } from '../../src/transport/quote.js';

const target: ComposeTarget = {
  project: 'shop',
  service: 'app',
  file: 'deploy/compose.yml',
  names: ['shop_app_1', 'shop-app-1'],
  envFile: '/srv/shop/.env',
};
// A directory with a space: the quoting is part of what is checked.
const releaseDir = '/srv/my shop/current';

describe(
  'compose argv: v1 and v2 from the same script',
  { skip: process.getuid?.() === 0 ? undefined : 'the scripts add sudo -n for a user outside the docker group' },
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'manage-apps-compose-argv-'));
    const log = join(dir, 'argv');
    after(() => rmSync(dir, { recursive: true, force: true }));

    /** Recorders: each writes its name and argv (one per line) to the log; `docker compose version` exits $PLUGIN. */
    for (const name of ['docker', 'docker-compose']) {
      writeFileSync(
        join(dir, name),
        `#!/bin/sh\n[ "$1 $2" = "compose version" ] && exit "\${PLUGIN:-1}"\n{ printf '%s\\n' ${quote(name)}; for a in "$@"; do printf '%s\\n' "$a"; done; } > ${quote(log)}\n`,
      );
      chmodSync(join(dir, name), 0o755);
    }

    // A home whose ~/.docker/cli-plugins holds the plugin (a directory the docker CLI searches).
    const home = join(dir, 'home');
    mkdirSync(join(home, '.docker', 'cli-plugins'), { recursive: true });
    writeFileSync(join(home, '.docker', 'cli-plugins', 'docker-compose'), '', { mode: 0o755 });

    /** Runs the compose detection and the up command the deploy scripts run; returns what compose was detected and the argv that reached it. */
    function runUp(plugin: boolean, stopTimeoutS?: number): { detected: string | undefined; argv: string[] } {
      rmSync(log, { force: true });
      const script = `${COMPOSE_FUNCTIONS}\nma_compose_detect || exit 9\nma_compose ${composeUpArgs(target, quote(releaseDir), stopTimeoutS)}\n`;
      const out = execFileSync('sh', ['-c', script], {
        encoding: 'utf8',
        env: { PATH: `${dir}:/usr/bin:/bin`, HOME: plugin ? home : dir, PLUGIN: plugin ? '0' : '1' },
      });
      return { detected: composeUsed(out), argv: readFileSync(log, 'utf8').split('\n').slice(0, -1) };
    }

    test('v2 when the docker compose plugin is installed and answers, else v1; each says which', () => {
      assert.equal(runUp(true).detected, 'docker compose (v2)');
      assert.equal(runUp(false).detected, 'docker-compose (v1)');
    });

    test('the argv after the command words is the same for v1 and v2, and is composeUpArgv', () => {
      const v2 = runUp(true).argv;
      const v1 = runUp(false).argv;
      assert.deepEqual(v2, composeUpArgv('v2', target, releaseDir));
      assert.deepEqual(v1, composeUpArgv('v1', target, releaseDir));
      assert.deepEqual(v2.slice(COMPOSE_COMMANDS.v2.length), v1.slice(COMPOSE_COMMANDS.v1.length));
      assert.deepEqual(v1.slice(1), [
        '-p',
        'shop',
        '--project-directory',
        releaseDir,
        '-f',
        `${releaseDir}/deploy/compose.yml`,
        '-f',
        `${releaseDir}/.manage-apps/compose.override.yml`,
        '--env-file',
        '/srv/shop/.env',
        'up',
        '-d',
        '--no-deps',
        '--no-build',
        'app',
      ]);
    });

    test("the switch back after a failed gate gives the failed container 1 s to stop, not Docker's 10 s; the dead-man revert keeps the default", () => {
      for (const plugin of [true, false]) {
        const v = plugin ? 'v2' : 'v1';
        assert.deepEqual(runUp(plugin, FAILED_CONTAINER_STOP_S).argv, composeUpArgv(v, target, releaseDir, FAILED_CONTAINER_STOP_S));
        assert.deepEqual(runUp(plugin, FAILED_CONTAINER_STOP_S).argv.slice(-4), ['--no-build', '-t', '1', 'app']);
      }
      const activation = composeActivation({ id: 'shop', key: 'shop', readiness: '/readyz', liveness: '/livez', port: 8080, compose: target });
      assert.match(activation.restoreAndGate!(6000, 'failed-gate'), / up -d --no-deps --no-build -t 1 app 2>&1/);
      assert.match(activation.restoreAndGate!(6000, 'revert'), / up -d --no-deps --no-build app 2>&1/);
      assert.match(activation.restartAndGate(6000), / up -d --no-deps --no-build app 2>&1/);
    });
  },
);

// The systemd readiness gate (gateScript) on a real host with real units. A unit that answers is
// ready after one `systemctl show` (the first state read, after the restart): the 2xx is matched
// to the unit's processes by the shell, from its cgroup. A 2xx from an instance systemd started
// again after the first crashed is a crash, not ready; so is one from a process outside the unit
// while the unit has failed. A `systemctl` on PATH records what the gate asks of it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parseGate } from '../../src/runtime/shell.js';
import { gateScript } from '../../src/runtime/systemd-units.js';
import type { RuntimeService } from '../../src/runtime/types.js';
import { quote } from '../../src/transport/quote.js';
import { realHostsSkipReason, TestFleet } from '../harness/test-fleet.js';

// node SERVER PORT MODE: answers 200 on PORT. crash-first: the first run (no marker yet) exits 1
// after 0.3 s without listening; systemd starts it again 0.2 s later and that one answers.
// exit-soon: listens, then exits 1 after 1.5 s (Restart=no: the unit fails).
const SERVER = `const [port, mode] = process.argv.slice(2);
const fs = require('node:fs');
const marker = '/run/gate-test-' + port;
if (mode === 'crash-first' && !fs.existsSync(marker)) { fs.writeFileSync(marker, ''); setTimeout(() => process.exit(1), 300); }
else {
  require('node:http').createServer((q, r) => r.end('ok')).listen(Number(port), '127.0.0.1');
  if (mode === 'exit-soon') setTimeout(() => process.exit(1), 1500);
}
`;

const unitFile = (port: number, mode: string, restart: 'always' | 'no') =>
  `[Unit]\nDescription=gate test ${mode}\n[Service]\nExecStart=/usr/bin/node /root/gate-server.js ${port} ${mode}\nRestart=${restart}\nRestartSec=0.2\n`;

const service = (unit: string, port: number): RuntimeService => ({ id: unit, key: unit, unit, port, readiness: '/', liveness: '/' });

describe('systemd readiness gate on a real host', { skip: realHostsSkipReason(), timeout: 180_000 }, () => {
  let fleet: TestFleet;
  before(async () => {
    fleet = await TestFleet.up({ count: 1 }, { connectTimeoutSec: 5 });
    const host = fleet.hosts[0]!;
    await fleet.waitForSystemState(host);
    const setup = [
      `printf '%s' ${quote(SERVER)} > /root/gate-server.js`,
      `printf '%s' ${quote(unitFile(9301, 'serve', 'always'))} > /etc/systemd/system/gate-ready.service`,
      `printf '%s' ${quote(unitFile(9302, 'crash-first', 'always'))} > /etc/systemd/system/gate-restarted.service`,
      `printf '%s' ${quote(unitFile(9303, 'exit-soon', 'no'))} > /etc/systemd/system/gate-failed.service`,
      'systemctl daemon-reload',
      // systemctl on PATH records what it is asked, then asks the real one.
      `mkdir -p /root/rec && printf '#!/bin/sh\\nprintf "%%s\\\\n" "$*" >> /root/rec/log\\nexec /usr/bin/systemctl "$@"\\n' > /root/rec/systemctl && chmod +x /root/rec/systemctl`,
    ].join(' && ');
    const made = await fleet.ssh(host, setup);
    assert.equal(made.exitCode, 0, made.stderr);
  });
  after(async () => {
    await fleet?.down();
  });

  const gate = async (unit: string, port: number) => {
    const host = fleet.hosts[0]!;
    assert.equal((await fleet.ssh(host, ': > /root/rec/log')).exitCode, 0);
    const r = await fleet.ssh(host, `PATH=/root/rec:$PATH sh -c ${quote(gateScript(service(unit, port), 15_000, { action: 'restart' }))}`, {
      timeoutMs: 60_000,
    });
    const asked = (await fleet.ssh(host, 'cat /root/rec/log')).stdout.trim().split('\n').filter(Boolean);
    return { result: parseGate(r.stdout), output: r.stdout, asked };
  };

  test('a unit that answers is ready; its processes are read from its cgroup, systemd asked for its state once', async () => {
    const { result, output, asked } = await gate('gate-ready.service', 9301);
    assert.equal(result.outcome, 'ready', output);
    assert.deepEqual(
      asked.filter((a) => a.startsWith('show ')),
      ['show -p ActiveState,SubState,NRestarts,Result,ExecMainStatus -- gate-ready.service'],
      `one state read, the first, after the restart: ${asked.join(' | ')}`,
    );
  });

  test('a 2xx from the instance systemd started after the first crashed is a crash', async () => {
    assert.equal((await fleet.ssh(fleet.hosts[0]!, 'rm -f /run/gate-test-9302')).exitCode, 0);
    const { result, output } = await gate('gate-restarted.service', 9302);
    assert.equal(result.outcome, 'crashed', output);
    assert.match(result.detail, /restart|exited/, output);
    // The second instance does answer: it is the restart, not silence, that made the verdict.
    const answer = await fleet.ssh(fleet.hosts[0]!, 'sleep 1; curl -s http://127.0.0.1:9302/');
    assert.equal(answer.stdout, 'ok');
  });

  test('a 2xx from a process outside a unit that has failed is not ready', async () => {
    const host = fleet.hosts[0]!;
    // The unit answers, then exits 1 (no restart) while another process holds the port by then.
    const r = await gate('gate-failed.service', 9303);
    assert.equal(r.result.outcome, 'ready', r.output);
    const squat = await fleet.ssh(
      host,
      `sleep 2; systemctl is-failed --quiet gate-failed.service && (setsid /usr/bin/node /root/gate-server.js 9303 serve >/dev/null 2>&1 < /dev/null &) ; sleep 0.5; curl -s http://127.0.0.1:9303/`,
    );
    assert.equal(squat.stdout, 'ok', 'a process outside the unit answers on its port');
    // A gate with no action (as deploy's wait after its own restart) on the failed unit.
    const { stdout } = await fleet.ssh(host, `sh -c ${quote(gateScript(service('gate-failed.service', 9303), 5_000))}`, { timeoutMs: 30_000 });
    const verdict = parseGate(stdout);
    assert.equal(verdict.outcome, 'crashed', stdout);
    assert.match(verdict.detail, /failed/, stdout);
    await fleet.ssh(host, 'pkill -f "gate-server.js 9303" || true');
  });
});

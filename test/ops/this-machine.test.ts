// Which inventory host is "this machine" (PID mode, no ssh): one declared local, or one that
// names this machine's host name. A loopback address alone is how a port-forwarded VM or a
// container's sshd is reached: such a host goes through ssh, and its systemd unit is driven
// with systemctl there; `status` never says "no systemd unit declared" for a declared unit.
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Host, Service } from '../../src/fleet/model.js';
import { isThisMachine } from '../../src/ops/this-machine.js';
import { verdictOf } from '../../src/ops/service-status.js';
import { makeTree, removeTree } from '../helpers/tree.js';
import { json, runCli } from './helpers.js';

const host = (over: Partial<Host>): Host => ({
  name: 'box',
  alias: 'box',
  provider: 'bare-metal',
  role: 'production',
  local: false,
  ephemeral: false,
  gpus: 0,
  ...over,
});

test('a loopback address does not make a host this machine; local, provider local or our own host name does', () => {
  assert.equal(isThisMachine(host({ address: '127.0.0.1' }), 'vm'), false);
  assert.equal(isThisMachine(host({ address: 'localhost', port: 2222 }), 'vm'), false);
  assert.equal(isThisMachine(host({ address: '127.0.0.1', local: true }), 'vm'), true);
  assert.equal(isThisMachine(host({ provider: 'local' }), 'vm'), true);
  assert.equal(isThisMachine(host({ name: 'vm', alias: 'vm' }), 'vm.example.org'), true);
  assert.equal(isThisMachine(host({ address: 'VM.lan' }), 'vm'), true);
});

test('status of a declared unit without a state names the unit, not "no systemd unit declared"', () => {
  const service = { supervisor: 'systemd', unit: 'app.service' } as Service;
  const { verdict, reason } = verdictOf(service, null, null);
  assert.equal(verdict, 'unknown');
  assert.match(reason ?? '', /systemctl gave no state for app\.service/);
  assert.equal(verdictOf({ supervisor: 'systemd' } as Service, null, null).reason, 'no systemd unit declared');
});

test('status: a systemd service on a host at 127.0.0.1 is asked over ssh (transport ssh), its unit kept', async () => {
  if (hostname() === 'box') return;
  const root = await makeTree({
    'mesh-hosts.json': JSON.stringify({ hosts: { box: { address: '127.0.0.1', port: 1, provider: 'bare-metal', role: 'production' } } }),
    'app/.infra.yaml': 'apiVersion: infra/v2\nproject: app\nprovider: bare-metal\nservice:\n  host: box\n  port: 4555\n  systemd_unit: app.service\n',
    // ssh's own view of the host: what `net ssh-config` renders from the inventory (port 1: nothing listens).
    ssh_config: 'Host box\n  HostName 127.0.0.1\n  Port 1\n  BatchMode yes\n',
  });
  try {
    const run = await runCli(['status', '--root', root, '--ssh-config', join(root, 'ssh_config'), '--connect-timeout', '3', '--json']);
    assert.equal(run.status, 1);
    const doc = json<{
      hosts: { host: string; transport: string }[];
      services: { unit: string; supervisor: string; verdict: string; reason: string }[];
    }>(run);
    assert.deepEqual(
      doc.hosts.map((h) => [h.host, h.transport]),
      [['box', 'ssh']],
    );
    assert.equal(doc.services[0]!.supervisor, 'systemd');
    assert.equal(doc.services[0]!.unit, 'app.service');
    assert.equal(doc.services[0]!.verdict, 'unreachable');
    assert.doesNotMatch(doc.services[0]!.reason, /no systemd unit declared/);
  } finally {
    await removeTree(root);
  }
});

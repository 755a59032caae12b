/**
 * net tunnels: who opens each tunnel (seed 000's reverse tunnel from black), the validation
 * (ends, port clash, reachability, initiator that disagrees), the rendered files checked by
 * `systemd-analyze verify` and `ssh -G`, and --write/--check.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { netTunnels } from '../../src/cli/commands/render/net-tunnels.js';
import { FleetIndex } from '../../src/analysis/topology.js';
import { loadFleet } from '../../src/load/fleet.js';
import { packageRoot } from '../../src/package-root.js';
import { renderTunnels, tunnelSshConfig, tunnelUnit } from '../../src/render/tunnels.js';
import { resolveTunnels } from '../../src/tunnels/resolve.js';
import { locatorOf } from '../../src/load/locator.js';
import { removeDir, requireTool, run, tempDir } from './helpers.js';

const SEED000 = join(packageRoot(), 'test/fixtures/five-hosts');
const SEED003 = join(packageRoot(), 'test/fixtures/legacy-exit');

async function fleetOf(inventory: object, files: Record<string, string> = {}): Promise<string> {
  const root = await tempDir();
  await writeFile(join(root, 'mesh-hosts.json'), JSON.stringify(inventory, null, 2));
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(root, path, '..'), { recursive: true });
    await writeFile(join(root, path), content);
  }
  return root;
}

const host = (extra: object = {}) => ({ provider: 'bare-metal', role: 'production', ...extra });

test("seed 000's reverse tunnel is opened by black and listens on vps-0; only vps-0 holds its restricted key", async () => {
  const loaded = await loadFleet({ root: SEED000 });
  const { tunnels, problems } = resolveTunnels(new FleetIndex(loaded.fleet), locatorOf(loaded));
  assert.deepEqual(problems, []);
  const t = tunnels.find((x) => x.name === 'quinn-db-reverse')!;
  assert.equal(t.initiator, 'black');
  assert.equal(t.far, 'vps-0');
  assert.equal(t.listenHost, 'vps-0');
  assert.deepEqual(t.forwards, [{ bind: '127.0.0.1', listen: 25435, targetHost: 'localhost', targetPort: 25435 }]);
  assert.deepEqual(t.connect, { address: '10.9.0.1', port: 22, via: 'mesh' });
  const out = renderTunnels(new FleetIndex(loaded.fleet), locatorOf(loaded));
  assert.deepEqual(
    out.files.map((f) => f.path),
    [
      'black/etc/manage-apps/tunnels/quinn-db-reverse/ssh_config',
      'black/etc/systemd/system/manage-apps-tunnel-quinn-db-reverse.service',
      'vps-0/etc/ssh/sshd_config.d/manage-apps-tunnels.conf',
      'vps-0/var/lib/ma-tunnel-listen/.ssh/authorized_keys',
    ],
  );
  const unit = out.files[1]!.content;
  for (const line of [
    'Restart=always',
    'StartLimitIntervalSec=0',
    'User=ma-tunnel',
    'ExecStart=/usr/bin/ssh -F /etc/manage-apps/tunnels/quinn-db-reverse/ssh_config -N tunnel',
  ])
    assert.ok(unit.split('\n').includes(line), line);
  assert.match(
    out.files[3]!.content,
    /restrict,port-forwarding,permitlisten="127\.0\.0\.1:25435",command="\/bin\/false" <the key generated on black/,
  );
  const sshd = out.files[2]!.content;
  for (const line of [
    'Match User ma-tunnel-listen',
    '\tAllowTcpForwarding remote',
    '\tPermitListen 127.0.0.1:25435',
    '\tPermitOpen none',
    '\tClientAliveInterval 10',
    '\tClientAliveCountMax 3',
    '\tPermitTTY no',
  ])
    assert.ok(sshd.split('\n').includes(line), line);
  // Deterministic: same fleet, same bytes.
  assert.deepEqual(renderTunnels(new FleetIndex(loaded.fleet), locatorOf(loaded)), out);
});

test('seed 003: every ops-bridge tunnel is opened by the workstation, dialling a public or LAN address', async () => {
  const loaded = await loadFleet({ root: SEED003 });
  const { tunnels, problems } = resolveTunnels(new FleetIndex(loaded.fleet), locatorOf(loaded));
  assert.equal(tunnels.length, 16);
  assert.ok(
    tunnels.every((t) => t.initiator === 'workstation'),
    'seed 003: all ops-bridge tunnels originate on the workstation',
  );
  assert.deepEqual(problems, []);
  assert.equal(tunnels.find((t) => t.name === 'state-hub-railiance01')!.connect.via, 'public');
  assert.deepEqual(tunnels.find((t) => t.name === 'k3s-api-haskelseed')!.connect, { address: 'haskelseed.lan', port: 22, via: 'address' });
});

test('validation: a port already used on the listening host, an initiator that disagrees, a far host with no address', async () => {
  const root = await fleetOf(
    {
      version: 1,
      hosts: { a: host({ address: '192.168.1.2' }), b: host({ address: '192.168.1.3' }), c: host() },
      clusters: { pg: { host: 'b', port: 5432, engine: 'postgres' } },
      tunnels: [
        { name: 'clash', from: 'b', to: 'a', direction: 'reverse', ports: [5432] },
        { name: 'wrong-opener', from: 'a', to: 'b', direction: 'reverse', initiator: 'a', ports: [7001] },
        { name: 'nowhere', from: 'a', to: 'c', ports: [7002] },
        { name: 'same-port', from: 'a', to: 'b', ports: [7003] },
        { name: 'same-port-again', from: 'a', to: 'b', forwards: [{ listen: 7003, target_port: 80 }] },
      ],
    },
    { 'app/.infra.yaml': 'apiVersion: infra/v1\nproject: app\nprovider: bare-metal\nservice:\n  host: a\n  port: 7004\n' },
  );
  try {
    const loaded = await loadFleet({ root });
    const tunnelProblems = loaded.problems.filter((p) => p.rule === 'tunnel' && p.severity === 'error');
    const messages = tunnelProblems.map((p) => p.message);
    assert.ok(
      messages.some((m) => /"clash" listens on b:5432, which cluster pg already uses/.test(m)),
      messages.join('\n'),
    );
    assert.ok(
      messages.some((m) => /"wrong-opener" is reverse: b opens it, not a/.test(m)),
      messages.join('\n'),
    );
    assert.ok(
      messages.some((m) => /"nowhere": a has no way to reach c/.test(m)),
      messages.join('\n'),
    );
    assert.ok(
      messages.some((m) => /"same-port-again" listens on a:7003, which tunnel same-port already uses/.test(m)),
      messages.join('\n'),
    );
    assert.ok(
      tunnelProblems.every((p) => p.file === 'mesh-hosts.json' && p.line > 1),
      'located in the inventory',
    );
    const r = await netTunnels({ root, json: true });
    assert.equal(r.exitCode, 1, 'an error stops the rendering');
  } finally {
    await removeDir(root);
  }
});

test('the rendered unit passes systemd-analyze verify and ssh -G reads the ssh_config as written', async (t) => {
  const analyze = requireTool(t, 'systemd-analyze', 'apt-get install systemd');
  const ssh = requireTool(t, 'ssh', 'apt-get install openssh-client');
  if (!analyze || !ssh) return;
  const loaded = await loadFleet({ root: SEED003 });
  const { tunnels } = resolveTunnels(new FleetIndex(loaded.fleet), locatorOf(loaded));
  const dir = await tempDir();
  try {
    for (const name of ['state-hub-primary', 'state-hub-railiance01']) {
      const tunnel = tunnels.find((x) => x.name === name)!;
      const unitFile = join(dir, tunnel.unit);
      await writeFile(unitFile, tunnelUnit(tunnel));
      const v = run(analyze, ['verify', '--man=no', unitFile]);
      assert.equal(v.status, 0, `${v.stdout}${v.stderr}`);
      assert.equal(v.stdout + v.stderr, '', `systemd-analyze printed: ${v.stdout}${v.stderr}`);
      const config = join(dir, `${name}.ssh_config`);
      await writeFile(config, tunnelSshConfig(tunnel));
      const g = run(ssh, ['-G', '-F', config, 'tunnel']);
      assert.equal(g.status, 0, g.stderr);
      const opts = new Map<string, string[]>();
      for (const line of g.stdout.split('\n')) {
        const [k, ...v] = line.split(' ');
        if (k) opts.set(k, [...(opts.get(k) ?? []), v.join(' ')]);
      }
      const one = (k: string) => opts.get(k)?.[0];
      assert.equal(one('hostname'), tunnel.connect.address);
      assert.equal(one('user'), tunnel.farUser);
      assert.equal(one('batchmode'), 'yes');
      assert.equal(one('exitonforwardfailure'), 'yes');
      assert.equal(one('stricthostkeychecking'), 'true');
      assert.equal(one('serveraliveinterval'), '10');
      assert.equal(one('serveralivecountmax'), '3');
      assert.equal(one('identitiesonly'), 'yes');
      assert.equal(one('hostkeyalias'), tunnel.far);
      assert.deepEqual(opts.get('identityfile'), [`/etc/manage-apps/tunnels/${name}/id_ed25519`]);
      assert.deepEqual(opts.get('userknownhostsfile'), [`/etc/manage-apps/tunnels/${name}/known_hosts`]);
      const f = tunnel.forwards[0]!;
      // ssh -G prints forwards as [host]:port [host]:port.
      assert.deepEqual(opts.get(tunnel.direction === 'forward' ? 'localforward' : 'remoteforward'), [
        `[127.0.0.1]:${f.listen} [localhost]:${f.targetPort}`,
      ]);
      assert.equal(opts.get(tunnel.direction === 'forward' ? 'remoteforward' : 'localforward'), undefined, 'no other forward');
    }
  } finally {
    await removeDir(dir);
  }
});

test('net tunnels --write then --check: up to date; a changed file is out of date', async () => {
  const out = await tempDir();
  try {
    const w = await netTunnels({ root: SEED000, write: true, out, json: true });
    assert.equal(w.exitCode, 0);
    assert.equal((w.json as { files: { status: string }[] }).files.filter((f) => f.status === 'written').length, 4);
    const c = await netTunnels({ root: SEED000, check: true, out, json: true });
    assert.equal(c.exitCode, 0);
    const unit = join(out, 'black/etc/systemd/system/manage-apps-tunnel-quinn-db-reverse.service');
    await writeFile(unit, (await readFile(unit, 'utf8')).replace('Restart=always', 'Restart=on-failure'));
    const d = await netTunnels({ root: SEED000, check: true, out, json: true });
    assert.equal(d.exitCode, 1);
    const again = await netTunnels({ root: SEED000, write: true, out, json: true });
    assert.ok(
      (again.json as { files: { path: string; backup?: string }[] }).files.some((f) => f.path === unit && f.backup === `${unit}.bak`),
      'the replaced file is kept',
    );
  } finally {
    await removeDir(out);
  }
});

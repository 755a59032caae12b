// drift's host script, run by a real sh where it can be (no systemd, no wg here: those two are
// recorded by shell functions standing in for them): what leaves the host is names and the
// fields compared, never a key or a value.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseHostRead } from '../../src/drift/compare.js';
import type { DeclaredHost } from '../../src/drift/declared.js';
import { driftScript } from '../../src/drift/host-script.js';

const declared = (over: Partial<DeclaredHost>): DeclaredHost => ({
  host: { name: 'h' } as DeclaredHost['host'],
  services: [],
  units: [],
  unrenderable: [],
  allUnitFiles: new Set(),
  caddyfile: null,
  initiated: [],
  served: [],
  databases: [],
  ports: [],
  envFiles: [],
  wireguard: null,
  ...over,
});

test('the enabled state is read only of units whose enabled state counts: a template is never enabled itself', () => {
  const script = driftScript({
    declared: declared({
      units: [
        { file: 'manage-apps-backup@.service', content: '', owner: 'backup apps', enabled: null, source: 'x' },
        { file: 'manage-apps-backup@apps.timer', content: '', owner: 'backup apps', enabled: 'manage-apps-backup@apps.timer', source: 'x' },
      ],
    }),
    released: [],
    composed: [],
  });
  const asked = script.split('\n').filter((l) => l.startsWith('ma_enabled '));
  assert.deepEqual(asked, ['ma_enabled manage-apps-backup@apps.timer']);
  assert.doesNotMatch(script, /systemctl (show|is-enabled)/, 'no systemctl: its start alone costs more than the rest of the script');
});

test("a WireGuard config and interface: the keys are cut out on the host; the peers' public keys, allowed IPs and keepalive come back", () => {
  const dir = mkdtempSync(join(tmpdir(), 'drift-wg-'));
  try {
    const conf = join(dir, 'wg0.conf');
    const env = join(dir, 'env');
    writeFileSync(
      conf,
      '[Interface]\nPrivateKey = PRIVATE-SECRET\n\n[Peer]\nPublicKey = PEER\npresharedkey=PSK-SECRET\nAllowedIPs = 10.77.0.2/32\n',
      { mode: 0o600 },
    );
    writeFileSync(env, "PGHOST=10.77.0.1\nPGPASSWORD='VALUE-SECRET'\nDATABASE_URL=postgresql://u:VALUE-SECRET@h/d\n", { mode: 0o600 });
    const script = driftScript({
      declared: declared({
        wireguard: { iface: 'wg0', path: conf, content: '' },
        envFiles: [{ owner: 'ledger', path: env, keys: [], values: {} }],
      }),
      released: [],
      composed: [],
    });
    // `wg show wg0 dump` as wireguard-tools prints it: the interface line (its private key), then one line per peer (its preshared key second).
    const wg = String.raw`wg() { printf 'PRIVATE-SECRET\tPUB\t51820\toff\nPEER\tPSK-SECRET\t192.0.2.1:51820\t10.77.0.2/32,10.77.9.0/24\t0\t0\t0\t25\n'; }`;
    const out = execFileSync('sh', ['-c', `${wg}\n${script}`], { encoding: 'utf8' });
    assert.doesNotMatch(out, /SECRET/);
    const read = parseHostRead(out);
    assert.deepEqual(read.wireguard, { state: 'up', peers: [{ publicKey: 'PEER', allowedIps: '10.77.0.2/32,10.77.9.0/24', keepalive: '25' }] });
    const file = read.files.get(conf);
    assert.equal(
      file?.state === 'present' ? file.text : '',
      '[Interface]\nPrivateKey = (not read)\n\n[Peer]\nPublicKey = PEER\npresharedkey= (not read)\nAllowedIPs = 10.77.0.2/32\n',
    );
    assert.deepEqual(read.envKeys.get(env), { state: 'present', keys: ['DATABASE_URL', 'PGHOST', 'PGPASSWORD'] });
    assert.deepEqual([...(read.envValues.get(env) ?? [])], [['PGHOST', '10.77.0.1']]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("listening sockets: each process's cgroup comes back once, its lines joined, read by one awk (run by sh with the real ss)", async () => {
  const { createServer } = await import('node:net');
  const { readFileSync } = await import('node:fs');
  const { records } = await import('../../src/runtime/shell.js');
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const second = createServer();
  await new Promise<void>((resolve) => second.listen(0, '127.0.0.1', resolve));
  try {
    const port = (server.address() as { port: number }).port;
    const out = execFileSync('sh', ['-c', `SUDO=\n${driftScript({ declared: declared({}), released: [], composed: [] })}`], { encoding: 'utf8' });
    const mine = records(out).filter((r) => r[0] === 'cgroup' && r[1] === String(process.pid));
    // Two sockets of this process, one record.
    assert.equal(mine.length, 1, out);
    assert.equal(mine[0]![2], readFileSync('/proc/self/cgroup', 'utf8').replace(/[\n\t]/g, ' '));
    assert.ok(
      parseHostRead(out).listeners.some((l) => l.port === port && l.pid === process.pid),
      out,
    );
  } finally {
    server.close();
    second.close();
  }
});

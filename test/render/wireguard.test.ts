/** net wireguard: golden configs (hub-and-spoke and full mesh), located problems, idempotent --write, and real WireGuard loading them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { netWireguard } from '../../src/cli/commands/render/net-wireguard.js';
import type { Fleet } from '../../src/fleet/model.js';
import { renderWireguard } from '../../src/render/wireguard.js';
import { copyFixture, expectGolden, FIXTURE, loadFixture, removeDir, requireTool, run, tempDir, which } from './helpers.js';

const HOSTS = ['core', 'edge', 'hub', 'mini'];

function withHosts(fleet: Fleet, change: (name: string) => Record<string, unknown> | undefined): Fleet {
  return { ...fleet, hosts: fleet.hosts.map((h) => ({ ...h, ...(change(h.name) ?? {}) })) };
}

test('wireguard: golden hub-and-spoke configs, one per mesh host, no private key anywhere', async () => {
  const { loaded, locator } = await loadFixture();
  const out = renderWireguard(loaded.fleet, locator);
  assert.deepEqual(out.problems, []);
  assert.deepEqual(
    out.files.map((f) => f.path),
    HOSTS.map((h) => `${h}.conf`),
  );
  assert.deepEqual(
    out.skipped.map((s) => s.name),
    ['attic', 'laptop'],
  );
  for (const f of out.files) {
    assert.equal(f.mode, 0o600);
    assert.doesNotMatch(f.content, /PrivateKey/);
    assert.match(f.content, /^PostUp = wg set %i private-key \/etc\/wireguard\/[a-z.]+$/m);
    await expectGolden(`wireguard/hub-and-spoke/${f.path}`, f.content);
  }
  const hub = out.files.find((f) => f.path === 'hub.conf')!.content;
  assert.equal(hub.match(/\[Peer\]/g)!.length, 3);
  assert.match(hub, /AllowedIPs = 10\.20\.0\.11\/32/);
  const core = out.files.find((f) => f.path === 'core.conf')!.content;
  assert.equal(core.match(/\[Peer\]/g)!.length, 1);
  assert.match(core, /AllowedIPs = 10\.20\.0\.0\/24\nEndpoint = 203\.0\.113\.1:51820\nPersistentKeepalive = 25/);
  assert.doesNotMatch(out.files.find((f) => f.path === 'edge.conf')!.content, /PersistentKeepalive/);
});

test('wireguard: golden full mesh: everyone lists everyone, sorted; two NAT-ed hosts without endpoints are a warning', async () => {
  const { loaded, locator } = await loadFixture();
  const fleet: Fleet = { ...loaded.fleet, mesh: { ...loaded.fleet.mesh!, topology: 'full-mesh' } };
  const out = renderWireguard(fleet, locator);
  assert.deepEqual(
    out.problems.map((p) => [p.severity, p.message]),
    [['warning', '"core" and "mini" have no endpoint: in a full mesh they cannot reach each other directly']],
  );
  for (const f of out.files) {
    assert.equal(f.content.match(/\[Peer\]/g)!.length, 3);
    await expectGolden(`wireguard/full-mesh/${f.path}`, f.content);
  }
});

test('wireguard: deterministic (two loads, reversed host order give the same bytes)', async () => {
  const a = renderWireguard((await loadFixture()).loaded.fleet);
  const { loaded } = await loadFixture();
  const b = renderWireguard({ ...loaded.fleet, hosts: [...loaded.fleet.hosts].reverse() });
  assert.deepEqual(b.files, a.files);
});

test('wireguard: duplicate and out-of-range addresses, missing keys and a hub without endpoint are located errors', async () => {
  const { loaded, locator } = await loadFixture();
  const located = (fleet: Fleet) => renderWireguard(fleet, locator).problems.map((p) => `${p.rule} ${p.file}:${p.line} ${p.message}`);
  const dup = located(withHosts(loaded.fleet, (n) => (n === 'mini' ? { meshIp: '10.20.0.7' } : undefined)));
  assert.deepEqual(dup, ['mesh_address mesh-hosts.json:27 mesh IP 10.20.0.7 of "mini" is already used by "edge"']);
  const outside = located(withHosts(loaded.fleet, (n) => (n === 'edge' ? { meshIp: '10.30.0.7' } : undefined)));
  assert.deepEqual(outside, ['mesh_address mesh-hosts.json:22 mesh IP 10.30.0.7 of "edge" is outside the mesh 10.20.0.0/24']);
  const noKey = located(withHosts(loaded.fleet, (n) => (n === 'core' ? { wireguard: { behind_nat: true } } : undefined)));
  assert.equal(noKey.length, 1);
  assert.match(noKey[0]!, /^render mesh-hosts.json:\d+ host "core" is on the mesh but has no WireGuard public key$/);
  const noEndpoint = located(
    withHosts(loaded.fleet, (n) => (n === 'hub' ? { wireguard: { public_key: 'ISimL1rCyrTd2E9RKM1v96CLgtCoJNcUEDdXoZKEeF0=' } } : undefined)),
  );
  assert.match(noEndpoint[0]!, /mesh hub "hub" has no WireGuard endpoint/);
  assert.equal(renderWireguard(withHosts(loaded.fleet, (n) => (n === 'mini' ? { meshIp: '10.20.0.7' } : undefined))).files.length, 0);
});

test('wireguard CLI: a missing key is reported at its line in mesh-hosts.json; exit 1, nothing printed', async () => {
  const root = await copyFixture();
  try {
    const path = join(root, 'mesh-hosts.json');
    await writeFile(path, (await readFile(path, 'utf8')).replace('"public_key": "Tgnffpy0HVVmcTi3jaPw0/4zW5J1adb+X2nXqQg+vDs=", ', ''));
    const r = await netWireguard({ root });
    assert.equal(r.exitCode, 1);
    const json = r.json as { files: unknown[]; problems: { file: string; line: number; message: string }[] };
    assert.deepEqual(json.files, []);
    assert.deepEqual(
      json.problems.map((p) => [p.file, p.line, p.message]),
      [['mesh-hosts.json', 19, 'host "core" is on the mesh but has no WireGuard public key']],
    );
  } finally {
    await removeDir(root);
  }
});

test('wireguard --write --out: <host>.conf at 0600; the second run changes nothing; --check and --host', async () => {
  const dir = await tempDir();
  try {
    const first = await netWireguard({ root: FIXTURE, write: true, out: dir });
    assert.equal(first.exitCode, 0);
    assert.deepEqual(
      (await readdir(dir)).sort(),
      HOSTS.map((h) => `${h}.conf`),
    );
    for (const h of HOSTS) assert.equal((await stat(join(dir, `${h}.conf`))).mode & 0o777, 0o600);
    const mtimes = await Promise.all(HOSTS.map(async (h) => (await stat(join(dir, `${h}.conf`))).mtimeMs));
    const second = await netWireguard({ root: FIXTURE, write: true, out: dir });
    assert.deepEqual(
      (second.json as { files: { status: string }[] }).files.map((f) => f.status),
      ['unchanged', 'unchanged', 'unchanged', 'unchanged'],
    );
    assert.deepEqual(await Promise.all(HOSTS.map(async (h) => (await stat(join(dir, `${h}.conf`))).mtimeMs)), mtimes);
    assert.equal((await netWireguard({ root: FIXTURE, check: true, out: dir })).exitCode, 0);
    await writeFile(join(dir, 'mini.conf'), 'tampered\n');
    const drift = await netWireguard({ root: FIXTURE, check: true, out: dir });
    assert.equal(drift.exitCode, 1);
    assert.deepEqual(
      (drift.json as { files: { path: string; status: string }[] }).files.filter((f) => f.status !== 'up-to-date').map((f) => f.path),
      [join(dir, 'mini.conf')],
    );
    const one = await netWireguard({ root: FIXTURE, host: 'edge' });
    assert.deepEqual(
      (one.json as { files: { path: string }[] }).files.map((f) => f.path),
      ['edge.conf'],
    );
    await assert.rejects(netWireguard({ root: FIXTURE, host: 'nope' }), /unknown host "nope"/);
    await assert.rejects(netWireguard({ root: FIXTURE, check: true }), /needs --out DIR/);
  } finally {
    await removeDir(dir);
  }
});

/** Runs inside `unshare -n`: a userspace WireGuard interface, loaded with `wg setconf`, read back with `wg showconf`. */
const NETNS_CHECK = `set -e
iface="$2"
WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 wireguard-go -f "$iface" >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
i=0
# Ready when its control socket exists (the link appears a moment before it).
while ! [ -S "/var/run/wireguard/$iface.sock" ]; do i=$((i+1)); [ $i -lt 200 ] || { echo "wireguard-go did not start" >&2; exit 3; }; sleep 0.05; done
wg setconf "$iface" "$1"
wg showconf "$iface"
`;

test('wg-quick parses every config, and WireGuard itself (wg setconf, in a private network namespace) loads it', async (t) => {
  const wgQuick = requireTool(t, 'wg-quick', 'apt-get install wireguard-tools');
  if (!wgQuick) return;
  const { loaded } = await loadFixture();
  const dir = await tempDir();
  try {
    // A private namespace with no interfaces to the outside and no private key set: nothing can leave it.
    const netns = which('wireguard-go') !== undefined && which('unshare') !== undefined && run('unshare', ['-n', 'true']).status === 0;
    if (!netns && process.env['CI']) assert.fail('wireguard-go and unshare are needed for the WireGuard check (apt-get install wireguard-go)');
    for (const topology of ['hub-and-spoke', 'full-mesh'] as const) {
      const out = renderWireguard({ ...loaded.fleet, mesh: { ...loaded.fleet.mesh!, topology } });
      for (const f of out.files) {
        // wg-quick takes the interface name from the file name.
        const conf = join(dir, 'wg0.conf');
        await writeFile(conf, f.content);
        await chmod(conf, 0o600);
        const stripped = run(wgQuick, ['strip', conf]);
        assert.equal(stripped.status, 0, stripped.stderr);
        assert.doesNotMatch(stripped.stdout, /Address|PostUp/);
        if (!netns) continue;
        const plain = join(dir, 'plain.conf');
        await writeFile(plain, stripped.stdout);
        const iface = `wgt${process.pid % 100000}`;
        const loadedConf = run('unshare', ['-n', 'sh', '-c', NETNS_CHECK, 'check', plain, iface]);
        assert.equal(loadedConf.status, 0, `${f.path} (${topology}): ${loadedConf.stderr}`);
        const peers = loadedConf.stdout.split('[Peer]').slice(1);
        assert.equal(peers.length, f.content.split('[Peer]').length - 1);
        for (const key of f.content.match(/PublicKey = \S+/g) ?? []) assert.ok(loadedConf.stdout.includes(key), `${f.path}: ${key}`);
        for (const allowed of f.content.match(/AllowedIPs = \S+/g) ?? []) assert.ok(loadedConf.stdout.includes(allowed), `${f.path}: ${allowed}`);
      }
    }
    if (!netns) t.diagnostic('wireguard-go/unshare not available: only wg-quick strip was run');
  } finally {
    await removeDir(dir);
  }
});

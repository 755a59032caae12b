// The comparisons' normalisation, on the texts the hosts and renderers really produce: what a
// tool normalises by itself is never drift, and a real difference always is.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  blockLines,
  canonicalJson,
  deliveredSecrets,
  normalIps,
  normalText,
  parseHostRead,
  parseListeners,
  shortDiff,
  unitSettings,
  wireguardPeers,
} from '../../src/drift/compare.js';
import { ENV_KEYS_FUNCTION } from '../../src/drift/host-script.js';

test('a unit compares as systemd reads it: comments, blank lines, spaces and continuations do not count', () => {
  const rendered =
    '# api.service: rendered by manage-apps\n[Unit]\nDescription=api\n\n[Service]\nExecStart=/usr/bin/node server.mjs\nRestart=on-failure\n';
  const same = '[Unit]\n; a note\nDescription = api   \n[Service]\nExecStart=/usr/bin/node \\\nserver.mjs\nRestart=on-failure\n\n\n';
  assert.deepEqual(unitSettings(rendered), unitSettings(same));
  const edited = rendered.replace('Restart=on-failure', 'Restart=always');
  assert.notDeepEqual(unitSettings(rendered), unitSettings(edited));
  // The same key in another section is another setting.
  assert.notDeepEqual(unitSettings('[Unit]\nX=1\n'), unitSettings('[Service]\nX=1\n'));
});

test('text compares without line-end, trailing-space and trailing-blank-line differences', () => {
  assert.equal(normalText('a  \r\nb\n\n\n'), normalText('a\nb'));
  assert.notEqual(normalText('a\nb'), normalText('a\n b'));
});

test("Caddy's JSON compares with keys sorted and a swap's upstreams in any order", () => {
  const declared = {
    apps: {
      http: {
        servers: {
          srv0: { routes: [{ handle: [{ handler: 'reverse_proxy', upstreams: [{ dial: '10.0.0.1:8081' }, { dial: '10.0.0.1:8082' }] }] }] },
        },
      },
    },
  };
  const live = {
    apps: {
      http: {
        servers: {
          srv0: { routes: [{ handle: [{ upstreams: [{ dial: '10.0.0.1:8082' }, { dial: '10.0.0.1:8081' }], handler: 'reverse_proxy' }] }] },
        },
      },
    },
  };
  assert.equal(JSON.stringify(canonicalJson(declared)), JSON.stringify(canonicalJson(live)));
  // Routes keep their order: Caddy tries them in order.
  const two = (a: string, b: string) => ({ routes: [{ match: [{ host: [a] }] }, { match: [{ host: [b] }] }] });
  assert.notEqual(JSON.stringify(canonicalJson(two('a', 'b'))), JSON.stringify(canonicalJson(two('b', 'a'))));
});

test('ss -Hltnp lines: address, port, process and the unit from its cgroup', () => {
  const text = [
    'LISTEN 0      4096         0.0.0.0:22        0.0.0.0:*    users:(("sshd",pid=78,fd=3))',
    'LISTEN 0      511                *:8082            *:*    users:(("node",pid=611,fd=21))',
    'LISTEN 0      128        127.0.0.1:15433     0.0.0.0:*    users:(("ssh",pid=700,fd=5))',
    'LISTEN 0      4096           [::1]:5433         [::]:*',
    'LISTEN 0      4096   [fe80::1%eth0]:9000        [::]:*',
  ].join('\n');
  const got = parseListeners(
    text,
    new Map([
      [611, '0::/system.slice/worker.service '],
      [78, '0::/system.slice/ssh.service '],
    ]),
  );
  assert.deepEqual(
    got.map((l) => [l.address, l.port, l.process, l.unit]),
    [
      ['0.0.0.0', 22, 'sshd (pid 78)', 'ssh.service'],
      ['*', 8082, 'node (pid 611)', 'worker.service'],
      ['127.0.0.1', 15433, 'ssh (pid 700)', null],
      ['::1', 5433, null, null],
      ['fe80::1', 9000, null, null],
    ],
  );
});

test('a managed block is the lines between its markers; none without both', () => {
  assert.deepEqual(blockLines('x\n# >>>\na  \nb\n# <<<\ny', '# >>>', '# <<<'), ['a', 'b']);
  assert.equal(blockLines('x\n# >>>\na\n', '# >>>', '# <<<'), null);
});

test('a diff is short: declared as -, live as +, at most 40 lines', () => {
  const d = shortDiff('f', 'a\nb\nc', 'a\nB\nc');
  assert.match(d, /^-b$/m);
  assert.match(d, /^\+B$/m);
  const long = shortDiff('f', Array.from({ length: 200 }, (_, i) => `l${i}`).join('\n'), Array.from({ length: 200 }, (_, i) => `m${i}`).join('\n'));
  assert.ok(long.split('\n').length <= 41);
  assert.match(long, /more lines$/);
});

test('a secrets fingerprints file gives names and deliveries, never the fingerprints', () => {
  const file = `# manage-apps secret fingerprints v1\nAUTH_SECRET\tcredential\thmac-sha256:${'a'.repeat(64)}\nSESSION_KEY\tenv\thmac-sha256:${'b'.repeat(64)}\n`;
  assert.deepEqual(
    [...deliveredSecrets(file)],
    [
      ['AUTH_SECRET', 'credential'],
      ['SESSION_KEY', 'env'],
    ],
  );
});

test('an env file gives its names only: run by sh on a real file, no value is printed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'drift-env-'));
  try {
    const file = join(dir, 'env');
    writeFileSync(
      file,
      "# note\nPGPASSWORD='s3cr3t-value'\nexport DATABASE_URL=postgresql://u:s3cr3t-value@h/d\n  PGPORT=5433\nnot a line\nPGPORT=5434\n",
      { mode: 0o600 },
    );
    symlinkSync(file, join(dir, 'link'));
    const out = execFileSync(
      'sh',
      ['-c', `SUDO=; ${ENV_KEYS_FUNCTION}\nma_envkeys "$1"; ma_envkeys "$2"; ma_envkeys "$3"`, 'sh', file, join(dir, 'link'), join(dir, 'none')],
      {
        encoding: 'utf8',
      },
    );
    assert.doesNotMatch(out, /s3cr3t/);
    const read = parseHostRead(out);
    assert.deepEqual(read.envKeys.get(file), { state: 'present', keys: ['DATABASE_URL', 'PGPASSWORD', 'PGPORT'] });
    assert.deepEqual(read.envKeys.get(join(dir, 'link')), { state: 'link' });
    assert.deepEqual(read.envKeys.get(join(dir, 'none')), { state: 'absent' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("WireGuard peers: the rendered config's and `wg show dump`'s compare as sets of allowed IPs; endpoints and counters do not count", () => {
  const key = (c: string) => `${c.repeat(43)}=`;
  const rendered = `# wg0 on db (hub)\n[Interface]\nAddress = 10.77.0.1/24\nListenPort = 51820\nPostUp = wg set %i private-key /etc/wireguard/private.key\n\n# app (spoke)\n[Peer]\nPublicKey = ${key('A')}\nAllowedIPs = 10.77.0.2/32, 10.77.5.0/24\n\n[Peer]\nPublicKey = ${key('B')}\nAllowedIPs = 10.77.0.3/32\nPersistentKeepalive = 25\n`;
  const declared = wireguardPeers(rendered);
  assert.deepEqual(declared, [
    { publicKey: key('A'), allowedIps: '10.77.0.2/32,10.77.5.0/24', keepalive: 'off' },
    { publicKey: key('B'), allowedIps: '10.77.0.3/32', keepalive: '25' },
  ]);
  // What the host script prints of `wg show wg0 dump` (public key, allowed IPs, keepalive; never the preshared key).
  const live = parseHostRead(
    `@@wg\tup\n@@wgpeer\t${key('A')}\t10.77.5.0/24,10.77.0.2/32\toff\n@@wgpeer\t${key('B')}\t10.77.0.3/32\t25\n@@wgpeer\t${key('C')}\t(none)\toff\n`,
  ).wireguard;
  assert.equal(live?.state, 'up');
  const peers = live?.state === 'up' ? live.peers : [];
  assert.deepEqual(peers.slice(0, 2), declared, 'the same peers, allowed IPs in another order');
  assert.deepEqual(peers[2], { publicKey: key('C'), allowedIps: '(none)', keepalive: 'off' });
  assert.equal(normalIps('10.0.0.2/32, 10.0.0.1/32'), normalIps('10.0.0.1/32,10.0.0.2/32'));
});

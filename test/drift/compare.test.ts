// The comparisons' normalisation, on the texts the hosts and renderers really produce: what a
// tool normalises by itself is never drift, and a real difference always is.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { blockLines, canonicalJson, deliveredSecrets, normalText, parseListeners, shortDiff, unitSettings } from '../../src/drift/compare.js';

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

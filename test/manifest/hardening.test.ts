/** service.hardening: every mistake is a located `hardening` problem, and `validate` exits 1 on it. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cli, inventory, loadTree, makeTree, removeTree } from '../helpers/tree.js';

const manifest = (hardening: string, extra = '') =>
  `apiVersion: infra/v2\nproject: api\nprovider: bare-metal\nservice:\n  host: core\n  port: 3030\n  command: node server.js\n${extra}  hardening:\n${hardening}`;

async function problemsOf(text: string) {
  const loaded = await loadTree({ 'mesh-hosts.json': inventory(), 'api/.infra.yaml': text });
  return loaded.problems.map((p) => ({ line: p.line, column: p.column, rule: p.rule, message: p.message, hint: p.hint }));
}

test('a valid hardening block loads clean and reaches the fleet model', async () => {
  const loaded = await loadTree({
    'mesh-hosts.json': inventory(),
    'api/.infra.yaml': manifest(
      '    state_directory: api/data\n    read_write_paths: [/srv/uploads]\n    relax:\n      - directive: PrivateDevices\n        reason: needs /dev/nvidia0 for CUDA\n      - { directive: RestrictAddressFamilies, value: AF_UNIX AF_INET AF_INET6 AF_NETLINK, reason: lists interfaces }\n',
    ),
  });
  assert.deepEqual(loaded.problems, []);
  const s = loaded.fleet.services[0]!;
  assert.equal(s.hardening?.state_directory, 'api/data');
  assert.deepEqual(
    s.hardening?.relax?.map((r) => r.directive),
    ['PrivateDevices', 'RestrictAddressFamilies'],
  );
});

test('unknown, misspelt, duplicated and misplaced directives are located, with the likely intent', async () => {
  const problems = await problemsOf(
    manifest(
      [
        '    relax:',
        '      - directive: PrivateDevice', // line 10: a typo
        '        reason: gpu',
        '      - directive: PrivateDevices',
        '        reason: gpu',
        '      - directive: PrivateDevices', // line 14: twice
        '        reason: again',
        '      - directive: read_only', // line 16: a Compose key on a unit
        '        reason: x',
        '      - directive: Frobnicate', // line 18
        '        reason: x',
        '',
      ].join('\n'),
    ),
  );
  const h = problems.filter((p) => p.rule === 'hardening');
  assert.deepEqual(
    h.map((p) => [p.line, p.column]),
    [
      [10, 20],
      [14, 20],
      [16, 20],
      [18, 20],
    ],
  );
  assert.match(h[0]!.hint!, /did you mean PrivateDevices\?/);
  assert.match(h[1]!.message, /relaxed twice \(first at relax\[1\]\)/);
  assert.match(h[2]!.hint!, /Compose setting; this service runs as a systemd unit/);
  assert.match(h[3]!.message, /"Frobnicate" is not a hardening directive/);
});

test('reasons, values, state directories and writable paths that cannot be rendered are located', async () => {
  const problems = await problemsOf(
    manifest(
      [
        '    state_directory: ../etc', // 9
        '    read_write_paths:',
        '      - /srv/api/current/uploads', // 11: inside a release
        '      - /', // 12
        '      - "/srv/a b"', // 13: a space cannot go into a unit
        '    relax:',
        '      - directive: UMask',
        '        reason: "   "', // 16: blank
        '      - directive: ProtectSystem',
        '        value: "full\\nExecStartPre=/bin/sh"', // 18: a second line
        '        reason: x',
        '      - directive: ProtectHome',
        '        reason: "a\\u001b[2Jb"', // 21: an escape sequence
        '',
      ].join('\n'),
    ),
  );
  const h = problems.filter((p) => p.rule === 'hardening');
  assert.deepEqual(
    h.map((p) => p.line),
    [9, 11, 12, 13, 16, 18, 21],
    JSON.stringify(problems, null, 1),
  );
  assert.match(h[1]!.message, /inside \/srv\/api\/current: releases are replaced by every deploy/);
  assert.match(h[5]!.message, /cannot be written into a unit/);
});

test('a Compose service relaxes Compose keys; unit-only fields are located; DynamicUser with a declared user is refused', async () => {
  const compose = await problemsOf(
    'apiVersion: infra/v2\nproject: api\nprovider: bare-metal\nservice:\n  host: core\n  port: 3030\n  compose: { file: compose.yml, service: app }\n  hardening:\n    state_directory: x\n    relax:\n      - { directive: PrivateDevices, reason: x }\n      - { directive: read_only, reason: writes /var/cache/nginx, value: "false" }\n',
  );
  const h = compose.filter((p) => p.rule === 'hardening');
  assert.deepEqual(
    h.map((p) => p.line),
    [9, 11, 12],
  );
  assert.match(h[1]!.hint!, /systemd unit setting; this service is a Compose service/);
  const user = (await problemsOf(manifest('    relax:\n      - { directive: DynamicUser, reason: x }\n', '  user: api\n'))).filter(
    (p) => p.rule === 'hardening',
  );
  assert.deepEqual(
    user.map((p) => [p.line, p.message]),
    [[11, 'the service runs as its declared user api: DynamicUser is not rendered, there is nothing to relax']],
  );
});

test('validate exits 1 and prints the located problem', async () => {
  const root = await makeTree({
    'mesh-hosts.json': inventory(),
    'api/.infra.yaml': manifest('    relax:\n      - directive: PrivateDevice\n        reason: gpu\n'),
  });
  try {
    const r = cli(['validate', '--root', root]);
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stdout + r.stderr, /api\/\.infra\.yaml:10:20/);
    assert.match(r.stdout + r.stderr, /did you mean PrivateDevices\?/);
  } finally {
    await removeTree(root);
  }
});

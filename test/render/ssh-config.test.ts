/** net ssh-config: golden, determinism, the managed block, idempotent --write, and `ssh -G` reading the result. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { netSshConfig } from '../../src/cli/commands/render/net-ssh-config.js';
import {
  BLOCK_END,
  BLOCK_START,
  findManagedBlock,
  includedFile,
  managedBlock,
  renderSshHosts,
  spliceManagedBlock,
} from '../../src/render/ssh-config.js';
import { copyFixture, expectGolden, loadFixture, removeDir, requireTool, run, tempDir, FIXTURE } from './helpers.js';

interface Json {
  files: { path: string; status: string; backup?: string }[];
  problems: { file: string; line: number; column: number; rule: string; message: string }[];
  skipped: { name: string; reason: string }[];
}

async function sshConfig(options: Record<string, unknown>): Promise<{ exitCode: number; json: Json }> {
  const r = await netSshConfig({ root: FIXTURE, ...options });
  return { exitCode: r.exitCode, json: r.json as Json };
}

test('ssh config: golden Host blocks (alias and name, HostName/User/Port/IdentityFile/ProxyJump), local and empty hosts skipped', async () => {
  const { loaded, locator } = await loadFixture();
  const hosts = renderSshHosts(loaded.fleet, locator);
  assert.deepEqual(hosts.problems, []);
  assert.deepEqual(
    hosts.skipped.map((s) => s.name),
    ['attic', 'laptop'],
  );
  await expectGolden('ssh-config/block', managedBlock(hosts.text, loaded.fleet.inventoryFile));
  await expectGolden('ssh-config/included', includedFile(hosts.text, loaded.fleet.inventoryFile));
  assert.doesNotMatch(hosts.text, /StrictHostKeyChecking|UserKnownHostsFile/);
});

test('ssh config: deterministic: two loads, and any host order, give byte-identical text', async () => {
  const a = await loadFixture();
  const b = await loadFixture();
  const first = renderSshHosts(a.loaded.fleet).text;
  assert.equal(renderSshHosts(b.loaded.fleet).text, first);
  const reversed = { ...b.loaded.fleet, hosts: [...b.loaded.fleet.hosts].reverse() };
  assert.equal(renderSshHosts(reversed).text, first);
});

test('ssh config: a value that could inject a directive is a located error, never rendered', async () => {
  const { loaded } = await loadFixture();
  const fleet = {
    ...loaded.fleet,
    hosts: loaded.fleet.hosts.map((h) =>
      h.name === 'core' ? { ...h, identityFile: '~/.ssh/key\n  ProxyCommand evil' } : h.name === 'edge' ? { ...h, user: 'root pwn' } : h,
    ),
  };
  const out = renderSshHosts(fleet, {
    inventory: (path) => ({ file: 'inv.json', line: path.length, column: 1 }),
    manifest: (file) => ({ file, line: 1, column: 1 }),
  });
  assert.equal(out.problems.length, 2);
  assert.ok(out.problems.every((p) => p.severity === 'error' && p.file === 'inv.json'));
  assert.doesNotMatch(out.text, /ProxyCommand|pwn/);
});

test('ssh -G reads the rendered block: HostName, User, Port, IdentityFile and ProxyJump come out right', async (t) => {
  const ssh = requireTool(t, 'ssh', 'apt-get install openssh-client');
  if (!ssh) return;
  const dir = await tempDir();
  try {
    const { loaded } = await loadFixture();
    const file = join(dir, 'config');
    await writeFile(file, managedBlock(renderSshHosts(loaded.fleet).text, 'mesh-hosts.json'));
    const resolved = (alias: string) => {
      const r = run(ssh, ['-G', '-T', '-F', file, alias], { env: { ...process.env, HOME: dir } });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr, '');
      return new Map(
        r.stdout
          .split('\n')
          .filter(Boolean)
          .map((l) => [l.slice(0, l.indexOf(' ')), l.slice(l.indexOf(' ') + 1)]),
      );
    };
    for (const alias of ['wg-hub', 'hub']) {
      const hub = resolved(alias);
      assert.equal(hub.get('hostname'), '203.0.113.1');
      assert.equal(hub.get('user'), 'deploy');
      assert.equal(hub.get('port'), '2222');
      assert.equal(hub.get('identityfile'), '~/.ssh/id_fleet');
    }
    const core = resolved('core');
    assert.equal(core.get('hostname'), '10.0.0.11');
    assert.equal(core.get('user'), 'ops');
    assert.equal(core.get('port'), '22');
    assert.equal(core.get('proxyjump'), 'wg-hub');
    assert.equal(resolved('mini').get('hostname'), 'mini.lan');
    // Host keys stay checked: ssh's default (ask), never "no".
    assert.notEqual(core.get('stricthostkeychecking'), 'false');
    assert.notEqual(core.get('stricthostkeychecking'), 'no');
  } finally {
    await removeDir(dir);
  }
});

const USER_CONFIG = `# my own settings
ServerAliveInterval 30

# work
Host work
  HostName work.example.net
  User me

Host *
  User nobody-default
`;

test('ssh config --write: one block before the first Host, nothing else touched, backup kept, second run changes nothing', async (t) => {
  const dir = await tempDir();
  try {
    const file = join(dir, 'config');
    await writeFile(file, USER_CONFIG);
    const first = await sshConfig({ file, write: true });
    assert.equal(first.exitCode, 0);
    assert.deepEqual(
      first.json.files.map((f) => f.status),
      ['written'],
    );
    assert.equal(first.json.files[0]!.backup, `${file}.bak`);
    assert.equal(await readFile(`${file}.bak`, 'utf8'), USER_CONFIG);
    const written = await readFile(file, 'utf8');
    // Everything outside the block is the user's text, byte for byte.
    const found = findManagedBlock(written, file).block!;
    assert.equal(written.slice(0, found.start) + written.slice(found.end).replace(/^\n/, ''), USER_CONFIG);
    assert.ok(written.indexOf(BLOCK_START) > written.indexOf('ServerAliveInterval'));
    assert.ok(written.indexOf(BLOCK_END) < written.indexOf('# work'));

    const before = await stat(file);
    const second = await sshConfig({ file, write: true });
    assert.equal(second.exitCode, 0);
    assert.deepEqual(
      second.json.files.map((f) => f.status),
      ['unchanged'],
    );
    assert.equal(await readFile(file, 'utf8'), written);
    assert.equal((await stat(file)).mtimeMs, before.mtimeMs);
    const check = await sshConfig({ file, check: true });
    assert.equal(check.exitCode, 0);
    assert.deepEqual(
      check.json.files.map((f) => f.status),
      ['up-to-date'],
    );

    const ssh = requireTool(t, 'ssh', 'apt-get install openssh-client');
    if (!ssh) return;
    // The user's hosts and global options keep working; ours win for our hosts.
    const g = (alias: string) => run(ssh, ['-G', '-T', '-F', file, alias], { env: { ...process.env, HOME: dir } }).stdout;
    assert.match(g('work'), /^hostname work\.example\.net$/m);
    assert.match(g('work'), /^serveraliveinterval 30$/m);
    assert.match(g('core'), /^user ops$/m);
    assert.match(g('core'), /^serveraliveinterval 30$/m);
    assert.match(g('elsewhere'), /^user nobody-default$/m);
  } finally {
    await removeDir(dir);
  }
});

test('ssh config --write: a changed inventory replaces the block in place; --check reports the drift first', async () => {
  const dir = await tempDir();
  const root = await copyFixture();
  try {
    const file = join(dir, 'config');
    await writeFile(file, USER_CONFIG);
    assert.equal((await sshConfig({ root, file, write: true })).exitCode, 0);
    const inventory = join(root, 'mesh-hosts.json');
    await writeFile(inventory, (await readFile(inventory, 'utf8')).replace('"user": "ops"', '"user": "admin"'));
    const drift = await sshConfig({ root, file, check: true });
    assert.equal(drift.exitCode, 1);
    assert.deepEqual(
      drift.json.files.map((f) => f.status),
      ['out-of-date'],
    );
    assert.equal((await sshConfig({ root, file, write: true })).exitCode, 0);
    const text = await readFile(file, 'utf8');
    assert.match(text, /Host core\n {2}HostName 10\.0\.0\.11\n {2}User admin\n/);
    assert.equal(text.split(BLOCK_START).length, 2);
    assert.ok(text.endsWith(USER_CONFIG.slice(USER_CONFIG.indexOf('# work'))));
  } finally {
    await removeDir(dir);
    await removeDir(root);
  }
});

test('ssh config: a new file is created private (0600) with only the block', async () => {
  const dir = await tempDir();
  try {
    const file = join(dir, 'sub', 'config');
    const r = await sshConfig({ file, write: true });
    assert.equal(r.exitCode, 0);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.ok((await readFile(file, 'utf8')).startsWith(BLOCK_START));
    const missing = await sshConfig({ file: join(dir, 'none'), check: true });
    assert.equal(missing.exitCode, 1);
    assert.deepEqual(
      missing.json.files.map((f) => f.status),
      ['missing'],
    );
  } finally {
    await removeDir(dir);
  }
});

test('ssh config: broken markers (alone, twice, out of order) are located errors and nothing is written', async () => {
  const dir = await tempDir();
  try {
    const cases: [string, number][] = [
      [`Host a\n${BLOCK_START}\nHost x\n`, 2],
      [`${BLOCK_END}\nHost a\n`, 1],
      [`${BLOCK_START}\n${BLOCK_END}\n${BLOCK_START}\n${BLOCK_END}\n`, 3],
      [`${BLOCK_END}\n${BLOCK_START}\n`, 1],
      [`# >>> manage-apps (edited by hand)\nHost a\n`, 1],
    ];
    for (const [content, line] of cases) {
      const file = join(dir, 'config');
      await writeFile(file, content);
      const r = await sshConfig({ file, write: true });
      assert.equal(r.exitCode, 1, content);
      assert.deepEqual(r.json.files, []);
      assert.equal(r.json.problems[0]!.rule, 'managed_block');
      assert.equal(r.json.problems[0]!.file, file);
      assert.equal(r.json.problems[0]!.line, line, content);
      assert.equal(await readFile(file, 'utf8'), content);
      assert.equal((await sshConfig({ file, check: true })).exitCode, 1);
    }
  } finally {
    await removeDir(dir);
  }
});

test('ssh config: splice keeps CRLF files CRLF and a file without a Host line gets the block at the end', () => {
  const block = managedBlock('Host a\n  User b\n', 'inv');
  const crlf = spliceManagedBlock('Host x\r\n  User y\r\n', block, 'f').content!;
  assert.ok(crlf.startsWith(`${BLOCK_START}\r\n`));
  assert.ok(!/[^\r]\n/.test(crlf));
  const globalOnly = spliceManagedBlock('ServerAliveInterval 5', block, 'f').content!;
  assert.equal(globalOnly, `ServerAliveInterval 5\n\n${block}`);
  assert.equal(spliceManagedBlock(globalOnly, block, 'f').content, globalOnly);
});

test('ssh config --include: hosts in config.d/manage-apps, one managed Include line at the top level; ssh -G follows it', async (t) => {
  const dir = await tempDir();
  try {
    const file = join(dir, 'config');
    await writeFile(file, USER_CONFIG);
    const r = await sshConfig({ file, write: true, include: true });
    assert.equal(r.exitCode, 0, JSON.stringify(r.json.problems));
    const included = join(dir, 'config.d', 'manage-apps');
    assert.deepEqual(
      r.json.files.map((f) => [f.path, f.status]),
      [
        [included, 'written'],
        [file, 'written'],
      ],
    );
    assert.equal((await stat(included)).mode & 0o777, 0o600);
    const main = await readFile(file, 'utf8');
    assert.match(main, new RegExp(`${BLOCK_START.replace(/[()>]/g, '\\$&')}\n#[^\n]*\nInclude ${included}\n${BLOCK_END}\n`));
    const again = await sshConfig({ file, write: true, include: true });
    assert.deepEqual(
      again.json.files.map((f) => f.status),
      ['unchanged', 'unchanged'],
    );
    const ssh = requireTool(t, 'ssh', 'apt-get install openssh-client');
    if (!ssh) return;
    const out = run(ssh, ['-G', '-F', file, 'wg-hub'], { env: { ...process.env, HOME: dir } });
    assert.equal(out.status, 0, out.stderr);
    assert.match(out.stdout, /^hostname 203\.0\.113\.1$/m);
    assert.match(out.stdout, /^port 2222$/m);
  } finally {
    await removeDir(dir);
  }
});

test('ssh config: --write and --check together are a usage error', async () => {
  await assert.rejects(sshConfig({ file: '/nonexistent/x', write: true, check: true }), /exclude each other/);
});

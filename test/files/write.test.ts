// Issue 11 items 3, 5 and 6: writes never follow a link nobody chose, the backup is written
// fresh and atomically, a killed write leaves the old or the new file (and its temp file is
// cleaned by the next write), and a bad write target is a usage error naming the path.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { lstat, mkdir, readdir, readFile, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { UsageError } from '../../src/errors.js';
import { makeDirectory, readIfExists, writeFileSafely } from '../../src/files/write.js';
import { packageRoot } from '../../src/package-root.js';
import { cli, inventory, makeTree, removeTree } from '../helpers/tree.js';

const SECRET = "# the user's own file\nexport PATH=/usr/bin\n";

async function withDir(run: (dir: string) => Promise<void>): Promise<void> {
  const dir = await makeTree({});
  try {
    await run(dir);
  } finally {
    await removeTree(dir);
  }
}

test('a <target>.bak that is a link is replaced by the backup, never written through', async () => {
  await withDir(async (dir) => {
    const victim = join(dir, 'bashrc');
    await writeFile(victim, SECRET);
    await writeFile(join(dir, '.env.ports'), 'OLD=1\n');
    await symlink(victim, join(dir, '.env.ports.bak'));
    const result = await writeFileSafely(join(dir, '.env.ports'), 'NEW=1\n');
    assert.equal(result.outcome, 'updated');
    assert.equal(await readFile(victim, 'utf8'), SECRET, 'the link target is untouched');
    assert.ok((await lstat(join(dir, '.env.ports.bak'))).isFile(), 'the backup is a fresh regular file');
    assert.equal(await readFile(join(dir, '.env.ports.bak'), 'utf8'), 'OLD=1\n');
    assert.equal(await readFile(join(dir, '.env.ports'), 'utf8'), 'NEW=1\n');
  });
});

test('a link the user chose as the target keeps working: the write goes to its target, the link stays', async () => {
  await withDir(async (dir) => {
    await mkdir(join(dir, 'dotfiles'));
    await mkdir(join(dir, '.ssh'));
    await writeFile(join(dir, 'dotfiles', 'ssh_config'), 'Host old\n', { mode: 0o600 });
    await symlink('../dotfiles/ssh_config', join(dir, '.ssh', 'config'));
    const result = await writeFileSafely(join(dir, '.ssh', 'config'), 'Host new\n');
    assert.equal(result.backup, join(dir, '.ssh', 'config.bak'));
    assert.equal(await readlink(join(dir, '.ssh', 'config')), '../dotfiles/ssh_config');
    assert.equal(await readFile(join(dir, 'dotfiles', 'ssh_config'), 'utf8'), 'Host new\n');
    assert.equal((await lstat(join(dir, 'dotfiles', 'ssh_config'))).mode & 0o777, 0o600, 'the file keeps its mode');
    assert.equal(await readFile(join(dir, '.ssh', 'config.bak'), 'utf8'), 'Host old\n');
  });
});

test('under --out DIR: a link at a rendered file is replaced (kept as the .bak); a directory link leading out is refused', async () => {
  await withDir(async (dir) => {
    const out = join(dir, 'out');
    const outside = join(dir, 'etc-systemd');
    await mkdir(join(out, 'core'), { recursive: true });
    await mkdir(outside);
    await writeFile(join(dir, 'passwd'), SECRET);
    await symlink(join(dir, 'passwd'), join(out, 'core', 'api.service'));
    await writeFileSafely(join(out, 'core', 'api.service'), '[Unit]\n', { within: out });
    assert.equal(await readFile(join(dir, 'passwd'), 'utf8'), SECRET);
    assert.ok((await lstat(join(out, 'core', 'api.service'))).isFile());
    assert.equal(await readlink(join(out, 'core', 'api.service.bak')), join(dir, 'passwd'));

    await symlink(outside, join(out, 'edge'));
    await assert.rejects(
      writeFileSafely(join(out, 'edge', 'web.service'), '[Unit]\n', { within: out }),
      (err: unknown) => err instanceof UsageError && /refusing to write .*edge\/web\.service: .*outside/.test(err.message),
    );
    assert.deepEqual(await readdir(outside), [], 'nothing was written outside --out');
    // A link that stays inside DIR is fine.
    await mkdir(join(out, 'real'));
    await symlink(join(out, 'real'), join(out, 'alias'));
    assert.equal((await writeFileSafely(join(out, 'alias', 'x.service'), 'x\n', { within: out })).outcome, 'created');
  });
});

test('bad write targets are usage errors naming the path: a directory, a FIFO, /proc', { timeout: 30_000 }, async () => {
  await withDir(async (dir) => {
    await assert.rejects(
      writeFileSafely(dir, 'x'),
      (err: unknown) => err instanceof UsageError && err.message.includes(dir) && /directory/.test(err.message),
    );
    const fifo = join(dir, 'fifo');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
    await assert.rejects(
      writeFileSafely(fifo, 'x'),
      (err: unknown) => err instanceof UsageError && err.message.includes(fifo) && /FIFO/.test(err.message),
    );
    await assert.rejects(readIfExists(fifo), /FIFO/);
    await assert.rejects(writeFileSafely('/proc/version', 'x'), (err: unknown) => err instanceof UsageError && /\/proc\/version/.test(err.message));
    await assert.rejects(
      writeFileSafely(join(dir, 'missing', 'dir', 'f'), 'x'),
      (err: unknown) => err instanceof UsageError && /does not exist/.test(err.message),
    );
  });
});

test('CLI: bad write targets exit 2 with the path named, never "internal error"; a planted .bak link is replaced', { timeout: 120_000 }, async () => {
  const root = await makeTree({
    'mesh-hosts.json': inventory(),
    'api/.infra.yaml': 'apiVersion: infra/v2\nproject: api\nprovider: bare-metal\nservice:\n  host: core\n  port: 3030\n  command: node server.js\n',
    bashrc: SECRET,
    'a-file': 'x\n',
    '.env.ports': 'OLD=1\n',
  });
  try {
    await symlink(join(root, 'bashrc'), join(root, '.env.ports.bak'));
    const env = { MANAGE_APPS_CACHE: '0' };
    const fifo = join(root, 'ssh-fifo');
    spawnSync('mkfifo', [fifo]);
    const cases: [string[], string][] = [
      [['ports', '--write-env', root], root],
      [['ports', '--write-env', '/proc/version'], '/proc/version'],
      [['units', '--write', '--out', join(root, 'a-file')], join(root, 'a-file')],
      [['units', '--check', '--out', join(root, 'a-file')], join(root, 'a-file')],
      [['net', 'ssh-config', '--write', '--file', fifo], fifo],
    ];
    for (const [args, path] of cases) {
      const run = spawnSync(process.execPath, [join(packageRoot(), 'bin/manage-apps.js'), ...args, '--root', root], {
        encoding: 'utf8',
        timeout: 30_000,
        env: { ...process.env, ...env, NO_COLOR: '1' },
      });
      assert.equal(run.status, 2, `${args.join(' ')}: exit ${run.status} (signal ${run.signal})\n${run.stdout}${run.stderr}`);
      assert.ok(run.stderr.includes(path), `${args.join(' ')} names ${path}: ${run.stderr}`);
      assert.doesNotMatch(run.stderr, /internal error|This is a bug/);
    }
    const ports = cli(['ports', '--root', root, '--write-env', join(root, '.env.ports')], { env });
    assert.equal(ports.status, 0, ports.stdout + ports.stderr);
    assert.equal(await readFile(join(root, 'bashrc'), 'utf8'), SECRET, '~/.bashrc behind the planted .bak link is untouched');
    assert.equal(await readFile(join(root, '.env.ports.bak'), 'utf8'), 'OLD=1\n');
    // units --write --out: a link inside DIR that leads out is refused, and nothing is written there.
    const out = join(root, 'units');
    await mkdir(out);
    await mkdir(join(root, 'elsewhere'));
    await symlink(join(root, 'elsewhere'), join(out, 'core'));
    const units = cli(['units', '--root', root, '--write', '--out', out], { env });
    assert.equal(units.status, 2, units.stdout + units.stderr);
    assert.match(units.stderr, /refusing to write .*units\/core: .* outside /);
    assert.deepEqual(await readdir(join(root, 'elsewhere')), []);
  } finally {
    await removeTree(root);
  }
});

test("an --out DIR that does not exist yet is created (0755, or 0700 for private files), through the user's own link but never a planted one", async () => {
  await withDir(async (dir) => {
    const out = join(dir, 'fresh', 'render');
    await makeDirectory(join(out, 'core'), { within: out });
    assert.ok((await lstat(out)).isDirectory());
    assert.equal((await stat(join(out, 'core'))).mode & 0o777, 0o755 & ~process.umask());
    await makeDirectory(join(dir, 'keys', 'wg'), { mode: 0o700, within: join(dir, 'keys', 'wg') });
    assert.equal((await stat(join(dir, 'keys', 'wg'))).mode & 0o777, 0o700);
    // A link the user named as part of DIR is theirs: followed.
    await mkdir(join(dir, 'real-home'));
    await symlink(join(dir, 'real-home'), join(dir, 'home'));
    await makeDirectory(join(dir, 'home', 'out', 'x'), { within: join(dir, 'home', 'out') });
    assert.ok((await stat(join(dir, 'real-home', 'out', 'x'))).isDirectory());
    // Below DIR, a link that leads out stays refused even when the directory under it is missing.
    await mkdir(join(dir, 'elsewhere'));
    await symlink(join(dir, 'elsewhere'), join(out, 'edge'));
    await assert.rejects(
      makeDirectory(join(out, 'edge', 'deep'), { within: out }),
      (err: unknown) => err instanceof UsageError && /outside/.test(err.message),
    );
    assert.deepEqual(await readdir(join(dir, 'elsewhere')), []);
  });
});

test('CLI: units, net caddy, net wireguard and infra render --write into a directory that does not exist yet', { timeout: 120_000 }, async () => {
  const root = await makeTree({
    'mesh-hosts.json': inventory({
      hosts: {
        hub: {
          provider: 'digitalocean',
          role: 'production',
          mesh_ip: '10.9.0.1',
          public_ip: '203.0.113.1',
          wireguard: { public_key: 'AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=', endpoint: '203.0.113.1:51820' },
        },
        core: {
          provider: 'bare-metal',
          role: 'production',
          mesh_ip: '10.9.0.11',
          address: '10.0.0.11',
          user: 'ops',
          wireguard: { public_key: 'AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=' },
        },
      },
      clusters: {},
    }),
    'api/.infra.yaml':
      'apiVersion: infra/v2\nproject: api\nprovider: bare-metal\nservice:\n  host: core\n  port: 3030\n  command: node server.js\n  domains: [api.example.com]\n',
    'edge/.infra.yaml':
      'apiVersion: infra/v2\nproject: edge\nprovider: digitalocean\nservice:\n  host: hub\n  kind: edge\n  systemd_unit: caddy.service\n',
  });
  try {
    const env = { MANAGE_APPS_CACHE: '0' };
    for (const command of [['units'], ['net', 'caddy'], ['net', 'wireguard'], ['infra', 'render']]) {
      const out = join(root, 'not', 'yet', command.join('-'));
      const run = cli([...command, '--root', root, '--write', '--out', out], { env });
      assert.doesNotMatch(run.stderr, /does not exist/, `${command.join(' ')}: ${run.stderr}`);
      assert.equal(run.status, 0, `${command.join(' ')}: exit ${run.status}\n${run.stdout}${run.stderr}`);
      assert.ok((await lstat(out)).isDirectory(), `${command.join(' ')} created ${out}`);
    }
    assert.equal(
      (await stat(join(root, 'not', 'yet', 'net-wireguard'))).mode & 0o777,
      0o700,
      'the directory of the private wg-quick configs is private',
    );
  } finally {
    await removeTree(root);
  }
});

test(
  'kill -9 during writes: the file is always the old or the new content, the backup whole, and the next write removes the temp files left',
  { timeout: 180_000 },
  async () => {
    await withDir(async (dir) => {
      const target = join(dir, 'rendered.conf');
      const a = `${'A'.repeat(2_000_000)}\n`;
      const b = `${'B'.repeat(2_000_000)}\n`;
      await writeFile(target, a);
      const writer = `import { writeFileSafely } from ${JSON.stringify(join(packageRoot(), 'dist/files/write.js'))};
      const [a, b] = ['A', 'B'].map((c) => c.repeat(2_000_000) + '\\n');
      for (let i = 0; ; i++) {
        await writeFileSafely(${JSON.stringify(target)}, i % 2 ? a : b);
        process.stdout.write('.');
      }`;
      const points = 25;
      let survived = 0;
      let tempsLeft = 0;
      for (let i = 0; i < points; i++) {
        const child = spawn(process.execPath, ['--input-type=module', '-e', writer], { stdio: ['ignore', 'pipe', 'ignore'] });
        // Writing for real by then: the kill lands at a different point of a write each time.
        await new Promise((r) => child.stdout.once('data', r));
        await new Promise((r) => setTimeout(r, (i * 7) % 40));
        child.kill('SIGKILL');
        await new Promise((r) => child.on('close', r));
        tempsLeft += (await readdir(dir)).filter((f) => f.endsWith('.manage-apps-tmp')).length;
        const now = await readFile(target, 'utf8');
        const backup = await readIfExists(`${target}.bak`);
        if ((now === a || now === b) && (backup === undefined || backup === a || backup === b)) survived++;
      }
      console.log(
        `${survived}/${points} fault points survived (kill -9 while writing a 2 MB file and its backup; ${tempsLeft} temp files found after kills, removed by the next write)`,
      );
      assert.equal(survived, points);
      await writeFileSafely(target, 'final\n');
      const left = (await readdir(dir)).filter((f) => f.endsWith('.manage-apps-tmp'));
      assert.deepEqual(left, [], 'temp files of the killed writes are gone');
      assert.deepEqual((await readdir(dir)).sort(), ['rendered.conf', 'rendered.conf.bak']);
    });
  },
);

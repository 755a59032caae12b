// The background process (`manage-apps daemon start`, src/daemon) on this machine, with the real
// CLI as a child process: a command it serves answers with the same bytes and exit code as one
// run in its own process; an edited, added, renamed or deleted manifest changes the next answer;
// a client of another build, a process killed (between commands or during one), a busy process
// and an unsafe socket directory all leave the command to run in its own process, said once on
// stderr; Ctrl-C on the client ends the command's ssh sessions in the process; the terminal and
// the environment are the client's for each command; an idle process ends by itself.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { packageRoot } from '../../src/package-root.js';
import { json, sleep, type CliRun } from '../ops/helpers.js';

const repo = packageRoot();
let work = '';

before(() => {
  work = mkdtempSync(join(tmpdir(), 'manage-apps-daemon-'));
});
after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** A socket directory of the test's own ($XDG_RUNTIME_DIR), so no other run's process is seen. */
function runtimeDir(name: string): string {
  const dir = join(work, name);
  mkdirSync(dir, { mode: 0o700 });
  return dir;
}

interface Cli {
  run: (args: string[], env?: NodeJS.ProcessEnv, cwd?: string) => Promise<CliRun>;
  start: (args: string[], env?: NodeJS.ProcessEnv) => { pid: number; done: Promise<CliRun> };
}

/** The CLI of `bin` with XDG_RUNTIME_DIR=`runtime`. */
function cliOf(runtime: string, bin = join(repo, 'bin', 'manage-apps.js')): Cli {
  const start = (args: string[], env: NodeJS.ProcessEnv = {}, cwd?: string) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [bin, ...args], {
      env: { ...process.env, NO_COLOR: '1', XDG_RUNTIME_DIR: runtime, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(cwd === undefined ? {} : { cwd }),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const done = new Promise<CliRun>((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr, ms: Date.now() - t0 })));
    return { pid: child.pid!, done };
  };
  return { run: (args, env, cwd) => start(args, env, cwd).done, start };
}

interface Status {
  running: boolean;
  socket: string;
  pid?: number;
  current?: boolean;
  requests?: number;
}

async function startDaemon(cli: Cli, extra: string[] = []): Promise<Status> {
  const started = await cli.run(['daemon', 'start', '--json', ...extra]);
  assert.equal(started.status, 0, started.stderr);
  const doc = json<Status & { started: boolean }>(started);
  assert.equal(doc.started, true);
  assert.equal(doc.running, true);
  return doc;
}

async function status(cli: Cli): Promise<Status> {
  return json<Status>(await cli.run(['daemon', 'status', '--json']));
}

const inProcess = { MANAGE_APPS_DAEMON: '0' };
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** A copy of the example fleet to change. */
function fleetCopy(name: string): string {
  const root = join(work, name);
  cpSync(join(repo, 'examples', 'fleet'), root, { recursive: true });
  return root;
}

/** Runs the command in its own process and through the background process: same bytes, same exit code; the served one counted. */
async function sameBothWays(cli: Cli, args: string[], env: NodeJS.ProcessEnv = {}, cwd?: string): Promise<CliRun> {
  const before = (await status(cli)).requests ?? 0;
  const own = await cli.run(args, { ...env, ...inProcess }, cwd);
  const served = await cli.run(args, env, cwd);
  assert.equal(served.stderr, own.stderr, `stderr of ${args.join(' ')}`);
  assert.equal(served.stdout, own.stdout, `stdout of ${args.join(' ')}`);
  assert.equal(served.status, own.status, `exit code of ${args.join(' ')}`);
  assert.equal((await status(cli)).requests, before + 1, `${args.join(' ')} was served by the background process`);
  return served;
}

describe('with no background process', () => {
  test('status says none runs (exit 1) and commands run in their own process, silently', async () => {
    const cli = cliOf(runtimeDir('none'));
    const state = await cli.run(['daemon', 'status', '--json']);
    assert.equal(state.status, 1);
    assert.equal(json<Status>(state).running, false);
    const validate = await cli.run(['validate', '--root', join(repo, 'examples', 'fleet'), '--json']);
    assert.equal(validate.status, 0, validate.stderr);
    assert.equal(validate.stderr, '');
    const stop = await cli.run(['daemon', 'stop', '--json']);
    assert.equal(stop.status, 0);
    assert.deepEqual(json(stop), { stopped: false, socket: json<Status>(state).socket });
  });

  test('a socket path that cannot be looked at (a file where its directory goes): the command runs here, silently', async () => {
    // Before: the client's stat threw ENOTDIR (EACCES for a user who may not enter HOME) and the command crashed.
    const file = join(work, 'not-a-directory');
    writeFileSync(file, '');
    const cli = cliOf(file);
    const root = join(repo, 'examples', 'fleet');
    const own = await cli.run(['validate', '--root', root, '--json'], inProcess);
    const run = await cli.run(['validate', '--root', root, '--json']);
    assert.equal(run.stderr, '');
    assert.equal(run.status, own.status);
    assert.equal(run.stdout, own.stdout);
  });
});

describe('a running background process', () => {
  let cli: Cli;
  let pid = 0;
  before(async () => {
    cli = cliOf(runtimeDir('served'));
    pid = (await startDaemon(cli)).pid!;
  });
  after(async () => {
    await cli.run(['daemon', 'stop']);
  });

  test('answers validate and list with the bytes and exit code of a run in its own process; a second start finds it running', async () => {
    const root = join(repo, 'examples', 'fleet');
    await sameBothWays(cli, ['validate', '--root', root, '--json']);
    await sameBothWays(cli, ['validate', '--root', root]);
    await sameBothWays(cli, ['list', '--root', root, '--json']);
    await sameBothWays(cli, ['graph', '--root', root, '--json']);
    // The working directory is the client's: no --root.
    await sameBothWays(cli, ['list'], {}, root);
    const again = json<{ started: boolean; pid: number }>(await cli.run(['daemon', 'start', '--json']));
    assert.deepEqual([again.started, again.pid], [false, pid]);
  });

  test('a manifest edited, added, renamed or deleted between two commands changes the next answer', async () => {
    const root = fleetCopy('edited');
    const listed = async () => {
      const run = await sameBothWays(cli, ['list', '--root', root, '--json']);
      return json<{ services: { project: string; port: number | null }[] }>(run).services;
    };
    const first = await listed();
    const beacon = join(root, 'projects', 'beacon', '.infra.yaml');
    const port = first.find((s) => s.project === 'beacon')!.port!;
    // Edited: same length, within the same second.
    const text = readFileSync(beacon, 'utf8');
    const edited = text.replace(`port: ${port}`, `port: ${port + 1 <= 9999 ? port + 1 : port - 1}`);
    assert.notEqual(edited, text);
    writeFileSync(beacon, edited);
    const second = await listed();
    assert.notEqual(second.find((s) => s.project === 'beacon')!.port, port);
    // Added.
    mkdirSync(join(root, 'projects', 'newcomer'));
    writeFileSync(
      join(root, 'projects', 'newcomer', '.infra.yaml'),
      text.replace(/project: beacon/, 'project: newcomer').replace(`port: ${port}`, 'port: 9777'),
    );
    const third = await listed();
    assert.ok(third.some((s) => s.project === 'newcomer'));
    // Renamed out of discovery (.infra.yaml → infra.yaml.off), then deleted.
    renameSync(join(root, 'projects', 'newcomer', '.infra.yaml'), join(root, 'projects', 'newcomer', 'infra.yaml.off'));
    assert.ok(!(await listed()).some((s) => s.project === 'newcomer'));
    unlinkSync(beacon);
    assert.ok(!(await listed()).some((s) => s.project === 'beacon'));
    // A broken manifest: the problem and exit code 1 either way.
    writeFileSync(join(root, 'projects', 'newcomer', '.infra.yaml'), 'apiVersion: infra/v2\nproject: [\n');
    const broken = await sameBothWays(cli, ['validate', '--root', root, '--json']);
    assert.equal(broken.status, 1);
  });

  test("the terminal is the client's: colours on a terminal, none with NO_COLOR or into a pipe", async () => {
    const root = fleetCopy('styled');
    writeFileSync(join(root, 'projects', 'beacon', '.infra.yaml'), 'apiVersion: infra/v2\nproject: beacon\nprovider: nowhere\n');
    const socketDir = join(work, 'served');
    // `script` gives the client a pseudo-terminal as stdout and stderr.
    const onTerminal = (env: Record<string, string>) =>
      spawnSync('script', ['-qec', `${process.execPath} ${join(repo, 'bin', 'manage-apps.js')} validate --root ${root}`, '/dev/null'], {
        encoding: 'utf8',
        env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/root', TERM: 'xterm', XDG_RUNTIME_DIR: socketDir, ...env },
      });
    const before = (await status(cli)).requests!;
    const own = onTerminal(inProcess);
    const served = onTerminal({});
    assert.equal((await status(cli)).requests, before + 1);
    assert.match(own.stdout, /\u001b\[/, 'in its own process on a terminal the output is styled');
    assert.equal(served.stdout, own.stdout);
    assert.equal(served.status, own.status);
    const plainOwn = onTerminal({ ...inProcess, NO_COLOR: '1' });
    const plainServed = onTerminal({ NO_COLOR: '1' });
    assert.doesNotMatch(plainOwn.stdout, /\u001b\[/);
    assert.equal(plainServed.stdout, plainOwn.stdout);
  });
});

describe('when the background process cannot serve', () => {
  /** An ssh configuration whose every host answers never (its proxy sleeps), marked to find its processes. */
  function hangingSsh(marker: string): string {
    const config = join(work, `ssh-${marker}`);
    writeFileSync(config, `Host *\n  ProxyCommand sh -c 'sleep 120; : ${marker}'\n`);
    return config;
  }
  const proxies = (marker: string) => {
    const r = spawnSync('pgrep', ['-f', `sleep 120; : ${marker}`], { encoding: 'utf8' });
    return r.stdout.split('\n').filter(Boolean).length;
  };

  test('a process killed with its socket left behind: said once, the socket removed, the command run here', async () => {
    const cli = cliOf(runtimeDir('killed'));
    const { pid, socket } = await startDaemon(cli);
    process.kill(pid!, 'SIGKILL');
    while (alive(pid!)) await sleep(20);
    assert.ok(existsSync(socket));
    const root = join(repo, 'examples', 'fleet');
    const own = await cli.run(['validate', '--root', root, '--json'], inProcess);
    const first = await cli.run(['validate', '--root', root, '--json']);
    assert.equal(first.stdout, own.stdout);
    assert.equal(first.status, own.status);
    assert.match(
      first.stderr,
      /the background process is not running \(its socket .* was left behind and is now removed\); running the command in this process/,
    );
    assert.equal(first.stderr.split('\n').filter(Boolean).length, 1);
    assert.ok(!existsSync(socket));
    const second = await cli.run(['validate', '--root', root, '--json']);
    assert.equal(second.stderr, '');
    assert.equal(second.stdout, own.stdout);
  });

  test('a process killed during a command: the client runs it itself, no stack trace', async () => {
    const cli = cliOf(runtimeDir('midway'));
    const { pid } = await startDaemon(cli);
    const marker = `midway-${process.pid}`;
    const args = ['status', '--root', join(repo, 'examples', 'fleet'), '--ssh-config', hangingSsh(marker), '--timeout', '2', '--json'];
    const client = cli.start(args, { MANAGE_APPS_CONTROL_DIR: join(work, 'ctl-midway') });
    for (let i = 0; i < 200 && proxies(marker) === 0; i++) await sleep(50);
    assert.ok(proxies(marker) > 0, 'the served command reached its ssh sessions');
    process.kill(pid!, 'SIGKILL');
    const run = await client.done;
    assert.match(run.stderr, /the background process stopped during the command; running the command in this process/);
    assert.doesNotMatch(run.stderr, /\n\s+at /);
    const doc = json<{ hosts?: unknown }>(run);
    assert.ok(typeof doc === 'object' && doc !== null);
    assert.equal(run.status, 1, 'hosts that do not answer: problems found, as in its own process');
    for (let i = 0; i < 100 && proxies(marker) > 0; i++) await sleep(100);
  });

  test('Ctrl-C on the client ends the command and its ssh sessions in the process; a busy process leaves a second client to run the command itself', async () => {
    const cli = cliOf(runtimeDir('cancel'));
    const { pid } = await startDaemon(cli);
    const marker = `cancel-${process.pid}`;
    const args = ['status', '--root', join(repo, 'examples', 'fleet'), '--ssh-config', hangingSsh(marker), '--timeout', '60', '--json'];
    const client = cli.start(args, { MANAGE_APPS_CONTROL_DIR: join(work, 'ctl-cancel') });
    for (let i = 0; i < 200 && proxies(marker) === 0; i++) await sleep(50);
    assert.ok(proxies(marker) > 0, 'the served command reached its ssh sessions');
    // Busy: another command runs in its own process meanwhile, silently, with the same answer.
    const root = join(repo, 'examples', 'fleet');
    const own = await cli.run(['validate', '--root', root, '--json'], inProcess);
    const meanwhile = await cli.run(['validate', '--root', root, '--json']);
    assert.equal(meanwhile.stderr, '');
    assert.equal(meanwhile.stdout, own.stdout);
    assert.equal((await status(cli)).requests, 0, 'the busy process did not serve the second client');
    const t0 = Date.now();
    process.kill(client.pid, 'SIGINT');
    const run = await client.done;
    assert.equal(run.status, 130);
    assert.ok(Date.now() - t0 < 5000, 'the client ends at once');
    for (let i = 0; i < 100 && proxies(marker) > 0; i++) await sleep(100);
    assert.equal(proxies(marker), 0, 'no ssh session of the cancelled command is left');
    assert.ok(alive(pid!), 'the process serves on');
    let served = 0;
    for (let i = 0; i < 100 && served === 0; i++) {
      served = (await status(cli)).requests!;
      if (served === 0) await sleep(100);
    }
    assert.equal(served, 1);
    const after = await cli.run(['validate', '--root', root, '--json']);
    assert.equal(after.stdout, own.stdout);
    assert.equal((await status(cli)).requests, 2);
    await cli.run(['daemon', 'stop']);
  });

  test('a client of another build: the command runs here and the process of the old build ends', async () => {
    const copy = join(work, 'package-copy');
    for (const part of ['bin', 'dist', 'schemas', 'package.json'])
      cpSync(join(repo, part), join(copy, part), { recursive: true, preserveTimestamps: true });
    symlinkSync(join(repo, 'node_modules'), join(copy, 'node_modules'));
    const cli = cliOf(runtimeDir('rebuilt'), join(copy, 'bin', 'manage-apps.js'));
    const { pid } = await startDaemon(cli);
    // A rebuild: the entry's text changes.
    appendFileSync(join(copy, 'dist', 'bundle', 'main.js'), '\n// rebuilt\n');
    const root = join(repo, 'examples', 'fleet');
    const own = await cli.run(['validate', '--root', root, '--json'], inProcess);
    const run = await cli.run(['validate', '--root', root, '--json']);
    assert.equal(run.stdout, own.stdout);
    assert.match(
      run.stderr,
      /the background process was started by another build of manage-apps and is stopping; running the command in this process/,
    );
    for (let i = 0; i < 100 && alive(pid!); i++) await sleep(50);
    assert.ok(!alive(pid!), 'the process of the old build ended');
    assert.equal((await status(cli)).running, false);
  });

  test("a socket directory that is not the user's own, mode 0700: not used (said once), and not started in", async () => {
    const runtime = runtimeDir('unsafe');
    const cli = cliOf(runtime);
    const { socket } = await startDaemon(cli);
    const directory = join(runtime, 'manage-apps');
    const root = join(repo, 'examples', 'fleet');
    chmodSync(directory, 0o755);
    const open = await cli.run(['validate', '--root', root, '--json']);
    assert.equal(open.status, 0);
    assert.match(open.stderr, /not using the background process: .*manage-apps has mode 755, not 700; running the command in this process/);
    chmodSync(directory, 0o700);
    await cli.run(['daemon', 'stop']);
    assert.ok(!existsSync(socket));
    // A link put where the directory goes.
    const elsewhere = join(work, 'elsewhere');
    mkdirSync(elsewhere, { mode: 0o700 });
    rmSync(directory, { recursive: true });
    symlinkSync(elsewhere, directory);
    const refused = await cli.run(['daemon', 'start', '--json']);
    assert.equal(refused.status, 2);
    assert.match(refused.stderr, /manage-apps: .*manage-apps is a symbolic link/);
    assert.doesNotMatch(refused.stderr, /\n\s+at /);
    writeFileSync(join(elsewhere, socket.split('/').pop()!), '');
    const linked = await cli.run(['validate', '--root', root, '--json']);
    assert.equal(linked.status, 0);
    assert.match(linked.stderr, /not using the background process: .*is a symbolic link/);
  });

  test('a full disk: the process does not start (said plainly, exit 2) and commands run here; one running keeps serving', async (t) => {
    // A small tmpfs of the test's own, filled up: no block and no inode left.
    const full = join(work, 'full');
    mkdirSync(full, { mode: 0o700 });
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=256k,nr_inodes=32,mode=0700', 'tmpfs', full], { encoding: 'utf8' });
    if (mounted.status !== 0) {
      t.skip(`cannot mount a tmpfs here: ${mounted.stderr.trim()}`);
      return;
    }
    const cli = cliOf(full);
    try {
      const root = join(repo, 'examples', 'fleet');
      const own = await cli.run(['validate', '--root', root, '--json'], inProcess);
      // A process started while there was room, then the disk filled.
      const { pid } = await startDaemon(cli);
      const fill = () =>
        spawnSync('sh', [
          '-c',
          `cat /dev/zero > ${join(full, 'filler')} 2>/dev/null; i=0; while : > ${join(full, 'inode')}-$i 2>/dev/null; do i=$((i + 1)); done; true`,
        ]);
      fill();
      const served = await sameBothWays(cli, ['validate', '--root', root, '--json']);
      assert.equal(served.stdout, own.stdout);
      assert.ok(alive(pid!));
      const stopped = await cli.run(['daemon', 'stop', '--json']);
      assert.equal(json<{ stopped: boolean }>(stopped).stopped, true);
      // Starting on the full disk: the socket cannot be made.
      rmSync(join(full, 'manage-apps'), { recursive: true, force: true });
      fill();
      const refused = await cli.run(['daemon', 'start', '--json']);
      assert.equal(refused.status, 2, refused.stdout);
      assert.match(refused.stderr, /^manage-apps: .*(ENOSPC|no space)/im);
      assert.doesNotMatch(refused.stderr, /\n\s+at /);
      const here = await cli.run(['validate', '--root', root, '--json']);
      assert.equal(here.stdout, own.stdout);
      assert.equal(here.stderr, '');
    } finally {
      await cli.run(['daemon', 'stop']);
      spawnSync('umount', [full]);
    }
  });

  test('an idle process ends by itself and removes its socket', async () => {
    const cli = cliOf(runtimeDir('idle'));
    const { pid, socket } = await startDaemon(cli, ['--idle', '2s']);
    for (let i = 0; i < 100 && alive(pid!); i++) await sleep(100);
    assert.ok(!alive(pid!));
    assert.ok(!existsSync(socket));
    const log = readFileSync(socket.replace(/\.sock$/, '.log'), 'utf8');
    assert.match(log, /ends: idle for 2 s \(0 requests served\)/);
    const bad = await cli.run(['daemon', 'start', '--idle', 'soon']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--idle soon: not a duration/);
  });
});

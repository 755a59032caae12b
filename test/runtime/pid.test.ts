// PID mode on this machine: start in the background with a pid file and a log file, status
// from the pid and the loopback health check, stop by signal with a grace period then SIGKILL,
// stale pid files detected. Real processes, real sh, real HTTP.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer, type Server as NetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { packageRoot } from '../../src/package-root.js';
import { hostStatusScript, parseHostStatus, type HostStatusInput } from '../../src/runtime/host-status-script.js';
import { pid, pidDiagnosisScript, pidGateScript, pidStartScript, pidStopScript } from '../../src/runtime/pid.js';
import { parseDiagnosis, parseGate, records } from '../../src/runtime/shell.js';
import type { RuntimeService } from '../../src/runtime/types.js';
import { LocalTransport } from '../../src/transport/local.js';
import { sh, type Shell } from '../../src/transport/quote.js';

let dir = '';
let state: Shell;
const local = new LocalTransport('laptop');
const app = join(packageRoot(), 'examples/fleet/apps/tiny-http.mjs');

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

async function service(id: string, command: string, env: Record<string, string> = {}): Promise<RuntimeService> {
  const port = await freePort();
  return { id, key: id, port, readiness: '/readyz', liveness: '/livez', command, workdir: dir, env: { PORT: String(port), ...env } };
}

async function run(script: string) {
  const r = await local.script(script, { timeoutMs: 30_000 });
  assert.equal(r.unreachable, undefined);
  return r;
}

async function status(s: RuntimeService) {
  const input: HostStatusInput = { groups: [{ runtime: pid, services: [{ ...s, state }] }] };
  return parseHostStatus(input, (await run(hostStatusScript(input))).stdout).services[0]!;
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'manage-apps-pid-'));
  state = sh`${join(dir, 'state')}`;
});
const started: RuntimeService[] = [];
after(async () => {
  // Whatever a failing test left running.
  for (const s of started) await local.script(pidStopScript(state, s, 1), { timeoutMs: 30_000 });
  await rm(dir, { recursive: true, force: true });
});

test('start, status healthy, start again is a no-op, stop, status stopped', async () => {
  const s = await service('web', `node ${app}`);
  const start = records((await run(pidStartScript(state, s))).stdout).find((r) => r[0] === 'start');
  assert.equal(start?.[1], 'started');
  const pid = Number(start?.[2]);
  assert.equal(parseGate((await run(pidGateScript(state, s, 10_000))).stdout).outcome, 'ready');
  const st = await status(s);
  assert.equal(st.state?.active, 'active');
  assert.equal(st.state?.pid, pid, 'the pid is the app itself (exec), so signals reach it');
  assert.deepEqual([st.health?.readiness.status, st.health?.liveness.status], [200, 200]);
  const again = records((await run(pidStartScript(state, s))).stdout).find((r) => r[0] === 'start');
  assert.deepEqual(again?.slice(1), ['already', String(pid)]);
  const stop = records((await run(pidStopScript(state, s, 5))).stdout).find((r) => r[0] === 'stop');
  assert.deepEqual(stop?.slice(1), ['stopped', String(pid)]);
  const after = await status(s);
  assert.equal(after.state?.active, 'inactive');
  assert.equal(after.health?.readiness.status, 0);
  const log = await readFile(join(dir, 'state', 'web.log'), 'utf8');
  assert.match(log, /listening on http:\/\/127\.0\.0\.1/);
  assert.match(log, /manage-apps stop \(stopped\)/);
});

test('a process that ignores SIGTERM is killed after the grace period, with its whole process group', async () => {
  // The child says when its SIGTERM handler is in place: on a loaded machine node can take
  // longer than any fixed pause to get there, and a TERM before it would end it normally.
  const armed = join(dir, 'stubborn.armed');
  await writeFile(
    join(dir, 'stubborn.sh'),
    `trap '' TERM\nnode -e "process.on('SIGTERM',()=>{});require('fs').writeFileSync(process.argv[1],'');setInterval(()=>{},1000)" ${armed} &\nwait\n`,
  );
  const s = await service('stubborn', 'sh stubborn.sh');
  const start = records((await run(pidStartScript(state, s))).stdout).find((r) => r[0] === 'start');
  const pid = Number(start?.[2]);
  for (let i = 0; i < 200 && !existsSync(armed); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(existsSync(armed), 'the stubborn child installed its SIGTERM handler');
  const t0 = Date.now();
  const stop = records((await run(pidStopScript(state, s, 1))).stdout).find((r) => r[0] === 'stop');
  assert.equal(stop?.[1], 'killed');
  assert.ok(Date.now() - t0 >= 900, 'waited for the grace period first');
  // Killed processes are reaped by init a moment later.
  const gone = (target: number) => {
    try {
      process.kill(target, 0);
      return false;
    } catch {
      return true;
    }
  };
  for (let i = 0; i < 40 && !(gone(pid) && gone(-pid)); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(gone(pid), 'the leader is gone');
  assert.ok(gone(-pid), 'and so is every process of its group');
});

test('a stale pid file (the process died) reads as stale, and start replaces it', async () => {
  const s = await service('crashy', `node ${app}`);
  const start = records((await run(pidStartScript(state, s))).stdout).find((r) => r[0] === 'start');
  assert.equal(parseGate((await run(pidGateScript(state, s, 10_000))).stdout).outcome, 'ready');
  process.kill(Number(start?.[2]), 'SIGKILL');
  await new Promise((r) => setTimeout(r, 200));
  const st = await status(s);
  assert.equal(st.state?.sub, 'stale-pid-file');
  const restart = records((await run(pidStartScript(state, s))).stdout);
  assert.ok(
    restart.some((r) => r[0] === 'stale'),
    'start says it removed a stale pid file',
  );
  assert.equal(restart.find((r) => r[0] === 'start')?.[1], 'started');
  await run(pidStopScript(state, s, 5));
});

test('a pid file naming a recycled pid (another process) is stale, not "running"', async () => {
  const s = await service('recycled', `node ${app}`);
  // This test process's own pid, with a start time that is not its own.
  await writeFile(join(dir, 'state', 'recycled.pid'), `${process.pid}\n1700000000\nMon Jan  1 00:00:00 2001\n`);
  assert.equal((await status(s)).state?.sub, 'stale-pid-file');
});

test('the gate fails fast when the process dies on start, and names its log', async () => {
  const s = await service('dies', `node -e "console.error('boom'); process.exit(3)"`);
  await run(pidStartScript(state, s));
  const t0 = Date.now();
  const gate = parseGate((await local.script(pidGateScript(state, s, 20_000), { timeoutMs: 30_000 })).stdout);
  assert.equal(gate.outcome, 'crashed');
  assert.match(gate.detail, /dies\.log/);
  assert.ok(Date.now() - t0 < 5000, 'did not wait for the whole timeout');
  assert.match(await readFile(join(dir, 'state', 'dies.log'), 'utf8'), /boom/);
});

test('the gate times out on a service that never becomes ready', async () => {
  const s = await service('slow', `node ${app}`, { READY_AFTER_MS: '60000' });
  await run(pidStartScript(state, s));
  const gate = parseGate((await run(pidGateScript(state, s, 1500))).stdout);
  assert.deepEqual([gate.outcome, gate.detail], ['timeout', '503']);
  await run(pidStopScript(state, s, 5));
});

async function listen<T extends Server | NetServer>(server: T, port: number): Promise<T> {
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return server;
}
const close = (server: Server | NetServer) => new Promise((resolve) => server.close(resolve));
async function startRecord(s: RuntimeService) {
  started.push(s);
  return records((await run(pidStartScript(state, s))).stdout).find((r) => r[0] === 'start');
}

test('start refuses when another process already listens on the port (HTTP or not), and starts nothing', async () => {
  const s = await service('taken', `node ${app}`);
  // An HTTP server that would answer the readiness probe with 200 for the new process.
  const http = await listen(
    createHttpServer((_req, res) => res.end('someone else')),
    s.port!,
  );
  try {
    const start = await startRecord(s);
    assert.equal(start?.[1], 'failed');
    // The holder's pid is named where lsof is installed.
    assert.match(
      start?.[2] ?? '',
      new RegExp(`^port ${s.port} is already in use: another process( \\(pid ${process.pid}: node\\))? listens on 127\\.0\\.0\\.1:${s.port}; `),
    );
    assert.equal((await status(s)).state?.load, 'no-pid-file', 'nothing was started');
  } finally {
    await close(http);
  }
  // A listener that never speaks HTTP counts too.
  const silent = await listen(
    createServer(() => {}),
    s.port!,
  );
  try {
    assert.equal((await startRecord(s))?.[1], 'failed');
  } finally {
    silent.close();
  }
  // And once the port is free, it starts.
  assert.equal((await startRecord(s))?.[1], 'started');
  assert.equal(parseGate((await run(pidGateScript(state, s, 10_000))).stdout).outcome, 'ready');
  await run(pidStopScript(state, s, 5));
});

test('the gate does not take a readiness answer for ours when our process has exited meanwhile', async () => {
  // The process lives 0.5 s; the port is answered (slowly, by someone else) after it exited.
  const s = await service('gone', 'sleep 0.5');
  await startRecord(s);
  const http = await listen(
    createHttpServer((_req, res) => setTimeout(() => res.end('ok'), 1200)),
    s.port!,
  );
  try {
    const gate = parseGate((await run(pidGateScript(state, s, 10_000))).stdout);
    assert.equal(gate.outcome, 'crashed');
    assert.match(gate.detail, new RegExp(`port ${s.port} answered, but the process exited`));
  } finally {
    http.closeAllConnections();
    await close(http);
  }
});

test('a command with NAME=value assignments and quotes runs as sh would run it, and its pid is the program', async () => {
  const s = await service('assign', `READY_AFTER_MS=300 NAME='my app' node ${app}`);
  const start = await startRecord(s);
  assert.equal(start?.[1], 'started', JSON.stringify(start));
  const t0 = Date.now();
  assert.equal(parseGate((await run(pidGateScript(state, s, 10_000))).stdout).outcome, 'ready');
  assert.ok(Date.now() - t0 >= 200, 'READY_AFTER_MS reached the program');
  const st = await status(s);
  assert.equal(st.state?.pid, Number(start?.[2]), 'the pid file names the program itself');
  assert.match(await readFile(join(dir, 'state', 'assign.log'), 'utf8'), /^my app listening on/m);
  const stop = records((await run(pidStopScript(state, s, 5))).stdout).find((r) => r[0] === 'stop');
  assert.equal(stop?.[1], 'stopped', 'SIGTERM reached it');
});

test('a worker (no port) is ready only when it still runs a second later', async () => {
  const quitter = await service('quitter', `node -e "setTimeout(() => {}, 700)"`);
  delete quitter.port;
  await startRecord(quitter);
  const gate = parseGate((await run(pidGateScript(state, quitter, 10_000))).stdout);
  assert.equal(gate.outcome, 'crashed', 'exited after 0.7 s: not a steady worker');
  const steady = await service('steady', `node -e "setInterval(() => {}, 1000)"`);
  delete steady.port;
  await startRecord(steady);
  const t0 = Date.now();
  assert.equal(parseGate((await run(pidGateScript(state, steady, 10_000))).stdout).outcome, 'ready');
  assert.ok(Date.now() - t0 >= 1000, 'waited a second');
  await run(pidStopScript(state, steady, 5));
});

test("the diagnosis shows only the log lines this start wrote, not earlier runs' errors", async () => {
  const s = await service('twice', `node -e "console.error('old failure'); process.exit(1)"`);
  await startRecord(s);
  await run(pidGateScript(state, s, 5000));
  s.command = `node -e "console.error('new failure'); process.exit(1)"`;
  const start = await startRecord(s);
  assert.match(start?.[3] ?? '', /^\d+$/, 'start names the log offset');
  assert.equal(parseGate((await run(pidGateScript(state, s, 5000))).stdout).outcome, 'crashed');
  const journal = parseDiagnosis((await run(pidDiagnosisScript(state, s, 20, Number(start?.[3])))).stdout).journal.join('\n');
  assert.match(journal, /new failure/);
  assert.doesNotMatch(journal, /old failure/);
  assert.match(journal, /^=== .* manage-apps start: /, "starts with this start's own line");
  // Without an offset (or with one past a truncated log): the log's tail.
  const all = parseDiagnosis((await run(pidDiagnosisScript(state, s, 20))).stdout).journal.join('\n');
  assert.match(all, /old failure[\s\S]*new failure/);
  const past = parseDiagnosis((await run(pidDiagnosisScript(state, s, 20, 1e9))).stdout).journal.join('\n');
  assert.match(past, /old failure[\s\S]*new failure/);
});

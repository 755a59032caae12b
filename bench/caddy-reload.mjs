#!/usr/bin/env node
/**
 * Measurement (not a test): does a Caddy config reload reset new connections, with and without
 * `net.ipv4.tcp_migrate_req` (src/hosts/edge-kernel.ts says why manage-apps sets it on edges)?
 *
 *   sudo node bench/caddy-reload.mjs [--rounds 3] [--reloads 400] [--clients 24]
 *
 * Runs in a network namespace of its own (`unshare --net`, as root): the machine's own setting is
 * never touched. In it, a Caddy serves one TLS site (its internal CA) with its admin API on a unix
 * socket; `--clients` loops open a new TLS connection per request (Connection: close) while the
 * config is loaded `--reloads` times through `POST /load`, alternating between two configs. Each
 * round runs once with the setting off and once with it on (in turn, so a change in the machine's
 * load falls on both) and prints the requests sent and the ones that failed, by error. The resets
 * show most on a busy machine; a quiet one may show none either way. Exits 2 when it cannot run.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    reloads: { type: 'string', default: '400' },
    clients: { type: 'string', default: '24' },
    inside: { type: 'boolean', default: false },
  },
});
const MIGRATE = '/proc/sys/net/ipv4/tcp_migrate_req';

if (!args.inside) {
  if (process.getuid?.() !== 0) {
    console.error('caddy-reload: run as root (it makes a network namespace of its own)');
    process.exit(2);
  }
  const r = spawnSync('unshare', ['--net', '--', process.execPath, ...process.argv.slice(1), '--inside'], { stdio: 'inherit' });
  process.exit(r.status ?? 2);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const dir = mkdtempSync(join(os.tmpdir(), 'caddy-reload-'));
const sock = join(dir, 'admin.sock');
const port = 18444;
const name = 'reload.internal';
const caddyfile = (body) =>
  `{\n admin unix/${sock}\n skip_install_trust\n storage file_system ${dir}/data\n}\nhttps://${name}:${port} {\n tls internal\n respond "${body}"\n}\n`;
let caddy;
try {
  execFileSync('ip', ['link', 'set', 'lo', 'up']);
  const configs = ['A', 'B'].map((body, i) => {
    writeFileSync(join(dir, `C${i}`), caddyfile(body));
    return execFileSync('caddy', ['adapt', '--config', join(dir, `C${i}`), '--adapter', 'caddyfile'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    }).toString();
  });
  writeFileSync(join(dir, 'c0.json'), configs[0]);
  caddy = spawn('caddy', ['run', '--config', join(dir, 'c0.json')], {
    stdio: 'ignore',
    env: { ...process.env, HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir },
  });
  // Asynchronous: the clients keep opening connections while a reload is under way.
  const load = (i) =>
    new Promise((resolve) => {
      const c = spawn(
        'curl',
        ['-fsS', '--unix-socket', sock, '-H', 'Host: ', '-H', 'content-type: application/json', '--data-binary', '@-', 'http://localhost/load'],
        {
          stdio: ['pipe', 'ignore', 'ignore'],
        },
      );
      c.on('close', (code) => resolve(code === 0));
      c.stdin.end(configs[i % 2]);
    });
  const get = () =>
    new Promise((resolve) => {
      const req = https.get(
        { host: '127.0.0.1', port, servername: name, rejectUnauthorized: false, agent: false, headers: { host: name, connection: 'close' } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode === 200 ? null : `HTTP ${res.statusCode}`));
        },
      );
      req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
      req.on('error', (e) => resolve(e.code ?? e.message));
    });
  for (let t = 0; (await get()) !== null; t++) {
    if (t > 100) throw new Error('Caddy did not come up');
    await sleep(100);
  }
  const round = async (migrate) => {
    writeFileSync(MIGRATE, migrate ? '1' : '0');
    let running = true;
    let sent = 0;
    const errors = {};
    const client = async () => {
      while (running) {
        sent++;
        const e = await get();
        if (e !== null) errors[e] = (errors[e] ?? 0) + 1;
      }
    };
    const clients = Array.from({ length: Number(args.clients) }, client);
    for (let i = 0; i < Number(args.reloads); i++) {
      if (!(await load(i + 1))) throw new Error('Caddy refused a config');
      await sleep(5);
    }
    running = false;
    await Promise.all(clients);
    const failed = Object.values(errors).reduce((a, b) => a + b, 0);
    return { migrate, sent, failed, errors };
  };
  const totals = { 0: { runs: 0, sent: 0, failed: 0 }, 1: { runs: 0, sent: 0, failed: 0 } };
  console.log(`caddy ${execFileSync('caddy', ['version']).toString().trim()}, ${os.cpus().length} CPUs, load ${os.loadavg()[0].toFixed(1)}`);
  for (let r = 0; r < Number(args.rounds); r++) {
    for (const migrate of [0, 1]) {
      const x = await round(migrate);
      const t = totals[migrate];
      t.runs++;
      t.sent += x.sent;
      t.failed += x.failed;
      console.log(`  round ${r + 1}, tcp_migrate_req=${migrate}: ${x.sent} requests, ${x.failed} failed ${JSON.stringify(x.errors)}`);
    }
  }
  for (const m of [0, 1])
    console.log(
      `tcp_migrate_req=${m}: ${totals[m].failed} failed of ${totals[m].sent} requests in ${totals[m].runs} runs of ${args.reloads} reloads`,
    );
} catch (e) {
  console.error(`caddy-reload: ${e.message}`);
  process.exitCode = 2;
} finally {
  caddy?.kill();
  rmSync(dir, { recursive: true, force: true });
}

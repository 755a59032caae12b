// The loopback health probes every status, gate and PID-mode script runs on a host, against a
// real HTTP server, with each HTTP client the prelude may find there: curl (all probes in one
// process), else python3, else bash's /dev/tcp. Real sh (dash on Debian), real clients.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { BASE_PRELUDE, parseProbes, probePart } from '../../src/runtime/shell.js';
import type { RuntimeService } from '../../src/runtime/types.js';

let server: Server;
let port = 0;
let closedPort = 0;
let work = '';

before(async () => {
  server = createServer((req, res) => {
    const answers: Record<string, number> = { '/readyz': 200, '/livez': 200, '/warming': 503, '/x?y=1': 204 };
    res.writeHead(answers[req.url ?? ''] ?? 404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;
  // A port nothing listens on: bound, then released.
  closedPort = await new Promise<number>((resolve) => {
    const probe = createNetServer().listen(0, '127.0.0.1', () => {
      const p = (probe.address() as { port: number }).port;
      probe.close(() => resolve(p));
    });
  });
  work = mkdtempSync(join(tmpdir(), 'manage-apps-probe-'));
});

after(async () => {
  await new Promise((resolve) => server.close(resolve));
  rmSync(work, { recursive: true, force: true });
});

// The system's tools, not a developer's shims (pyenv's python3 is a script that needs pyenv).
const which = (tool: string): string | undefined => {
  const r = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } });
  return r.status === 0 ? r.stdout.trim() : undefined;
};

/** A PATH holding only these tools (what a bare host would have), so the prelude's choice is forced. */
function pathWith(name: string, tools: string[]): string {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  for (const tool of tools) {
    const at = which(tool);
    if (at === undefined) throw new Error(`${tool} is not installed on this machine`);
    symlinkSync(at, join(dir, tool));
  }
  return dir;
}

function services(): RuntimeService[] {
  return [
    { id: 'api', key: 'api', port, readiness: '/readyz', liveness: '/livez' },
    { id: 'slow', key: 'slow', port, readiness: '/warming', liveness: '/x?y=1' },
    { id: 'gone', key: 'gone', port: closedPort, readiness: '/readyz', liveness: '/livez' },
  ];
}

/** Runs the probe part of a status script with sh (asynchronously: the server lives in this process). */
async function probe(path: string, cwd = work): Promise<Map<string, number>> {
  const script = `${BASE_PRELUDE}\n${probePart(services())}\n`;
  const child = spawn('/bin/sh', ['-s'], { cwd, env: { PATH: path, HOME: work }, timeout: 20_000 });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c) => (stdout += c));
  child.stderr.on('data', (c) => (stderr += c));
  child.stdin.end(script);
  const code = await new Promise((resolve) => child.on('close', resolve));
  assert.equal(code, 0, stderr);
  return parseProbes(stdout.split('@@begin\tprobes\n')[1]?.split('@@end')[0]);
}

const expected = (): Array<[string, number]> => [
  [`${port} /readyz`, 200],
  [`${port} /livez`, 200],
  [`${port} /warming`, 503],
  [`${port} /x?y=1`, 204],
  [`${closedPort} /readyz`, 0],
  [`${closedPort} /livez`, 0],
];

const sorted = (m: Map<string, number>) => [...m].sort(([a], [b]) => a.localeCompare(b));

test('with curl: every probe in one process, each answer (or none) attributed to its port and path', async () => {
  const path = pathWith('curl', ['curl']);
  assert.deepEqual(sorted(await probe(path)), sorted(new Map(expected())));
});

test('a path with a glob character is sent as written, even where a file would match it', async () => {
  // The unquoted URL list would expand to this file without `set -f`.
  const cwd = join(work, 'glob');
  mkdirSync(join(cwd, 'http:', `127.0.0.1:${port}`), { recursive: true });
  writeFileSync(join(cwd, 'http:', `127.0.0.1:${port}`, 'xzy=1'), '');
  const path = pathWith('curl-glob', ['curl']);
  assert.equal((await probe(path, cwd)).get(`${port} /x?y=1`), 204);
});

test('without curl, python3 probes one by one', { skip: which('python3') === undefined && 'python3 is not installed' }, async () => {
  const path = pathWith('python', ['python3']);
  assert.deepEqual(sorted(await probe(path)), sorted(new Map(expected())));
});

test('without curl or python3, bash /dev/tcp probes one by one', async () => {
  const path = pathWith('bash', ['bash', 'timeout', 'head', 'cut']);
  assert.deepEqual(sorted(await probe(path)), sorted(new Map(expected())));
});

test('with no HTTP client at all, every probe reads as no answer rather than failing the script', async () => {
  const path = pathWith('none', []);
  assert.deepEqual(sorted(await probe(path)), sorted(new Map(expected().map(([k]) => [k, 0]))));
});

// An edge that serves HTTPS (Caddy on 443) is probed the way clients reach it: TLS to its loopback
// with a name it serves as SNI and Host. A real TLS server with a self-signed certificate (what
// Caddy's internal CA looks like to a client that does not trust it) that refuses other names.
test(
  'an HTTPS edge is probed over TLS with the name it serves; any answer is alive, a refused name or a plain-HTTP probe is not',
  { skip: which('openssl') === undefined && 'openssl is not installed' },
  async () => {
    const { createServer: createHttps } = await import('node:https');
    const { createSecureContext } = await import('node:tls');
    const { healthOf } = await import('../../src/runtime/shell.js');
    const dir = join(work, 'tls');
    mkdirSync(dir, { recursive: true });
    const made = spawnSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=shop.internal',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { encoding: 'utf8' },
    );
    assert.equal(made.status, 0, made.stderr);
    const { readFileSync } = await import('node:fs');
    const context = createSecureContext({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) });
    const hosts: string[] = [];
    // Like Caddy: a handshake for a name it has no site for fails.
    const tls = createHttps(
      { SNICallback: (name, cb) => (name === 'shop.internal' ? cb(null, context) : cb(new Error(`no certificate for ${name}`))) },
      (req, res) => {
        hosts.push(req.headers.host ?? '');
        res.writeHead(req.url === '/readyz' ? 502 : 200).end();
      },
    );
    await new Promise<void>((resolve) => tls.listen(0, '127.0.0.1', resolve));
    const tlsPort = (tls.address() as { port: number }).port;
    try {
      const edge = (name: string): RuntimeService => ({ id: 'edge', key: 'edge', port: tlsPort, readiness: '/readyz', liveness: '/', tls: { name } });
      const run = async (path: string, list: RuntimeService[]) => {
        const child = spawn('/bin/sh', ['-s'], { cwd: work, env: { PATH: path, HOME: work }, timeout: 20_000 });
        let stdout = '';
        child.stdout.on('data', (c) => (stdout += c));
        child.stdin.end(`${BASE_PRELUDE}\n${probePart(list)}\n`);
        await new Promise((resolve) => child.on('close', resolve));
        return parseProbes(stdout.split('@@begin\tprobes\n')[1]?.split('@@end')[0]);
      };
      for (const [label, path] of [
        ['curl', pathWith('tls-curl', ['curl'])],
        ...(which('python3') === undefined ? [] : [['python3', pathWith('tls-python', ['python3'])]]),
      ] as const) {
        const probes = await run(path, [edge('shop.internal')]);
        assert.deepEqual(
          sorted(probes),
          sorted(
            new Map([
              [`${tlsPort} /readyz`, 502],
              [`${tlsPort} /`, 200],
            ]),
          ),
          label,
        );
        const health = healthOf(edge('shop.internal'), probes)!;
        assert.ok(health.readiness.ok && health.liveness.ok, `${label}: an edge that answers over TLS is alive, whatever its site answered`);
        const refused = await run(path, [edge('other.internal')]);
        assert.equal(refused.get(`${tlsPort} /readyz`), 0, `${label}: a name the edge has no certificate for`);
        assert.equal(healthOf(edge('other.internal'), refused)!.readiness.ok, false);
      }
      assert.ok(
        hosts.length > 0 && hosts.every((h) => h === `shop.internal:${tlsPort}` || h === 'shop.internal'),
        `Host headers: ${hosts.join(', ')}`,
      );
      // What status did before: plain HTTP on the TLS port gets no HTTP answer (Caddy answers 400).
      const plain = await run(pathWith('tls-plain', ['curl']), [{ id: 'edge', key: 'edge', port: tlsPort, readiness: '/readyz', liveness: '/' }]);
      assert.equal(plain.get(`${tlsPort} /readyz`), 0);
    } finally {
      await new Promise((resolve) => tls.close(resolve));
    }
  },
);

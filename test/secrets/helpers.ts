// What the secrets tests on real hosts share: the app that answers a hash of what it read, a pass
// store with a GPG key made here, and the ps sampler that looks for values in any process's argv.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { TestFleet } from '../harness/test-fleet.js';

/** The app: reads its secrets (credentials or env), answers their hash; not ready when SHARED starts with "bad". */
export const SECRET_APP = `import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
const names = process.env.SECRET_NAMES.split(',');
const read = (n) => process.env.CREDENTIALS_DIRECTORY && !process.env[n] ? readFileSync(process.env.CREDENTIALS_DIRECTORY + '/' + n, 'utf8') : (process.env[n] ?? '');
const values = names.map(read);
const hash = createHash('sha256').update(values.join('\\n')).digest('hex');
const bad = values[0].startsWith('bad');
const server = createServer((req, res) => {
  if (req.url === '/readyz') { res.writeHead(bad ? 503 : 200); res.end(bad ? 'rejected key\\n' : 'ready\\n'); return; }
  if (req.url === '/livez') { res.writeHead(200); res.end('alive\\n'); return; }
  if (req.url === '/secret-hash') { res.writeHead(200); res.end(hash + '\\n'); return; }
  res.writeHead(200); res.end('ok\\n');
});
// START_DELAY_MS: it listens that long after it read its values (a gate long enough to fault inside).
setTimeout(() => server.listen(Number(process.env.PORT)), Number(process.env.START_DELAY_MS ?? 0));
`;

export const hashOf = (...values: string[]) => createHash('sha256').update(values.join('\n')).digest('hex');
export const newValue = (tag: string) => `${tag}-${randomBytes(18).toString('base64url')}`;

/** A pass store in a temporary GNUPGHOME with a key made here, without a passphrase. */
export function makePassStore(dir: string): NodeJS.ProcessEnv {
  const env = { ...process.env, GNUPGHOME: join(dir, 'gnupg'), PASSWORD_STORE_DIR: join(dir, 'store') };
  mkdirSync(env.GNUPGHOME!, { mode: 0o700 });
  execFileSync(
    'gpg',
    [
      '--batch',
      '--pinentry-mode',
      'loopback',
      '--passphrase',
      '',
      '--quick-gen-key',
      'manage-apps test <test@example.invalid>',
      'default',
      'default',
      'never',
    ],
    { env, stdio: 'ignore' },
  );
  const fpr = execFileSync('gpg', ['--batch', '--with-colons', '--list-keys'], { env, encoding: 'utf8' })
    .split('\n')
    .find((l) => l.startsWith('fpr:'))!
    .split(':')[9]!;
  execFileSync('pass', ['init', fpr], { env, stdio: 'ignore' });
  return env;
}

export function passInsert(env: NodeJS.ProcessEnv, entry: string, value: string): void {
  // The value on stdin: the test never puts one in an argument either.
  execFileSync('pass', ['insert', '-m', '-f', entry], { env, input: `${value}\n`, stdio: ['pipe', 'ignore', 'ignore'] });
}

/** Samples every process's argv here and on the hosts until stopped; returns what it saw. */
export function sampleArgv(fleet: TestFleet, hosts: readonly string[]): { stop: () => Promise<string[]> } {
  const seen: string[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        seen.push(execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }));
      } catch {
        // a ps racing an exiting process
      }
      for (const h of hosts) seen.push((await fleet.ssh(h, 'ps -eo args', { timeoutMs: 5000 })).stdout);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return seen;
    },
  };
}

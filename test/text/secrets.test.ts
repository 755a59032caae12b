// Issue 11 item 2: secret detection is linear. Each shape below made a pattern of the old
// detector retry at every character of one long run (quadratic: ~10 s for 50,000 characters,
// no end for 200,000); the test's deadline fails it if that comes back. Figures: bench/secrets.mjs.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkRules } from '../../src/checks/rules.js';
import { buildFleet } from '../../src/fleet/build.js';
import { parseInventory } from '../../src/inventory/load.js';
import { parseManifest } from '../../src/manifest/load.js';
import { looksLikeSecret } from '../../src/text/secrets.js';

const MB = 1_000_000;
const SHAPES: Record<string, string> = {
  letters: 'a'.repeat(MB),
  'letters and digits': 'x9'.repeat(MB / 2),
  'scheme-like runs': 'a://b:'.repeat(MB / 6),
  'JWT-like runs': '-eyJ'.repeat(MB / 4),
};

test('a 1 MB line validates (every shape that was quadratic), and is not taken for a secret', { timeout: 60_000 }, () => {
  const inventory = parseInventory(
    '/x/mesh-hosts.json',
    'mesh-hosts.json',
    JSON.stringify({ version: 1, hosts: { core: { provider: 'bare-metal', role: 'production' } } }),
  );
  for (const [shape, value] of Object.entries(SHAPES)) {
    assert.equal(looksLikeSecret(value), false, shape);
    const loaded = parseManifest(
      { path: '/x/p/.infra.yaml', file: 'p/.infra.yaml', fileEnvironment: 'prod' },
      `apiVersion: infra/v2\nproject: p\nprovider: bare-metal\nowner: "${value}"\n`,
    );
    assert.equal(loaded.valid, true, shape);
    assert.deepEqual(checkRules(buildFleet('/x', [loaded], inventory), [loaded], inventory), [], shape);
  }
});

test('the linear detector finds what the patterns found: URLs with a password, JWTs', () => {
  for (const yes of [
    'postgres://app:hunter2@db.internal:5432/app',
    'DATABASE_URL=redis://default:s3cr3t@cache:6379',
    'see 1http://u:p@host (a scheme after digits)',
    'Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U',
  ])
    assert.equal(looksLikeSecret(yes), true, yes);
  for (const no of [
    'https://example.com/a:b@c',
    'ssh://git@github.com/x.git',
    'mailto:someone@example.com',
    '://u:p@h (no scheme)',
    'http://:p@h (no user)',
    'http://u:@h (no password)',
  ]) {
    assert.equal(looksLikeSecret(no), false, no);
  }
});

#!/usr/bin/env node
/**
 * Benchmark (not a test): secret detection and manifest validation on one very long line.
 *
 *   npm run build && node bench/secrets.mjs [--reps 5]
 *
 * For each shape of 1,000,000-character value (adversarial for the old URL-with-password and
 * JWT patterns: a run of letters, "x9x9…", "a://b:a://b:…", "-eyJ-eyJ…", and plain text with
 * spaces), it times `looksLikeSecret` on the value and `parseManifest` + `checkRules` on a
 * manifest holding it in one line, against the floor of the same work on a 100,000-character
 * value. The lengths differ 10×: linear work shows ratios near 10, quadratic near 100.
 * Prints medians in ms; never fails on timing.
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const dist = join(fileURLToPath(new URL('..', import.meta.url)), 'dist');
const { looksLikeSecret } = await import(join(dist, 'text/secrets.js'));
const { parseManifest } = await import(join(dist, 'manifest/load.js'));
const { parseInventory } = await import(join(dist, 'inventory/load.js'));
const { buildFleet } = await import(join(dist, 'fleet/build.js'));
const { checkRules } = await import(join(dist, 'checks/rules.js'));

const { values } = parseArgs({ options: { reps: { type: 'string', default: '5' } } });
const REPS = Number(values.reps);
const LONG = 1_000_000;
const SHORT = 100_000;

const shapes = {
  'letters (aaaa…)': (n) => 'a'.repeat(n),
  'x9x9…': (n) => 'x9'.repeat(n / 2),
  'a://b:a://b:…': (n) => 'a://b:'.repeat(Math.floor(n / 6)),
  '-eyJ-eyJ…': (n) => '-eyJ'.repeat(n / 4),
  'words and spaces': (n) => 'lorem ipsum '.repeat(Math.floor(n / 12)),
};

const inventory = parseInventory(
  '/x/mesh-hosts.json',
  'mesh-hosts.json',
  JSON.stringify({ version: 1, hosts: { core: { provider: 'bare-metal', role: 'production' } } }),
);
const found = { path: '/x/p/.infra.yaml', file: 'p/.infra.yaml', fileEnvironment: 'prod' };
function validateLine(value) {
  const loaded = parseManifest(found, `apiVersion: infra/v2\nproject: p\nprovider: bare-metal\nowner: "${value}"\n`);
  checkRules(buildFleet('/x', [loaded], inventory), [loaded], inventory);
}

function median(work) {
  const times = [];
  for (let i = 0; i < REPS; i++) {
    const t0 = performance.now();
    work();
    times.push(performance.now() - t0);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
}

console.log(
  `node ${process.version}, ${REPS} reps, medians; line of ${LONG.toLocaleString('en')} characters vs a floor of ${SHORT.toLocaleString('en')}`,
);
console.log(['shape'.padEnd(18), 'looksLikeSecret'.padStart(16), 'ratio'.padStart(7), 'validate line'.padStart(14), 'ratio'.padStart(7)].join(' '));
for (const [name, make] of Object.entries(shapes)) {
  const long = make(LONG);
  const short = make(SHORT);
  const detect = median(() => looksLikeSecret(long));
  const detectFloor = median(() => looksLikeSecret(short));
  const validate = median(() => validateLine(long));
  const validateFloor = median(() => validateLine(short));
  console.log(
    [
      name.padEnd(18),
      `${detect.toFixed(1)} ms`.padStart(16),
      `${Math.round(detect / detectFloor)}×`.padStart(7),
      `${validate.toFixed(1)} ms`.padStart(14),
      `${Math.round(validate / validateFloor)}×`.padStart(7),
    ].join(' '),
  );
}

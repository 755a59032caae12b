// Nothing dead is kept: knip (knip.jsonc) follows the imports from the entry points (src/main.ts,
// the tests, the benches, the scripts) and fails on an export nothing imports, a file nothing
// reaches, a dependency nothing uses, or an import of a package package.json does not list.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { packageRoot } from '../src/package-root.js';

const root = packageRoot();
const knip = join(root, 'node_modules', 'knip', 'bin', 'knip.js');

function runKnip(directory: string): { status: number | null; output: string } {
  assert.ok(existsSync(knip), `${knip} is missing: knip is a devDependency, run npm ci`);
  const r = spawnSync(process.execPath, [knip, '--no-progress', '--directory', directory], { encoding: 'utf8', timeout: 300_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

test('no unused export, file or dependency (knip)', () => {
  const { status, output } = runKnip(root);
  assert.equal(status, 0, `knip found what nothing uses; remove it (or, if something outside the code uses it, say so in knip.jsonc):\n${output}`);
});

test('the check fails on an export nothing imports and a dependency nothing uses', () => {
  // A small project with this repository's knip settings, one dead export and one unused dependency: knip must name both.
  const dir = mkdtempSync(join(tmpdir(), 'manage-apps-knip-'));
  try {
    mkdirSync(join(dir, 'src'));
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'knip-check', type: 'module', dependencies: { 'p-limit': '*' } }));
    writeFileSync(join(dir, 'tsconfig.json'), readFileSync(join(root, 'tsconfig.json'), 'utf8'));
    writeFileSync(join(dir, 'knip.jsonc'), JSON.stringify({ entry: ['src/main.ts'], project: ['src/**/*.ts'], ignoreExportsUsedInFile: true }));
    writeFileSync(join(dir, 'src', 'main.ts'), "import { used } from './words.js';\nconsole.log(used);\n");
    writeFileSync(join(dir, 'src', 'words.ts'), 'export const used = 1;\nexport const deadNameForTheCheck = 2;\n');
    symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
    const { status, output } = runKnip(dir);
    assert.equal(status, 1, output);
    assert.match(output, /deadNameForTheCheck/);
    assert.match(output, /p-limit/);
    assert.doesNotMatch(output, /\bused\b.*words\.ts/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

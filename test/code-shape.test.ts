// The layers the developers' guide asks for, checked on the source: src/manifest reads files and
// knows nothing of the fleet model, the renderers or the cross-file checks built on them; and a
// dependency nothing imports is not listed (issue 11: execa was).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { packageRoot } from '../src/package-root.js';

const src = join(packageRoot(), 'src');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : name.endsWith('.ts') ? [path] : [];
  });
}

/** Module specifiers a file imports: static and dynamic imports, and require() through createRequire. */
function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:from\s+|import\s*\(\s*|require\)?\s*\(\s*|\)\(\s*)'([^']+)'/g)].map((m) => m[1]!);
}

test('src/manifest imports nothing from the fleet model, the renderers or the checks', () => {
  for (const file of sources(join(src, 'manifest'))) {
    for (const spec of imports(file)) assert.doesNotMatch(spec, /^\.\.\/(fleet|render|checks|ops|analysis|cli)\//, `${file} imports ${spec}`);
  }
});

test('every dependency in package.json is imported by src', () => {
  const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  const used = new Set(sources(src).flatMap(imports).map((s) => (s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0]!)));
  for (const name of Object.keys(pkg.dependencies)) assert.ok(used.has(name), `${name} is a dependency that nothing in src imports`);
});

// The layers the developers' guide asks for, checked on the source: src/manifest reads files and
// knows nothing of the fleet model, the renderers or the cross-file checks built on them; no
// file imports itself back through others (no import circles); what differs between runtimes
// is asked of the service's runtime, never by testing its supervisor outside src/runtime; and a
// dependency nothing imports is not listed (issue 11: execa was).
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
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
  const used = new Set(
    sources(src)
      .flatMap(imports)
      .map((s) => (s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0]!)),
  );
  for (const name of Object.keys(pkg.dependencies)) assert.ok(used.has(name), `${name} is a dependency that nothing in src imports`);
});

/** The files of src a file imports (relative specifiers, .js → .ts; type-only imports count too). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sources(src)) {
    const targets = imports(file)
      .filter((spec) => spec.startsWith('.'))
      .map((spec) => resolve(dirname(file), spec.replace(/\.js$/, '.ts')))
      .filter((target) => existsSync(target));
    graph.set(relative(src, file), [...new Set(targets.map((t) => relative(src, t)))]);
  }
  return graph;
}

/**
 * The import circles of a graph: its strongly connected components with more than one file (or a
 * file importing itself), each as one closed path through it, e.g. a → b → a (Tarjan's algorithm).
 */
function importCircles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) components.push(component);
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  // One closed path per component, from its first file (breadth-first back to it, inside the component).
  return components.map((component) => {
    const inside = new Set(component);
    const start = [...component].sort()[0]!;
    const from = new Map<string, string>();
    const queue = [start];
    for (let i = 0; i < queue.length; i++) {
      for (const w of graph.get(queue[i]!) ?? []) {
        if (!inside.has(w)) continue;
        if (w === start) {
          const path = [start];
          for (let at = queue[i]!; at !== start; at = from.get(at)!) path.splice(1, 0, at);
          return [...path, start];
        }
        if (!from.has(w)) {
          from.set(w, queue[i]!);
          queue.push(w);
        }
      }
    }
    return [start, start];
  });
}

test('the circle finder finds circles, and only circles', () => {
  const graph = new Map([
    ['a.ts', ['b.ts']],
    ['b.ts', ['c.ts', 'd.ts']],
    ['c.ts', ['a.ts']],
    ['d.ts', []],
    ['e.ts', ['e.ts']],
    ['f.ts', ['a.ts', 'd.ts']],
  ]);
  assert.deepEqual(importCircles(graph), [
    ['a.ts', 'b.ts', 'c.ts', 'a.ts'],
    ['e.ts', 'e.ts'],
  ]);
  assert.deepEqual(
    importCircles(
      new Map([
        ['x.ts', ['y.ts']],
        ['y.ts', []],
      ]),
    ),
    [],
  );
});

test('no import circles anywhere in src', () => {
  const graph = importGraph();
  assert.ok(graph.size > 100, 'the import graph covers src');
  assert.deepEqual(
    importCircles(graph).map((path) => path.join(' → ')),
    [],
  );
});

test('only src/runtime asks which supervisor a service has; nothing keeps a table per supervisor', () => {
  // Everything that differs between runtimes is asked of the service's runtime (src/runtime/registry.ts).
  const checks = /\bsupervisor\s*[!=]==?|switch\s*\([^)]*\bsupervisor\)/;
  const tables = /Record<\s*Supervisor\b|\[\w+ in Supervisor\]/;
  const found: string[] = [];
  for (const file of sources(src)) {
    const name = relative(src, file);
    readFileSync(file, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        if (!name.startsWith('runtime/') && checks.test(line)) found.push(`${name}:${i + 1}: ${line.trim()}`);
        if (name !== 'runtime/registry.ts' && tables.test(line)) found.push(`${name}:${i + 1}: ${line.trim()}`);
      });
  }
  assert.deepEqual(found, []);
});

/** The folder under src a relative import from `file` lands in ('' for a file directly in src). */
function folderOf(file: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const target = join(file, '..', spec);
  const rel = target.slice(src.length + 1);
  return rel.includes('/') ? rel.split('/')[0]! : '';
}

/**
 * The layers: the front ends (src/cli prints, src/dashboard serves) call the use cases in
 * src/app, which call what lies below (ops, data, analysis, render, fleet, …). Neither front
 * end imports the other (the composition root src/main.ts alone knows both); nothing below the
 * use cases imports them or a front end.
 */
const FRONT_ENDS = ['cli', 'dashboard'];
const ABOVE_THE_USE_CASES = new Set(['app', ...FRONT_ENDS, 'main.ts']);

test('the front ends never import each other', () => {
  for (const [from, to] of [
    ['cli', 'dashboard'],
    ['dashboard', 'cli'],
  ] as const) {
    for (const file of sources(join(src, from))) {
      for (const spec of imports(file)) assert.notEqual(folderOf(file, spec), to, `${file} imports ${spec}: src/${from} must not import src/${to}`);
    }
  }
});

test('src/app and everything below it never import a front end, and nothing below src/app imports it', () => {
  for (const file of sources(src)) {
    const rel = file.slice(src.length + 1);
    const own = rel.includes('/') ? rel.split('/')[0]! : rel;
    if (FRONT_ENDS.includes(own) || own === 'main.ts') continue;
    for (const spec of imports(file)) {
      const to = folderOf(file, spec);
      if (to === undefined) continue;
      assert.ok(!FRONT_ENDS.includes(to), `${file} imports ${spec}: src/${own} must not import a front end`);
      if (own !== 'app')
        assert.ok(!ABOVE_THE_USE_CASES.has(to) && to !== 'main.js', `${file} imports ${spec}: src/${own} lies below the use cases (src/app)`);
    }
  }
});

test('the front ends never load a fleet themselves: only the use cases in src/app do', () => {
  // The CLI parses flags and formats answers, the dashboard serves them; reading the files is a use case's first step.
  for (const end of FRONT_ENDS)
    for (const file of sources(join(src, end))) {
      for (const spec of imports(file)) assert.notEqual(folderOf(file, spec), 'load', `${file} imports ${spec}: call a use case in src/app`);
    }
  assert.equal(folderOf(join(src, 'cli', 'commands', 'render', 'units.ts'), '../../../load/fleet.js'), 'load');
});

test('the layer checks see the imports they check (a front end that imported the other would be caught)', () => {
  // The checks above pass as well when `imports` finds nothing: show that it finds these.
  assert.ok(imports(join(src, 'main.ts')).includes('./dashboard/server.js'));
  assert.equal(folderOf(join(src, 'cli', 'commands', 'ui.ts'), '../../dashboard/server.js'), 'dashboard');
  assert.ok(
    sources(join(src, 'dashboard'))
      .flatMap(imports)
      .some((spec) => spec.includes('/app/')),
  );
});

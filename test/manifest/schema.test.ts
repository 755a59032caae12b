/** The contract: infra/v1 exactly as seed 001 says, infra/v2 a strict superset, problems located. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { parseManifest } from '../../src/manifest/load.js';
import { packageRoot } from '../../src/package-root.js';

const found = (file = 'p/.infra.yaml', env = 'prod') => ({ path: `/x/${file}`, file, fileEnvironment: env });
const parse = (text: string, file?: string, env?: string) => parseManifest(found(file, env), text);

test('infra/v1: unknown keys are located at the key, with a suggestion', () => {
  const m = parse('apiVersion: infra/v1\nproject: api\nprovider: bare-metal\nservice:\n  host: core\n  prot: 3030\n');
  assert.equal(m.problems.length, 1);
  const [p] = m.problems;
  assert.equal(p!.rule, 'schema');
  assert.equal(p!.line, 6);
  assert.equal(p!.column, 3);
  assert.match(p!.message, /unknown key "prot" in service/);
  assert.match(p!.hint!, /did you mean "port"/);
});

test('infra/v1: every problem in the file, not just the first', () => {
  const m = parse(
    'apiVersion: infra/v1\nproject: 12\nenvironment: staging\nprovider: aws\nservice:\n  port: "80"\n  gpu: { mode: always }\nextra: 1\n',
  );
  const lines = m.problems.map((p) => p.line).sort((a, b) => a - b);
  assert.deepEqual(lines, [2, 3, 4, 6, 7, 8]);
  assert.ok(m.problems.some((p) => /environment must be one of dev, prod \(got "staging"\)/.test(p.message)));
  assert.ok(m.problems.some((p) => /service.port must be an integer \(got string "80"\)/.test(p.message)));
});

test('infra/v1: required fields and the droplet name pattern', () => {
  const m = parse('apiVersion: infra/v1\nproject: x\ndroplets:\n  - name: com.uvlava.zz.forge\n    services: []\n  - services: []\n');
  const rules = m.problems.map((p) => `${p.rule}@${p.line}`);
  assert.ok(rules.includes('schema@1'), rules.join()); // provider missing: the document
  assert.ok(rules.includes('droplet_naming@4'), rules.join());
  assert.ok(
    m.problems.some((p) => /missing the required key "name"/.test(p.message)),
    JSON.stringify(m.problems),
  );
});

test('infra/v1 rejects infra/v2 fields; infra/v2 accepts them', () => {
  const body =
    'project: api\nprovider: bare-metal\nservice:\n  host: core\n  command: node server.js\n  kind: app\n  health: { readiness: /ready, timeout: 30s }\n';
  assert.ok(parse(`apiVersion: infra/v1\n${body}`).problems.some((p) => /unknown key "command"/.test(p.message)));
  assert.deepEqual(parse(`apiVersion: infra/v2\n${body}`).problems, []);
});

test('infra/v2: a health path is a URL path (an optional query, no spaces or quotes), located when it is not', () => {
  const body = (path: string) =>
    `apiVersion: infra/v2\nproject: api\nprovider: bare-metal\nservice:\n  host: core\n  port: 3000\n  health:\n    readiness: ${path}\n`;
  assert.deepEqual(parse(body('/healthz?full=1')).problems, []);
  for (const bad of ["'/ready z'", '"/ready\'s"', 'ready', "'/a;$(reboot)'"]) {
    const m = parse(body(bad));
    assert.equal(m.problems.length, 1, bad);
    assert.equal(m.problems[0]!.line, 8, bad);
    assert.equal(m.problems[0]!.column, 16, bad);
  }
});

test('apiVersion missing or unknown is located', () => {
  const missing = parse('project: x\nprovider: local\n');
  assert.equal(missing.problems[0]!.rule, 'api_version');
  const unknown = parse('project: x\napiVersion: infra/v9\nprovider: local\n');
  assert.equal(unknown.problems[0]!.line, 2);
});

test('an apiVersion that names an Object.prototype member is unknown, not a crash (found by fast-check)', () => {
  for (const v of ['valueOf', 'toString', 'constructor', '__proto__', 'hasOwnProperty']) {
    const m = parse(`apiVersion: ${v}\nproject: x\nprovider: local\n`);
    assert.equal(m.problems.length, 1, v);
    assert.equal(m.problems[0]!.rule, 'api_version', v);
    assert.equal(m.problems[0]!.line, 1, v);
  }
});

test('YAML syntax errors are located: bad indentation, duplicate keys, tabs, several documents', () => {
  const cases: [string, number][] = [
    ['apiVersion: infra/v1\nproject: x\nproject: y\nprovider: local\n', 3],
    ['apiVersion: infra/v1\nservice:\n  host: a\n port: 1\n', 4],
    ['apiVersion: infra/v1\nservice:\n\thost: a\n', 3],
    ['apiVersion: infra/v1\n---\nproject: x\n', 2],
    ['apiVersion: [infra/v1\n', 2],
  ];
  for (const [text, line] of cases) {
    const m = parse(text);
    assert.ok(m.problems.length > 0, text);
    assert.equal(m.problems[0]!.rule, 'yaml_syntax', text);
    assert.ok(Math.abs(m.problems[0]!.line - line) <= 1, `${JSON.stringify(text)}: line ${m.problems[0]!.line}, expected about ${line}`);
  }
});

test("several documents: said plainly, at the second one (not yaml's API advice)", () => {
  const [p] = parse('apiVersion: infra/v1\nproject: x\nprovider: local\n---\nproject: y\n').problems;
  assert.equal(p!.rule, 'yaml_syntax');
  assert.deepEqual([p!.line, p!.column], [4, 1]);
  assert.equal(p!.message, 'a second YAML document starts here; a manifest holds one document');
  assert.doesNotMatch(p!.message + p!.hint, /parseAllDocuments/);
});

test('empty files and non-mapping documents are problems, not crashes', () => {
  assert.match(parse('').problems[0]!.message, /empty/);
  assert.match(parse('- a\n- b\n').problems[0]!.message, /mapping/);
  assert.match(parse('just a string\n').problems[0]!.message, /mapping/);
});

test('infra/v2 is a strict superset: every v1 manifest in the repo stays valid as v2', () => {
  const root = packageRoot();
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      if (name === 'node_modules' || name === '.git' || name === '.build-test' || name === 'dist') continue;
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (/^\.infra(\.[a-z0-9-]+)?\.yaml$/.test(name)) files.push(path);
    }
  };
  walk(join(root, 'examples'));
  walk(join(root, 'test', 'fixtures'));
  const v1 = files.map((f) => readFileSync(f, 'utf8')).filter((t) => /apiVersion:\s*infra\/v1/.test(t));
  assert.ok(v1.length >= 2, 'the repo holds v1 manifests to check');
  let checked = 0;
  for (const text of v1) {
    const asV1 = parse(text);
    if (asV1.problems.some((p) => p.rule === 'schema' || p.rule === 'droplet_naming')) continue;
    const doc = parseDocument(text);
    doc.set('apiVersion', 'infra/v2');
    const asV2 = parse(doc.toString());
    assert.deepEqual(
      asV2.problems.filter((p) => p.rule !== 'env_variants'),
      [],
      text,
    );
    checked++;
  }
  assert.ok(checked >= 2);
});

test('the environment must agree with the file name', () => {
  assert.equal(parse('apiVersion: infra/v2\nproject: x\nenvironment: dev\nprovider: local\n').problems[0]!.rule, 'env_variants');
  assert.deepEqual(
    parse('apiVersion: infra/v2\nproject: x\nenvironment: preview\nprovider: local\n', 'p/.infra.preview.yaml', 'preview').problems,
    [],
  );
  assert.equal(
    parse('apiVersion: infra/v1\nproject: x\nenvironment: preview\nprovider: local\n', 'p/.infra.preview.yaml', 'preview').problems[0]!.rule,
    'schema',
  );
});

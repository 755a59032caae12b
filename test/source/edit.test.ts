// adopt's minimal edit: only the value's text changes; comments, quoting, order and blank lines stay.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse, parseDocument } from 'yaml';
import { addMapEntry, changedLine, EditError, removeMapEntry, setScalar } from '../../src/source/edit.js';

const MANIFEST = `# the worker
apiVersion: infra/v2
project: worker

service:
  host: app   # where it runs
  port: 8082 # its own port
  compose:
    file: compose.yaml
    image: ghcr.io/acme/worker
  health: { timeout: 8s }
`;

test('a value is replaced in place, the comment after it kept', () => {
  const out = setScalar(MANIFEST, ['service', 'port'], 8092);
  assert.equal(out, MANIFEST.replace('port: 8082 # its own port', 'port: 8092 # its own port'));
});

test('a missing key is added at the end of its map, indented like its siblings', () => {
  const out = setScalar(MANIFEST, ['service', 'compose', 'tag'], 'prod-2');
  assert.equal(out, MANIFEST.replace('    image: ghcr.io/acme/worker\n', '    image: ghcr.io/acme/worker\n    tag: prod-2\n'));
  assert.equal(parse(out).service.compose.tag, 'prod-2');
});

test('a string that would read back as something else is quoted', () => {
  for (const tag of ['1.10', 'true', 'null', 'a b', '#x'])
    assert.equal(parse(setScalar(MANIFEST, ['service', 'compose', 'tag'], tag)).service.compose.tag, tag);
});

test('what cannot be edited minimally is refused, never rewritten', () => {
  assert.throws(() => setScalar(MANIFEST, ['service', 'health', 'timeout2'], 'x'), EditError);
  assert.throws(() => setScalar(MANIFEST, ['service', 'compose'], 'x'), EditError);
  assert.throws(() => setScalar('a: [1\n', ['a'], 1), EditError);
});

test('JSON (the inventory): a string stays a JSON string, every other byte kept; a new key is refused', () => {
  const inventory =
    '{\n  "clusters": { "main": { "host": "black", "port": 5432 } },\n  "tunnels": [ { "name": "t", "from": "black", "to": "vps" } ]\n}\n';
  const out = setScalar(inventory, ['clusters', 'main', 'host'], 'apricot', { json: true });
  assert.equal(out, inventory.replace('"host": "black"', '"host": "apricot"'));
  assert.equal(JSON.parse(out).clusters.main.host, 'apricot');
  const t = setScalar(inventory, ['tunnels', '0', 'from'], 'apricot', { json: true });
  assert.equal(JSON.parse(t).tunnels[0].from, 'apricot');
  assert.throws(() => setScalar(inventory, ['clusters', 'main', 'role'], 'x', { json: true }), EditError);
});

test('changedLine names the one line an edit changed', () => {
  const out = setScalar(MANIFEST, ['service', 'host'], 'apricot');
  assert.deepEqual(changedLine(MANIFEST, out), { line: 6, before: '  host: app   # where it runs', after: '  host: apricot   # where it runs' });
});

test("addMapEntry: a new entry after the last, at its siblings' indentation; comments and the rest kept byte for byte", () => {
  const text = '# tenants\ntenants:\n    a:   # first\n        kind: org\n    b:\n        kind: person\n# tail\n';
  const out = addMapEntry(text, ['tenants'], 'c', ['kind: org', 'config:', '  X: "1"']);
  assert.equal(
    out,
    '# tenants\ntenants:\n    a:   # first\n        kind: org\n    b:\n        kind: person\n    c:\n      kind: org\n      config:\n        X: "1"\n# tail\n',
  );
  assert.deepEqual(parseDocument(out).toJS(), { tenants: { a: { kind: 'org' }, b: { kind: 'person' }, c: { kind: 'org', config: { X: '1' } } } });
  assert.throws(() => addMapEntry(out, ['tenants'], 'a', ['kind: org']), EditError);
  assert.equal(addMapEntry('', ['tenants'], 'x', ['kind: org']), 'tenants:\n  x:\n    kind: org\n');
  assert.equal(addMapEntry('# c\ntenants: {}\n', ['tenants'], 'x', ['kind: org']), '# c\ntenants:\n  x:\n    kind: org\n');
});

test("removeMapEntry: the entry's lines go, the others stay byte for byte; the last one leaves {}; an absent one changes nothing", () => {
  const text = 'tenants:\n  a:\n    kind: org\n  b:   # keep\n    kind: person\n  c:\n    kind: org\n';
  assert.equal(removeMapEntry(text, ['tenants'], 'b'), 'tenants:\n  a:\n    kind: org\n  c:\n    kind: org\n');
  assert.equal(removeMapEntry(text, ['tenants'], 'c'), 'tenants:\n  a:\n    kind: org\n  b:   # keep\n    kind: person\n');
  assert.equal(removeMapEntry('tenants:\n  a:\n    kind: org\n', ['tenants'], 'a'), 'tenants: {}\n');
  assert.equal(removeMapEntry(text, ['tenants'], 'zz'), text);
});

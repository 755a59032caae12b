/** Parsing with positions: JSON duplicate keys, a byte-order mark, self-containing YAML aliases. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { duplicateJsonKeys, SourceDocument } from '../../src/source/document.js';

test('JSON: a key repeated in one object is a located yaml_syntax problem and the file has no value', () => {
  const text = '{\n  "hosts": {\n    "black": { "role": "production" },\n    "white": {},\n    "black": { "role": "dev" }\n  }\n}\n';
  const doc = SourceDocument.parseJson('mesh-hosts.json', text);
  assert.equal(doc.value, undefined);
  assert.equal(doc.syntaxProblems.length, 1);
  const [p] = doc.syntaxProblems;
  assert.equal(p!.rule, 'yaml_syntax');
  assert.equal(p!.message, 'duplicate key "black" in hosts');
  assert.deepEqual([p!.line, p!.column, p!.length], [5, 5, 7]);
  assert.match(p!.hint!, /once/);
});

test('JSON duplicate scan: escapes, strings holding structure, arrays, nesting; no false positives', () => {
  assert.deepEqual(duplicateJsonKeys('{"a":"a","b":["a","a",{"a":1}],"c":{"x":"x,{\\"x\\":1}"},"d":"\\\\"}'), []);
  const found = duplicateJsonKeys(String.raw`{"x":[{"b":1,"b":2},{"c":{"d":1,"\u0064":3}}],"q\\":1,"q\\":2}`);
  assert.deepEqual(
    found.map((d) => `${d.where}:${d.key}`),
    ['x[0]:b', 'x[1].c:d', 'the document:q\\'],
  );
});

test('JSON: a UTF-8 byte-order mark is accepted and positions ignore it', () => {
  const doc = SourceDocument.parseJson('mesh-hosts.json', '\ufeff{\n  "hosts": { "a": 1 }\n}\n');
  assert.deepEqual(doc.syntaxProblems, []);
  assert.deepEqual(doc.value, { hosts: { a: 1 } });
  const at = doc.locate(['hosts', 'a']);
  assert.deepEqual([at.line, at.column], [2, 19]);
});

test('JSON: a syntax error does not quote the text (it may hold a secret)', () => {
  const doc = SourceDocument.parseJson('mesh-hosts.json', '{"token": ghp_abcdefghijklmnopqrstuvwxyz0123456789}');
  assert.equal(doc.syntaxProblems.length, 1);
  assert.doesNotMatch(doc.syntaxProblems[0]!.message, /ghp_/);
});

test('YAML: an alias inside the node it names is a located problem, not a stack overflow', () => {
  for (const [text, line, column] of [
    ['service: &s {host: black, self: *s}\n', 1, 33],
    ['a: 1\nservice: &s\n  host: black\n  list:\n    - *s\n', 5, 7],
    ['root: &r [1, [2, *r]]\n', 1, 18],
  ] as const) {
    const doc = SourceDocument.parseYaml('p/.infra.yaml', text);
    assert.equal(doc.value, undefined, text);
    assert.equal(doc.syntaxProblems.length, 1, text);
    const [p] = doc.syntaxProblems;
    assert.equal(p!.rule, 'yaml_syntax');
    assert.match(p!.message, /an alias refers to a node that contains it/);
    assert.deepEqual([p!.line, p!.column], [line, column], text);
  }
  // Aliases to earlier nodes outside them are fine, and one names the latest anchor of its name.
  const ok = SourceDocument.parseYaml('p/.infra.yaml', 'a: &x {k: 1}\nb: {in: *x}\nc: &x {k: 2}\nd: *x\n');
  assert.deepEqual(ok.syntaxProblems, []);
  assert.deepEqual(ok.value, { a: { k: 1 }, b: { in: { k: 1 } }, c: { k: 2 }, d: { k: 2 } });
});

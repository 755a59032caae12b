// The step lines of a host script, followed as its stdout arrives in arbitrary chunks.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { stepPrinter } from '../../src/ops/progress.js';

test('stepPrinter: each @@step line once, whole, named by host, however the chunks split it; other lines ignored', () => {
  const seen: string[] = [];
  const feed = stepPrinter('edge1', (line) => seen.push(line));
  for (const chunk of ['@@st', 'ep\tvalidate\nnoise\n@@step\tinst', 'all\n@@step\tre', 'load']) feed(chunk);
  assert.deepEqual(seen, ['edge1: validate', 'edge1: install']);
  feed('\n');
  assert.deepEqual(seen, ['edge1: validate', 'edge1: install', 'edge1: reload']);
});

/** The table every command's human output uses. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { table } from '../../src/cli/style.js';

test('table: columns aligned on the widest cell; a cell with line breaks spans lines of its row', () => {
  process.env['NO_COLOR'] = '1';
  const text = table(
    ['HOST', 'SERVICES', 'NOTE'],
    [
      ['black', 'api:3030\nsso:3050', 'ok'],
      ['plum', '', 'x'],
    ],
  );
  assert.equal(text, ['HOST   SERVICES  NOTE', 'black  api:3030  ok', '       sso:3050', 'plum   -         x'].join('\n'));
});

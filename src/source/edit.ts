/**
 * A minimal edit of a YAML file: one scalar set at a path, every other byte kept (comments,
 * quoting, key order, blank lines) — the way `net reconcile` splices the services map into
 * mesh-hosts.json: parse with positions, replace only the value's text. A key that is not
 * there is added as the last entry of its map, indented like its siblings.
 */
import { isMap, isScalar, parseDocument, type Node } from 'yaml';

export class EditError extends Error {}

/** `value` rendered as YAML: numbers bare, strings plain when that reads back as the same string, else double-quoted. */
function yamlValue(value: string | number, json: boolean): string {
  if (typeof value === 'number') return String(value);
  if (json) return JSON.stringify(value);
  const plain = /^[A-Za-z0-9][A-Za-z0-9._/@+-]*$/.test(value) && parseDocument(`k: ${value}`).get('k') === value;
  return plain ? value : JSON.stringify(value);
}

/** `json`: the file is JSON (mesh-hosts.json): strings stay double-quoted. */
export function setScalar(text: string, path: readonly string[], value: string | number, options: { json?: boolean } = {}): string {
  const json = options.json === true;
  const doc = parseDocument(text, { keepSourceTokens: true });
  if (doc.errors.length > 0) throw new EditError(`the file does not parse: ${doc.errors[0]!.message}`);
  const key = path[path.length - 1]!;
  const parent = path.length === 1 ? doc.contents : doc.getIn(path.slice(0, -1), true);
  if (!isMap(parent)) throw new EditError(`${path.slice(0, -1).join('.') || 'the document'} is not a map`);
  const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === key);
  if (pair !== undefined) {
    const node = pair.value as Node | null;
    if (!isScalar(node) || node.range === undefined || node.range === null) throw new EditError(`${path.join('.')} is not a plain value`);
    const [start, end] = node.range;
    return `${text.slice(0, start)}${yamlValue(value, json)}${text.slice(end)}`;
  }
  // A new key after the map's last entry, at its siblings' indentation (a flow map: refused, it has no lines).
  if (parent.flow === true || parent.items.length === 0 || json)
    throw new EditError(`cannot add ${key} to ${path.slice(0, -1).join('.')} without rewriting it`);
  const last = parent.items[parent.items.length - 1]!;
  const firstKey = (parent.items[0]!.key as Node).range![0];
  const indent = firstKey - (text.lastIndexOf('\n', firstKey - 1) + 1);
  const lastEnd = ((last.value as Node | null)?.range ?? (last.key as Node).range)![1];
  const lineEnd = text.indexOf('\n', lastEnd);
  const at = lineEnd < 0 ? text.length : lineEnd;
  const newline = text.includes('\r\n') ? '\r\n' : '\n';
  return `${text.slice(0, at)}${newline}${' '.repeat(indent)}${key}: ${yamlValue(value, json)}${text.slice(at)}`;
}

/** The one line an edit changed (1-based), before and after: what `--dry-run` shows of it. */
export function changedLine(before: string, after: string): { line: number; before: string; after: string } {
  const a = before.split('\n');
  const b = after.split('\n');
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return { line: i + 1, before: a[i] ?? '', after: b[i] ?? '' };
}

/** The text of a block map entry `key:` followed by `body` lines, each indented by `indent` more. */
function entryText(key: string, body: readonly string[], indent: string, step: string): string {
  return [`${indent}${key}:`, ...body.map((l) => `${indent}${step}${l}`)].join('\n');
}

/**
 * A new entry at the end of the block map at `path` (created as a top-level key when missing),
 * `body` its lines relative to the entry (indented two spaces per level): every other byte kept.
 * An entry of that key already there is refused (replace it by hand or remove it first).
 */
export function addMapEntry(text: string, path: readonly [string], key: string, body: readonly string[]): string {
  const doc = parseDocument(text, { keepSourceTokens: true });
  if (doc.errors.length > 0) throw new EditError(`the file does not parse: ${doc.errors[0]!.message}`);
  const newline = text.includes('\r\n') ? '\r\n' : '\n';
  const root = doc.contents;
  if (root !== null && !isMap(root)) throw new EditError('the document is not a map');
  const pair = root?.items.find((p) => isScalar(p.key) && p.key.value === path[0]);
  const parent = pair?.value as Node | null | undefined;
  if (pair === undefined || parent === null || parent === undefined || (isMap(parent) && parent.items.length === 0)) {
    // No map yet (no key, `tenants:` or `tenants: {}`): the key and its first entry, at the end or in place of the empty value.
    const block = `${path[0]}:${newline}${entryText(key, body, '  ', '  ').split('\n').join(newline)}${newline}`;
    if (pair === undefined) return `${text}${text === '' || text.endsWith('\n') ? '' : newline}${block}`;
    const keyStart = (pair.key as Node).range![0];
    const lineStart = text.lastIndexOf('\n', keyStart - 1) + 1;
    const end = parent?.range?.[1] ?? (pair.key as Node).range![1];
    const lineEnd = text.indexOf('\n', end);
    return `${text.slice(0, lineStart)}${block}${lineEnd < 0 ? '' : text.slice(lineEnd + 1)}`;
  }
  if (!isMap(parent) || parent.flow === true) throw new EditError(`${path[0]} is not a block map`);
  if (parent.items.some((p) => isScalar(p.key) && p.key.value === key)) throw new EditError(`${path[0]}.${key} is there already`);
  const firstKey = (parent.items[0]!.key as Node).range![0];
  const indent = firstKey - (text.lastIndexOf('\n', firstKey - 1) + 1);
  const last = parent.items[parent.items.length - 1]!;
  const lastEnd = ((last.value as Node | null)?.range ?? (last.key as Node).range)![1];
  const lineEnd = text.indexOf('\n', Math.max(lastEnd - 1, 0));
  const at = lineEnd < 0 ? text.length : lineEnd;
  const entry = entryText(key, body, ' '.repeat(indent), '  ').split('\n').join(newline);
  return `${text.slice(0, at)}${newline}${entry}${text.slice(at)}`;
}

/** The entry `key` of the block map at `path` taken out, lines and all (the last one leaves `{}`); unchanged when it is not there. */
export function removeMapEntry(text: string, path: readonly [string], key: string): string {
  const doc = parseDocument(text, { keepSourceTokens: true });
  if (doc.errors.length > 0) throw new EditError(`the file does not parse: ${doc.errors[0]!.message}`);
  const parent = doc.get(path[0], true) as Node | undefined;
  if (parent === undefined || parent === null || !isMap(parent)) return text;
  const index = parent.items.findIndex((p) => isScalar(p.key) && p.key.value === key);
  if (index < 0) return text;
  if (parent.flow === true) throw new EditError(`${path[0]} is not a block map`);
  if (parent.items.length === 1) {
    // The map's only entry: the key keeps an empty map (a bare `tenants:` would be null).
    const [start, end] = [parent.range![0], parent.range![1]];
    const keyLineEnd = text.lastIndexOf('\n', start - 1);
    return `${text.slice(0, keyLineEnd)} {}${text.slice(end).startsWith('\n') ? '' : '\n'}${text.slice(end)}`;
  }
  const pair = parent.items[index]!;
  const keyStart = (pair.key as Node).range![0];
  const lineStart = text.lastIndexOf('\n', keyStart - 1) + 1;
  const next = parent.items[index + 1];
  // To the next entry's line, or to the end of this entry's last line.
  const end =
    next === undefined
      ? (() => {
          const valueEnd = ((pair.value as Node | null)?.range ?? (pair.key as Node).range)![1];
          const nl = text.indexOf('\n', Math.max(valueEnd - 1, 0));
          return nl < 0 ? text.length : nl + 1;
        })()
      : text.lastIndexOf('\n', (next.key as Node).range![0] - 1) + 1;
  return `${text.slice(0, lineStart)}${text.slice(end)}`;
}

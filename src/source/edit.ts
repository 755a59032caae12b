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

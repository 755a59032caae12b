/**
 * The "services" map of mesh-hosts.json, regenerated from every manifest (what the
 * infra-net reconciler did by hand), and the text splice that puts it back
 * into the file: only the range of the "services" value changes (or the key is
 * added before the closing brace), so every other key, comment-free formatting
 * choice, indentation and line ending of the user's file stays as it was.
 */
import { isMap, isPair, isScalar, type Document, type Node } from 'yaml';
import type { ServicesMapEntry } from '../inventory/types.js';
import { dropletServices, type Fleet } from '../fleet/model.js';
import { byCodePoint } from './common.js';

export type ServicesMap = Record<string, ServicesMapEntry>;

/**
 * One entry per placed service, keyed by its id (project, or project:env), and per service a
 * droplet lists (`<name>@<droplet>`, on the droplet's first host), sorted by key.
 */
export function renderServicesMap(fleet: Fleet): ServicesMap {
  const map: ServicesMap = {};
  const entries: [string, ServicesMapEntry][] = [];
  for (const d of dropletServices(fleet)) {
    if (d.host === undefined) continue;
    const entry: ServicesMapEntry = { project: d.name, environment: 'prod', host: d.host };
    if (d.port !== undefined) entry.port = d.port;
    entry.kind = d.kind;
    if (d.domain !== undefined) entry.domains = [d.domain];
    entry.manifest = d.manifest;
    entries.push([d.id, entry]);
  }
  const services = fleet.services.filter((s) => s.host !== undefined);
  for (const s of services) {
    const entry: ServicesMapEntry = { project: s.project, environment: s.environment, host: s.host! };
    if (s.port !== undefined) entry.port = s.port;
    if (s.unit !== undefined) entry.unit = s.unit;
    entry.kind = s.kind;
    if (s.domains.length > 0) entry.domains = [...s.domains];
    entry.manifest = s.manifest;
    entries.push([s.id, entry]);
  }
  for (const [id, entry] of entries.sort((a, b) => byCodePoint(a[0], b[0]))) map[id] = entry;
  return map;
}

interface Style {
  newline: string;
  /** One level of indentation. */
  unit: string;
  /** The root object is on one line. */
  compact: boolean;
}

function detectStyle(text: string, rootStart: number, rootEnd: number): Style {
  const newline = text.includes('\r\n') ? '\r\n' : '\n';
  if (!text.slice(rootStart, rootEnd).includes('\n')) return { newline, unit: '', compact: true };
  const indents = text
    .split(/\r?\n/)
    .map((l) => /^([ \t]*)\S/.exec(l)?.[1] ?? '')
    .filter((i) => i.length > 0);
  const tabbed = indents.filter((i) => i.startsWith('\t')).length;
  const spaces = indents.filter((i) => !i.includes('\t')).map((i) => i.length);
  const unit = tabbed > spaces.length ? '\t' : ' '.repeat(spaces.length > 0 ? Math.min(8, ...spaces) : 2);
  return { newline, unit, compact: false };
}

function lineIndentAt(text: string, offset: number): string {
  const lineStart = text.lastIndexOf('\n', offset - 1) + 1;
  return /^[ \t]*/.exec(text.slice(lineStart, offset))![0];
}

function renderValue(map: ServicesMap, style: Style, baseIndent: string): string {
  if (style.compact) return JSON.stringify(map);
  const json = JSON.stringify(map, null, style.unit);
  return json.split('\n').join(style.newline + baseIndent);
}

/**
 * mesh-hosts.json with its "services" value replaced by `map`. When the value
 * already holds exactly this map (same keys in the same order, same values) the
 * text is returned unchanged, however it is formatted: a second run, or a file
 * another formatter touched, changes nothing. `doc` is the parsed document
 * (SourceDocument.doc of the loaded inventory) whose ranges index `text`.
 */
export function spliceServicesMap(text: string, doc: Document.Parsed, map: ServicesMap): string {
  const root = doc.contents as Node | null;
  if (!isMap(root) || !root.range) throw new Error('the inventory is not a JSON object');
  const [rootStart, rootEnd] = [root.range[0], root.range[1]];
  const style = detectStyle(text, rootStart, rootEnd);
  const pair = root.items.find((item) => isPair(item) && isScalar(item.key) && item.key.value === 'services');
  if (pair && pair.value && (pair.value as Node).range) {
    const value = pair.value as Node;
    const [start, end] = [value.range![0], value.range![1]];
    if (sameJson(text.slice(start, end), map)) return text;
    const keyIndent = style.compact ? '' : lineIndentAt(text, (pair.key as Node).range![0]);
    return text.slice(0, start) + renderValue(map, style, keyIndent) + text.slice(end);
  }
  const last = root.items[root.items.length - 1];
  const entry = (indent: string) => `"services":${style.compact ? '' : ' '}${renderValue(map, style, indent)}`;
  if (!last || !isPair(last)) {
    // An empty root object: "{}" → "{ "services": … }" on its own lines.
    const open = text.indexOf('{', rootStart);
    if (style.compact) return `${text.slice(0, open + 1)}${entry('')}${text.slice(open + 1)}`;
    const close = text.lastIndexOf('}', rootEnd);
    return `${text.slice(0, open + 1)}${style.newline}${style.unit}${entry(style.unit)}${style.newline}${text.slice(close)}`;
  }
  const lastEnd = ((last.value as Node | null)?.range ?? (last.key as Node).range)![1];
  if (style.compact) return `${text.slice(0, lastEnd)},${entry('')}${text.slice(lastEnd)}`;
  const keyIndent = lineIndentAt(text, (last.key as Node).range![0]);
  return `${text.slice(0, lastEnd)},${style.newline}${keyIndent}${entry(keyIndent)}${text.slice(lastEnd)}`;
}

function sameJson(valueText: string, map: ServicesMap): boolean {
  try {
    return JSON.stringify(JSON.parse(valueText)) === JSON.stringify(map);
  } catch {
    return false;
  }
}

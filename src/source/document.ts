/**
 * A parsed YAML or JSON file that remembers where every value came from, so any
 * check (JSON Schema, cross-file rules) can point at file:line:column.
 */
import { createRequire } from 'node:module';
import type { Alias, Document, LineCounter, Node, Pair } from 'yaml';
import { problem, type Location, type Problem } from '../problems.js';

type YamlLibrary = typeof import('yaml');
let yamlLibrary: YamlLibrary | undefined;
/**
 * The yaml library, loaded on first use (synchronously: it ships CommonJS). A command whose
 * manifests all come from the cache and are clean never needs it, and skips ~20 ms of start-up.
 */
function yaml(): YamlLibrary {
  return (yamlLibrary ??= createRequire(import.meta.url)('yaml') as YamlLibrary);
}

/** A document parsed with positions, and the line counter that turns its offsets into lines. */
interface Positioned {
  doc: Document.Parsed | undefined;
  counter: LineCounter;
}

function parseWithPositions(text: string, options: { strict: boolean }): { doc: Document.Parsed; counter: LineCounter } {
  const { LineCounter, parseDocument } = yaml();
  const counter = new LineCounter();
  const doc = parseDocument(
    text,
    options.strict ? { lineCounter: counter, prettyErrors: false, uniqueKeys: true, strict: true } : { lineCounter: counter, prettyErrors: false },
  );
  return { doc, counter };
}

export type PathSegment = string | number;

export class SourceDocument {
  readonly lines: string[];
  private constructor(
    /** Path as shown to the user (relative to the root when inside it). */
    readonly file: string,
    readonly text: string,
    /** The parsed document, or how to parse it when first needed (positions only matter for a problem). */
    private positioned: Positioned | (() => Positioned),
    /** The plain value (undefined when the file did not parse). */
    readonly value: unknown,
    readonly syntaxProblems: Problem[],
  ) {
    this.lines = text.split(/\r?\n/);
  }

  /** The YAML document with positions (parsed on first use when the value came from elsewhere). */
  get doc(): Document.Parsed | undefined {
    return this.resolved().doc;
  }

  private resolved(): Positioned {
    if (typeof this.positioned === 'function') this.positioned = this.positioned();
    return this.positioned;
  }

  static parseYaml(file: string, text: string): SourceDocument {
    const { doc, counter } = parseWithPositions(text, { strict: true });
    const problems: Problem[] = [];
    for (const err of doc.errors) {
      const pos = counter.linePos(err.pos[0]);
      // yaml's own wording for this one names its API ("use YAML.parseAllDocuments()").
      const message = err.code === 'MULTIPLE_DOCS' ? 'a second YAML document starts here; a manifest holds one document' : firstLine(err.message);
      problems.push(
        problem('yaml_syntax', { file, line: pos.line, column: pos.col, length: Math.max(1, err.pos[1] - err.pos[0]) }, message, yamlHint(err.code)),
      );
    }
    if (problems.length === 0 && text.includes('*')) {
      const cycle = selfContainingAlias(doc);
      if (cycle) {
        const pos = counter.linePos(cycle.range![0]);
        problems.push(
          problem(
            'yaml_syntax',
            { file, line: pos.line, column: pos.col, length: Math.max(1, cycle.range![1] - cycle.range![0]) },
            `an alias refers to a node that contains it (*${cycle.source})`,
            'an alias may only repeat a node defined before it and outside it; a value cannot contain itself.',
          ),
        );
      }
    }
    let value: unknown;
    if (problems.length === 0) {
      try {
        value = doc.toJS({ maxAliasCount: 100 });
      } catch (err) {
        problems.push(problem('yaml_syntax', { file, line: 1, column: 1 }, `cannot read the document: ${firstLine(String((err as Error).message))}`));
      }
    }
    return new SourceDocument(file, text, { doc: problems.length === 0 ? doc : undefined, counter }, value, problems);
  }

  /**
   * A YAML file whose value is already known (from the manifest cache): positions
   * are parsed only if a problem needs one.
   */
  static fromKnownValue(file: string, text: string, value: unknown): SourceDocument {
    return new SourceDocument(file, text, () => parseWithPositions(text, { strict: true }), value, []);
  }

  /**
   * JSON is parsed strictly (JSON.parse) for syntax, then through yaml for positions. A UTF-8
   * byte-order mark is dropped first (editors on Windows write one; JSON.parse rejects it).
   * A key repeated in one object makes the file invalid, as in YAML: JSON.parse would keep the
   * last silently, and which one the author meant is unknown.
   */
  static parseJson(file: string, rawText: string): SourceDocument {
    const text = rawText.charCodeAt(0) === 0xfeff ? rawText.slice(1) : rawText;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      const { counter } = parseWithPositions(text, { strict: false });
      const message = (err as Error).message;
      const offset = jsonErrorOffset(message, text);
      const pos = counter.linePos(offset);
      // Node quotes a snippet of the text ("… is not valid JSON"): it may hold a secret, and the code frame shows the spot.
      const clean = message
        .replace(/ in JSON at position \d+.*$/, '')
        .replace(/^JSON\.parse: /, '')
        .replace(/, \.*".*is not valid JSON$/s, '');
      const p = problem(
        'yaml_syntax',
        { file, line: pos.line, column: pos.col },
        `invalid JSON: ${firstLine(clean)}`,
        'JSON allows no comments, no trailing commas and only double-quoted strings.',
      );
      return new SourceDocument(file, text, { doc: undefined, counter }, undefined, [p]);
    }
    const duplicates = duplicateJsonKeys(text);
    if (duplicates.length > 0) {
      const { counter } = parseWithPositions(text, { strict: false });
      const problems = duplicates.map((d) => {
        const pos = counter.linePos(d.offset);
        return problem(
          'yaml_syntax',
          { file, line: pos.line, column: pos.col, length: d.length },
          `duplicate key ${JSON.stringify(d.key)} in ${d.where}`,
          'each key may appear once in an object; remove or merge the repeated one.',
        );
      });
      return new SourceDocument(file, text, { doc: undefined, counter }, undefined, problems);
    }
    // The YAML parse of a large inventory costs tens of ms; a valid inventory rarely needs a position.
    return new SourceDocument(file, text, () => parseWithPositions(text, { strict: false }), value, []);
  }

  /** Where a value sits; with `key: true`, where its key sits (for "unknown key" and the like). */
  locate(path: readonly PathSegment[], options: { key?: boolean } = {}): Location {
    const start: Location = { file: this.file, line: 1, column: 1 };
    if (!this.doc) return start;
    const { isMap, isPair, isSeq } = yaml();
    let node: unknown = this.doc.contents;
    let pair: Pair | undefined;
    let best: unknown = node;
    for (const segment of path) {
      pair = undefined;
      if (isMap(node)) {
        pair = node.items.find((item) => isPair(item) && keyText(item.key) === String(segment));
        if (!pair) break;
        node = pair.value;
        best = options.key && segment === path[path.length - 1] ? pair.key : (pair.value ?? pair.key);
      } else if (isSeq(node) && typeof segment === 'number') {
        node = node.items[segment];
        if (node === undefined) break;
        best = node;
      } else {
        break;
      }
    }
    return this.nodeLocation(best);
  }

  /** Location of a map key itself at `path` + `key` (e.g. an unknown property). */
  locateKey(path: readonly PathSegment[], key: string): Location {
    return this.locate([...path, key], { key: true });
  }

  lineText(line: number): string {
    return this.lines[line - 1] ?? '';
  }

  private nodeLocation(node: unknown): Location {
    const range = (node as Node | undefined)?.range;
    if (!range) return { file: this.file, line: 1, column: 1 };
    const { counter } = this.resolved();
    const pos = counter.linePos(range[0]);
    const end = counter.linePos(range[1]);
    const length = end.line === pos.line ? Math.max(1, end.col - pos.col) : Math.max(1, this.lineText(pos.line).length - pos.col + 1);
    return { file: this.file, line: pos.line, column: pos.col, length };
  }
}

/**
 * The first alias inside the node it names (`&s {self: *s}`): toJS would build a
 * cyclic value that every later walk (schema, secrets, JSON) recurses into forever.
 */
function selfContainingAlias(doc: Document.Parsed): Alias | undefined {
  const { isAlias, visit } = yaml();
  const latest = new Map<string, unknown>();
  let found: Alias | undefined;
  // Pre-order, document order: an anchor is recorded before its children, and an alias names the latest anchor before it.
  visit(doc, {
    Node(_key, node, path) {
      if (isAlias(node)) {
        const target = latest.get(node.source);
        if (target !== undefined && path.includes(target as never)) {
          found = node;
          return visit.BREAK;
        }
      } else if (node.anchor) {
        latest.set(node.anchor, node);
      }
      return undefined;
    },
  });
  return found;
}

function keyText(key: unknown): string {
  if (yaml().isScalar(key)) return String((key as { value: unknown }).value);
  return String(key);
}

function firstLine(message: string): string {
  return message
    .split('\n')[0]!
    .replace(/ at line \d+, column \d+:?$/, '')
    .trim();
}

interface DuplicateKey {
  key: string;
  /** Where the repeated key's string starts, and its length in the text. */
  offset: number;
  length: number;
  /** The object holding it, as a display path ("hosts", "the document"). */
  where: string;
}

/**
 * Keys repeated within one object of a JSON text that JSON.parse accepted. One linear pass
 * (strings skipped with indexOf): about as fast as JSON.parse itself, where a positioned parse
 * of a large inventory costs tens of ms.
 */
export function duplicateJsonKeys(text: string): DuplicateKey[] {
  interface Frame {
    /** Keys seen so far; undefined for an array. */
    keys: Set<string> | undefined;
    parent: Frame | undefined;
    /** This container's key or index in its parent (paths are built only for a duplicate). */
    segment: string | number;
    index: number;
    lastKey: string;
  }
  const out: DuplicateKey[] = [];
  let top: Frame | undefined;
  let expectKey = false;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let j = i + 1;
      for (;;) {
        j = text.indexOf('"', j);
        if (j < 0) return out; // cannot happen after JSON.parse
        let backslashes = 0;
        for (let k = j - 1; text.charCodeAt(k) === 0x5c; k--) backslashes++;
        if (backslashes % 2 === 0) break;
        j++;
      }
      if (expectKey && top?.keys) {
        const raw = text.slice(i, j + 1);
        // Escapes spell the same key differently ("\u0062lack" is "black").
        const key = raw.includes('\\') ? (JSON.parse(raw) as string) : raw.slice(1, -1);
        if (top.keys.has(key)) out.push({ key, offset: i, length: raw.length, where: displayWhere(framePath(top)) });
        else top.keys.add(key);
        top.lastKey = key;
        expectKey = false;
      }
      i = j;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      const segment = top ? (top.keys ? top.lastKey : top.index) : '';
      top = { keys: c === 0x7b ? new Set() : undefined, parent: top, segment, index: 0, lastKey: '' };
      expectKey = c === 0x7b;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      top = top?.parent;
    } else if (c === 0x2c /* , */ && top) {
      if (top.keys) expectKey = true;
      else top.index++;
    }
  }
  return out;

  function framePath(frame: Frame): (string | number)[] {
    const path: (string | number)[] = [];
    for (let f: Frame | undefined = frame; f?.parent; f = f.parent) path.unshift(f.segment);
    return path;
  }
}

function displayWhere(path: readonly (string | number)[]): string {
  if (path.length === 0) return 'the document';
  let out = '';
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : out === '' ? seg : `.${seg}`;
  return out;
}

function jsonErrorOffset(message: string, text: string): number {
  const m = /at position (\d+)/.exec(message);
  if (m) return Number(m[1]);
  if (/Unexpected end of JSON input/.test(message)) return Math.max(0, text.length - 1);
  return 0;
}

function yamlHint(code: string): string | undefined {
  switch (code) {
    case 'DUPLICATE_KEY':
      return 'each key may appear once in a mapping; remove or merge the repeated one.';
    case 'BAD_INDENT':
    case 'MISSING_CHAR':
      return 'check the indentation: nested keys are indented consistently with spaces.';
    case 'TAB_AS_INDENT':
      return 'YAML indents with spaces, never tabs.';
    case 'MULTIPLE_DOCS':
      return 'remove this "---" and what follows, or move that document to its own .infra.yaml file.';
    default:
      return undefined;
  }
}

/**
 * A parsed YAML or JSON file that remembers where every value came from, so any
 * check (JSON Schema, cross-file rules) can point at file:line:column.
 */
import { createRequire } from 'node:module';
import type { Document, LineCounter, Node, Pair } from 'yaml';
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
  const doc = parseDocument(text, options.strict ? { lineCounter: counter, prettyErrors: false, uniqueKeys: true, strict: true } : { lineCounter: counter, prettyErrors: false });
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
      problems.push(problem('yaml_syntax', { file, line: pos.line, column: pos.col, length: Math.max(1, err.pos[1] - err.pos[0]) }, firstLine(err.message), yamlHint(err.code)));
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

  /** JSON is parsed strictly (JSON.parse) for syntax, then through yaml for positions. */
  static parseJson(file: string, text: string): SourceDocument {
    try {
      const value: unknown = JSON.parse(text);
      // The YAML parse of a large inventory costs tens of ms; a valid inventory rarely needs a position.
      return new SourceDocument(file, text, () => parseWithPositions(text, { strict: false }), value, []);
    } catch (err) {
      const { counter } = parseWithPositions(text, { strict: false });
      const message = (err as Error).message;
      const offset = jsonErrorOffset(message, text);
      const pos = counter.linePos(offset);
      const clean = message.replace(/ in JSON at position \d+.*$/, '').replace(/^JSON\.parse: /, '');
      const p = problem('yaml_syntax', { file, line: pos.line, column: pos.col }, `invalid JSON: ${firstLine(clean)}`, 'JSON allows no comments, no trailing commas and only double-quoted strings.');
      return new SourceDocument(file, text, { doc: undefined, counter }, undefined, [p]);
    }
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

function keyText(key: unknown): string {
  if (yaml().isScalar(key)) return String((key as { value: unknown }).value);
  return String(key);
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '').trim();
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
      return 'a manifest holds exactly one YAML document.';
    default:
      return undefined;
  }
}

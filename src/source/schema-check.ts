/**
 * JSON Schema validation (ajv, all errors) turned into located problems:
 * each error's JSON pointer is mapped back to the YAML/JSON node it names.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import type * as ajv2020 from 'ajv/dist/2020.js';
import { packageRoot } from '../package-root.js';
import { closest } from '../text/suggest.js';
import { looksLikeSecret } from '../text/secrets.js';
import { problem, type Problem } from '../problems.js';
import type { PathSegment, SourceDocument } from './document.js';

type SchemaName = 'infra-v1' | 'infra-v2' | 'mesh-hosts' | 'tenants';

const require = createRequire(import.meta.url);
let ajv: InstanceType<typeof ajv2020.default.default> | undefined;
const compiled = new Map<SchemaName, ValidateFunction>();

export function schemaPath(name: SchemaName): string {
  return join(packageRoot(), 'schemas', `${name}.schema.json`);
}

function validator(name: SchemaName): ValidateFunction {
  let fn = compiled.get(name);
  if (fn) return fn;
  // Built by scripts/compile-schemas.mjs next to this module (dist/schemas/); compiling at run time costs 150+ ms.
  const pre = fileURLToPath(new URL(`../schemas/${name}.validate.cjs`, import.meta.url));
  if (existsSync(pre) && statSync(pre).mtimeMs >= statSync(schemaPath(name)).mtimeMs) {
    fn = require(pre) as ValidateFunction;
  } else {
    // ajv is CommonJS; loaded only when there is no precompiled validator (tests, a stale build).
    const Ajv2020 = (require('ajv/dist/2020.js') as typeof ajv2020.default).default;
    ajv ??= new Ajv2020({ allErrors: true, verbose: true, strict: false, useDefaults: false });
    fn = ajv.compile(JSON.parse(readFileSync(schemaPath(name), 'utf8')) as object);
  }
  compiled.set(name, fn);
  return fn;
}

export function checkSchema(name: SchemaName, source: SourceDocument, value: unknown): Problem[] {
  return schemaProblems(name, source, value).map((f) => f.problem);
}

/** A schema problem and the path of the value it is about (a key's own path for key problems). */
export interface SchemaFinding {
  problem: Problem;
  path: PathSegment[];
}

export function schemaProblems(name: SchemaName, source: SourceDocument, value: unknown): SchemaFinding[] {
  const validate = validator(name);
  if (validate(value)) return [];
  const errors = validate.errors ?? [];
  // oneOf reports each failed branch too; keep only the oneOf summary for that spot.
  const oneOfPaths = new Set(errors.filter((e) => e.keyword === 'oneOf').map((e) => e.instancePath));
  // A bad key name is reported by the failing keyword (with the name); the propertyNames summary repeats it.
  const badNames = new Set(errors.filter((e) => e.propertyName !== undefined).map((e) => `${e.instancePath}\u0000${e.propertyName}`));
  const out: SchemaFinding[] = [];
  const seen = new Set<string>();
  for (const err of errors) {
    if (err.keyword !== 'oneOf' && oneOfPaths.has(err.instancePath) && err.schemaPath.includes('/oneOf/')) continue;
    if (err.keyword === 'if') continue;
    if (err.keyword === 'propertyNames' && badNames.has(`${err.instancePath}\u0000${(err.params as { propertyName?: string }).propertyName}`))
      continue;
    const p = toProblem(name, source, err);
    const key = `${p.line}:${p.column}:${p.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ problem: p, path: findingPath(err) });
  }
  return out;
}

function findingPath(err: ErrorObject): PathSegment[] {
  const path = pointerToPath(err.instancePath);
  const params = err.params as { additionalProperty?: string; missingProperty?: string; propertyName?: string };
  const key =
    err.propertyName ??
    (err.keyword === 'additionalProperties'
      ? params.additionalProperty
      : err.keyword === 'required'
        ? params.missingProperty
        : err.keyword === 'propertyNames'
          ? params.propertyName
          : undefined);
  return key === undefined ? path : [...path, String(key)];
}

export function pointerToPath(pointer: string): PathSegment[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((raw) => raw.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

export function displayPath(path: readonly PathSegment[]): string {
  if (path.length === 0) return 'the document';
  let out = '';
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : out === '' ? seg : `.${seg}`;
  return out;
}

function toProblem(name: SchemaName, source: SourceDocument, err: ErrorObject): Problem {
  const path = pointerToPath(err.instancePath);
  const where = displayPath(path);
  const parent = err.parentSchema as { description?: string; properties?: Record<string, unknown>; enum?: unknown[] } | undefined;
  const badName = err.propertyName ?? (err.keyword === 'propertyNames' ? (err.params as { propertyName?: string }).propertyName : undefined);
  if (badName !== undefined) {
    // About a key, not its value: point at the key rather than at (and dumping) the whole object.
    const rule =
      err.keyword === 'pattern' ? (parent?.description ?? `expected to match ${(err.params as { pattern: string }).pattern}`) : parent?.description;
    return problem('schema', source.locateKey(path, badName), `the name ${show(badName)} in ${where} is not a valid name`, rule);
  }
  switch (err.keyword) {
    case 'additionalProperties': {
      const key = String((err.params as { additionalProperty: string }).additionalProperty);
      const allowed = Object.keys(parent?.properties ?? {});
      const guess = closest(key, allowed);
      const hint = guess ? `did you mean "${guess}"? allowed keys: ${allowed.join(', ')}` : `allowed keys: ${allowed.join(', ')}`;
      return problem('schema', source.locateKey(path, key), `unknown key "${key}" in ${where}`, hint);
    }
    case 'required': {
      const missing = String((err.params as { missingProperty: string }).missingProperty);
      const at = path.length === 0 ? { file: source.file, line: 1, column: 1 } : source.locate(path, { key: true });
      return problem('schema', at, `${where} is missing the required key "${missing}"`, requiredHint(name, missing));
    }
    case 'enum': {
      const allowed = ((err.params as { allowedValues: unknown[] }).allowedValues ?? []).map(String);
      const got = valueAt(source.value, path);
      const guess = typeof got === 'string' ? closest(got, allowed) : undefined;
      return problem(
        'schema',
        source.locate(path),
        `${where} must be one of ${allowed.join(', ')} (got ${show(got)})`,
        guess ? `did you mean "${guess}"?` : undefined,
      );
    }
    case 'const': {
      const allowed = (err.params as { allowedValue: unknown }).allowedValue;
      return problem('schema', source.locate(path), `${where} must be ${show(allowed)} (got ${show(valueAt(source.value, path))})`);
    }
    case 'type': {
      const type = String((err.params as { type: string }).type);
      return problem('schema', source.locate(path), `${where} must be ${article(type)} ${type} (got ${describe(valueAt(source.value, path))})`);
    }
    case 'pattern': {
      const got = valueAt(source.value, path);
      const isDroplet = path[0] === 'droplets' && path[path.length - 1] === 'name' && path.length === 3;
      if (isDroplet) {
        return problem(
          'droplet_naming',
          source.locate(path),
          `droplet name ${show(got)} is not reverse-DNS as the convention requires`,
          parent?.description ?? 'use <prefix>.<role> or <prefix>.<producer>.<role>, lower case.',
        );
      }
      return problem(
        'schema',
        source.locate(path),
        `${where} ${show(got)} does not have the expected form`,
        parent?.description ?? `expected to match ${(err.params as { pattern: string }).pattern}`,
      );
    }
    case 'oneOf':
    case 'anyOf':
      return problem('schema', source.locate(path), `${where} has the wrong form (got ${show(valueAt(source.value, path))})`, parent?.description);
    case 'minimum':
    case 'maximum':
    case 'minLength':
    case 'minItems':
    case 'uniqueItems':
    case 'propertyNames':
    default:
      return problem(
        'schema',
        source.locate(path),
        `${where} ${err.message ?? 'is invalid'}${err.keyword === 'propertyNames' ? ` (${show((err.params as { propertyName?: string }).propertyName)})` : ''}`,
        parent?.description,
      );
  }
}

function requiredHint(name: SchemaName, key: string): string | undefined {
  if (key === 'apiVersion') return 'start the file with "apiVersion: infra/v2" (or infra/v1).';
  if (key === 'provider') return 'one of digitalocean, mac, bare-metal, local' + (name === 'infra-v2' ? ', vps' : '') + '.';
  return undefined;
}

export function valueAt(root: unknown, path: readonly PathSegment[]): unknown {
  let v = root;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[seg];
  }
  return v;
}

function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'string' && looksLikeSecret(v)) return 'a value that looks like a secret (not shown)';
  const s = JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${show(v)}`;
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? 'an' : 'a';
}

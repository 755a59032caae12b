/**
 * The tenants file (tenants.yaml beside the inventory, docs/tenants.md): the fleet's tenants, each
 * with its kind, brand TLDs, enabled surfaces, non-secret config and the ports its instances hold.
 * Read with positions and checked against its schema; a tenant with a schema problem is left out
 * (and reported), the others take part. No file: no tenants.
 */
import { dirname, join } from 'node:path';
import { MAX_MANIFEST_BYTES, readRegularFileSync, type ReadOutcome } from '../files/read.js';
import { problem, type Problem } from '../problems.js';
import { SourceDocument } from '../source/document.js';
import { schemaProblems } from '../source/schema-check.js';

/** The tenants file's name, in the inventory's directory. */
export const TENANTS_FILE = 'tenants.yaml';

export type TenantKind = 'person' | 'org';

export interface Tenant {
  slug: string;
  kind: TenantKind;
  tlds: string[];
  surfaces: string[];
  /** Non-secret settings, as environment values (numbers and booleans written as text). */
  config: Record<string, string>;
  /** The port of its instance of each template, by the template's service id. */
  ports: Record<string, number>;
  description?: string;
}

/** tenants.yaml as written (the schema's shape). */
interface TenantsFile {
  tenants?: Record<
    string,
    {
      kind: TenantKind;
      tlds: string[];
      surfaces?: string[];
      config?: Record<string, string | number | boolean>;
      ports?: Record<string, number>;
      description?: string;
    }
  >;
}

export interface LoadedTenants {
  /** Absolute path, and the path shown in problems (relative to the root). */
  path: string;
  file: string;
  /** False when there is no tenants file (no tenants; not a problem). */
  present: boolean;
  source: SourceDocument | undefined;
  tenants: Tenant[];
  problems: Problem[];
}

/** Where the tenants file of an inventory is: beside it. */
export function tenantsPath(inventoryPath: string): string {
  return join(dirname(inventoryPath), TENANTS_FILE);
}

/** `text`: the file's content as it would be written, instead of reading it. */
/** `text`: the file as it would be written (tenants add/remove); `given`: the file as already read (the resolved-fleet cache hashed it). */
export function loadTenants(path: string, file: string, text?: string, given?: ReadOutcome): LoadedTenants {
  const none = { path, file, present: false, source: undefined, tenants: [], problems: [] };
  const read = text === undefined ? (given ?? readRegularFileSync(path, MAX_MANIFEST_BYTES)) : { text };
  if (!('text' in read)) {
    if (read.code === 'ENOENT') return none;
    return { ...none, present: true, problems: [problem('tenants', { file, line: 1, column: 1 }, `cannot read the tenants file: ${read.error}`)] };
  }
  const source = SourceDocument.parseYaml(file, read.text);
  if (source.syntaxProblems.length > 0) return { ...none, present: true, source, problems: source.syntaxProblems };
  const value = source.value ?? {};
  if (typeof value !== 'object' || Array.isArray(value))
    return {
      ...none,
      present: true,
      source,
      problems: [problem('tenants', source.locate([]), 'the tenants file must be a mapping with a "tenants" key', 'see docs/tenants.md')],
    };
  const findings = schemaProblems('tenants', source, value);
  // A finding inside one tenant leaves that tenant out; one anywhere else leaves them all out.
  const badSlugs = new Set<string>();
  let allBad = false;
  for (const f of findings) {
    if (f.path[0] === 'tenants' && typeof f.path[1] === 'string') badSlugs.add(f.path[1]);
    else allBad = true;
  }
  const declared = allBad ? {} : ((value as TenantsFile).tenants ?? {});
  const tenants: Tenant[] = Object.entries(declared)
    .filter(([slug]) => !badSlugs.has(slug))
    .map(([slug, t]) => ({
      slug,
      kind: t.kind,
      tlds: [...t.tlds],
      surfaces: [...(t.surfaces ?? [])],
      config: Object.fromEntries(Object.entries(t.config ?? {}).map(([k, v]) => [k, String(v)])),
      ports: { ...(t.ports ?? {}) },
      ...(t.description === undefined ? {} : { description: t.description }),
    }));
  return { path, file, present: true, source, tenants, problems: findings.map((f) => f.problem) };
}

/**
 * Reads one manifest: YAML with positions, the schema of its apiVersion, and
 * the file-name/environment agreement (env_variants).
 */
import { readFileSync } from 'node:fs';
import { problem, type Problem } from '../problems.js';
import { SourceDocument } from '../source/document.js';
import { checkSchema } from '../source/schema-check.js';
import { ManifestCache } from './cache.js';
import type { DiscoveredManifest } from './discover.js';
import type { InfraManifest } from './types.js';

export const API_VERSIONS = { 'infra/v1': 'infra-v1', 'infra/v2': 'infra-v2' } as const;

export interface LoadedManifest extends DiscoveredManifest {
  source: SourceDocument;
  /** Present when the file parsed and names a known apiVersion; it may still have schema problems. */
  manifest: InfraManifest | undefined;
  /** The environment it declares (prod when omitted). */
  environment: string;
  /** True when the schema accepted it: rules may rely on field types. */
  valid: boolean;
  problems: Problem[];
}

/** Synchronous on purpose: manifests are small and many, and promise-based reads cost more than parsing them. */
export function loadManifest(found: DiscoveredManifest, cache?: ManifestCache): LoadedManifest {
  let text: string;
  try {
    text = readFileSync(found.path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    const source = SourceDocument.parseYaml(found.file, '');
    return { ...found, source, manifest: undefined, environment: found.fileEnvironment, valid: false, problems: [problem('discovery', { file: found.file, line: 1, column: 1 }, `cannot read manifest (${code})`)] };
  }
  if (!cache) return parseManifest(found, text);
  const key = ManifestCache.key(found.file, found.fileEnvironment, text);
  const hit = cache.get(key);
  if (hit) {
    const source = SourceDocument.fromKnownValue(found.file, text, hit.value);
    return { ...found, source, manifest: hit.value as InfraManifest, environment: found.fileEnvironment, valid: hit.valid, problems: hit.problems };
  }
  const loaded = parseManifest(found, text);
  // Only manifests that passed their schema: their values are plain JSON, so the cache round-trips them exactly.
  if (loaded.valid) cache.set(key, { value: loaded.source.value, problems: loaded.problems, valid: true });
  return loaded;
}

export function parseManifest(found: DiscoveredManifest, text: string): LoadedManifest {
  const source = SourceDocument.parseYaml(found.file, text);
  const base = { ...found, source, environment: found.fileEnvironment };
  if (source.syntaxProblems.length > 0) return { ...base, manifest: undefined, valid: false, problems: source.syntaxProblems };

  const value = source.value;
  if (value === null || value === undefined) {
    return { ...base, manifest: undefined, valid: false, problems: [problem('schema', { file: found.file, line: 1, column: 1 }, 'the manifest is empty', 'a manifest needs at least apiVersion, project and provider.')] };
  }
  if (typeof value !== 'object' || Array.isArray(value)) {
    return { ...base, manifest: undefined, valid: false, problems: [problem('schema', source.locate([]), 'a manifest must be a mapping of keys (apiVersion, project, provider, …)')] };
  }
  const record = value as Record<string, unknown>;
  const apiVersion = record['apiVersion'];
  // Own keys only: a YAML string such as "valueOf" must not reach Object.prototype.
  const schema = typeof apiVersion === 'string' && Object.hasOwn(API_VERSIONS, apiVersion) ? API_VERSIONS[apiVersion as keyof typeof API_VERSIONS] : undefined;
  if (!schema) {
    const at = apiVersion === undefined ? { file: found.file, line: 1, column: 1 } : source.locate(['apiVersion']);
    const message = apiVersion === undefined ? 'apiVersion is missing' : `unknown apiVersion ${JSON.stringify(apiVersion)}`;
    return { ...base, manifest: undefined, valid: false, problems: [problem('api_version', at, message, 'use "infra/v1" (seed convention) or "infra/v2" (adds command, health, kind, domains, env_file, backup).')] };
  }
  const problems = checkSchema(schema, source, value);
  const valid = problems.length === 0;
  const manifest = value as unknown as InfraManifest;
  const declared = typeof record['environment'] === 'string' ? (record['environment'] as string) : 'prod';
  const envNode = record['environment'] === undefined ? undefined : source.locate(['environment']);
  // A schema problem on the environment value already says what is wrong with it.
  const envAlreadyReported = envNode !== undefined && problems.some((p) => p.line === envNode.line && p.column === envNode.column);
  if (declared !== found.fileEnvironment && !envAlreadyReported) {
    const at = record['environment'] === undefined ? source.locate(['project'], { key: true }) : source.locate(['environment']);
    const expectedName = declared === 'prod' ? '.infra.yaml' : `.infra.${declared}.yaml`;
    problems.push(
      problem('env_variants', at, `environment is "${declared}" but the file name says "${found.fileEnvironment}"`,
        record['environment'] === undefined ? `add "environment: ${found.fileEnvironment}", or rename the file to ${expectedName}` : `set "environment: ${found.fileEnvironment}", or rename the file to ${expectedName}`),
    );
  }
  return { ...base, manifest, environment: found.fileEnvironment, valid, problems };
}

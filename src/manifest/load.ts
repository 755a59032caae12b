/**
 * Reads one manifest: YAML with positions, the schema of its apiVersion, and
 * the file-name/environment agreement (env_variants).
 */
import { MAX_MANIFEST_BYTES, readRegularFileSync, type ReadOutcome } from '../files/read.js';
import { nameIssue, type NameKind } from '../names.js';
import { problem, type Location, type Problem } from '../problems.js';
import type { PathSegment } from '../source/document.js';
import { abbreviated, hasControlCharacter, printable } from '../text/control.js';
import { SourceDocument } from '../source/document.js';
import { checkSchema } from '../source/schema-check.js';
import { ManifestCache } from './cache.js';
import type { DiscoveredManifest } from './discover.js';
import type { InfraManifest } from './types.js';
import { hardeningProblems } from './hardening.js';
import { secretsProblems, takesCredentials } from './secrets.js';

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
/** `read`: the file as already read (the resolved-fleet cache hashed that very text). */
export function loadManifest(
  found: DiscoveredManifest,
  cache?: ManifestCache,
  read: ReadOutcome = readRegularFileSync(found.path, MAX_MANIFEST_BYTES),
): LoadedManifest {
  if (!('text' in read)) {
    const source = SourceDocument.parseYaml(found.file, '');
    return {
      ...found,
      source,
      manifest: undefined,
      environment: found.fileEnvironment,
      valid: false,
      problems: [unreadable(found.file, read.code, read.error)],
    };
  }
  const text = read.text;
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

function unreadable(file: string, code: string, error: string): Problem {
  const at = { file, line: 1, column: 1 };
  if (code === 'EFBIG')
    return problem(
      'file_size',
      at,
      `the manifest is too large: ${error}`,
      'a manifest describes one project in a few kilobytes (docs/manifest.md, "Limits"): is this the right file?',
    );
  if (code === 'ENOTREG')
    return problem('discovery', at, `cannot read the manifest: ${error}`, 'a manifest is a regular file: remove or rename this one');
  return problem('discovery', at, `cannot read manifest (${code})`);
}

export function parseManifest(found: DiscoveredManifest, text: string): LoadedManifest {
  if (text.length > MAX_MANIFEST_BYTES) {
    const source = SourceDocument.parseYaml(found.file, '');
    return {
      ...found,
      source,
      manifest: undefined,
      environment: found.fileEnvironment,
      valid: false,
      problems: [unreadable(found.file, 'EFBIG', `it is larger than the limit of ${MAX_MANIFEST_BYTES / 1024 / 1024} MiB`)],
    };
  }
  const source = SourceDocument.parseYaml(found.file, text);
  const base = { ...found, source, environment: found.fileEnvironment };
  if (source.syntaxProblems.length > 0) return { ...base, manifest: undefined, valid: false, problems: source.syntaxProblems };

  const value = source.value;
  if (value === null || value === undefined) {
    return {
      ...base,
      manifest: undefined,
      valid: false,
      problems: [
        problem(
          'schema',
          { file: found.file, line: 1, column: 1 },
          'the manifest is empty',
          'a manifest needs at least apiVersion, project and provider.',
        ),
      ],
    };
  }
  if (typeof value !== 'object' || Array.isArray(value)) {
    return {
      ...base,
      manifest: undefined,
      valid: false,
      problems: [problem('schema', source.locate([]), 'a manifest must be a mapping of keys (apiVersion, project, provider, …)')],
    };
  }
  const record = value as Record<string, unknown>;
  const apiVersion = record['apiVersion'];
  // Own keys only: a YAML string such as "valueOf" must not reach Object.prototype.
  const schema =
    typeof apiVersion === 'string' && Object.hasOwn(API_VERSIONS, apiVersion) ? API_VERSIONS[apiVersion as keyof typeof API_VERSIONS] : undefined;
  if (!schema) {
    const at = apiVersion === undefined ? { file: found.file, line: 1, column: 1 } : source.locate(['apiVersion']);
    const message = apiVersion === undefined ? 'apiVersion is missing' : `unknown apiVersion ${JSON.stringify(apiVersion)}`;
    return {
      ...base,
      manifest: undefined,
      valid: false,
      problems: [
        problem(
          'api_version',
          at,
          message,
          'use "infra/v1" (the infra/v1 convention: project, service, database, droplets) or "infra/v2" (adds command, health, kind, domains, env_file, backup).',
        ),
      ],
    };
  }
  const problems = checkSchema(schema, source, value);
  // Names and paths are checked once the types are right; like a schema problem, a bad one keeps the manifest out of the fleet.
  if (problems.length === 0) problems.push(...checkHostValues(source, value as unknown as InfraManifest, found.fileEnvironment));
  if (hasControlCharacter(found.file)) {
    problems.push(
      problem(
        'control_character',
        { file: found.file, line: 1, column: 1 },
        `the path of this manifest contains a control character: ${printable(JSON.stringify(found.file))}`,
        'rename the directory or file: a line break in a path would reach the comments of rendered units and Caddyfiles',
      ),
    );
  }
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
      problem(
        'env_variants',
        at,
        `environment is "${declared}" but the file name says "${found.fileEnvironment}"`,
        record['environment'] === undefined
          ? `add "environment: ${found.fileEnvironment}", or rename the file to ${expectedName}`
          : `set "environment: ${found.fileEnvironment}", or rename the file to ${expectedName}`,
      ),
    );
  }
  return { ...base, manifest, environment: found.fileEnvironment, valid, problems };
}

/**
 * Names, paths and ports that end up on hosts (unit names, directories, ssh and shell arguments):
 * the definition the operations use (src/names.ts), so what validate accepts every command can use.
 */
function checkHostValues(source: SourceDocument, m: InfraManifest, environment: string): Problem[] {
  const out: Problem[] = [];
  const check = (kind: NameKind, value: string, path: PathSegment[], what: string, at?: Location): void => {
    const issue = nameIssue(kind, value);
    if (issue !== undefined)
      out.push(
        problem(
          'safe_name',
          at ?? source.locate(path),
          `${what} ${JSON.stringify(abbreviated(value, 80))} ${issue}`,
          kind === 'path'
            ? 'use an absolute path without ".." or control characters'
            : 'use letters, digits, ".", "_" and "-", starting with a letter or digit',
        ),
      );
  };
  check('project', m.project, ['project'], 'project name');
  check(
    'environment',
    environment,
    ['environment'],
    'environment',
    m.environment === undefined ? source.locate(['project'], { key: true }) : undefined,
  );
  const s = m.service;
  if (!s) return out;
  if (s.port !== undefined && (s.port < 1 || s.port > 65535))
    out.push(problem('port_range', source.locate(['service', 'port']), `port ${s.port} is outside 1-65535`));
  s.swap?.ports.forEach((port, i) => {
    if (port < 1 || port > 65535) out.push(problem('port_range', source.locate(['service', 'swap', 'ports', i]), `port ${port} is outside 1-65535`));
  });
  if (s.swap !== undefined) {
    const [a, b] = s.swap.ports;
    if (a === b)
      out.push(
        problem(
          'swap_ports',
          source.locate(['service', 'swap', 'ports', 1]),
          `swap.ports are both ${a}`,
          'two different ports: the new release starts on the one the old does not use',
        ),
      );
    else if (s.port !== a && s.port !== b)
      out.push(
        problem(
          'swap_ports',
          source.locate(['service', s.port === undefined ? 'swap' : 'port']),
          `port ${s.port ?? '(none)'} is not one of swap.ports [${a}, ${b}]`,
          'set service.port to one of them: the port the edge routes to before the first swap',
        ),
      );
    if (s.command === undefined)
      out.push(
        problem(
          'swap_ports',
          source.locate(['service', 'swap']),
          'swap needs service.command: manage-apps runs the two instances from a unit it renders',
          'add service.command, or drop swap',
        ),
      );
  }
  if (s.systemd_unit !== undefined) check('unit', s.systemd_unit, ['service', 'systemd_unit'], 'unit name');
  if (s.user !== undefined) check('user', s.user, ['service', 'user'], 'user');
  if (s.directory !== undefined) check('path', s.directory, ['service', 'directory'], 'directory');
  if (s.env_file !== undefined) check('path', s.env_file, ['service', 'env_file'], 'env_file');
  if (s.health?.readiness !== undefined) check('http path', s.health.readiness, ['service', 'health', 'readiness'], 'readiness path');
  if (s.health?.liveness !== undefined) check('http path', s.health.liveness, ['service', 'health', 'liveness'], 'liveness path');
  s.depends_on?.forEach((dep, i) => check('project', dep, ['service', 'depends_on', i], 'dependency'));
  out.push(
    ...hardeningProblems(source, s.hardening, {
      compose: s.compose !== undefined,
      directory: s.directory ?? `/srv/${m.project}`,
      ...(s.user === undefined ? {} : { user: s.user }),
    }),
  );
  out.push(...secretsProblems(source, s.secrets, { credentials: takesCredentials(s, m.provider) }));
  return out;
}

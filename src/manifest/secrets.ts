/**
 * service.secrets (infra/v2): the secrets a service needs and where each one comes from on the
 * operator's machine. The manifest names a source, never a value (docs/secrets.md):
 *
 *   secrets:
 *     AUTH_SECRET: { file: ~/.vault/auth_secret }        # a file only its owner can read (0600/0400)
 *     OPENROUTER_API_KEY: { pass: cogni/openrouter }    # a `pass` entry (its first line)
 *     LITELLM_MASTER_KEY: { env: LITELLM_MASTER_KEY }   # an environment variable of the operator's shell
 *     GHCR_DEPLOY_TOKEN: { command: op read op://deploy/ghcr/token }   # a command's stdout
 *     SIGNING_KEY: { pass: cogni/signing, as: env }     # delivered as an env var instead of a credential
 *
 * This module only knows the names, so `validate` can locate every mistake; resolving a source
 * is src/secrets/resolve.ts, delivering is src/secrets/host-scripts.ts.
 */
import type { Location, Problem } from '../problems.js';
import { problem } from '../problems.js';
import type { PathSegment, SourceDocument } from '../source/document.js';
import { closest } from '../text/suggest.js';
import { hasControlCharacter } from '../text/control.js';

/** Where a secret's value comes from on the operator's machine. */
export const SECRET_SOURCES = ['file', 'pass', 'env', 'command'] as const;
export type SecretSourceKind = (typeof SECRET_SOURCES)[number];

/** How it reaches the service: a systemd credential ($CREDENTIALS_DIRECTORY) or a variable of an env file. */
export const SECRET_DELIVERIES = ['credential', 'env'] as const;
export type SecretDelivery = (typeof SECRET_DELIVERIES)[number];

/** One entry of service.secrets as written. */
export interface ManifestSecretSource {
  file?: string;
  pass?: string;
  env?: string;
  command?: string;
  as?: SecretDelivery;
}

/**
 * A secret's name: the variable of the env file, the credential's name. Letters, digits and
 * "_", not starting with a digit: a name a shell, an env file and systemd all take as is.
 */
export const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** A pass entry: path segments of plain characters (no "..", no leading "-" that pass would read as an option). */
const PASS_ENTRY = /^[A-Za-z0-9_@+=.,:][A-Za-z0-9_@+=.,:-]*(\/[A-Za-z0-9_@+=.,:][A-Za-z0-9_@+=.,:-]*)*$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MAX_REF = 1000;

/** A resolved declaration: what the model and the operations use. */
export interface SecretDeclaration {
  name: string;
  source: { kind: SecretSourceKind; ref: string };
  delivery: SecretDelivery;
}

/** Text that says which source, never a value (sources hold none): `pass cogni/auth`, `file ~/.vault/x`. */
export function describeSource(s: SecretDeclaration['source']): string {
  return `${s.kind} ${s.ref}`;
}

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** A unit manage-apps renders (a systemd service with a command) can load credentials; every other service reads env variables. */
export function takesCredentials(s: { compose?: unknown; command?: string; systemd_unit?: string }, provider: string): boolean {
  return s.compose === undefined && s.command !== undefined && s.systemd_unit === undefined && provider !== 'local' && provider !== 'mac';
}

export interface SecretsTarget {
  /** Deliveries this service can take: a unit manage-apps renders takes credentials, every service takes env. */
  credentials: boolean;
}

/** The declarations of a service.secrets block that validated (the rest is reported by secretsProblems). */
export function secretDeclarations(block: unknown, target: SecretsTarget): SecretDeclaration[] {
  if (!isRecord(block)) return [];
  const out: SecretDeclaration[] = [];
  for (const [name, entry] of Object.entries(block)) {
    if (!SECRET_NAME.test(name) || !isRecord(entry)) continue;
    const kinds = SECRET_SOURCES.filter((k) => typeof entry[k] === 'string');
    if (kinds.length !== 1) continue;
    const kind = kinds[0]!;
    const as = entry['as'];
    const delivery: SecretDelivery = as === 'env' || as === 'credential' ? as : target.credentials ? 'credential' : 'env';
    out.push({ name, source: { kind, ref: entry[kind] as string }, delivery });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Every mistake in service.secrets, located. The block's schema is loose on purpose: a value
 * written where a source belongs must be reported as that (and masked), not as a type error
 * that quotes it. Problems on a line that may hold a value are marked redact.
 */
export function secretsProblems(source: SourceDocument, block: unknown, target: SecretsTarget): Problem[] {
  if (block === undefined) return [];
  const out: Problem[] = [];
  const at = (...path: PathSegment[]): Location => source.locate(['service', 'secrets', ...path]);
  const add = (where: Location, message: string, hint?: string, redact = false) => {
    const p = problem('secrets', where, message, hint);
    if (redact) p.redact = true;
    out.push(p);
  };
  if (!isRecord(block)) {
    add(
      at(),
      'service.secrets is a map from each secret name to where its value comes from',
      'e.g. secrets: { AUTH_SECRET: { file: ~/.vault/auth_secret } }',
      true,
    );
    return out;
  }
  for (const [name, entry] of Object.entries(block)) {
    if (!SECRET_NAME.test(name)) {
      add(
        at(name),
        `secret name ${JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}…` : name)} is not a plain name`,
        'letters, digits and "_", not starting with a digit, at most 128 (it becomes an env variable and a credential name)',
      );
      continue;
    }
    if (!isRecord(entry)) {
      add(
        at(name),
        `${name} holds a value written into the manifest: a manifest names where a secret comes from, never the secret`,
        `remove it (and from git history), rotate it, and name its source: ${name}: { file: ~/.vault/${name.toLowerCase()} } (or pass, env, command)`,
        true,
      );
      continue;
    }
    const kinds: SecretSourceKind[] = [];
    const before = out.length;
    for (const [key, value] of Object.entries(entry)) {
      if ((SECRET_SOURCES as readonly string[]).includes(key)) {
        kinds.push(key as SecretSourceKind);
        if (typeof value !== 'string' || value.trim() === '') add(at(name, key), `${name}: ${key} is a non-empty string`);
        continue;
      }
      if (key === 'as') {
        if (value !== 'credential' && value !== 'env') add(at(name, 'as'), `${name}: as is "credential" or "env"`);
        else if (value === 'credential' && !target.credentials)
          add(
            at(name, 'as'),
            `${name}: a credential needs a unit manage-apps renders (a systemd service with service.command); this service reads env variables`,
            'remove as (env is the default here)',
          );
        continue;
      }
      if (key === 'value' || key === 'default' || key === 'secret') {
        add(
          at(name, key),
          `${name}: a value written into the manifest: a manifest names where a secret comes from, never the secret`,
          'remove it (and from git history), rotate it, and name its source: file, pass, env or command',
          true,
        );
        continue;
      }
      const near = closest(key, SECRET_SOURCES);
      add(
        at(name, key),
        `${name}: "${key}" is not a secret source manage-apps knows`,
        near !== undefined ? `did you mean ${near}?` : `one of ${SECRET_SOURCES.join(', ')} (and optionally as: credential | env)`,
      );
    }
    if (kinds.length === 0 && out.length === before)
      add(at(name), `${name} names no source`, `one of ${SECRET_SOURCES.join(', ')}, e.g. ${name}: { pass: project/${name.toLowerCase()} }`);
    if (kinds.length > 1) add(at(name, kinds[1]!), `${name} names ${kinds.length} sources (${kinds.join(', ')}): one secret has one source`);
    if (kinds.length !== 1) continue;
    const kind = kinds[0]!;
    const ref = entry[kind];
    if (typeof ref !== 'string' || ref.trim() === '') continue;
    const issue = refIssue(kind, ref);
    if (issue !== undefined) add(at(name, kind), `${name}: ${kind} ${issue.message}`, issue.hint);
  }
  return out;
}

function refIssue(kind: SecretSourceKind, ref: string): { message: string; hint?: string } | undefined {
  if (ref.length > MAX_REF) return { message: `is ${ref.length} characters long (at most ${MAX_REF})` };
  if (hasControlCharacter(ref)) return { message: 'contains a control character (a line break, tab, …)' };
  switch (kind) {
    case 'file':
      if (!ref.startsWith('/') && !ref.startsWith('~/'))
        return { message: `${JSON.stringify(ref)} is not an absolute path or one under ~/`, hint: 'e.g. ~/.vault/auth_secret' };
      if (ref.split('/').includes('..')) return { message: `${JSON.stringify(ref)} contains ".."` };
      return undefined;
    case 'pass':
      return PASS_ENTRY.test(ref) && !ref.split('/').includes('..')
        ? undefined
        : {
            message: `${JSON.stringify(ref)} is not a plain pass entry`,
            hint: 'path segments of letters, digits and _ @ + = . , : -, e.g. cogni/auth_secret',
          };
    case 'env':
      return ENV_NAME.test(ref) ? undefined : { message: `${JSON.stringify(ref)} is not an environment variable name` };
    case 'command':
      return undefined;
  }
}

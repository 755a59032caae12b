/**
 * What a valid name is, defined once: `validate` (rule safe_name, checked when a manifest is
 * loaded) and the operations (validName in transport/quote.ts, before anything reaches a host)
 * ask the same function, so a name validate accepts is one every command can use. The
 * inventory schema's `name` (hosts, clusters) says the same; a test holds them together.
 */
import { hasControlCharacter } from './text/control.js';

/** Project, environment and host names end up in unit names, file names and ssh arguments. */
export const MAX_NAME_LENGTH = 128;
/** systemd's own limit on a unit name (UNIT_NAME_MAX, 256 with the NUL). */
export const MAX_UNIT_LENGTH = 255;
/** Linux's limit on a path (PATH_MAX, 4096 with the NUL). */
export const MAX_PATH_LENGTH = 4095;

export const PLAIN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
export const UNIT_NAME = /^[A-Za-z0-9][A-Za-z0-9:_.@\\-]*\.(service|timer|socket|target|path|mount)$/;
export const USER_NAME = /^[a-z_][a-z0-9_-]*$/;
const HTTP_PATH = /^\/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*$/;

export type NameKind = 'project' | 'environment' | 'host' | 'unit' | 'user' | 'release' | 'path' | 'http path';

/** Why `value` is not a valid name of its kind, or undefined when it is one. */
export function nameIssue(kind: NameKind, value: string): string | undefined {
  switch (kind) {
    case 'unit':
      if (value.length > MAX_UNIT_LENGTH) return `is ${value.length} characters long (at most ${MAX_UNIT_LENGTH})`;
      return UNIT_NAME.test(value) && !value.includes('..') ? undefined : 'is not a plain systemd unit name (e.g. my-app.service)';
    case 'user':
      return USER_NAME.test(value) && value.length <= 32
        ? undefined
        : 'is not a plain user name (lower case letters, digits, "_" and "-", at most 32)';
    case 'path':
      if (!value.startsWith('/')) return 'is not an absolute path';
      if (hasControlCharacter(value)) return 'contains a control character (a line break, tab, escape, …)';
      if (value.length > MAX_PATH_LENGTH) return `is ${value.length} characters long (at most ${MAX_PATH_LENGTH})`;
      return value.split('/').includes('..') ? 'contains ".."' : undefined;
    case 'http path':
      return HTTP_PATH.test(value) && value.length <= MAX_PATH_LENGTH ? undefined : 'is not a plain URL path (e.g. /readyz)';
    default:
      if (value.length > MAX_NAME_LENGTH) return `is ${value.length} characters long (at most ${MAX_NAME_LENGTH})`;
      return PLAIN_NAME.test(value) ? undefined : 'is not a plain name: letters, digits, ".", "_" and "-", starting with a letter or digit';
  }
}

/** The cluster engines whose database and user names are PostgreSQL's (the data commands drive them). */
export const POSTGRES_ENGINES: ReadonlySet<string> = new Set(['postgres', 'timescaledb']);

/** PostgreSQL identifiers manage-apps creates: plain lower-case names (no quoting surprises, no case folding). */
export const PG_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Names with a meaning of their own: pg_hba.conf reads `all`, `sameuser`, `samerole`,
 * `samegroup` and `replication` as keywords (`user: all` would admit every role, superusers
 * included), `+name` and `@file` as a group and a file; `postgres`, `template0` and `template1`
 * are the cluster's own databases, `postgres` its superuser; PostgreSQL reserves role names
 * starting with `pg_` and the role words `public`, `none`, `current_user`, `current_role`,
 * `session_user`.
 */
const HBA_KEYWORDS = new Set(['all', 'sameuser', 'samerole', 'samegroup', 'replication']);
const RESERVED_DATABASES = new Set(['postgres', 'template0', 'template1']);
const RESERVED_ROLES = new Set(['postgres', 'public', 'none', 'current_user', 'current_role', 'session_user']);

/** Why `value` cannot be a database (or user) name manage-apps provisions, or undefined when it can. */
export function pgNameIssue(kind: 'database' | 'user', value: string): string | undefined {
  if (value.startsWith('+') || value.startsWith('@'))
    return `starts with "${value[0]}", which pg_hba.conf reads as ${value[0] === '+' ? 'a group' : 'a file to include'}`;
  if (HBA_KEYWORDS.has(value)) return 'is a pg_hba.conf keyword (all, sameuser, samerole, samegroup, replication), not a name';
  if (!PG_NAME.test(value)) return 'is not a plain PostgreSQL name: lower-case letters, digits and _ (at most 63), starting with a letter or _';
  if (kind === 'database' && RESERVED_DATABASES.has(value)) return "is one of the cluster's own databases (postgres, template0, template1)";
  if (kind === 'user' && RESERVED_ROLES.has(value))
    return value === 'postgres' ? "is the cluster's superuser: an app never uses the admin role" : 'is a role name PostgreSQL reserves';
  if (kind === 'user' && value.startsWith('pg_')) return 'starts with pg_, which PostgreSQL reserves for its own roles';
  return undefined;
}

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
      return USER_NAME.test(value) && value.length <= 32 ? undefined : 'is not a plain user name (lower case letters, digits, "_" and "-", at most 32)';
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

export function isValidName(kind: NameKind, value: string): boolean {
  return nameIssue(kind, value) === undefined;
}

/**
 * Building remote commands safely. Every command that reaches a shell — on a host over ssh or
 * locally in PID mode — is made from validated names and POSIX single-quoted arguments:
 * nothing the user or a manifest wrote is ever interpreted by the shell.
 */
import { randomBytes } from 'node:crypto';
import { UsageError } from '../errors.js';
import { nameIssue, type NameKind } from '../names.js';
import { abbreviated } from '../text/control.js';

/**
 * POSIX single-quoting: the result, read by any POSIX shell, is exactly `value`.
 * Inside single quotes nothing is special except the closing quote, written as '\''.
 * NUL cannot travel through argv or a shell script, so it is refused.
 */
export function quote(value: string): string {
  if (value.includes('\0')) throw new UsageError('a shell argument cannot contain a NUL byte');
  if (value !== '' && /^[A-Za-z0-9_./:@%+,-]+$/.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** A piece of shell text that must not be quoted again (built by `sh` or `raw`). */
export class Shell {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

/** Marks trusted shell text written in this code base (never user data). */
export function raw(text: string): Shell {
  return new Shell(text);
}

/**
 * Tagged template for shell commands: every interpolated value is single-quoted, arrays become
 * several quoted words, and `Shell` values (from `sh`/`raw`) are inserted as they are.
 *   sh`systemctl show -p ${props} -- ${unit}`
 */
export function sh(strings: TemplateStringsArray, ...values: unknown[]): Shell {
  let out = strings[0] ?? '';
  values.forEach((value, i) => {
    out += render(value) + (strings[i + 1] ?? '');
  });
  return new Shell(out);
}

function render(value: unknown): string {
  if (value instanceof Shell) return value.text;
  if (Array.isArray(value)) return value.map(render).join(' ');
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value === 'string') return quote(value);
  throw new TypeError(`cannot put ${typeof value} into a shell command`);
}

// ---- validated names ------------------------------------------------------------------------

/** Throws unless `value` is a safe name of its kind (the definition validate uses: src/names.ts); returns it for chaining. */
export function validName(kind: NameKind, value: string): string {
  const issue = nameIssue(kind, value);
  if (issue !== undefined)
    throw new UsageError(
      `unsafe ${kind} name ${JSON.stringify(abbreviated(value, 80))}: it ${issue}`,
      'manage-apps validate reports where it is declared (rule safe_name)',
    );
  return value;
}

/** A name usable in a file name for a service id ("platform-api:dev" → "platform-api.dev"). */
export function fileSafe(id: string): string {
  return id.replace(/[^A-Za-z0-9._-]/g, '.');
}

/** A here-document delimiter that occurs in none of the texts. */
function delimiter(prefix: string, ...texts: string[]): string {
  for (;;) {
    const d = `${prefix}_${randomBytes(6).toString('hex')}`;
    if (!texts.some((t) => t.split('\n').includes(d))) return d;
  }
}

/** `cat <<'D' … D` feeding `command`: the text reaches the command on stdin, never argv, and the shell expands nothing in it. */
export function heredoc(command: string, text: string, prefix = 'MA_EOF', after = ''): string {
  const d = delimiter(prefix, text);
  return `${command} <<'${d}'${after}\n${text}${text.endsWith('\n') || text === '' ? '' : '\n'}${d}`;
}

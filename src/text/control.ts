/**
 * Control characters: a line break (or any other C0/C1 control, DEL, or a Unicode line or
 * paragraph separator) in a file name or a value would end a line of a rendered config and
 * start a directive of its own. Names and paths that reach rendered files or commands must
 * carry none; text that is only shown (comments, messages) has them made visible.
 */
export const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
export const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

export function hasControlCharacter(text: string): boolean {
  return CONTROL_CHARACTER.test(text);
}

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** The text with every control character written as an escape (\n, \t, \x1b, \u2028): one line, nothing invisible. */
export function printable(text: string): string {
  if (!CONTROL_CHARACTER.test(text)) return text;
  return text.replace(CONTROL_CHARACTERS, (ch) => NAMED[ch] ?? (ch.charCodeAt(0) <= 0xff ? `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}` : `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`));
}

/** A value for a message: at most `max` characters (the middle elided), so a megabyte value cannot flood a terminal. */
export function abbreviated(text: string, max = 200): string {
  if (text.length <= max) return text;
  const keep = Math.floor((max - 1) / 2);
  return `${text.slice(0, keep)}…${text.slice(text.length - keep)}`;
}

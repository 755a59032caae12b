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
  return text.replace(
    CONTROL_CHARACTERS,
    (ch) =>
      NAMED[ch] ??
      (ch.charCodeAt(0) <= 0xff ? `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}` : `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`),
  );
}

/** A value for a message: at most `max` characters (the middle elided), so a megabyte value cannot flood a terminal. */
export function abbreviated(text: string, max = 200): string {
  if (text.length <= max) return text;
  const keep = Math.floor((max - 1) / 2);
  return `${text.slice(0, keep)}…${text.slice(text.length - keep)}`;
}

/**
 * Text a host or an application wrote — journal lines, `docker logs`, a deploy script's output,
 * a readiness answer, ssh's and a host's error messages — reaches the operator's terminal. Left
 * as it is, an escape sequence in it would drive that terminal: set its title, write its
 * clipboard (OSC 52), move the cursor to overwrite what was printed before, or hide lines.
 * `inert` keeps the text's lines and tabs and writes every other control character as an escape
 * (`\x1b`, `\r`, `\x9b`), so nothing in it is acted on.
 */
const TERMINAL_ACTIVE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/;
const TERMINAL_ACTIVE_ALL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/g;

function escapeOne(ch: string): string {
  return (
    NAMED[ch] ??
    (ch.charCodeAt(0) <= 0xff ? `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}` : `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`)
  );
}

export function inert(text: string): string {
  if (!TERMINAL_ACTIVE.test(text)) return text;
  return text.replace(TERMINAL_ACTIVE_ALL, escapeOne);
}

/** The SGR sequences manage-apps' own styling prints (bold, dim, red, green, yellow, blue, cyan, and their resets). */
const OWN_STYLE = /\u001b\[(?:1|2|22|31|32|33|34|36|39)m/y;

/**
 * The one gate between what a command prints and the terminal: like `inert`, except that with
 * `keepStyle` (the styling is on) manage-apps' own colour sequences stay. Whatever an application
 * managed to get past the places that make its text inert can at most recolour, never move the
 * cursor, set a title or write the clipboard.
 */
export function forTerminal(text: string, keepStyle: boolean): string {
  if (!TERMINAL_ACTIVE.test(text)) return text;
  let out = '';
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (!TERMINAL_ACTIVE.test(ch)) continue;
    out += text.slice(start, i);
    if (keepStyle && ch === '\u001b') {
      OWN_STYLE.lastIndex = i;
      const m = OWN_STYLE.exec(text);
      if (m) {
        out += m[0];
        i += m[0].length - 1;
        start = i + 1;
        continue;
      }
    }
    out += escapeOne(ch);
    start = i + 1;
  }
  return out + text.slice(start);
}

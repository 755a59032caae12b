/**
 * A command line split the way a POSIX shell would split it (quotes removed), and whether it
 * needs a shell at all: the systemd unit renderer (render/systemd-unit.ts) and PID mode
 * (runtime/pid.ts) run such commands the same way.
 */

/** A command line that cannot be split (an unclosed quote, a lone backslash, nothing at all). */
export class CommandLineError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CommandLineError';
  }
}

/** Outside quotes, these make the command shell syntax (operators, expansions, globs, comments). */
const SHELL_CHARS = new Set(['|', '&', ';', '<', '>', '(', ')', '$', '`', '*', '?', '[', ']', '{', '}', '~', '#', '!', '\n', '\r']);

/** The words of a command, quotes removed, and whether it needs a shell (operators, expansions, globs). Throws CommandLineError. */
export function splitCommand(command: string): { words: string[]; shell: boolean } {
  const words: string[] = [];
  let word: string | undefined;
  let shell = false;
  let i = 0;
  const push = (s: string) => {
    word = (word ?? '') + s;
  };
  while (i < command.length) {
    const c = command[i]!;
    if (c === ' ' || c === '\t') {
      if (word !== undefined) words.push(word);
      word = undefined;
      i++;
    } else if (c === "'") {
      const end = command.indexOf("'", i + 1);
      if (end === -1) throw new CommandLineError('the command has an unclosed single quote');
      push(command.slice(i + 1, end));
      i = end + 1;
    } else if (c === '"') {
      let j = i + 1;
      let text = '';
      for (;;) {
        if (j >= command.length) throw new CommandLineError('the command has an unclosed double quote');
        const d = command[j]!;
        if (d === '"') break;
        if (d === '$' || d === '`') shell = true;
        if (d === '\\' && j + 1 < command.length && '"\\$`\n'.includes(command[j + 1]!)) {
          text += command[j + 1];
          j += 2;
          continue;
        }
        text += d;
        j++;
      }
      push(text);
      i = j + 1;
    } else if (c === '\\') {
      if (i + 1 >= command.length) throw new CommandLineError('the command ends with a lone backslash');
      if (command[i + 1] === '\n') shell = true;
      push(command[i + 1]!);
      i += 2;
    } else {
      if (SHELL_CHARS.has(c)) shell = true;
      push(c);
      i++;
    }
  }
  if (word !== undefined) words.push(word);
  if (words.length === 0) throw new CommandLineError('the command is empty');
  // A lone ";" is systemd's own command separator: leave such commands to the shell.
  if (words.some((w) => w === ';')) shell = true;
  return { words, shell };
}

/**
 * A command that is one simple command, possibly after NAME=value assignments (what sh would
 * run with those variables in its environment): its assignments and argv, quotes removed.
 * Undefined when it needs more of the shell (operators, expansions, globs) or does not parse.
 * PID mode uses it to exec the program itself, so its pid is the one tracked.
 */
export function simpleCommand(command: string): { assignments: [string, string][]; argv: string[] } | undefined {
  let lexed: { words: string[]; shell: boolean };
  try {
    lexed = splitCommand(command);
  } catch {
    return undefined;
  }
  if (lexed.shell) return undefined;
  const assignments: [string, string][] = [];
  let i = 0;
  for (; i < lexed.words.length; i++) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(lexed.words[i]!);
    if (!m) break;
    assignments.push([m[1]!, m[2]!]);
  }
  const argv = lexed.words.slice(i);
  return argv.length === 0 ? undefined : { assignments, argv };
}

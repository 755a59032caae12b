/**
 * Typed errors, mapped to exit codes by the one top-level catch in cli/main.ts.
 * User mistakes never print a stack trace; only InternalError does (with --debug).
 */
export const EXIT_OK = 0;
export const EXIT_PROBLEMS = 1;
export const EXIT_USAGE = 2;

export class ManageAppsError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  readonly exitCode: number;
  constructor(code: string, message: string, options: { hint?: string; exitCode?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? EXIT_USAGE;
  }
}

/** Wrong flags, unknown targets, a root that does not exist: exit 2. */
export class UsageError extends ManageAppsError {
  constructor(message: string, hint?: string) {
    super('E_USAGE', message, hint === undefined ? {} : { hint });
  }
}

/** Problems found in the user's files or fleet (already reported): exit 1. */
export class ProblemsFoundError extends ManageAppsError {
  constructor(message: string, hint?: string) {
    super('E_PROBLEMS', message, { exitCode: 1, ...(hint === undefined ? {} : { hint }) });
  }
}

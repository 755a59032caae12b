/** Orchestration: status, start, stop, restart, logs, deploy, rollback (issue 4). Implementations load on demand. */
import type { CommandSpec } from './types.js';

export const OPS_COMMANDS: CommandSpec[] = [];

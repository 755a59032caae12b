/** Fleet analysis: graph, impact, check independence, drain, backups (issue 5). Implementations load on demand. */
import type { CommandSpec } from './types.js';

export const ANALYSIS_COMMANDS: CommandSpec[] = [];

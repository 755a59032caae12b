/** Config renderers: net ssh-config/reconcile/wireguard/caddy, infra render, units (issue 6). Implementations load on demand. */
import type { CommandSpec } from './types.js';

export const RENDER_COMMANDS: CommandSpec[] = [];

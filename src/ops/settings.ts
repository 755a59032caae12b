/** How ops commands reach hosts: typed settings (the front ends parse their own flags into these). Light on purpose: status reads them before the rest of manage-apps is loaded. */
import { DEFAULT_CONNECT_TIMEOUT_S } from '../transport/ssh.js';

export interface OpsSettings {
  /** ssh config file for -F (--ssh-config / MANAGE_APPS_SSH_CONFIG). */
  sshConfig?: string;
  connectTimeoutS: number;
  /** Per-host command timeout for quick commands (status, stop), in ms. */
  commandTimeoutMs: number;
  /** Hosts worked on at once. */
  concurrency: number;
  /** Local PID-mode state directory (default <root>/.state). */
  stateDir?: string;
  /** For tests and benchmarks: a control directory for ssh multiplexing. */
  controlDir?: string;
}

export const DEFAULT_SETTINGS: OpsSettings = {
  connectTimeoutS: DEFAULT_CONNECT_TIMEOUT_S,
  commandTimeoutMs: 20_000,
  concurrency: 16,
};

/** What the user chose, over a command's own defaults, over everyone's. */
export function resolveSettings(given: Partial<OpsSettings>, defaults: Partial<OpsSettings> = {}): OpsSettings {
  return { ...DEFAULT_SETTINGS, ...defaults, ...given };
}

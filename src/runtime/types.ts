import type { ComposeTarget } from './compose.js';
/** What the runtime layer knows about one service on one host: enough to build its scripts. */
import type { RevertState } from './revert.js';

export interface RuntimeService {
  /** Service id (project, or project:env). */
  id: string;
  /** A file-name-safe form of the id (pid and log files). */
  key: string;
  /** systemd unit (systemd mode). */
  unit?: string;
  port?: number;
  readiness: string;
  liveness: string;
  /** PID mode: the command line, run with `sh -c` in workdir. */
  command?: string;
  /** PID mode: where the command runs. */
  workdir?: string;
  envFile?: string;
  /** systemd: the service directory (releases, `current`, the dead-man switch). */
  directory?: string;
  /** PID mode: extra environment (PORT, MANAGE_APPS_*). */
  env?: Record<string, string>;
  /** Compose mode: the compose project, service, file and container names. */
  compose?: ComposeTarget;
  /**
   * An edge that serves HTTPS on `port`: probed over TLS with this name as SNI and Host
   * (`ma_probe_tls`), and alive when it answers HTTP at all — the answer's status belongs to the
   * site's app, which status judges on its own row.
   */
  tls?: { name: string };
  /** systemd: service.swap.ports — the instance that serves is `<unit stem>@<port>` (runtime/swap.ts). */
  swap?: readonly [number, number];
}

/** What status knows of a compose service's container (null: none found). */
export interface ContainerStatus {
  id: string;
  name: string;
  status: string;
  health: string | null;
  restarts: number;
  /** The image reference it runs (repo@sha256:… once deployed by manage-apps). */
  image: string;
  /** The registry digest it runs, when its reference carries one. */
  digest: string | null;
  image_id: string;
}

export interface UnitState {
  /** systemd LoadState (loaded, not-found, masked, …); "pid-file" in PID mode. */
  load: string;
  /** active | inactive | failed | activating | deactivating | reloading; PID mode: active | inactive. */
  active: string;
  /** running, exited, dead, auto-restart, …; PID mode: running | dead | stale. */
  sub: string;
  /** When it entered the active state (ISO 8601), if it did. */
  since: string | null;
  /** systemd NRestarts; null in PID mode (nothing supervises the process). */
  restarts: number | null;
  pid: number | null;
}

export interface Probe {
  path: string;
  /** HTTP status; 0 = no answer. */
  status: number;
  ok: boolean;
}

export interface Health {
  readiness: Probe;
  liveness: Probe;
}

export interface ServiceRuntimeStatus {
  id: string;
  /** A swap service: the instance status reports (the live one), when it is not the declared unit. */
  instance?: { unit: string; port: number | null };
  state: UnitState | null;
  /** null when the service has no port (a worker, a timer). */
  health: Health | null;
  /** The dead-man switch of its last activation, when one is armed or fired (revert.ts). */
  revert?: RevertState;
  /** Compose mode only. */
  container?: ContainerStatus | null;
}

export const isOk = (status: number): boolean => status >= 200 && status < 300;

/**
 * The data every runtime shares: what the runtime layer knows of a service on its host (enough
 * to build its scripts) and what a host's status says of it. Imports no runtime.
 */
import type { Shell } from '../transport/quote.js';

/** What a compose script needs to know about the service (all validated names). */
export interface ComposeTarget {
  /** docker compose -p. */
  project: string;
  service: string;
  /** The compose file inside the release directory. */
  file: string;
  /** Container names status looks for: container_name, else <project>_<service>_1 (v1) and <project>-<service>-1 (v2). */
  names: string[];
  /** Image repository (no tag): the digest kept is the one of this repository. */
  image?: string;
  envFile?: string;
  /** The secrets' env file (docs/secrets.md): in the override's env_file, after envFile. */
  secretsEnvFile?: string;
  /** The override's hardening lines for the service (render/compose-hardening.ts; ops adds them). */
  hardening?: string[];
}

/** What the runtime layer knows about one service on one host: enough to build its scripts. */

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
  /** The env file of its secrets delivered as variables (docs/secrets.md), read after envFile. */
  secretsEnvFile?: string;
  /** systemd: the service directory (releases, `current`, the dead-man switch). */
  directory?: string;
  /** PID mode: extra environment (PORT, MANAGE_APPS_*). */
  env?: Record<string, string>;
  /** PID mode: the state directory (pid and log files) as a shell word. */
  state?: Shell;
  /** Compose mode: the compose project, service, file and container names. */
  compose?: ComposeTarget;
  /**
   * An edge that serves HTTPS on `port`: probed over TLS with this name as SNI and Host
   * (`ma_probe_tls`), and alive when it answers HTTP at all — the answer's status belongs to the
   * site's app, which status judges on its own row.
   */
  tls?: { name: string };
  /** systemd: service.swap.ports — the instance that serves is `<unit stem>@<port>` (runtime/systemd-swap.ts). */
  swap?: readonly [number, number];
  /** A scheduled job (service.schedule): its timer, its calendar and where the host keeps its runs (runtime/systemd-job.ts). */
  /** launchd (a Mac): the job's label, domain, user, plist (its path and text) and log files (runtime/launchd.ts). */
  launchd?: {
    label: string;
    domain: 'system' | 'gui';
    user: string;
    plistPath: string;
    daemons: string;
    plist: string;
    stdout: string;
    stderr: string;
  };
  job?: { timer: string; calendar: string; onCalendar: string; stateDir: string; timeoutS: number; graceS: number };
}

/** One finished run of a scheduled job, as the host recorded it. */
export interface JobRun {
  started: string | null;
  ended: string | null;
  duration_ms: number | null;
  /** systemd's result: success, exit-code, signal, timeout, core-dump, … */
  result: string;
  exit_status: number | null;
  /** The signal that ended it, when one did (e.g. TERM after its timeout, KILL). */
  signal: string | null;
  ok: boolean;
}

/** A scheduled job in a host's status (docs/json.md). */
export interface JobStatus {
  timer: string;
  /** As declared, and as systemd reads it (OnCalendar=). */
  calendar: string;
  on_calendar: string;
  /** The timer is active: runs will come. */
  scheduled: boolean;
  /** The next due time (ISO); null while a run goes or when nothing is scheduled. */
  next: string | null;
  last_trigger: string | null;
  /** A run in progress. */
  running: { since: string | null; pid: number | null } | null;
  last: JobRun | null;
  last_success: string | null;
  /** Seconds between due times, as the host's systemd computes the next two. */
  period_s: number | null;
  grace_s: number;
  /** Due times that passed while a run was still going: skipped, not doubled. */
  skipped: { count: number; last: string | null };
  /** The last success is older than the period plus grace (or nothing succeeded that long since the timer came up). */
  overdue: boolean;
}

export interface RevertState {
  /**
   * armed: the timer runs; reverting: the activation is being resolved right now; lost: armed
   * but the timer is gone (the host rebooted: the next deploy or rollback reverts it first);
   * fired: the last revert that fired (until the next activation).
   */
  state: 'armed' | 'reverting' | 'lost' | 'fired';
  release: string | null;
  previous: string | null;
  by?: string;
  /** armed: when it fires (ISO). */
  deadline?: string;
  /** fired: when, why and what came of it. */
  at?: string;
  reason?: string;
  result?: string;
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
  /** A scheduled job: its runs (`state` is then its timer's). */
  job?: JobStatus;
}

export const isOk = (status: number): boolean => status >= 200 && status < 300;

export interface HostReport {
  hostname: string | null;
  /** The host's clock (epoch seconds) when the script ran. */
  clock: number | null;
  services: ServiceRuntimeStatus[];
}

/** A gate's verdict ("@@gate<TAB>ready|crashed|timeout<TAB>detail<TAB>ms"). */
export interface GateResult {
  outcome: 'ready' | 'crashed' | 'timeout' | 'stopped' | 'unknown';
  detail: string;
  /** Milliseconds the action and the readiness wait took on the host. */
  elapsedMs: number | null;
  /** The port the gate probed (a swap service's new instance listens on the port that is not service.port). */
  port?: number;
}

/** What a failed start reports: the supervisor's view, the log since the start, the readiness answer. */
export interface Diagnosis {
  status: string;
  journal: string[];
  readiness: string | null;
}

/**
 * What a runtime is: everything that differs between the supervisors a service can run under
 * (systemd, PID mode, Docker Compose, …), as one interface. Each runtime is one module that
 * implements it (systemd.ts, pid.ts, compose.ts) and one line in registry.ts; nothing outside
 * src/runtime asks which supervisor a service has, it asks the service's runtime.
 *
 * A runtime builds POSIX sh scripts and parses what they print ("@@kind<TAB>…" records, shell.ts);
 * it never chooses a host or a transport. Where a verb needs several round trips (PID mode's
 * stop, start, gate), the caller hands it `run`, bound to the host the caller chose.
 *
 * This file imports no runtime, so any runtime (and the registry) can import it.
 */
import type { Service, Supervisor } from '../fleet/model.js';
import type { Shell } from '../transport/quote.js';
import type { RunResult } from '../transport/types.js';
import type { ContainerStatus, GateResult, RuntimeService, ServiceRuntimeStatus, UnitState } from './types.js';

/** Where a service runs, as far as its runtime view needs to know. */
export interface Placement {
  /** Reached over ssh (not this machine). */
  remote: boolean;
  /** Where PID-mode files live on that host, as a shell word (undefined: the service has no host). */
  state: Shell | undefined;
}

export type LifecycleAction = 'start' | 'stop' | 'restart';

export const ACTION_GERUND: Readonly<Record<LifecycleAction, string>> = { start: 'starting', stop: 'stopping', restart: 'restarting' };

/** One start, stop or restart of one service (ops/lifecycle.ts walks the dependency levels). */
export interface LifecycleCall {
  service: Service;
  rs: RuntimeService;
  action: LifecycleAction;
  /** start/restart: wait for readiness. */
  wait: boolean;
  /** Seconds between the polite stop and the kill. */
  graceS: number;
  /** How long the service may take to become ready; how long a quick script may take (ms). */
  timeoutMs: number;
  quickMs: number;
  /** Runs a script on the service's host (the caller chose the host and the transport). */
  run(script: string, timeoutMs: number): Promise<RunResult>;
  /** Progress for people ("restarting api.service, waiting for /readyz"). */
  report(message: string): void;
}

export type LifecycleOutcome = 'started' | 'running' | 'stopped' | 'not-running' | 'restarted' | 'failed' | 'unreachable';

/**
 * What came of it. A start that did not pass its gate names the gate's verdict and what the
 * caller should ask for the diagnosis (`diagnosisScript`): the journal since `since`, or the
 * log from byte `logOffset` on.
 */
export type LifecycleDone =
  | { outcome: LifecycleOutcome; ok: boolean; detail?: string }
  | { outcome: 'failed'; ok: false; gate: Pick<GateResult, 'outcome' | 'detail' | 'port'>; diagnose: DiagnosisFrom };

export interface DiagnosisFrom {
  /** Epoch seconds the start began (the journal, the container's log since then). */
  since?: number;
  /** PID mode: the log from this byte on (only what this start wrote). */
  logOffset?: number;
}

/** A service's row as status reports it: enough for the runtime to say what runs it. */
export interface StatusRow {
  unit: string | null;
  state: UnitState | null;
  container?: ContainerStatus | null;
}

/** A service as `list` shows it (declared, nothing asked of a host). */
export interface DeclaredRow {
  unit: string | null;
  compose?: { project: string; service: string } | null;
}

/** `S`: the supervisor it is registered under (registry.ts). */
export interface Runtime<S extends Supervisor = Supervisor> {
  readonly supervisor: S;
  /**
   * manage-apps itself starts and stops the service's process on the host (nothing there
   * supervises it): after a start on this machine it keeps running until `stop`.
   */
  readonly ownsProcesses: boolean;
  /** Why `units` renders no systemd unit for such a service (null: it renders one). */
  readonly noSystemdUnit: string | null;
  /** Why a scheduled job (service.schedule) cannot run under this runtime (null: it can). */
  readonly noSchedule: string | null;

  /** The runtime's own fields of the service's runtime view (`common` holds the shared ones, validated). */
  view(service: Service, common: RuntimeService, place: Placement): RuntimeService;

  // ---- status: one script per host, every runtime's part in it -----------------------------
  /** This runtime's part of a host's status script, for its services there ('' when none). */
  statusPart(services: readonly RuntimeService[]): string;
  /** What the host's one probe pass probes for these services (systemd: a swap's instances). */
  probed(services: readonly RuntimeService[]): RuntimeService[];
  /** The state and health of each service it reports, from the whole script's output. */
  parseStatus(services: readonly RuntimeService[], output: string): ServiceRuntimeStatus[];
  /** Why status has no state for the service. */
  noStateReason(service: Service): string;
  /** What runs the service, for status's table (the unit, the pid, the container). */
  statusLabel(row: StatusRow): string;
  /** What runs the service as declared, for `list` ('' when nothing says). */
  declaredLabel(row: DeclaredRow): string;

  // ---- lifecycle, diagnosis, logs ----------------------------------------------------------
  lifecycle(call: LifecycleCall): Promise<LifecycleDone>;
  /** What a failed start reports (undefined: nothing to ask). */
  diagnosisScript(rs: RuntimeService, from: DiagnosisFrom): string | undefined;
  /** The script that prints (or with `follow`, follows) the service's log, and what that log is. */
  logs(rs: RuntimeService, lines: number, follow: boolean): { script: string; source: string } | { error: string };

  /**
   * `run <job>`: the script that starts a scheduled job now and prints its output as it comes,
   * then "@@run<TAB>started|joined" and "@@ran<TAB>result<TAB>status" (absent: the runtime runs
   * no scheduled jobs; an error: this service is not one).
   */
  readonly runNow?: (rs: RuntimeService) => { script: string } | { error: string };

  /** What this runtime cannot take in the service's declaration, located in its manifest (validate reports them; rule `runtime`). */
  readonly declarationProblems?: (service: Service) => { path: (string | number)[]; message: string; hint?: string }[];

  // ---- releases (deploy, rollback, the dead-man switch) ------------------------------------
  /** Absent: the runtime ships no releases (PID mode runs from its working tree). */
  readonly releases?: ReleaseRuntime;
  /** Why `deploy` has nothing to do for such a service, when the runtime ships no releases. */
  readonly noDeploy?: string;
  /** Why `releases` shows none for such a service, in a few words, when the runtime ships no releases. */
  readonly noReleases?: string;
}

export interface ReleaseRuntime {
  /** This service's releases can be put into service (systemd: it has a unit). */
  activatable(service: Service): boolean;
  /** `imageRef`: compose, the image a new release pins. */
  activation(rs: RuntimeService, imageRef?: string, options?: ActivationOptions): ActivationRuntime;
}

export interface ActivationOptions {
  /** A scheduled job: stop a run in progress instead of waiting for it (deploy --force). */
  force?: boolean;
}

/**
 * How a runtime puts a release into service on its host: the one seam between the deploy path
 * (src/ops/deploy/*) and a supervisor.
 *
 * Every host-side script of a deploy, a rollback and the dead-man switch is built from three
 * parts: the release layout (release.ts: `releases/<id>`, `current`, the history, the lock),
 * the dead-man switch (revert.ts: arm, claim, revert) and these fragments. The deploy path never
 * says `systemctl`; a runtime never touches `current`, the lock or the history.
 *
 * Fragments name releases and epochs by shell variable (`install('rel')` works on "$rel").
 *
 *   - `install(release)`: what the release in variable `release` needs besides its files before it can run, with
 *     `current` about to point at it (systemd: the unit rendered for it, `.units/<id>.service`,
 *     installed and daemon-reloaded when it differs). May be empty.
 *   - `restartAndGate(timeoutMs)`: (re)start the service from `<directory>/current` and wait for
 *     readiness on the host; prints `@@since<TAB>epoch` and one `@@gate<TAB>ready|crashed|timeout
 *     <TAB>detail<TAB>ms` record, and ends the (sub)shell it runs in with 0 (ready) or 1.
 *   - `stop()`: stop the service (nothing is left to run).
 *   - `diagnose(since)`: print the `@@begin status` / `journal` / `readiness` sections a failed
 *     gate reports (`since`: a shell word holding the epoch the restart began).
 *   - `key`: a file- and unit-name-safe word naming this service on its host (the revert timer
 *     is `manage-apps-revert-<key>`), and `label`, a few words for messages.
 *
 * Fragments are POSIX sh, run after PRELUDE (so `$SUDO` and the ma_* probe helpers exist) and
 * the release variables (`$d`, `ma_log`); they may be run by the dead-man switch long after the
 * ssh session ended, as root, by systemd: they must not depend on the caller's environment.
 * Every value in them is a validated name or quoted (transport/quote.ts).
 */
export interface ActivationRuntime {
  readonly key: string;
  readonly label: string;
  /** Shell functions the fragments need, defined once per script. */
  readonly functions: string;
  install(release: string): string;
  /**
   * Run by a deploy or rollback before the revert is armed, so the window does not count it:
   * what may take long and changes nothing live (compose: pull and pin the image). Fails with
   * "@@error" (nothing was switched). `install` must still do it when `prepare` did not run.
   */
  prepare?(release: string): string;
  /** How long `prepare` may take on the host beyond the usual (a job: waiting for the run in progress). */
  readonly prepareMs?: number;
  restartAndGate(timeoutMs: number): string;
  stop(): string;
  diagnose(since: string): string;
  /**
   * Going back to the release `current` was switched back to (a failed gate, the dead-man
   * switch); default `restartAndGate`. A swap keeps the old instance running, so it only starts it.
   */
  restoreAndGate?(timeoutMs: number, after: 'failed-gate' | 'revert'): string;
  /** Run by the confirmation once it has claimed the activation (a swap: drain and stop the old instance). */
  confirmed?(): string;
  /**
   * A shell condition, true while the service runs from `current` now (secrets push restarts only
   * what runs: a stopped service reads its new values when it is next started). Absent: the
   * runtime's services are not restarted for new values (a scheduled job reads them on its next run).
   */
  running?(): string;
  /** How the host's dead-man switch is armed when not by a transient systemd timer (revert.ts): launchd's one-shot job. */
  readonly deadMan?: DeadManTimer;
}

/**
 * A dead-man switch armed by other means than `systemd-run` (a Mac: a one-shot LaunchDaemon).
 * revert.ts writes the revert script and the armed record, then calls `ma_arm`; the record's
 * extra lines say how to stop it and ask whether it is still loaded (`via=launchd`, `job=`,
 * `plist=`), so the confirmation and status need not know the runtime.
 */
export interface DeadManTimer {
  /** The tool named when arming fails. */
  readonly tool: string;
  /** Extra lines of the armed record (key=value). */
  readonly record: string;
  /** Defines `ma_arm` (starts the one-shot job running /bin/sh "$r/revert.sh" in `windowS`, prints why on failure) and `ma_arm_clear` (removes an earlier one). */
  arm(windowS: number, description: string): string;
  /** The revert's last step when run by the one-shot job: the job ends itself. */
  readonly selfStop: string;
}

/** Every part a runtime must have: test/runtime/registry.test.ts holds each registered runtime to it. */
export const RUNTIME_PARTS = [
  'supervisor',
  'ownsProcesses',
  'noSystemdUnit',
  'noSchedule',
  'view',
  'statusPart',
  'probed',
  'parseStatus',
  'noStateReason',
  'statusLabel',
  'declaredLabel',
  'lifecycle',
  'diagnosisScript',
  'logs',
] as const satisfies readonly (keyof Runtime)[];

// The list above names every required part of the interface: a part added to Runtime and not to
// the list fails to compile here.
type RequiredParts = { [K in keyof Runtime]-?: undefined extends Runtime[K] ? never : K }[keyof Runtime];
const everyPartListed: Exclude<RequiredParts, (typeof RUNTIME_PARTS)[number]> extends never ? true : never = true;
void everyPartListed;

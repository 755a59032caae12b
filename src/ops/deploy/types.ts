/** The shapes of deploy and rollback: options, results, the dry-run plan (docs/operations.md). */
import type { Diagnosis } from '../../runtime/types.js';

export type Strategy = 'release' | 'script' | 'compose';

export interface DeployOptions {
  /** A directory or archive to ship (overrides service.artifact); relative to the current directory. */
  artifact?: string;
  strategy?: Strategy;
  dryRun: boolean;
  /** Wait for a held lock (up to waitTimeoutMs) instead of failing. */
  wait: boolean;
  waitTimeoutMs: number;
  /** Break a lock even when it cannot be proven stale. */
  breakLock: boolean;
  readyTimeoutMs?: number;
  /** Override keep_releases. */
  keep?: number;
  /** A project's own deploy scripts: how long they may run. */
  scriptTimeoutMs: number;
  /** The dead-man switch fires this long after the readiness timeout unless the deploy confirms. */
  revertMarginMs: number;
  /** Compose services: the image tag to deploy (overrides service.compose.tag). */
  tag?: string;
  /** A scheduled job: stop a run in progress instead of waiting for it. */
  force?: boolean;
  /** A promotion: the release id to ship under (the source's), instead of a new one. */
  releaseBase?: string;
  /** A promotion: the content digest the shipped release must have; anything else is discarded before it is switched to. */
  expectContent?: string;
  /** A promotion of a compose service: the digest reference (repo@sha256:…) to pull and pin, instead of a tag. */
  imageDigest?: string;
  /** A move of a swap service: its edges route to the host it leaves; the move switches them itself once this deploy passed its gate (ops/move/swap.ts). */
  edgesFollowMove?: boolean;
}

export const DEFAULT_REVERT_MARGIN_MS = 20_000;

/** Every choice at its default: a deploy or rollback nobody tuned (the dashboard's). */
export const DEPLOY_DEFAULTS: DeployOptions = {
  dryRun: false,
  wait: false,
  waitTimeoutMs: 600_000,
  breakLock: false,
  scriptTimeoutMs: 1_800_000,
  revertMarginMs: DEFAULT_REVERT_MARGIN_MS,
};

export interface DeployTimings {
  totalMs: number;
  lockMs: number;
  shipMs: number;
  activateMs: number;
  /** Host-side: the restart and the readiness wait. */
  gateMs: number | null;
  /** What the deploy adds beyond its restart and health wait. */
  overheadMs: number | null;
}

/** What became of the host's own revert of this activation. */
export interface RevertReport {
  /** Seconds from the switch until it would have fired. */
  windowS: number;
  /** disarmed: confirmed or switched back by this command; fired: the host reverted first. */
  state: 'disarmed' | 'fired' | 'left-armed';
  detail?: string;
}

export interface DeployResult {
  id: string;
  host: string;
  strategy: Strategy | null;
  release: string | null;
  previous: string | null;
  outcome: 'deployed' | 'rolled-back' | 'reverted' | 'failed' | 'skipped' | 'unreachable' | 'locked';
  ok: boolean;
  reason?: string;
  diagnosis?: Diagnosis;
  /** After a failed gate: where the service went back to. */
  rollback?: { release: string | null; ok: boolean; detail: string };
  revert?: RevertReport;
  lock?: { waitedMs: number; broke?: string };
  pruned: string[];
  script?: { exitCode: number | null; lastLines: string[] };
  /** service.migrate's run (before the switch): exit status and last output lines. */
  migration?: { exitCode: number | null; lastLines: string[] };
  /** ssh round trips this deploy made to its host. */
  roundTrips: number;
  /** The shipped release's content digest, computed on the host (docs/promotion.md#same-bits). */
  content?: string;
  /** Compose services: the image deployed (its tag) and the registry digest that passed the gate (null: it did not). */
  image?: { ref: string; digest: string | null };
  /** Compose services: which compose the host has ("docker-compose (v1)", "docker compose (v2)"). */
  compose?: string;
  /** A scheduled job: the run that was in progress when the deploy came, and whether it was waited for or stopped (--force). */
  job_run?: JobRunMet;
  timings: DeployTimings;
}

export interface JobRunMet {
  action: 'waited' | 'killed';
  pid: number | null;
  /** When that run started (ISO). */
  started: string | null;
  /** How long the deploy waited for it (or took to stop it). */
  ms: number;
}

export interface DeployPlanEntry {
  id: string;
  host: string;
  alias: string;
  strategy: Strategy | null;
  steps: string[];
  release?: string;
  artifact?: { path: string; kind: string; bytes: number };
  unit_file?: string;
  /** A scheduled job: the timer it installs beside its unit. */
  timer_file?: string;
  /** launchd (a Mac): the property list the release runs with. */
  plist_file?: string;
  /** Compose services: the image reference to pull and pin. */
  image?: string;
  skipped?: string;
}

export interface DeployReport {
  dry_run: boolean;
  levels: string[][];
  plan?: DeployPlanEntry[];
  deploys: DeployResult[];
  summary: { deployed: number; failed: number; skipped: number };
}

export interface RollbackResult {
  id: string;
  host: string;
  from: string | null;
  to: string | null;
  ok: boolean;
  outcome: 'rolled-back' | 'reverted' | 'failed' | 'unreachable' | 'locked' | 'skipped';
  reason?: string;
  diagnosis?: Diagnosis;
  revert?: RevertReport;
  releases: string[];
  /** Compose services: the image digest the service runs again, and which compose did it. */
  digest?: string;
  compose?: string;
}

/** secrets push, secrets status, secrets revert, secrets confirm (docs/secrets.md). */
import { EXIT_OK, EXIT_PROBLEMS, UsageError } from '../errors.js';
import type { FleetOptions, LoadedFleet } from '../load/fleet.js';
import type { SelectOptions } from '../ops/selection.js';
import type { Progress } from '../ops/progress.js';
import { resolveSettings, type OpsSettings } from '../ops/settings.js';
import { problemJson } from '../problems.js';
import { pushSecrets, revertSecrets, secretsStatus as readStatus, switchSecrets, type PushReport, type StatusReport } from '../secrets/deliver.js';
import type { Answer, WithProblems } from './answer.js';
import { prepare } from './prepare.js';
import { cancelPending } from '../ops/prewarm.js';
import type { PendingScript } from '../transport/ssh.js';

export interface SecretsPushChoices {
  dryRun: boolean;
  /** --rotate NAME: only this secret, host by host, stopping at the first failed gate. */
  rotate?: string;
  readyTimeoutMs?: number;
}

export type SecretsPushDocument = WithProblems<PushReport & { dry_run: boolean; rotate: string | null }>;

export async function secretsPush(
  source: FleetOptions,
  selector: SelectOptions,
  given: Partial<OpsSettings>,
  choices: SecretsPushChoices,
  progress: Progress,
  onLoaded: (loaded: LoadedFleet) => void = () => {},
): Promise<Answer<SecretsPushDocument>> {
  const { loaded, ops, selection } = await prepare(source, selector, resolveSettings(given));
  onLoaded(loaded);
  if (choices.rotate !== undefined && !selection.services.some((s) => (s.secrets ?? []).some((d) => d.name === choices.rotate)))
    throw new UsageError(
      `no selected service declares the secret ${JSON.stringify(choices.rotate)}`,
      'see service.secrets in the manifests (docs/secrets.md)',
    );
  const report = await pushSecrets(
    ops,
    selection.services,
    {
      dryRun: choices.dryRun,
      restart: true,
      sequential: choices.rotate !== undefined,
      ...(choices.rotate === undefined ? {} : { only: [choices.rotate] }),
      ...(choices.readyTimeoutMs === undefined ? {} : { readyTimeoutMs: choices.readyTimeoutMs }),
    },
    progress,
  );
  await progress.close();
  const bad = report.services.some((r) => r.outcome === 'failed' || r.outcome === 'held') || report.not_reached.length > 0;
  return {
    exitCode: bad ? EXIT_PROBLEMS : EXIT_OK,
    document: { ...report, dry_run: choices.dryRun, rotate: choices.rotate ?? null, problems: loaded.problems.map(problemJson) },
    loaded,
  };
}

export type SecretsStatusDocument = WithProblems<StatusReport>;

/** `started`: ssh connections opened before the fleet was loaded (secrets-status.ts); each host's read runs on its own. */
export async function secretsStatus(
  source: FleetOptions,
  selector: SelectOptions,
  settings: OpsSettings,
  started: Map<string, PendingScript> = new Map(),
): Promise<Answer<SecretsStatusDocument>> {
  const { loaded, ops, selection } = await prepare(source, selector, settings, started);
  let report: StatusReport;
  try {
    report = await readStatus(ops, selection.services);
  } finally {
    cancelPending(ops);
  }
  const { stale, missing, unresolvable, restart_pending, unreachable } = report.summary;
  return {
    exitCode: stale + missing + unresolvable + restart_pending + unreachable > 0 ? EXIT_PROBLEMS : EXIT_OK,
    document: { ...report, problems: loaded.problems.map(problemJson) },
    loaded,
  };
}

export type SecretsSwitchDocument = WithProblems<{
  action: 'revert' | 'confirm';
  services: Awaited<ReturnType<typeof switchSecrets>>;
  restarts: { id: string; outcome: string; ok: boolean; detail?: string }[];
}>;

/** revert: each service back to the values before the last change, what runs them restarted through its gate; confirm: forget them. */
export async function secretsSwitch(
  source: FleetOptions,
  selector: SelectOptions,
  given: Partial<OpsSettings>,
  action: 'revert' | 'confirm',
  options: { readyTimeoutMs?: number } = {},
): Promise<Answer<SecretsSwitchDocument>> {
  const { loaded, ops, selection } = await prepare(source, selector, resolveSettings(given));
  // Back on the values before: what runs them restarts through its gate (systemd and Compose on
  // the host, in the switch's own round trip), like any change of values.
  const { services, restarts } =
    action === 'revert'
      ? await revertSecrets(ops, selection.services)
      : { services: await switchSecrets(ops, selection.services, action), restarts: [] };
  return {
    exitCode: services.some((s) => s.state === 'fail') || restarts.some((r) => !r.ok) ? EXIT_PROBLEMS : EXIT_OK,
    document: { action, services, restarts, problems: loaded.problems.map(problemJson) },
    loaded,
  };
}

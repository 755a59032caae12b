/**
 * `promote`: the release live in one environment of a project's promotion path goes into the
 * next, the same bits (docs/promotion.md). In order, each step appending to the ledger only
 * what has happened:
 *
 *   1. read the source (one round trip): its live release, that release's gate verdict and when
 *      it passed, its content digest now and as recorded at the ship, its pinned image, a revert
 *      that fired, one readiness/liveness sample;
 *   2. the gates: the ledger's passed deploy of exactly that release and content; the bits
 *      unchanged since; the observation window served since it went live (or since a revert
 *      fired) with every sample healthy (`--wait` samples until it has); for a stateful service a
 *      passing restore drill newer than the interval; an unused signed approval where the target
 *      asks for one; a release rolled back out of the target only with --force and a reason;
 *   3. fetch the release from the source host (a tar stream, gzip'ed, as text) and deploy it to
 *      the target under the same id with the deploy's own lock, revert, gate and confirmation;
 *      the target must compute the same content digest before anything switches;
 *   4. record the promotion (with the evidence it rests on) once the target confirmed.
 *
 * If this process dies at any point, the host side settles as a deploy does (the target's own
 * revert) and the ledger has only records of what finished.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { drillIntervalMs, drillStatus, readEvidence } from '../data/evidence.js';
import type { Promotion, Service } from '../fleet/model.js';
import { digestsOf, findApproval, rolledBack, liveRecord, type ApprovalVerdict } from '../promotion/history.js';
import { appendRecords, LedgerError, readLedger, type LedgerRecord, type NewRecord, type ReadLedger } from '../promotion/ledger.js';
import { addIntent, readIntents, removeIntent, settle, type PromotionIntent } from '../promotion/pending.js';
import { randomBytes } from 'node:crypto';
import { runtimeOf } from '../runtime/registry.js';
import { CONTENT_FUNCTION, inspectScript, parseReleaseStates, RELEASE_ID, type ReleaseRecord } from '../runtime/release.js';
import { parseRevertStates } from '../runtime/revert.js';
import { healthOf, parseProbes, PRELUDE, probePart, records, sections } from '../runtime/shell.js';
import { quote } from '../transport/quote.js';
import { failureReason } from '../transport/types.js';
import type { Ops } from './context.js';
import { runDeploy } from './deploy.js';
import { DEPLOY_DEFAULTS, type DeployResult } from './deploy/types.js';
import type { Progress } from './progress.js';

export interface PromoteOptions {
  dryRun: boolean;
  /** Sample the source until the observation window has passed, instead of refusing. */
  wait: boolean;
  /** Promote a release that was rolled back out of the target (needs `reason`). */
  force: boolean;
  reason?: string;
  /** An observation window other than the declared one (needs `reason`), in ms. */
  observeMs?: number;
  readyTimeoutMs?: number;
  revertMarginMs?: number;
}

export type GateName = 'live' | 'recorded' | 'same-bits' | 'same-image' | 'observed' | 'drill' | 'approval' | 'rolled-back';

export interface Gate {
  gate: GateName;
  ok: boolean;
  detail: string;
  /** What to run (or do) to pass it. */
  fix?: string;
}

export interface Sample {
  time: string;
  ok: boolean;
  readiness: number | null;
  liveness: number | null;
  detail?: string;
}

export interface PromoteReport {
  project: string;
  from: string;
  to: string;
  dry_run: boolean;
  source: {
    service: string;
    host: string;
    release: string | null;
    passed_at: string | null;
    content: string | null;
    recorded_content: string | null;
    image_digest: string | null;
  };
  target: { service: string; host: string };
  gates: Gate[];
  observation: { since: string | null; window_s: number; served_s: number; samples: Sample[]; verdict: 'passed' | 'failed' | 'not-yet' } | null;
  outcome: 'promoted' | 'refused' | 'failed' | 'planned';
  reason?: string;
  deploy?: DeployResult;
  forced?: string;
  /** Earlier promotions into the target a crash left unrecorded, settled before this one (docs/promotion.md). */
  settled?: Settled[];
  ledger: { appended: number; error?: string };
}

export interface Settled {
  intent: string;
  project: string;
  env: string;
  release: string;
  /** append: the lost record was added (line); drop: nothing to add; keep: not settled yet, still pending. */
  action: 'append' | 'drop' | 'keep';
  detail: string;
  line?: number;
}

interface SourceState {
  reachable: boolean;
  reason?: string;
  release: string | null;
  outcome: string | null;
  passedAt: string | null;
  content: string | null;
  recorded: string | null;
  image: string | null;
  /** The image the service's container runs (compose: the reference it was created from), null without one. */
  running: string | null;
  fired: { at: string; release: string | null; reason: string | null } | null;
  /** Every release on the host with its last verdict, and whether the host's revert is armed. */
  releases: ReleaseRecord[];
  armed: boolean;
  sample: Sample;
}

function sourceScript(ops: Ops, service: Service): string {
  const rs = ops.runtime(service);
  const directory = rs.directory ?? service.directory;
  return `${inspectScript([{ tag: 'src', directory, key: rs.key }])}
${CONTENT_FUNCTION}
ma_cur=$(readlink "$d/current" 2>/dev/null) || ma_cur=''; ma_cur=\${ma_cur#releases/}
if [ -n "$ma_cur" ] && [ -d "$d/releases/$ma_cur" ]; then
  printf '@@content\\t%s\\n' "$(ma_content "$d/releases/$ma_cur")"
  printf '@@recorded\\t%s\\n' "$(sed -n 's/^content=//p' "$d/.history/$ma_cur" 2>/dev/null | tail -n 1)"
  printf '@@image\\t%s\\n' "$(cat "$d/releases/$ma_cur/.manage-apps/image" 2>/dev/null)"
fi
${runtimeOf(service).statusPart([rs])}
${probePart([rs])}
`;
}

function sampleOf(ops: Ops, service: Service, stdout: string): Sample {
  const health = healthOf(ops.runtime(service), parseProbes(sections(stdout).get('probes')));
  const time = new Date().toISOString();
  if (health === null) return { time, ok: true, readiness: null, liveness: null, detail: 'no port: the release staying live is the sample' };
  const ok = health.readiness.ok && health.liveness.ok;
  return {
    time,
    ok,
    readiness: health.readiness.status,
    liveness: health.liveness.status,
    ...(ok
      ? {}
      : {
          detail: `${health.readiness.path} ${health.readiness.status || 'no answer'}, ${health.liveness.path} ${health.liveness.status || 'no answer'}`,
        }),
  };
}

async function readSource(ops: Ops, service: Service): Promise<SourceState> {
  const host = ops.host(service)!;
  const r = await ops.transport(host).script(sourceScript(ops, service), { timeoutMs: ops.settings.commandTimeoutMs + 60_000 });
  const empty = {
    release: null,
    outcome: null,
    passedAt: null,
    content: null,
    recorded: null,
    image: null,
    running: null,
    fired: null,
    releases: [],
    armed: false,
  };
  if (r.unreachable !== undefined || r.code !== 0)
    return {
      reachable: false,
      reason: failureReason(r),
      ...empty,
      sample: { time: new Date().toISOString(), ok: false, readiness: null, liveness: null, detail: failureReason(r) },
    };
  const state = parseReleaseStates(r.stdout).get('src');
  const live = state?.releases.find((x) => x.id === state.current);
  const revert = parseRevertStates(r.stdout).get('src');
  const field = (k: string) => records(r.stdout).find((x) => x[0] === k)?.[1] || null;
  return {
    reachable: true,
    release: state?.current ?? null,
    outcome: live?.outcome ?? null,
    passedAt: live?.outcome === 'passed' ? live.outcomeAt : null,
    content: field('content'),
    recorded: field('recorded'),
    image: field('image'),
    running: runtimeOf(service).parseStatus([ops.runtime(service)], r.stdout)[0]?.container?.image ?? null,
    releases: state?.releases ?? [],
    armed: revert !== undefined && revert.state !== 'fired',
    fired: revert?.state === 'fired' && revert.at !== undefined ? { at: revert.at, release: revert.release, reason: revert.reason ?? null } : null,
    sample: sampleOf(ops, service, r.stdout),
  };
}

/**
 * The release, as a gzip'ed tar printed in base64. The host's own `.manage-apps/` records are left
 * out: its compose override is the source environment's, and the image the target pins is the
 * digest promote checked against the ledger (passed to the target's deploy), not a file read
 * again from the source.
 */
function bundleScript(directory: string, release: string): string {
  return `${PRELUDE}
rel=${quote(release)}
r=${quote(directory)}/releases/$rel
[ -d "$r" ] || { printf 'release %s is not on the host\\n' "$rel" >&2; exit 3; }
$SUDO tar -c -f - -C "$r" --exclude=./.manage-apps . | gzip -c | base64
`;
}

const seconds = (ms: number) => Math.round(ms / 1000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface PromoteContext {
  ops: Ops;
  promotion: Promotion;
  source: Service;
  target: Service;
  from: string;
  to: string;
  allowedSigners: string;
  readLedger: () => ReadLedger;
  progress: Progress;
}

export async function runPromote(ctx: PromoteContext, options: PromoteOptions): Promise<PromoteReport> {
  const { ops, source, target, from, to, promotion } = ctx;
  const root = ops.fleet.root;
  const report: PromoteReport = {
    project: promotion.project,
    from,
    to,
    dry_run: options.dryRun,
    source: { service: source.id, host: source.host!, release: null, passed_at: null, content: null, recorded_content: null, image_digest: null },
    target: { service: target.id, host: target.host! },
    gates: [],
    observation: null,
    outcome: 'refused',
    ledger: { appended: 0 },
  };
  const append = (records: NewRecord[]): LedgerRecord[] => {
    if (options.dryRun || records.length === 0) return [];
    try {
      const sealed = appendRecords(root, () => records);
      report.ledger.appended += sealed.length;
      return sealed;
    } catch (error) {
      if (!(error instanceof LedgerError)) throw error;
      report.ledger.error = error.message;
      return [];
    }
  };
  const gate = (g: Gate) => {
    report.gates.push(g);
    return g.ok;
  };
  const refuse = (reason: string): PromoteReport => ({ ...report, outcome: 'refused', reason });
  const base = { project: promotion.project, env: from, service: source.id, host: source.host! };

  ctx.progress.note(`reading ${source.id} on ${source.host}`);
  let src = await readSource(ops, source);
  if (!src.reachable) return refuse(`${source.host} did not answer: ${src.reason}`);
  report.source = {
    ...report.source,
    release: src.release,
    passed_at: src.passedAt,
    content: src.content,
    recorded_content: src.recorded,
    image_digest: src.image,
  };
  const release = src.release;
  if (
    !gate({
      gate: 'live',
      ok: release !== null && src.outcome === 'passed',
      detail:
        release === null
          ? `${from} runs no release`
          : src.outcome === 'passed'
            ? `${release} is live in ${from} and passed its gate at ${src.passedAt}`
            : `${release} is live in ${from} but its gate verdict is ${src.outcome ?? 'unknown'}`,
      fix: `manage-apps deploy ${source.id}`,
    })
  )
    return refuse(report.gates.at(-1)!.detail);
  if (!RELEASE_ID.test(release!)) return refuse(`${from} runs ${JSON.stringify(release)}, which is not a release id manage-apps made`);

  // A promotion into the target a crash left unrecorded is settled first, from what the target says.
  const settled = await settlePending(ops, [target], ctx.progress, { dryRun: options.dryRun });
  report.settled = settled;
  const unsettled = settled.find((x) => x.action === 'keep');
  if (unsettled !== undefined)
    return refuse(
      `an earlier promotion of ${unsettled.release} into ${to} is not settled: ${unsettled.detail} (then run \`manage-apps ledger verify --repair\`)`,
    );

  // What the ledger says was deployed (or promoted) into the source, and its content at the time.
  const ledger = ctx.readLedger();
  const targetLive = liveRecord(ledger.records, promotion.project, to);
  if (ledger.broken !== undefined) return refuse(`the ledger does not verify (${ledger.broken.message}): run \`manage-apps ledger verify\``);
  const recorded = liveRecord(ledger.records, promotion.project, from);
  if (
    !gate({
      gate: 'recorded',
      ok: recorded !== undefined && recorded['release'] === release,
      detail:
        recorded === undefined
          ? `the ledger has no passed deploy into ${from}: ${release} was not put there by manage-apps with a ledger`
          : recorded['release'] === release
            ? `line ${recorded.seq}: ${recorded.kind} of ${release} into ${from}`
            : `the ledger says ${from} is at ${String(recorded['release'])} (line ${recorded.seq}), but ${release} is live there`,
      fix: `manage-apps deploy ${source.id}`,
    })
  )
    return refuse(report.gates.at(-1)!.detail);
  const content = typeof recorded!['content'] === 'string' ? recorded!['content'] : digestsOf(ledger.records, release!).content;
  const sameBits = content !== null && src.content === content && src.recorded === content;
  if (
    !gate({
      gate: 'same-bits',
      ok: sameBits,
      detail: sameBits
        ? `content ${content!.slice(0, 12)}… unchanged since it was shipped`
        : content === null
          ? `the ledger has no content digest for ${release}`
          : `${from}'s bits were changed: the live release's content is ${src.content ?? 'unreadable'}, it was shipped as ${content}`,
      fix: `manage-apps deploy ${source.id} (ship it again) and observe it`,
    })
  )
    return refuse(report.gates.at(-1)!.detail);

  // A compose service: the digest its gate passed with (the ledger's), pinned in the release and run by its container.
  const recordedImage = typeof recorded!['image_digest'] === 'string' ? recorded!['image_digest'] : digestsOf(ledger.records, release!).image_digest;
  if (source.compose !== undefined || src.image !== null || recordedImage !== null) {
    const sameImage = recordedImage !== null && src.image === recordedImage && src.running === recordedImage;
    if (
      !gate({
        gate: 'same-image',
        ok: sameImage,
        detail: sameImage
          ? `image ${recordedImage} pinned and running, as it passed its gate`
          : recordedImage === null
            ? `the ledger has no image digest for ${release}: it never passed a gate with a pinned image`
            : src.image !== recordedImage
              ? `${from}'s release pins ${src.image ?? 'no image'}, but it passed its gate with ${recordedImage}`
              : `${from}'s container runs ${src.running ?? 'nothing'}, not ${recordedImage} that passed its gate (an image re-tagged or started by hand)`,
        fix: `manage-apps deploy ${source.id} (pin and gate the image again) and observe it`,
      })
    )
      return refuse(report.gates.at(-1)!.detail);
  }

  // The window runs from when the release passed its gate, or from a revert that fired since.
  const windowMs = options.observeMs ?? promotion.observeMs;
  const sinceOf = (s: SourceState) => {
    const passed = Date.parse(s.passedAt ?? '');
    const fired = s.fired === null ? Number.NaN : Date.parse(s.fired.at);
    return Number.isFinite(fired) && fired > passed ? fired : passed;
  };
  const since = sinceOf(src);
  const firedNote = (s: SourceState) =>
    s.fired !== null && Date.parse(s.fired.at) > Date.parse(s.passedAt ?? '')
      ? `an automatic revert fired in ${from} at ${s.fired.at} (${s.fired.release ?? '?'}: ${s.fired.reason ?? 'unconfirmed'}); the window runs from it`
      : undefined;
  if (firedNote(src) !== undefined)
    append(
      [
        { ...base, kind: 'revert', release: src.fired!.release, to: release, at: src.fired!.at, reason: src.fired!.reason, seen_by: 'promote' },
      ].filter(() => !alreadySeen(ledger, promotion.project, from, src.fired!.at)),
    );
  const samples: Sample[] = [src.sample];
  const observation: NonNullable<PromoteReport['observation']> = {
    since: new Date(since).toISOString(),
    window_s: seconds(windowMs),
    served_s: seconds(Date.now() - since),
    samples,
    verdict: 'not-yet',
  };
  report.observation = observation;
  const step = Math.min(30_000, Math.max(1000, Math.floor(windowMs / 10)));
  while (samples.every((s) => s.ok) && Date.now() - since < windowMs && options.wait && !options.dryRun) {
    ctx.progress.note(
      `observing ${release} in ${from}: ${seconds(Date.now() - since)}s of ${seconds(windowMs)}s, ${samples.length} sample(s) healthy`,
    );
    await sleep(Math.min(step, windowMs - (Date.now() - since) + 200));
    src = await readSource(ops, source);
    if (!src.reachable)
      samples.push({
        time: new Date().toISOString(),
        ok: false,
        readiness: null,
        liveness: null,
        detail: `${source.host} did not answer: ${src.reason}`,
      });
    else if (src.release !== release || sinceOf(src) !== since)
      samples.push({
        time: new Date().toISOString(),
        ok: false,
        readiness: null,
        liveness: null,
        detail: firedNote(src) ?? `${from} switched to ${src.release ?? 'nothing'}`,
      });
    else samples.push(src.sample);
  }
  observation.served_s = seconds(Date.now() - since);
  const failed = samples.filter((s) => !s.ok);
  observation.verdict = failed.length > 0 ? 'failed' : Date.now() - since >= windowMs ? 'passed' : 'not-yet';
  let observationRecord: LedgerRecord | undefined;
  if (observation.verdict !== 'not-yet')
    observationRecord = append([
      {
        ...base,
        kind: 'observation',
        release,
        content,
        since: observation.since,
        window_s: observation.window_s,
        samples: samples.length,
        failed: failed.map((s) => ({ time: s.time, detail: s.detail ?? '' })),
        verdict: observation.verdict,
        ...(options.observeMs === undefined ? {} : { override: options.reason ?? '' }),
      },
    ])[0];
  const observed = observation.verdict === 'passed';
  if (
    !gate({
      gate: 'observed',
      ok: observed,
      detail:
        observation.verdict === 'failed'
          ? `${failed.length} of ${samples.length} sample(s) failed: ${failed.map((s) => `${s.time} ${s.detail ?? ''}`).join('; ')}`
          : observed
            ? `served ${observation.served_s}s of ${observation.window_s}s, ${samples.length} sample(s) healthy`
            : `${firedNote(src) ?? `${release} has served ${observation.served_s}s in ${from}`}; the window is ${observation.window_s}s`,
      fix:
        observation.verdict === 'failed'
          ? `fix ${from} and deploy again`
          : `wait ${Math.max(0, observation.window_s - observation.served_s)}s, or pass --wait`,
    })
  )
    return refuse(report.gates.at(-1)!.detail);

  // A stateful service: a passing restore drill of its cluster, newer than the interval.
  const stateful = target.stateful || target.database !== undefined || target.backup !== undefined;
  if (stateful) {
    const cluster = target.database?.cluster ?? target.cluster;
    const policy =
      (cluster === undefined ? undefined : ops.fleet.clusters.find((c) => c.name === cluster)?.backup) ?? target.database?.backup ?? target.backup;
    const interval = promotion.drill ?? policy?.drill ?? null;
    if (cluster === undefined)
      gate({
        gate: 'drill',
        ok: false,
        detail: `${target.id} is stateful but names no cluster whose restore drill could prove its backups`,
        fix: 'declare database.cluster (or service.cluster) and drill it',
      });
    else if (drillIntervalMs(interval) === undefined)
      gate({
        gate: 'drill',
        ok: false,
        detail: `${target.id} is stateful but no drill interval is declared`,
        fix: `declare promotion.drill or the backup policy's drill, then run \`manage-apps backups drill ${cluster}\``,
      });
    else {
      const status = drillStatus(cluster, { rpo: policy?.rpo ?? '', rto: policy?.rto ?? '', drill: interval }, readEvidence(root));
      gate({
        gate: 'drill',
        ok: status.verdict === 'ok',
        detail: status.verdict === 'ok' ? `${cluster}: ${status.message}` : `${cluster}: ${status.message}`,
        fix: `manage-apps backups drill ${cluster}`,
      });
    }
    if (!report.gates.at(-1)!.ok) return refuse(report.gates.at(-1)!.detail);
  }

  // Rolled back out of the target before: only with --force and a reason.
  const back = rolledBack(ledger.records, promotion.project, to, release!);
  if (back !== undefined) {
    const forced = options.force && (options.reason ?? '').trim() !== '';
    gate({
      gate: 'rolled-back',
      ok: forced,
      detail: forced
        ? `${release} was rolled back out of ${to} (line ${back.seq}); forced: ${options.reason}`
        : `${release} was rolled back out of ${to} at ${back.time} (line ${back.seq})`,
      fix: `promote it again only with --force --reason "why it is fine now"`,
    });
    if (!forced) return refuse(report.gates.at(-1)!.detail);
    report.forced = options.reason!;
  }

  let approval: ApprovalVerdict | undefined;
  if (promotion.approve.includes(to)) {
    approval = await findApproval(ledger.records, ctx.allowedSigners, {
      project: promotion.project,
      from,
      to,
      release: release!,
      content,
      image_digest: src.image,
    });
    if (
      !gate({
        gate: 'approval',
        ok: approval.ok,
        detail: approval.reason,
        fix: `manage-apps approve ${promotion.project} --to ${to} --release ${release} --key ~/.ssh/id_ed25519`,
      })
    )
      return refuse(`no valid approval: ${approval.reason}`);
  }

  if (options.dryRun) return { ...report, outcome: 'planned' };

  // The record as it will be written, kept as a pending intent before the host changes: a crash
  // between the switch and the append loses nothing the next promote cannot add from the host.
  const intent: PromotionIntent = {
    id: randomBytes(8).toString('hex'),
    time: new Date().toISOString(),
    project: promotion.project,
    env: to,
    release: release!,
    record: {
      project: promotion.project,
      env: to,
      kind: 'promotion',
      service: target.id,
      host: target.host!,
      from,
      release: release!,
      content,
      image_digest: recordedImage,
      previous: typeof targetLive?.['release'] === 'string' ? targetLive['release'] : null,
      outcome: 'unknown',
      source: { release, content, image_digest: src.image, ledger: recorded!.hash },
      observation: observationRecord?.hash ?? null,
      approval: approval?.record?.hash ?? null,
      ...(approval?.verified?.fingerprint === undefined
        ? {}
        : { approved_by: { principal: approval.verified.principal, fingerprint: approval.verified.fingerprint } }),
      drill: report.gates.find((g) => g.gate === 'drill')?.detail ?? null,
      ...(report.forced === undefined ? {} : { forced: report.forced }),
    },
  };
  try {
    addIntent(root, intent);
  } catch (error) {
    if (!(error instanceof LedgerError)) throw error;
    return { ...report, outcome: 'failed', reason: `nothing was shipped: ${error.message}` };
  }

  // The same bits: the release as it is on the source host, shipped to the target under the same id.
  ctx.progress.note(`fetching ${release} from ${source.host}`);
  const fetched = await ops.transport(ops.host(source)!).script(bundleScript(ops.runtime(source).directory ?? source.directory, release!), {
    timeoutMs: 30 * 60_000,
  });
  if (fetched.code !== 0 || fetched.unreachable !== undefined)
    return { ...report, outcome: 'failed', reason: `fetching ${release} from ${source.host} failed: ${failureReason(fetched)}` };
  const dir = mkdtempSync(join(tmpdir(), 'manage-apps-promote-'));
  try {
    const bundle = join(dir, `${release}.tar.gz`);
    writeFileSync(bundle, Buffer.from(fetched.stdout.replace(/\s+/g, ''), 'base64'), { mode: 0o600 });
    const deploy = await runDeploy(
      ops,
      { services: [target], named: new Set([target.id]), skipped: [] },
      {
        ...DEPLOY_DEFAULTS,
        artifact: bundle,
        releaseBase: release!,
        expectContent: content!,
        ...(recordedImage === null ? {} : { imageDigest: recordedImage }),
        ...(options.readyTimeoutMs === undefined ? {} : { readyTimeoutMs: options.readyTimeoutMs }),
        ...(options.revertMarginMs === undefined ? {} : { revertMarginMs: options.revertMarginMs }),
      },
      ctx.progress,
    );
    const result = deploy.deploys.find((d) => d.id === target.id);
    if (result !== undefined) report.deploy = result;
    const passed = result?.ok === true && result.outcome === 'deployed';
    // Only what happened: a promotion that switched (and passed or was switched back) is recorded; one that never switched is not.
    if (result !== undefined && result.release !== null && (passed || result.outcome === 'rolled-back' || result.outcome === 'reverted')) {
      const sealed = append([
        {
          ...intent.record,
          release: result.release,
          content: result.content ?? null,
          image_digest: result.image?.digest ?? null,
          previous: result.previous,
          outcome: passed ? 'passed' : result.outcome,
          intent: intent.id,
          ...(result.reason === undefined ? {} : { reason: result.reason }),
        },
      ]);
      // A record that could not be appended stays pending: the next promote (or ledger verify --repair) adds it from the host.
      if (sealed.length > 0) removeIntent(root, intent.id);
    } else if (result !== undefined && result.outcome !== 'unreachable' && result.revert === undefined) removeIntent(root, intent.id);
    // Else the target may have switched without this process knowing the end: the intent stays for the host to settle.
    if (!passed) return { ...report, outcome: 'failed', reason: result?.reason ?? 'the deploy into the target failed' };
    if (result.content !== content || (src.image !== null && result.image?.digest !== src.image))
      return {
        ...report,
        outcome: 'failed',
        reason: `the target runs content ${result.content ?? '?'} / image ${result.image?.digest ?? '-'}, not ${content} / ${src.image ?? '-'}`,
      };
    return { ...report, outcome: 'promoted' };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function alreadySeen(ledger: ReadLedger, project: string, env: string, at: string): boolean {
  return ledger.records.some((r) => r.kind === 'revert' && r.project === project && r.env === env && r['at'] === at);
}

/**
 * Settles the pending promotions (src/promotion/pending.ts) into these services: one read of each
 * target host that has one; the record a crash lost is appended, an intent the host shows never
 * switched is dropped, one not settled yet is kept. Idempotent. With `dryRun` it only says what it
 * would do.
 */
export async function settlePending(
  ops: Ops,
  targets: readonly Service[],
  progress: Progress,
  options: { dryRun?: boolean } = {},
): Promise<Settled[]> {
  const root = ops.fleet.root;
  const out: Settled[] = [];
  for (const intent of readIntents(root)) {
    const target = targets.find((t) => t.id === intent.record['service'] && t.project === intent.project);
    if (target === undefined) continue;
    progress.note(`settling the unrecorded promotion of ${intent.release} into ${intent.env}: reading ${target.host}`);
    const state = await readSource(ops, target);
    const done = settle(intent, readLedger(root).records, {
      reachable: state.reachable,
      ...(state.reason === undefined ? {} : { reason: state.reason }),
      current: state.release,
      release: state.releases.find((r) => r.id === intent.release),
      armed: state.armed,
      content: state.content,
      image: state.image,
    });
    const entry: Settled = {
      intent: intent.id,
      project: intent.project,
      env: intent.env,
      release: intent.release,
      action: done.action,
      detail: done.detail,
    };
    if (options.dryRun === true) {
      // Said, not done: the ledger and the pending file stay as they are.
      out.push(entry);
      continue;
    }
    if (done.action === 'append') {
      try {
        const sealed = appendRecords(root, (ledger) => (ledger.records.some((r) => r['intent'] === intent.id) ? [] : [done.record]));
        if (sealed[0] !== undefined) entry.line = sealed[0].seq;
      } catch (error) {
        if (!(error instanceof LedgerError)) throw error;
        out.push({ ...entry, action: 'keep', detail: error.message });
        continue;
      }
    }
    if (done.action !== 'keep') removeIntent(root, intent.id);
    out.push(entry);
  }
  return out;
}

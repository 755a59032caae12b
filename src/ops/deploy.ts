/**
 * `deploy` and `rollback`.
 *
 * Built-in release strategy (infra/v2): lock → ship the artifact to releases/<id> (tar on the
 * ssh connection's stdin) → install the unit rendered from service.command (renderUnit, byte
 * for byte what `manage-apps units` shows) → switch `current` atomically → restart → gate on
 * readiness. If the gate fails: diagnose (unit status, last journal lines, the readiness
 * answer), switch back, restart the previous release, confirm it is healthy, exit non-zero.
 * Keep the last N releases. Unlock.
 *
 * Seed-style strategy (`service.deploy`): lock → run the script locally with the service's
 * details in MANAGE_APPS_* variables → restart → gate → the same diagnosis on failure. Unlock.
 */
import { access, constants } from 'node:fs/promises';
import { resolve } from 'node:path';
import pLimit from 'p-limit';
import { UsageError } from '../errors.js';
import type { Host, Service } from '../fleet/model.js';
import { renderUnit, UnitError } from '../render/systemd-unit.js';
import { records, sections } from '../runtime/shell.js';
import { diagnosisScript, gateScript, parseDiagnosis, parseGate, type Diagnosis, type GateResult } from '../runtime/systemd.js';
import { activateScript, discardIncomingScript, extractCommand, inspectScript, prepareScript, pruneScript, releaseList, switchBackScript, unlockScript } from '../runtime/release.js';
import { validName } from '../transport/quote.js';
import { runProcess } from '../transport/spawn.js';
import { sshBaseArgs } from '../transport/ssh.js';
import { failureReason, type RunResult, type Transport } from '../transport/types.js';
import { artifactStream, releaseId, resolveArtifact, type Artifact } from './artifact.js';
import type { Ops } from './context.js';
import { gateDetail, readyTimeout } from './lifecycle.js';
import { describeOwner, newOwner, ownerText, parseOwner, staleness, type LockOwner } from './lock.js';
import { dependencyLevels, selectedDependencies, type Selection } from './plan.js';
import type { Progress } from './progress.js';

export type Strategy = 'release' | 'script';

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
  /** Seed-style scripts: how long they may run. */
  scriptTimeoutMs: number;
}

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

export interface DeployResult {
  id: string;
  host: string;
  strategy: Strategy | null;
  release: string | null;
  previous: string | null;
  outcome: 'deployed' | 'rolled-back' | 'failed' | 'skipped' | 'unreachable' | 'locked';
  ok: boolean;
  reason?: string;
  diagnosis?: Diagnosis;
  /** After a failed gate: where the service went back to. */
  rollback?: { release: string | null; ok: boolean; detail: string };
  lock?: { waitedMs: number; broke?: string };
  pruned: string[];
  script?: { exitCode: number | null; lastLines: string[] };
  timings: DeployTimings;
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
  skipped?: string;
}

export interface DeployReport {
  dry_run: boolean;
  levels: string[][];
  plan?: DeployPlanEntry[];
  deploys: DeployResult[];
  summary: { deployed: number; failed: number; skipped: number };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Decided {
  strategy: Strategy;
  artifactPath?: string;
  artifactBase?: string;
}

export function decideStrategy(service: Service, options: Pick<DeployOptions, 'artifact' | 'strategy'>): Decided | { error: string } {
  if (service.supervisor !== 'systemd') return { error: 'PID mode (this machine or a mac): it runs from its working tree; use `manage-apps restart`' };
  const artifact = options.artifact !== undefined ? { artifactPath: options.artifact, artifactBase: process.cwd() } : service.artifact !== undefined ? { artifactPath: service.artifact, artifactBase: service.projectDir } : undefined;
  const strategy = options.strategy ?? (artifact ? 'release' : service.deployScript !== undefined ? 'script' : undefined);
  if (strategy === 'script') {
    if (service.deployScript === undefined) return { error: 'no service.deploy script to run' };
    if (service.unit === undefined) return { error: 'no systemd unit to restart after the script' };
    return { strategy };
  }
  if (strategy === 'release') {
    if (!artifact) return { error: 'no artifact: set service.artifact or pass --artifact DIR|ARCHIVE' };
    if (service.command === undefined && service.unit === undefined) return { error: 'no service.command to render a unit from' };
    return { strategy, ...artifact };
  }
  if (service.command !== undefined) return { error: 'no artifact: set service.artifact or pass --artifact DIR|ARCHIVE' };
  return { error: 'nothing to deploy: no service.artifact, service.command or service.deploy' };
}

function emptyTimings(): DeployTimings {
  return { totalMs: 0, lockMs: 0, shipMs: 0, activateMs: 0, gateMs: null, overheadMs: null };
}

/** Locks held by this process, released if it is interrupted. */
const heldLocks = new Map<string, { transport: Transport; directory: string; token: string }>();
let signalsHooked = false;
function hookSignals(): void {
  if (signalsHooked) return;
  signalsHooked = true;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\nmanage-apps: ${signal}: releasing ${heldLocks.size} deploy lock(s)…\n`);
      void Promise.all([...heldLocks.values()].map((l) => l.transport.script(unlockScript(l.directory, l.token, `unlock after ${signal}`), { timeoutMs: 5000 }))).finally(() => process.exit(130));
    });
  }
}

interface LockOutcome {
  result: RunResult;
  acquired: boolean;
  owner?: Partial<LockOwner>;
  broke?: string;
  waitedMs: number;
  reason?: string;
}

async function acquire(ops: Ops, transport: Transport, service: Service, owner: LockOwner, options: DeployOptions, report: (m: string) => void, note: (m: string) => void, releaseBase?: string): Promise<LockOutcome> {
  const started = Date.now();
  const deadline = started + options.waitTimeoutMs;
  let breakToken: string | undefined;
  let broke: string | undefined;
  let noOwnerTries = 0;
  for (;;) {
    const result = await transport.script(prepareScript(service.directory, { ownerText: ownerText(owner), token: owner.token, ...(breakToken === undefined ? {} : { breakToken }) }, releaseBase), { timeoutMs: ops.settings.commandTimeoutMs });
    if (result.unreachable) return { result, acquired: false, waitedMs: Date.now() - started, reason: result.unreachable };
    const recs = records(result.stdout);
    if (recs.some((r) => r[0] === 'broke')) broke = breakToken;
    const killed = recs.find((r) => r[0] === 'killed')?.[1];
    if (killed !== undefined) note(`${service.id} on ${service.host}: ended the script the stale deploy left running (pid ${killed} on the host)`);
    const lock = recs.find((r) => r[0] === 'lock')?.[1];
    if (lock === 'acquired') {
      heldLocks.set(`${service.host}:${service.id}`, { transport, directory: service.directory, token: owner.token });
      return { result, acquired: true, waitedMs: Date.now() - started, ...(broke === undefined ? {} : { broke }) };
    }
    if (lock !== 'held') {
      const error = recs.find((r) => r[0] === 'error')?.[1];
      return { result, acquired: false, waitedMs: Date.now() - started, reason: error ?? failureReason(result) };
    }
    const holder = parseOwner(sections(result.stdout).get('owner') ?? '');
    breakToken = undefined;
    if (holder.token === undefined && noOwnerTries < 5) {
      noOwnerTries++;
      await sleep(200);
      continue;
    }
    const st = staleness(holder);
    if (st.stale && holder.token !== undefined) {
      note(`${service.id} on ${service.host}: breaking a stale deploy lock of ${describeOwner(holder)}: ${st.why}`);
      breakToken = holder.token;
      continue;
    }
    if (options.breakLock && holder.token !== undefined) {
      note(`${service.id} on ${service.host}: --break-lock: breaking the deploy lock of ${describeOwner(holder)}`);
      breakToken = holder.token;
      continue;
    }
    if (options.wait && Date.now() < deadline) {
      report(`waiting for the deploy lock held by ${describeOwner(holder)}`);
      await sleep(1000);
      continue;
    }
    const why = `the deploy lock ${service.directory}/.deploy.lock is held by ${describeOwner(holder)}: ${st.why}`;
    return { result, acquired: false, owner: holder, waitedMs: Date.now() - started, reason: options.wait ? `${why} (waited ${Math.round((Date.now() - started) / 1000)}s)` : why };
  }
}

async function unlock(transport: Transport, service: Service, token: string): Promise<void> {
  heldLocks.delete(`${service.host}:${service.id}`);
  await transport.script(unlockScript(service.directory, token), { timeoutMs: 15_000 });
}

async function diagnose(ops: Ops, transport: Transport, service: Service, since: number | undefined): Promise<Diagnosis | undefined> {
  const rs = ops.runtime(service);
  if (rs.unit === undefined) return undefined;
  const r = await transport.script(diagnosisScript(rs, since), { timeoutMs: ops.settings.commandTimeoutMs });
  return r.unreachable === undefined ? parseDiagnosis(r.stdout) : undefined;
}

function gateOf(result: RunResult): GateResult & { since?: number; previous?: string } {
  const gate = parseGate(result.stdout);
  const recs = records(result.stdout);
  const since = Number(recs.find((r) => r[0] === 'since')?.[1] ?? '');
  const previous = recs.find((r) => r[0] === 'previous')?.[1];
  return { ...gate, ...(since > 0 ? { since } : {}), ...(previous === undefined ? {} : { previous }) };
}

function unitText(service: Service, host: Host): string | undefined {
  if (service.command === undefined) return undefined;
  try {
    return renderUnit(service, host);
  } catch (error) {
    if (error instanceof UnitError) throw new UsageError(`${service.id}: ${error.message} (${service.manifest}: ${error.path.join('.')})`, error.hint);
    throw error;
  }
}

/** The plan of one service's deploy, for --dry-run and the progress titles. */
/** The counts of a deploy run: one skipped because one it depends on failed is skipped, not a second failure. */
export function deploySummary(results: readonly Pick<DeployResult, 'ok' | 'outcome'>[]): DeployReport['summary'] {
  return {
    deployed: results.filter((r) => r.ok && r.outcome === 'deployed').length,
    failed: results.filter((r) => !r.ok && r.outcome !== 'skipped').length,
    skipped: results.filter((r) => r.outcome === 'skipped').length,
  };
}

export async function planDeploy(ops: Ops, service: Service, options: DeployOptions): Promise<{ entry: DeployPlanEntry; decided?: Decided; artifact?: Artifact; unit?: string }> {
  const host = ops.host(service)!;
  const entry: DeployPlanEntry = { id: service.id, host: host.name, alias: host.alias, strategy: null, steps: [] };
  validName('path', service.directory);
  const decided = decideStrategy(service, options);
  if ('error' in decided) return { entry: { ...entry, skipped: decided.error } };
  entry.strategy = decided.strategy;
  const rs = ops.runtime(service);
  const timeout = readyTimeout(service, options) / 1000;
  const wait = service.port === undefined ? `wait until ${rs.unit} keeps running` : `wait up to ${timeout}s for HTTP 2xx on 127.0.0.1:${service.port}${service.health.readiness} (probed on ${host.name})`;
  const lockStep = `take the deploy lock ${service.directory}/.deploy.lock on ${host.name} (${options.wait ? 'waiting for it' : 'fail if held'}; a provably stale lock is broken)`;
  if (decided.strategy === 'script') {
    entry.steps = [lockStep, `run ${service.deployScript} locally in ${service.projectDir} with MANAGE_APPS_* variables`, `restart ${rs.unit} on ${host.name}`, wait, 'on failure: report the unit status, the last journal lines and the readiness answer', 'unlock'];
    return { entry, decided };
  }
  const artifact = await resolveArtifact(decided.artifactPath!, decided.artifactBase!);
  const release = releaseId(artifact.hash);
  const unit = unitText(service, host);
  entry.release = release;
  entry.artifact = { path: artifact.path, kind: artifact.kind, bytes: artifact.bytes };
  if (unit !== undefined) entry.unit_file = unit;
  entry.steps = [
    lockStep,
    `ship ${artifact.path} (${artifact.kind}, ${artifact.bytes} bytes) as a tar stream over ssh to ${service.directory}/releases/${release}`,
    unit === undefined ? `keep the installed unit ${rs.unit}` : `install /etc/systemd/system/${rs.unit} rendered from service.command (daemon-reload and enable when it changed)`,
    `switch ${service.directory}/current to releases/${release} (ln -sfn + mv -T)`,
    `restart ${rs.unit}`,
    wait,
    'on failure: diagnose, switch back to the previous release, restart it, confirm it is healthy, exit non-zero',
    `keep the last ${options.keep ?? service.keepReleases} releases`,
    'unlock',
  ];
  return { entry, decided, artifact, ...(unit === undefined ? {} : { unit }) };
}

async function deployOne(ops: Ops, service: Service, options: DeployOptions, progress: Progress, key: string): Promise<DeployResult> {
  const started = Date.now();
  const host = ops.host(service)!;
  const task = progress.task(key);
  const report = (m: string) => task.update(m);
  const timings = emptyTimings();
  const base: Omit<DeployResult, 'outcome' | 'ok'> = { id: service.id, host: host.name, strategy: null, release: null, previous: null, pruned: [], timings };
  const finish = (r: DeployResult): DeployResult => {
    timings.totalMs = Date.now() - started;
    timings.overheadMs = timings.gateMs === null ? null : Math.max(0, timings.totalMs - timings.gateMs);
    return r;
  };
  let planned;
  try {
    planned = await planDeploy(ops, service, options);
  } catch (error) {
    return finish({ ...base, outcome: 'failed', ok: false, reason: error instanceof Error ? error.message : String(error) });
  }
  if (planned.entry.skipped !== undefined) return finish({ ...base, outcome: 'skipped', ok: false, reason: planned.entry.skipped });
  const decided = planned.decided!;
  base.strategy = decided.strategy;
  const transport = ops.transport(host);
  const rs = ops.runtime(service);
  const timeout = readyTimeout(service, options);
  const owner = newOwner(`deploy ${service.id}${planned.entry.release ? ` ${planned.entry.release}` : ''}`);

  report('taking the deploy lock');
  const t0 = Date.now();
  const lock = await acquire(ops, transport, service, owner, options, report, (m) => progress.note(m), planned.entry.release);
  timings.lockMs = Date.now() - t0;
  base.lock = { waitedMs: lock.waitedMs, ...(lock.broke === undefined ? {} : { broke: lock.broke }) };
  if (!lock.acquired) return finish({ ...base, outcome: lock.result.unreachable ? 'unreachable' : lock.owner ? 'locked' : 'failed', ok: false, reason: lock.reason ?? 'could not take the deploy lock' });
  const recs = records(lock.result.stdout);
  const current = recs.find((r) => r[0] === 'current')?.[1] || null;
  base.previous = current;
  let unlocked = false;
  try {
    if (decided.strategy === 'script') return finish(await runScriptStrategy(ops, service, host, transport, options, base, timings, report));

    // ---- release strategy ------------------------------------------------------------------
    const release = recs.find((r) => r[0] === 'release')?.[1];
    if (!release) return finish({ ...base, outcome: 'failed', ok: false, reason: `no release directory reserved: ${failureReason(lock.result)}` });
    base.release = release;
    const uid = recs.find((r) => r[0] === 'uid')?.[1];
    report(`shipping ${planned.artifact!.kind} (${planned.artifact!.bytes} bytes) as ${release}`);
    const t1 = Date.now();
    const { stream, done } = artifactStream(planned.artifact!);
    const ship = await transport.command(extractCommand(service.directory, release, { gzip: planned.artifact!.kind === 'tar.gz', sudo: uid !== '0' }), { stdin: stream, timeoutMs: 30 * 60_000 });
    const localError = await done;
    timings.shipMs = Date.now() - t1;
    if (ship.unreachable || ship.code !== 0 || localError) {
      const reason = `shipping the artifact failed: ${localError ?? failureReason(ship)}`;
      if (!ship.unreachable) await transport.script(discardIncomingScript(service.directory, release), { timeoutMs: 15_000 });
      return finish({ ...base, outcome: ship.unreachable ? 'unreachable' : 'failed', ok: false, reason });
    }

    report(`switching to ${release}, restarting ${rs.unit}, waiting for ${service.health.readiness}`);
    const t2 = Date.now();
    const act = await transport.script(activateScript(rs, service.directory, release, planned.unit, timeout), { timeoutMs: timeout + ops.settings.commandTimeoutMs + 90_000 });
    timings.activateMs = Date.now() - t2;
    if (act.unreachable) return finish({ ...base, outcome: 'unreachable', ok: false, reason: `the host stopped answering during the switch to ${release} (${act.unreachable}); deploy again once it is back` });
    const gate = gateOf(act);
    timings.gateMs = gate.elapsedMs;
    if (gate.previous !== undefined) base.previous = gate.previous || null;
    if (gate.outcome === 'ready') {
      report('pruning old releases');
      const prune = await transport.script(pruneScript(service.directory, options.keep ?? service.keepReleases, owner.token), { timeoutMs: ops.settings.commandTimeoutMs });
      base.pruned = records(prune.stdout).filter((r) => r[0] === 'pruned').map((r) => r[1] ?? '');
      if (records(prune.stdout).some((r) => r[0] === 'unlocked')) unlocked = true;
      return finish({ ...base, outcome: 'deployed', ok: true });
    }

    // ---- the gate failed: diagnose, then go back -------------------------------------------
    const reason = gateDetail(service, gate.outcome, gate.detail, timeout);
    report(`${reason}; collecting a diagnosis`);
    const diagnosis = await diagnose(ops, transport, service, gate.since);
    const target = base.previous ?? undefined;
    report(target ? `rolling back to ${target}` : 'no previous release: stopping the unit');
    const back = await transport.script(switchBackScript(rs, service.directory, target, timeout, release), { timeoutMs: timeout + ops.settings.commandTimeoutMs + 90_000 });
    const backGate = gateOf(back);
    const rollback = back.unreachable
      ? { release: target ?? null, ok: false, detail: `the host stopped answering during the rollback: ${back.unreachable}` }
      : target === undefined
        ? { release: null, ok: backGate.outcome === 'stopped', detail: 'no previous release: the unit was stopped and the failed release removed' }
        : backGate.outcome === 'ready'
          ? { release: target, ok: true, detail: `${target} is live and ready again` }
          : { release: target, ok: false, detail: `the previous release did not come back: ${gateDetail(service, backGate.outcome, backGate.detail, timeout)}` };
    return finish({ ...base, outcome: 'rolled-back', ok: false, reason, ...(diagnosis === undefined ? {} : { diagnosis }), rollback });
  } finally {
    if (unlocked) heldLocks.delete(`${service.host}:${service.id}`);
    else await unlock(transport, service, owner.token);
  }
}

async function runScriptStrategy(ops: Ops, service: Service, host: Host, transport: Transport, options: DeployOptions, base: Omit<DeployResult, 'outcome' | 'ok'>, timings: DeployTimings, report: (m: string) => void): Promise<DeployResult> {
  const script = resolve(service.projectDir, service.deployScript!);
  let executable = true;
  try {
    await access(script, constants.X_OK);
  } catch {
    try {
      await access(script, constants.R_OK);
      executable = false;
    } catch {
      return { ...base, outcome: 'failed', ok: false, reason: `deploy script not found: ${script}` };
    }
  }
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    MANAGE_APPS_SERVICE: service.id,
    MANAGE_APPS_PROJECT: service.project,
    MANAGE_APPS_ENV: service.environment,
    MANAGE_APPS_HOST: host.name,
    MANAGE_APPS_SSH_HOST: host.alias,
    MANAGE_APPS_DIRECTORY: service.directory,
    MANAGE_APPS_SSH_OPTIONS: sshBaseArgs({ connectTimeoutS: ops.settings.connectTimeoutS, ...(ops.settings.sshConfig === undefined ? {} : { configFile: ops.settings.sshConfig }), ...(ops.settings.controlDir === undefined ? {} : { controlDir: ops.settings.controlDir }) })
      .map((a) => (/^[A-Za-z0-9_./:=%,@+-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`))
      .join(' '),
    ...(service.unit === undefined ? {} : { MANAGE_APPS_UNIT: service.unit }),
    ...(service.port === undefined ? {} : { MANAGE_APPS_PORT: String(service.port) }),
    ...(ops.settings.sshConfig === undefined ? {} : { MANAGE_APPS_SSH_CONFIG: ops.settings.sshConfig }),
  };
  report(`running ${service.deployScript}`);
  const t1 = Date.now();
  let last = '';
  const out = await runProcess(executable ? script : 'sh', executable ? [] : [script], {
    cwd: service.projectDir,
    env,
    timeoutMs: options.scriptTimeoutMs,
    onStdout: (c) => {
      last = (last + c).split('\n').filter(Boolean).pop() ?? last;
      report(`${service.deployScript}: ${last.slice(0, 120)}`);
    },
  });
  timings.shipMs = Date.now() - t1;
  const lastLines = `${out.stdout}\n${out.stderr}`.split('\n').filter((l) => l.trim() !== '').slice(-20);
  const scriptInfo = { exitCode: out.code, lastLines };
  const rs = ops.runtime(service);
  const timeout = readyTimeout(service, options);
  if (out.code !== 0) {
    const diagnosis = await diagnose(ops, transport, service, undefined);
    return { ...base, outcome: 'failed', ok: false, reason: out.timedOut ? `${service.deployScript} timed out` : `${service.deployScript} failed (exit ${out.code ?? out.spawnError ?? 'signal'})`, script: scriptInfo, ...(diagnosis === undefined ? {} : { diagnosis }) };
  }
  report(`restarting ${rs.unit}, waiting for ${service.health.readiness}`);
  const t2 = Date.now();
  const g = await transport.script(gateScript(rs, timeout, { action: 'restart' }), { timeoutMs: timeout + ops.settings.commandTimeoutMs + 90_000 });
  timings.activateMs = Date.now() - t2;
  if (g.unreachable) return { ...base, outcome: 'unreachable', ok: false, reason: g.unreachable, script: scriptInfo };
  const gate = gateOf(g);
  timings.gateMs = gate.elapsedMs;
  if (gate.outcome === 'ready') return { ...base, outcome: 'deployed', ok: true, script: scriptInfo };
  const reason = gateDetail(service, gate.outcome, gate.detail, timeout);
  const diagnosis = await diagnose(ops, transport, service, gate.since);
  return { ...base, outcome: 'failed', ok: false, reason, script: scriptInfo, ...(diagnosis === undefined ? {} : { diagnosis }) };
}

/** Services in a bulk deploy (no project named) leave edges alone: an edge is deployed only when named. */
export function deployable(selection: Selection): { services: Service[]; skipped: Service[] } {
  const services: Service[] = [];
  const skipped: Service[] = [];
  for (const s of selection.services) (s.kind === 'edge' && !selection.named.has(s.id) ? skipped : services).push(s);
  return { services, skipped };
}

export async function runDeploy(ops: Ops, selection: Selection, options: DeployOptions, progress: Progress): Promise<DeployReport> {
  const { services, skipped: edges } = deployable(selection);
  const levels = dependencyLevels(ops.fleet, services);
  const edgeResults: DeployResult[] = edges.map((s) => ({ id: s.id, host: s.host!, strategy: null, release: null, previous: null, outcome: 'skipped', ok: true, reason: 'edge: only deployed when named', pruned: [], timings: emptyTimings() }));
  if (options.dryRun) {
    const plan: DeployPlanEntry[] = [];
    for (const s of levels.flat()) plan.push((await planDeploy(ops, s, options)).entry);
    return { dry_run: true, levels: levels.map((l) => l.map((s) => s.id)), plan, deploys: edgeResults, summary: { deployed: 0, failed: 0, skipped: edgeResults.length + plan.filter((p) => p.skipped).length } };
  }
  hookSignals();
  const key = (s: Service) => `deploy:${s.id}`;
  progress.plan(levels.flat().map((s) => ({ key: key(s), host: s.host!, title: s.id })));
  const results: DeployResult[] = [...edgeResults];
  const failed = new Set<string>();
  const limit = pLimit(ops.settings.concurrency);
  for (const level of levels) {
    await Promise.all(
      level.map((service) =>
        limit(async () => {
          const task = progress.task(key(service));
          const blocked = selectedDependencies(ops.fleet, service, services).filter((d) => failed.has(d.id));
          if (blocked.length > 0) {
            failed.add(service.id);
            const reason = `not deployed: ${blocked.map((d) => d.id).join(', ')} failed to deploy`;
            task.skip(reason);
            results.push({ id: service.id, host: service.host!, strategy: null, release: null, previous: null, outcome: 'skipped', ok: false, reason, pruned: [], timings: emptyTimings() });
            return;
          }
          const r = await deployOne(ops, service, options, progress, key(service));
          results.push(r);
          if (r.ok) task.ok(`deployed${r.release ? ` ${r.release}` : ''} in ${(r.timings.totalMs / 1000).toFixed(1)}s`);
          else {
            failed.add(service.id);
            if (r.outcome === 'skipped') task.skip(r.reason ?? 'skipped');
            else task.fail(`${r.outcome}: ${r.reason ?? ''}`);
          }
        }),
      ),
    );
  }
  await progress.close();
  const order = new Map(levels.flat().map((s, i) => [s.id, i]));
  results.sort((a, b) => (order.get(a.id) ?? -1) - (order.get(b.id) ?? -1));
  return {
    dry_run: false,
    levels: levels.map((l) => l.map((s) => s.id)),
    deploys: results,
    summary: deploySummary(results),
  };
}

// ---- rollback on demand -----------------------------------------------------------------------

export interface RollbackResult {
  id: string;
  host: string;
  from: string | null;
  to: string | null;
  ok: boolean;
  outcome: 'rolled-back' | 'failed' | 'unreachable' | 'locked' | 'skipped';
  reason?: string;
  diagnosis?: Diagnosis;
  releases: string[];
}

export async function rollbackOne(ops: Ops, service: Service, options: DeployOptions & { to?: string }, progress: Progress, key: string): Promise<RollbackResult> {
  const host = ops.host(service)!;
  const base = { id: service.id, host: host.name, from: null, to: null, releases: [] as string[] };
  if (service.supervisor !== 'systemd' || service.unit === undefined) return { ...base, ok: false, outcome: 'skipped', reason: 'only systemd services deployed with releases can be rolled back' };
  const task = progress.task(key);
  const transport = ops.transport(host);
  validName('path', service.directory);
  if (options.dryRun) {
    const r = await transport.script(inspectScript(service.directory), { timeoutMs: ops.settings.commandTimeoutMs });
    if (r.unreachable) return { ...base, ok: false, outcome: 'unreachable', reason: r.unreachable };
    const current = records(r.stdout).find((x) => x[0] === 'current')?.[1] || null;
    const releases = releaseList(sections(r.stdout).get('releases'));
    const target = options.to ?? releases.filter((x) => current === null || x < current).pop();
    if (target === undefined || !releases.includes(target)) return { ...base, from: current, releases, ok: false, outcome: 'failed', reason: options.to ? `no release ${options.to}` : `no release before ${current ?? '(none)'} to go back to` };
    return { ...base, from: current, to: target, releases, ok: true, outcome: 'skipped', reason: `dry run: would switch ${service.directory}/current from ${current} to ${target}, restart ${service.unit} and wait for readiness` };
  }
  const owner = newOwner(`rollback ${service.id}`);
  const lock = await acquire(ops, transport, service, owner, options, (m) => task.update(m), (m) => progress.note(m));
  if (!lock.acquired) return { ...base, ok: false, outcome: lock.result.unreachable ? 'unreachable' : lock.owner ? 'locked' : 'failed', reason: lock.reason ?? 'could not take the deploy lock' };
  try {
    const recs = records(lock.result.stdout);
    const current = recs.find((r) => r[0] === 'current')?.[1] || null;
    const releases = releaseList(sections(lock.result.stdout).get('releases'));
    const res = { ...base, from: current, releases };
    let target = options.to;
    if (target !== undefined && !releases.includes(target)) return { ...res, ok: false, outcome: 'failed', reason: `no release ${target} on ${host.name} (releases: ${releases.join(', ') || 'none'})` };
    if (target === undefined) {
      const older = releases.filter((r) => current === null || r < current);
      target = older[older.length - 1];
    }
    if (target === undefined) return { ...res, ok: false, outcome: 'failed', reason: `no release before ${current ?? '(none)'} to go back to` };
    const rs = ops.runtime(service);
    const timeout = readyTimeout(service, options);
    task.update(`switching to ${target}`);
    const back = await transport.script(switchBackScript(rs, service.directory, target, timeout), { timeoutMs: timeout + ops.settings.commandTimeoutMs + 90_000 });
    if (back.unreachable) return { ...res, to: target, ok: false, outcome: 'unreachable', reason: back.unreachable };
    const gate = gateOf(back);
    if (gate.outcome === 'ready') return { ...res, to: target, ok: true, outcome: 'rolled-back' };
    const reason = gateDetail(service, gate.outcome, gate.detail, timeout);
    const diagnosis = await diagnose(ops, transport, service, gate.since);
    if (current !== null) {
      task.update(`${target} is not healthy; going back to ${current}`);
      await transport.script(switchBackScript(rs, service.directory, current, timeout), { timeoutMs: timeout + ops.settings.commandTimeoutMs + 90_000 });
    }
    return { ...res, to: target, ok: false, outcome: 'failed', reason: `${target} did not become ready (${reason}); switched back to ${current ?? 'nothing'}`, ...(diagnosis === undefined ? {} : { diagnosis }) };
  } finally {
    await unlock(transport, service, owner.token);
  }
}

export async function runRollback(ops: Ops, selection: Selection, options: DeployOptions & { to?: string }, progress: Progress): Promise<RollbackResult[]> {
  if (options.to !== undefined && selection.services.length !== 1) throw new UsageError('--to names a release of one service', 'name exactly one target');
  hookSignals();
  const key = (s: Service) => `rollback:${s.id}`;
  if (!options.dryRun) progress.plan(selection.services.map((s) => ({ key: key(s), host: s.host!, title: s.id })));
  const limit = pLimit(ops.settings.concurrency);
  const results = await Promise.all(
    selection.services.map((s) =>
      limit(async () => {
        const r = await rollbackOne(ops, s, options, progress, key(s));
        const task = progress.task(key(s));
        if (r.ok) task.ok(`${r.from} → ${r.to}`);
        else task.fail(r.reason ?? r.outcome);
        return r;
      }),
    ),
  );
  await progress.close();
  return results;
}

/**
 * `recover <lost-host> --to <host>`: the unplanned move, when a host is gone. Planned from the
 * repository's files and this machine's state alone (the lost host is never contacted), carried
 * out in `drain`'s waves with a journal on this machine (resumable; --abort stops what was
 * started on the target and puts the files back), and reported: the achieved RTO (from the
 * recovery's start to every recovered service healthy) and RPO (the age of the restored
 * backups), against what the backups declare, appended to the evidence file. docs/recover.md.
 */
import { join } from 'node:path';
import { planDrain } from '../analysis/drain.js';
import { FleetIndex } from '../analysis/topology.js';
import { appendEvidence, planBackups, newestBackup, type CatalogEntry } from '../data/backup.js';
import { EXIT_OK, EXIT_PROBLEMS, UsageError } from '../errors.js';
import { durationMs, type Fleet } from '../fleet/model.js';
import { loadFleet, type FleetOptions } from '../load/fleet.js';
import { Ops } from '../ops/context.js';
import type { DeployOptions } from '../ops/deploy/types.js';
import { JournalWriter, readJournal, type Journal } from '../ops/move/journal.js';
import { countItems, type WaveOrder } from '../ops/move/plan.js';
import { planTunnels, returnTunnel, rewireTunnel, tunnelRecords } from '../ops/move/rewire.js';
import type { MoveTunnelEdit } from '../ops/move/types.js';
import { abortItem, recoverCluster, recoverService, type RecoverContext } from '../ops/recover/execute.js';
import { planRecoverItems, type CatalogAnswer } from '../ops/recover/plan.js';
import type { Objective, RecoverDocument, RecoverItem, RecoverReport, RecoverWave } from '../ops/recover/types.js';
import { resolveSettings, type OpsSettings } from '../ops/settings.js';
import { problemJson } from '../problems.js';
import { fileSafe } from '../transport/quote.js';
import type { Answer, WithProblems } from './answer.js';

export type { RecoverDocument } from '../ops/recover/types.js';

export interface RecoverChoices {
  dryRun: boolean;
  abort: boolean;
  deploy?: Partial<DeployOptions>;
}

/** The journal of a recovery: the move journal's shape, with the backups chosen and the moments services became healthy. */
interface RecoverJournal extends Journal {
  lost: string;
  backups: Record<string, CatalogEntry>;
  healthy: Record<string, string>;
  /** Set once the report was appended to the evidence file. */
  evidence: string | null;
}

export function recoverJournalPath(stateDir: string, lost: string): string {
  return join(stateDir, 'recover', `${fileSafe(lost)}.json`);
}

const settled = (i: { state: string }) => i.state === 'moved' || i.state === 'returned';
const finished = (j: Journal) => j.items.every(settled) && (j.tunnels ?? []).every(settled);

/** The fleet as it was before the journal's steps: each journalled item back on the lost host. */
function asBefore(fleet: Fleet, journal: Journal | undefined): Fleet {
  if (journal === undefined) return fleet;
  const from = (kind: string) => new Map(journal.items.filter((i) => i.kind === kind).map((i) => [i.name, i.from]));
  const services = from('service');
  const clusters = from('cluster');
  return {
    ...fleet,
    services: fleet.services.map((s) => (services.has(s.id) ? { ...s, host: services.get(s.id)! } : s)),
    clusters: fleet.clusters.map((c) => (clusters.has(c.name) ? { ...c, host: clusters.get(c.name)! } : c)),
  };
}

/** The fleet once everything of the lost host runs on the target. */
function asAfter(fleet: Fleet, lost: string, to: string): Fleet {
  return {
    ...fleet,
    services: fleet.services.map((s) => (s.host === lost ? { ...s, host: to } : s)),
    clusters: fleet.clusters.map((c) => (c.host === lost ? { ...c, host: to } : c)),
  };
}

function journalOrder(journal: Journal): WaveOrder[] {
  const waves = new Map<number, WaveOrder>();
  for (const i of journal.items) {
    let w = waves.get(i.wave);
    if (!w) waves.set(i.wave, (w = { wave: i.wave, label: '', items: [] }));
    w.items.push({ kind: i.kind, name: i.name });
  }
  return [...waves.values()].sort((a, b) => a.wave - b.wave);
}

const seconds = (objective: string | null | undefined): number | undefined =>
  objective && /^\d+(ms|s|m|h|d)$/.test(objective) ? durationMs(objective, 0) / 1000 : undefined;

/** The strictest declared objective among the lost host's clusters (the recovery must meet each). */
function strictest(values: (string | undefined)[]): string | null {
  let best: string | null = null;
  for (const v of values) if (v !== undefined && seconds(v) !== undefined && (best === null || seconds(v)! < seconds(best)!)) best = v;
  return best ?? values.find((v) => v !== undefined) ?? null;
}

const objective = (achieved: number | null, declared: string | null): Objective => ({
  achieved_s: achieved,
  declared,
  met: achieved === null || seconds(declared) === undefined ? null : achieved <= seconds(declared)!,
});

function reportOf(fleet: Fleet, j: RecoverJournal): RecoverReport {
  const started = Date.parse(j.started);
  const services = j.items.filter((i) => i.kind === 'service' && i.state !== 'returned');
  const allHealthy = services.length > 0 && services.every((i) => j.healthy[i.name] !== undefined);
  const healthyAt = allHealthy ? Math.max(...services.map((i) => Date.parse(j.healthy[i.name]!))) : null;
  const backups = Object.entries(j.backups).map(([cluster, e]) => ({
    cluster,
    backup_id: e.id,
    backup_time: e.time,
    age_s: Math.max(0, Math.round((started - Date.parse(e.time)) / 1000)),
  }));
  const policies = j.items.filter((i) => i.kind === 'cluster').map((i) => planBackups(fleet, [i.name]).plans[0]?.policy);
  return {
    started: j.started,
    healthy_at: healthyAt === null ? null : new Date(healthyAt).toISOString(),
    rto: objective(healthyAt === null ? null : Math.round((healthyAt - started) / 100) / 10, strictest(policies.map((p) => p?.rto))),
    rpo: objective(backups.length === 0 ? null : Math.max(...backups.map((b) => b.age_s)), strictest(policies.map((p) => p?.rpo))),
    backups,
    evidence: j.evidence,
  };
}

function summary(waves: readonly RecoverWave[]): RecoverDocument['summary'] {
  const c = countItems(waves);
  return { items: c.items, recovered: c.done, returned: c.returned, failed: c.failed, pending: c.pending, blocked: c.blocked };
}

/** The newest backup of each of the lost host's clusters, asked of the hosts that keep them (in parallel; never the lost host). */
async function readCatalogs(fleet: Fleet, ops: Ops, clusters: string[], known: Record<string, CatalogEntry>): Promise<Map<string, CatalogAnswer>> {
  const out = new Map<string, CatalogAnswer>();
  await Promise.all(
    clusters.map(async (name) => {
      if (known[name] !== undefined) return out.set(name, { entry: known[name]! });
      const plan = planBackups(fleet, [name]).plans[0];
      if (plan === undefined || plan.problem !== undefined) return;
      out.set(name, await newestBackup(ops, plan));
    }),
  );
  return out;
}

export async function recover(
  source: FleetOptions,
  lostName: string,
  toName: string,
  given: Partial<OpsSettings>,
  choices: RecoverChoices,
  onStep: (line: string) => void = () => {},
): Promise<Answer<WithProblems<RecoverDocument>>> {
  const loaded = await loadFleet(source);
  const started = new Date();
  // The lost host is never contacted; anything else that does not answer is judged quickly.
  const settings = resolveSettings(given, { commandTimeoutMs: 60_000 });
  const ops = new Ops(loaded.fleet, settings);
  const find = (n: string) => loaded.fleet.hosts.find((h) => h.name === n || h.alias === n)?.name;
  const lost = find(lostName);
  const to = find(toName);
  if (lost === undefined) throw new UsageError(`${lostName}: no such host in the inventory`, 'see `manage-apps hosts`');
  if (to === undefined) throw new UsageError(`--to ${toName}: no such host in the inventory`, 'see `manage-apps hosts`');
  if (lost === to) throw new UsageError(`cannot recover ${lost} onto itself`, 'pass --to with another host');
  const path = recoverJournalPath(ops.localStateDir, lost);
  const existing = (await readJournal(path)) as RecoverJournal | undefined;
  const open = existing !== undefined && !finished(existing) ? existing : undefined;
  if (choices.abort && open === undefined) throw new UsageError(`no recovery of ${lost} is under way: nothing to abort`, `the journal is ${path}`);
  const before = asBefore(loaded.fleet, open);
  const after = asAfter(before, lost, to);
  const warnings: string[] = [];
  if (open !== undefined && !choices.abort)
    warnings.push(`a recovery of ${lost} onto ${open.to} started ${open.started} is under way (${path}): it is continued as its journal says`);
  if (open !== undefined && open.to !== to)
    throw new UsageError(`the recovery of ${lost} under way goes to ${open.to}, not ${to}`, `finish it (--to ${open.to}) or --abort it first`);
  const blockers = new Map<string, string>();
  let order: WaveOrder[];
  if (open !== undefined) order = journalOrder(open);
  else {
    const plan = planDrain(new FleetIndex(before), lost, to);
    // What drain says of the lost host itself (it is unreachable: that is why it is recovered) is not a blocker.
    for (const b of plan.blocked) if (b.reason !== 'unreachable' && !blockers.has(b.name)) blockers.set(b.name, b.message);
    order = plan.waves;
  }
  const inventory = { path: loaded.inventory.path, file: loaded.inventory.file };
  const clusterNames = order.flatMap((w) => w.items.filter((i) => i.kind === 'cluster').map((i) => i.name));
  const catalogs = choices.abort ? new Map<string, CatalogAnswer>() : await readCatalogs(before, ops, clusterNames, open?.backups ?? {});
  const planned = await planRecoverItems(before, inventory, order, lost, to, ops.localStateDir, catalogs, warnings);
  for (const w of planned) for (const i of w.items) if (i.state !== 'moved') i.blocked ??= blockers.get(i.name) ?? null;
  // The tunnels that ended on the lost host, re-pointed at the target (the lost host never contacted).
  const tunnels = await planTunnels(before, inventory, planned, to, lost, lost);
  const tunnelsOf = (j: Journal | undefined): MoveTunnelEdit[] =>
    j?.tunnels === undefined
      ? tunnels.tunnels
      : j.tunnels.map((t) => ({
          ...(tunnels.tunnels.find((x) => x.name === t.name) ?? { suggestion: `re-point it: ${t.after.from} → ${t.after.to}`, steps: [] }),
          name: t.name,
          from: t.from,
          to: t.to,
          after: t.after,
          wave: t.wave,
          state: t.state,
          done: [...t.done],
          reason: t.reason,
        }));
  if (open === undefined && planned.every((w) => w.items.length === 0))
    warnings.push(`nothing ran on ${lost}: no service and no database cluster to recover`);

  const merge = (j: Journal | undefined): RecoverWave[] =>
    planned.map((w) => ({
      ...w,
      items: w.items.map((i): RecoverItem => {
        const x = j?.items.find((y) => y.kind === i.kind && y.name === i.name);
        return x === undefined
          ? i
          : { ...i, state: x.state, done: [...x.done], release: x.release, reason: x.reason, ...(x.state === 'moved' ? { blocked: null } : {}) };
      }),
    }));
  const document = (
    waves: RecoverWave[],
    action: RecoverDocument['action'],
    report: RecoverReport | null,
    j: Journal | undefined,
  ): WithProblems<RecoverDocument> => ({
    action,
    dry_run: choices.dryRun,
    lost,
    to,
    journal: path,
    waves,
    edits: [...waves.flatMap((w) => w.items.flatMap((i) => i.edits)), ...tunnels.edits],
    tunnels: tunnelsOf(j),
    warnings,
    summary: summary(waves),
    report,
    problems: loaded.problems.map(problemJson),
  });
  warnings.push(
    `if ${lost} comes back, its units start at boot and its database would take writes beside ${to}: keep it off the network until its services are stopped and disabled there`,
  );
  if (choices.dryRun) {
    const waves = merge(open);
    return {
      exitCode: summary(waves).blocked > 0 ? EXIT_PROBLEMS : EXIT_OK,
      document: document(waves, choices.abort ? 'abort' : 'plan', open ? reportOf(before, open) : null, open),
      loaded,
    };
  }

  const fresh: RecoverJournal = {
    version: 1,
    to,
    lost,
    started: started.toISOString(),
    finished: null,
    backups: {},
    healthy: {},
    evidence: null,
    items: planned.flatMap((w) =>
      w.items.map((i) => ({
        kind: i.kind,
        name: i.name,
        from: i.from,
        to,
        wave: w.wave,
        state: 'pending' as const,
        done: [],
        release: null,
        reason: null,
        at: started.toISOString(),
      })),
    ),
    tunnels: tunnelRecords(tunnels.tunnels, started.toISOString()),
  };
  const journal = new JournalWriter(path, open ?? fresh);
  const j = journal.journal as RecoverJournal;
  const ctx: RecoverContext = {
    fleet: before,
    after,
    lost,
    ops,
    journal,
    inventoryPath: loaded.inventory.path,
    // The restored clusters' services get their env file from the provisioning, not from the lost host.
    databaseWriters: new Set(),
    releasesDir: join(ops.localStateDir, 'recover'),
    deploy: choices.deploy ?? {},
    report: onStep,
    backups: new Map(Object.entries(j.backups).map(([k, entry]) => [k, { entry }])),
    chose: async (cluster, entry) => {
      j.backups[cluster] = entry;
      ctx.backups.set(cluster, { entry });
      await journal.save();
    },
    healthy: async (service) => {
      j.healthy[service] = new Date().toISOString();
      await journal.save();
    },
  };
  const serviceOf = (name: string) => before.services.find((s) => s.id === name);
  if (choices.abort) {
    for (const w of [...planned].reverse())
      for (const i of [...w.items].reverse()) {
        const item = journal.item(i.kind, i.name);
        if (item === undefined || item.state === 'returned') continue;
        if (item.state === 'pending' && item.done.length === 0) {
          await journal.set(item, { state: 'returned' });
          continue;
        }
        await abortItem(ctx, serviceOf(i.name), item);
      }
    for (const t of [...(journal.journal.tunnels ?? [])].reverse()) {
      if (t.state === 'returned') continue;
      if (t.state === 'pending' && t.done.length === 0) Object.assign(t, { state: 'returned', at: new Date().toISOString() });
      else await returnTunnel(ctx, t, lost);
    }
  } else {
    await journal.save();
    for (const w of planned) {
      for (const i of w.items) {
        const item = journal.item(i.kind, i.name)!;
        if (item.state === 'moved') continue;
        if (i.blocked !== null) {
          onStep(`${i.name}: not recovered: ${i.blocked}`);
          continue;
        }
        if (i.kind === 'cluster') {
          await recoverCluster(ctx, item);
          continue;
        }
        const service = serviceOf(i.name)!;
        // A service whose database is part of this recovery starts only on its restored copy.
        const db = service.database?.cluster;
        const dbItem = db === undefined ? undefined : journal.item('cluster', db);
        if (dbItem !== undefined && dbItem.state !== 'moved') {
          await journal.set(item, {
            state: 'failed',
            reason: `its database cluster ${db} is not recovered (${dbItem.reason ?? dbItem.state}): not started on ${to}`,
          });
          continue;
        }
        await recoverService(ctx, service, item, { release: i.source.release!, file: i.source.file!, image: i.source.image });
      }
      // Its tunnels, once what it brought back serves from the target (the lost host not contacted).
      if (w.items.every((i) => journal.item(i.kind, i.name)?.state === 'moved'))
        for (const t of (journal.journal.tunnels ?? []).filter((x) => x.wave === w.wave && x.state !== 'moved')) await rewireTunnel(ctx, t, lost);
    }
  }
  if (finished(journal.journal) && journal.journal.finished === null) journal.journal.finished = new Date().toISOString();
  const waves = merge(journal.journal);
  const s = summary(waves);
  let report = reportOf(before, j);
  if (!choices.abort && s.recovered === s.items && j.evidence === null) {
    // Everything is back: the measured recovery joins the drills' evidence (impact reads it).
    j.evidence = await appendEvidence(loaded.fleet.root, {
      kind: 'recover',
      time: new Date().toISOString(),
      host: lost,
      to,
      ok: true,
      started: report.started,
      healthy_at: report.healthy_at,
      achieved: { rto_s: report.rto.achieved_s, rpo_s: report.rpo.achieved_s },
      declared: { rto: report.rto.declared, rpo: report.rpo.declared },
      met: { rto: report.rto.met, rpo: report.rpo.met },
      backups: report.backups,
      services: j.items.filter((i) => i.kind === 'service').map((i) => i.name),
      clusters: j.items.filter((i) => i.kind === 'cluster').map((i) => i.name),
    });
    report = { ...report, evidence: j.evidence };
  }
  await journal.save();
  const tunnelsOk = (journal.journal.tunnels ?? []).every((t) => (choices.abort ? settled(t) : t.state === 'moved'));
  const ok = (choices.abort ? s.returned + s.recovered === s.items : s.recovered === s.items) && tunnelsOk;
  return {
    exitCode: ok ? EXIT_OK : EXIT_PROBLEMS,
    document: document(waves, choices.abort ? 'abort' : 'execute', report, journal.journal),
    loaded,
  };
}

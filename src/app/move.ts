/**
 * `move <targets> --to HOST` and `drain HOST --to HOST --execute`: the plan (waves, steps, the
 * repository's edits), carried out wave by wave with a journal on this machine (resumable), or
 * undone for the waves not finished (`--abort`). docs/move.md.
 */
import { join } from 'node:path';
import { planDrain } from '../analysis/drain.js';
import { FleetIndex } from '../analysis/topology.js';
import { EXIT_OK, EXIT_PROBLEMS, UsageError } from '../errors.js';
import type { Fleet, Service } from '../fleet/model.js';
import { loadFleet, type FleetOptions } from '../load/fleet.js';
import { Ops } from '../ops/context.js';
import type { DeployOptions } from '../ops/deploy/types.js';
import { clusterDatabases, clusterMoveRefs, finishClusterMove, moveCluster, returnCluster } from '../ops/move/database.js';
import { moveService, returnService, type MoveContext } from '../ops/move/execute.js';
import { moveCompose, returnCompose } from '../ops/move/compose.js';
import { moveJob, returnJob } from '../ops/move/jobs.js';
import { moveSwap, returnSwap } from '../ops/move/swap.js';
import { journalDir, journalPath, JournalWriter, readJournal, type Journal, type JournalItem } from '../ops/move/journal.js';
import { countItems, planMoveItems, type WaveOrder } from '../ops/move/plan.js';
import { planTunnels, returnTunnel, rewireTunnel, tunnelRecords } from '../ops/move/rewire.js';
import type { JournalTunnel, MoveDocument, MoveItem, MoveTunnelEdit, MoveWave } from '../ops/move/types.js';
import { dependencyLevels, selectServices } from '../ops/selection.js';
import { resolveSettings, type OpsSettings } from '../ops/settings.js';
import { problemJson } from '../problems.js';
import type { Answer, WithProblems } from './answer.js';

export type { MoveDocument } from '../ops/move/types.js';

export interface MoveChoices {
  dryRun: boolean;
  abort: boolean;
  /** With abort: send a database back even after its writers started on the target. */
  force?: boolean;
  deploy?: Partial<DeployOptions>;
}

export type MoveWhat = { mode: 'move'; targets: string[] } | { mode: 'drain'; host: string };

/** The fleet as it was before the journal's moves: each journalled service back on its source (its plan is computed there). */
function asBefore(fleet: Fleet, journal: Journal | undefined): Fleet {
  if (journal === undefined) return fleet;
  const from = new Map(journal.items.filter((i) => i.kind === 'service').map((i) => [i.name, i.from]));
  const clusterFrom = new Map(journal.items.filter((i) => i.kind === 'cluster').map((i) => [i.name, i.from]));
  return {
    ...fleet,
    services: fleet.services.map((s) => (from.has(s.id) ? { ...s, host: from.get(s.id)! } : s)),
    clusters: fleet.clusters.map((c) => (clusterFrom.has(c.name) ? { ...c, host: clusterFrom.get(c.name)! } : c)),
  };
}

/** The waves; what `drain` says cannot move goes into `blockers` (name → why). */
function orderOf(fleet: Fleet, what: MoveWhat, to: string, warnings: string[], blockers: Map<string, string>): WaveOrder[] {
  if (what.mode === 'drain') {
    const index = new FleetIndex(fleet);
    const [source] = index.resolveHosts([what.host]);
    if (source === to) throw new UsageError(`cannot drain ${what.host} onto itself`, 'pass --to with another host');
    const plan = planDrain(index, source!, to);
    for (const b of plan.blocked) if (!blockers.has(b.name)) blockers.set(b.name, b.message);
    for (const w of plan.warnings) warnings.push(w.message);
    return plan.waves;
  }
  const selection = selectServices(fleet, { targets: what.targets });
  if (selection.services.length === 0) throw new UsageError(`no service matches ${what.targets.join(' ')}`, 'see `manage-apps list`');
  const waves: WaveOrder[] = dependencyLevels(fleet, selection.services).map((level, i) => ({
    wave: i + 1,
    label: '',
    items: level.map((s) => ({ kind: 'service' as const, name: s.id })),
  }));
  // A database cluster beside a service moves with it when every project using it is in the move:
  // first in the wave of its first writer (frozen, restored, then its writers started there).
  const named = new Set(selection.services.map((s) => s.id));
  for (const s of selection.services) {
    const cluster = s.database === undefined ? undefined : fleet.clusters.find((c) => c.name === s.database!.cluster);
    if (cluster === undefined || cluster.host !== s.host || cluster.host === to) continue;
    if (waves.some((w) => w.items.some((i) => i.kind === 'cluster' && i.name === cluster.name))) continue;
    const writers = clusterDatabases(fleet, cluster.name).map((d) => d.writer?.id);
    if (!writers.every((id) => id !== undefined && named.has(id))) continue;
    const first = waves.find((w) => w.items.some((i) => writers.includes(i.name)))!;
    first.items.unshift({ kind: 'cluster', name: cluster.name });
  }
  return waves;
}

/** How each kind of service moves (and goes back): ops/move/compose.ts, jobs.ts, swap.ts, execute.ts. */
const moveOf = (s: Service) =>
  s.compose !== undefined ? moveCompose : s.schedule !== undefined ? moveJob : s.swapPorts !== undefined ? moveSwap : moveService;
const returnOf = (s: Service) =>
  s.compose !== undefined ? returnCompose : s.schedule !== undefined ? returnJob : s.swapPorts !== undefined ? returnSwap : returnService;

/** The journal's order (a move under way keeps its waves), with what the files add to it. */
function journalOrder(journal: Journal): WaveOrder[] {
  const waves = new Map<number, WaveOrder>();
  for (const i of journal.items) {
    let w = waves.get(i.wave);
    if (!w) waves.set(i.wave, (w = { wave: i.wave, label: '', items: [] }));
    w.items.push({ kind: i.kind, name: i.name });
  }
  return [...waves.values()].sort((a, b) => a.wave - b.wave);
}

const settled = (i: { state: string }) => i.state === 'moved' || i.state === 'returned';
const finished = (j: Journal) => j.items.every(settled) && (j.tunnels ?? []).every(settled);

/** A tunnel as the document shows it: the plan's, with what the journal says of it. */
function tunnelWithJournal(planned: MoveTunnelEdit | undefined, j: JournalTunnel): MoveTunnelEdit {
  return {
    name: j.name,
    from: j.from,
    to: j.to,
    suggestion: planned?.suggestion ?? `re-point it: ${j.after.from} → ${j.after.to}`,
    after: j.after,
    wave: j.wave,
    steps: planned?.steps ?? [],
    state: j.state,
    done: [...j.done],
    reason: j.reason,
  };
}

function withJournal(item: MoveItem, j: JournalItem | undefined): MoveItem {
  if (j === undefined) return item;
  return {
    ...item,
    state: j.state,
    done: [...j.done],
    release: j.release,
    reason: j.reason,
    databases: j.databases ?? item.databases,
    ...(j.state === 'moved' ? { blocked: null } : {}),
  };
}

function summary(waves: readonly MoveWave[]): MoveDocument['summary'] {
  const c = countItems(waves);
  return { items: c.items, moved: c.done, returned: c.returned, failed: c.failed, pending: c.pending, blocked: c.blocked };
}

export async function move(
  source: FleetOptions,
  what: MoveWhat,
  toName: string,
  given: Partial<OpsSettings>,
  choices: MoveChoices,
  onStep: (line: string) => void = () => {},
): Promise<Answer<WithProblems<MoveDocument>>> {
  const loaded = await loadFleet(source);
  const settings = resolveSettings(given, { commandTimeoutMs: 60_000 });
  const ops = new Ops(loaded.fleet, settings);
  const to = loaded.fleet.hosts.find((h) => h.name === toName || h.alias === toName)?.name;
  if (to === undefined) throw new UsageError(`--to ${toName}: no such host in the inventory`, 'see `manage-apps hosts`');
  const path = journalPath(ops.localStateDir, to);
  const existing = await readJournal(path);
  const open = existing !== undefined && !finished(existing) ? existing : undefined;
  if (choices.abort && open === undefined) throw new UsageError(`no move to ${to} is under way: nothing to abort`, `the journal is ${path}`);
  const before = asBefore(loaded.fleet, open);
  const warnings: string[] = [];
  const inventory = { path: loaded.inventory.path, file: loaded.inventory.file };
  if (open !== undefined && !choices.abort)
    warnings.push(
      `a move to ${to} started ${open.started} is under way (${path}): it is continued as its journal says; finish it or --abort it before starting another`,
    );
  const blockers = new Map<string, string>();
  const order = open !== undefined ? journalOrder(open) : orderOf(before, what, to, warnings, blockers);
  const planned = await planMoveItems(before, inventory, order, to, warnings);
  for (const w of planned) for (const i of w.items) if (i.state !== 'moved') i.blocked ??= blockers.get(i.name) ?? null;
  // Tunnels following the move: as the files say before it (a move under way: as its journal says).
  const tunnels = await planTunnels(before, inventory, planned, to, what.mode === 'drain' ? what.host : undefined);
  const tunnelsOf = (j: Journal | undefined): MoveTunnelEdit[] =>
    j?.tunnels === undefined
      ? tunnels.tunnels
      : [
          ...j.tunnels.map((t) =>
            tunnelWithJournal(
              tunnels.tunnels.find((x) => x.name === t.name && x.after !== null),
              t,
            ),
          ),
          ...tunnels.tunnels.filter((x) => x.after === null && !j.tunnels!.some((t) => t.name === x.name)),
        ];
  const document = (
    waves: MoveWave[],
    action: MoveDocument['action'],
    elapsed: number | null,
    j: Journal | undefined,
  ): WithProblems<MoveDocument> => ({
    mode: what.mode,
    action,
    dry_run: choices.dryRun,
    to,
    journal: path,
    waves,
    edits: [...waves.flatMap((w) => w.items.flatMap((i) => i.edits)), ...tunnels.edits],
    tunnels: tunnelsOf(j),
    warnings,
    summary: summary(waves),
    elapsed_s: elapsed,
    problems: loaded.problems.map(problemJson),
  });
  const merge = (j: Journal | undefined) =>
    planned.map((w) => ({
      ...w,
      items: w.items.map((i) =>
        withJournal(
          i,
          j?.items.find((x) => x.kind === i.kind && x.name === i.name),
        ),
      ),
    }));
  const action: MoveDocument['action'] = choices.abort ? 'abort' : 'execute';
  if (choices.dryRun) {
    const waves = merge(open);
    const s = summary(waves);
    return { exitCode: s.blocked > 0 ? EXIT_PROBLEMS : EXIT_OK, document: document(waves, choices.abort ? 'abort' : 'plan', null, open), loaded };
  }

  const journal = new JournalWriter(
    path,
    open ?? {
      version: 1,
      to,
      started: new Date().toISOString(),
      finished: null,
      items: planned.flatMap((w) =>
        w.items.map((i) => ({
          kind: i.kind,
          name: i.name,
          from: i.from,
          to,
          wave: w.wave,
          state: i.state === 'moved' ? ('moved' as const) : ('pending' as const),
          done: [],
          release: null,
          reason: null,
          at: new Date().toISOString(),
        })),
      ),
      tunnels: tunnelRecords(tunnels.tunnels, new Date().toISOString()),
    },
  );
  const journalTunnels = (wave: number) => (journal.journal.tunnels ?? []).filter((t) => t.wave === wave);
  const ctx: MoveContext = {
    fleet: loaded.fleet,
    ops,
    journal,
    releasesDir: join(journalDir(ops.localStateDir), `${to}.releases`),
    deploy: choices.deploy ?? {},
    report: onStep,
    inventoryPath: loaded.inventory.path,
    databaseWriters: new Set(planned.flatMap((w) => w.items.filter((i) => i.kind === 'cluster').flatMap((i) => i.writers))),
  };
  const writersOf = (cluster: string) =>
    planned
      .flatMap((w) => w.items)
      .find((i) => i.kind === 'cluster' && i.name === cluster)
      ?.writers.map((n) => journal.item('service', n)) ?? [];
  const started = Date.now();
  const serviceOf = (name: string) => before.services.find((s) => s.id === name);
  if (choices.abort) {
    // Every item of a wave not finished goes back, the newest wave first; a database before any
    // service (its writers start on the source only once it is writable there again).
    // (A wave is finished once its tunnels are re-pointed too.)
    const unfinishedWaves = [...planned]
      .reverse()
      .filter(
        (w) => !w.items.every((i) => journal.item(i.kind, i.name)?.state === 'moved') || !journalTunnels(w.wave).every((t) => t.state === 'moved'),
      );
    const unfinished = unfinishedWaves.map((w) => w.items.map((i) => journal.item(i.kind, i.name)!).filter(Boolean));
    const refused = new Set<string>();
    for (const j of unfinished.flat().filter((i) => i.kind === 'cluster')) {
      if (j.state === 'pending' || j.state === 'returned') {
        if (j.state === 'pending') await journal.set(j, { state: 'returned' });
        continue;
      }
      await returnCluster(ctx, clusterMoveRefs(before, j.name), j, writersOf(j.name), choices.force === true);
      if ((j.state as string) !== 'returned') for (const w of writersOf(j.name)) if (w) refused.add(w.name);
    }
    for (const j of unfinished.flat().filter((i) => i.kind === 'service')) {
      const service = serviceOf(j.name);
      if (refused.has(j.name)) continue;
      if (service === undefined || j.state === 'pending' || j.state === 'returned') {
        if (j.state === 'pending') await journal.set(j, { state: 'returned' });
        continue;
      }
      await returnOf(service)(ctx, service, j);
    }
    // The tunnels they carry, once they serve from their source again.
    for (const t of unfinishedWaves.flatMap((w) => journalTunnels(w.wave))) {
      if (t.state === 'returned') continue;
      if (t.state === 'pending') Object.assign(t, { state: 'returned', at: new Date().toISOString() });
      else await returnTunnel(ctx, t);
    }
    await journal.save();
  } else {
    await journal.save();
    for (const w of planned) {
      const blocked = w.items.filter((i) => i.blocked !== null && journal.item(i.kind, i.name)?.state !== 'moved');
      if (blocked.length > 0) {
        onStep(`wave ${w.wave}: ${blocked.map((b) => `${b.name}: ${b.blocked}`).join('; ')}: the move stops before this wave`);
        break;
      }
      for (const i of w.items) {
        const j = journal.item(i.kind, i.name)!;
        if (j.state === 'moved') continue;
        if (i.kind === 'cluster') {
          if (j.done.includes('restore')) continue;
          await moveCluster(ctx, clusterMoveRefs(before, i.name), j);
          if (j.state === 'failed') break;
          continue;
        }
        const service = serviceOf(i.name)!;
        await moveOf(service)(ctx, service, j);
      }
      // A cluster is where the inventory says once every writer serves from the target.
      for (const i of w.items) {
        const j = journal.item(i.kind, i.name)!;
        if (i.kind !== 'cluster' || j.state === 'moved' || !j.done.includes('restore')) continue;
        if (writersOf(i.name).every((x) => x?.state === 'moved')) await finishClusterMove(ctx, j);
      }
      // A wave whose gate failed stops the move: the source still serves what did not move.
      if (w.items.some((i) => journal.item(i.kind, i.name)?.state !== 'moved')) break;
      // Its tunnels follow what they carry (a tunnel that cannot be re-pointed stops the move too).
      for (const t of journalTunnels(w.wave)) if (t.state !== 'moved') await rewireTunnel(ctx, t);
      if (journalTunnels(w.wave).some((t) => t.state !== 'moved')) break;
    }
  }
  if (finished(journal.journal)) {
    journal.journal.finished = new Date().toISOString();
    await journal.save();
  }
  const waves = merge(journal.journal);
  const s = summary(waves);
  const tunnelsOk = (journal.journal.tunnels ?? []).every((t) => (choices.abort ? settled(t) : t.state === 'moved'));
  const ok = (choices.abort ? s.returned + s.moved === s.items : s.moved === s.items) && tunnelsOk;
  return {
    exitCode: ok ? EXIT_OK : EXIT_PROBLEMS,
    document: document(waves, action, Math.round((Date.now() - started) / 100) / 10, journal.journal),
    loaded,
  };
}

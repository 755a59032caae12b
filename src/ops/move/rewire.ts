/**
 * The inventory's tunnels that follow a move: re-pointed on the hosts and in the inventory once
 * what they carry serves from the target. Which ones: `drain` every tunnel ending on the drained
 * host; `move` (and `recover`) the tunnels carrying a moved project or cluster (`carries`), at the
 * end on its source. Each, after the wave of what it carries (else after the last wave), in three
 * steps recorded in the journal, each safe to run again:
 *
 *   down  on the end it leaves only, `tunnels down`'s path: the unit stopped and removed with its
 *         key (the end that opened it), or its restricted key removed (the far end). First, so a
 *         reverse tunnel's listening port on the far host is free for the new end. Not on a lost
 *         host (`recover` never contacts it: the far end's key line is replaced by `up`);
 *   stale on a recovery only, when the lost host opened a reverse tunnel: on the far end, the
 *         sshd session of the tunnel's account still listening on its forwarded ports ended
 *         (that session alone: a lost host's session can outlive it there and keep the ports,
 *         so the re-pointed tunnel could not listen). Before `up`, so its port is free;
 *   up    `tunnels up` for it as re-pointed (both ends: the account and restricted key on the far
 *         end, the key made where it is opened, the pinned host key, the unit (re)started);
 *   edit  the inventory's tunnels.<i>.from|to (a minimal edit, formatting kept, a .bak).
 *
 * `returnTunnel` undoes it for `--abort`: the inventory back, the tunnel down on the new end and
 * up again as it was (not towards a lost host: `recover --abort` leaves it closed).
 */
import { FleetIndex } from '../../analysis/topology.js';
import type { Fleet, Tunnel } from '../../fleet/model.js';
import { readIfExists, writeFileSafely } from '../../files/write.js';
import { EditError, setScalar } from '../../source/edit.js';
import { defaultLocator } from '../../source/locator.js';
import { FAR_USER, forwardsOf, initiatorOf, resolveTunnels, type ResolvedTunnel } from '../../tunnels/resolve.js';
import { records } from '../../runtime/shell.js';
import { failureReason } from '../../transport/types.js';
import { TunnelRunner, type TunnelsRun } from '../tunnels.js';
import { endStaleTunnelSessionScript } from './host-scripts.js';
import { edit, type InventoryFile } from './plan.js';
import { hostOf, StepFailed, type MoveContext } from './steps.js';
import type { FileEdit, JournalTunnel, MoveTunnelEdit, MoveWave } from './types.js';

type Ends = { from: string; to: string };

/** The end a re-pointed tunnel leaves (the one of its old ends it no longer has). */
const leftEnd = (t: Pick<JournalTunnel, 'from' | 'to' | 'after'>): string => (t.from !== t.after.from && t.from !== t.after.to ? t.from : t.to);

/** The end it gains. */
const newEnd = (t: Pick<JournalTunnel, 'from' | 'to' | 'after'>): string =>
  t.after.from !== t.from && t.after.from !== t.to ? t.after.from : t.after.to;

/**
 * The tunnels this move re-points, with their steps and the inventory's edits. `drained`: the
 * host `drain` empties (every tunnel ending there follows); else only tunnels carrying a moved
 * item.
 */
/** The journal's record of each tunnel a move or a recovery re-points, before any of its steps. */
export function tunnelRecords(tunnels: readonly MoveTunnelEdit[], at: string): JournalTunnel[] {
  return tunnels.flatMap((t) =>
    t.after === null || t.wave === null
      ? []
      : [{ name: t.name, from: t.from, to: t.to, after: t.after, wave: t.wave, state: 'pending' as const, done: [], reason: null, at }],
  );
}

export async function planTunnels(
  fleet: Fleet,
  inventory: InventoryFile,
  waves: readonly MoveWave[],
  to: string,
  drained: string | undefined,
  lost?: string,
): Promise<{ tunnels: MoveTunnelEdit[]; edits: FileEdit[] }> {
  const tunnels: MoveTunnelEdit[] = [];
  const edits: FileEdit[] = [];
  const last = waves.at(-1)?.wave ?? null;
  for (const [i, t] of fleet.tunnels.entries()) {
    // What it carries, when that moves in this move: its wave and the host it leaves.
    const carried = waves
      .flatMap((w) => w.items.map((item) => ({ w: w.wave, item })))
      .find(({ item }) => {
        if (item.from === item.to || (item.from !== t.from && item.from !== t.to)) return false;
        if (item.kind === 'cluster') return item.name === t.carries;
        return fleet.services.find((s) => s.id === item.name)?.project === t.carries;
      });
    const left = drained ?? carried?.item.from;
    if (left === undefined || (t.from !== left && t.to !== left)) continue;
    const after: Ends = { from: t.from === left ? to : t.from, to: t.to === left ? to : t.to };
    const base = { name: t.name, from: t.from, to: t.to, state: 'pending' as const, done: [], reason: null };
    if (after.from === after.to) {
      tunnels.push({
        ...base,
        suggestion: `retire it: ${to} would tunnel to itself (left in the inventory for you to remove)`,
        after: null,
        wave: null,
        steps: [],
      });
      continue;
    }
    const mine: FileEdit[] = [];
    for (const side of ['from', 'to'] as const) {
      if (t[side] !== left) continue;
      const e = await edit(inventory.path, inventory.file, ['tunnels', String(i), side], left, to);
      if (typeof e !== 'string') mine.push(e);
    }
    edits.push(...mine);
    const opener = initiatorOf(t) === left;
    const initiator = initiatorOf({ ...t, ...after });
    const far = initiator === after.from ? after.to : after.from;
    const stale = staleSessionEnd(t, lost);
    tunnels.push({
      ...base,
      suggestion: `re-point it: ${after.from} → ${after.to}`,
      after,
      wave: carried?.w ?? last,
      steps: [
        `down: on ${left} only, the end it leaves: ${opener ? 'its unit stopped and removed with its key' : 'its restricted key removed'} (\`tunnels down\`'s path)`,
        ...(stale === undefined
          ? []
          : [
              `stale: on ${stale.far}, the sshd session of ${stale.user} still listening on port ${stale.ports.join(', ')} (the one ${lost} opened, which can outlive it) ended, that session only`,
            ]),
        `up: \`tunnels up\` for it as ${after.from} → ${after.to}: on ${far} its account and restricted key, on ${initiator} its key, ${far}'s pinned host key and its unit (re)started`,
        ...mine.map((e) => `edit: ${e.file} ${e.field}: ${e.from} → ${e.to}`),
      ],
    });
  }
  return { tunnels, edits };
}

/**
 * Where a recovery ends the session a lost host's tunnel may still hold: a reverse tunnel the
 * lost host opened listens on its far end (which stays), through that host's sshd session.
 * Undefined for anything else (a forward tunnel listens on its opener; a lost far end is never
 * contacted).
 */
function staleSessionEnd(t: Tunnel, lost: string | undefined): { far: string; user: string; ports: number[] } | undefined {
  if (lost === undefined || (t.direction ?? 'forward') !== 'reverse' || initiatorOf(t) !== lost || t.from === lost) return undefined;
  const ports = [...new Set(forwardsOf(t).map((f) => f.listen))].sort((a, b) => a - b);
  return ports.length === 0 ? undefined : { far: t.from, user: t.ssh_user ?? FAR_USER.reverse, ports };
}

/** The fleet with one tunnel's ends set. */
function withEnds(fleet: Fleet, name: string, ends: Ends): Fleet {
  return { ...fleet, tunnels: fleet.tunnels.map((t) => (t.name === name ? { ...t, ...ends } : t)) };
}

/** The tunnel as it resolves on that fleet (and every tunnel there: the far host's Match block covers them all). */
function resolvedOn(fleet: Fleet, name: string): { index: FleetIndex; all: ResolvedTunnel[]; tunnel: ResolvedTunnel } {
  const index = new FleetIndex(fleet);
  const resolution = resolveTunnels(index, defaultLocator(fleet.inventoryFile));
  const tunnel = resolution.tunnels.find((t) => t.name === name);
  if (tunnel === undefined) {
    const i = fleet.tunnels.findIndex((t) => t.name === name);
    const why =
      resolution.skipped.find((s) => s.name === name)?.reason ??
      resolution.problems
        .filter((p) => p.message.includes(name) || i < 0)
        .map((p) => p.message)
        .join('; ');
    throw new StepFailed(`tunnel ${name} cannot be opened as ${JSON.stringify(fleet.tunnels[i] ?? {})}: ${why || 'it is not in the inventory'}`);
  }
  return { index, all: resolution.tunnels, tunnel };
}

function failed(run: TunnelsRun): string | undefined {
  if (run.ok) return undefined;
  return (
    [
      ...run.tunnels.flatMap((t) => (t.error === undefined ? [] : [t.error])),
      ...run.hosts.flatMap((h) => (h.error === undefined ? [] : [`${h.host}: ${h.error}`])),
    ].join('; ') || 'failed'
  );
}

async function down(ctx: MoveContext, fleet: Fleet, name: string, host: string): Promise<void> {
  const { index, all, tunnel } = resolvedOn(fleet, name);
  const run = await new TunnelRunner(ctx.ops, index, all).down([tunnel], new Set([host]));
  const why = failed(run);
  if (why !== undefined) throw new StepFailed(`cannot take tunnel ${name} off ${host}: ${why}`);
}

async function endStaleSession(ctx: MoveContext, name: string, stale: { far: string; user: string; ports: number[] }): Promise<void> {
  const res = await ctx.ops
    .transport(hostOf(ctx.fleet, stale.far))
    .script(endStaleTunnelSessionScript(stale.user, stale.ports), { timeoutMs: 60_000 });
  const recs = records(res.stdout);
  const error = recs.find((r) => r[0] === 'error')?.[1];
  const answered = stale.ports.every((p) => recs.some((r) => (r[0] === 'free' || r[0] === 'held') && r[1] === String(p)));
  if (res.unreachable || error !== undefined || !answered)
    throw new StepFailed(`cannot end the stale session of tunnel ${name} on ${stale.far}: ${error ?? failureReason(res)}`);
  for (const r of recs) {
    if (r[0] === 'ended')
      ctx.report(`tunnel ${name}: ended the sshd session (pid ${r[2]}, from ${r[3] || 'an unknown peer'}) listening on ${stale.far} port ${r[1]}`);
    if (r[0] === 'other')
      ctx.report(`tunnel ${name}: port ${r[1]} on ${stale.far} is held by ${r[3] || 'a process'} (pid ${r[2]}), not a tunnel session: left alone`);
    if (r[0] === 'held') ctx.report(`tunnel ${name}: port ${r[1]} on ${stale.far} is still taken: the re-pointed tunnel retries until it is free`);
  }
}

async function up(ctx: MoveContext, fleet: Fleet, name: string): Promise<void> {
  const { index, all, tunnel } = resolvedOn(fleet, name);
  const run = await new TunnelRunner(ctx.ops, index, all).up([tunnel]);
  const why = failed(run);
  if (why !== undefined) throw new StepFailed(`cannot open tunnel ${name} (${tunnel.initiator} → ${tunnel.far}): ${why}`);
}

/** The inventory's tunnels.<i>.from|to set to `ends` (minimal edits; nothing written when it says so already). */
async function editEnds(ctx: MoveContext, name: string, ends: Ends): Promise<void> {
  const path = ctx.inventoryPath;
  const text = await readIfExists(path);
  if (text === undefined) throw new StepFailed(`cannot read ${path}`);
  const i = ctx.fleet.tunnels.findIndex((t) => t.name === name);
  if (i < 0) throw new StepFailed(`tunnel ${name} is not in the inventory any more`);
  const json = path.endsWith('.json');
  let next = text;
  try {
    for (const side of ['from', 'to'] as const) next = setScalar(next, ['tunnels', String(i), side], ends[side], { json });
  } catch (error) {
    if (error instanceof EditError) throw new StepFailed(`${path}: tunnels.${i}: ${error.message}`);
    throw error;
  }
  await writeFileSafely(path, next);
}

async function save(ctx: MoveContext, t: JournalTunnel, change: Partial<JournalTunnel>): Promise<void> {
  Object.assign(t, change, { at: new Date().toISOString() });
  await ctx.journal.save();
}

async function step(ctx: MoveContext, t: JournalTunnel, name: string, change: Partial<JournalTunnel> = {}): Promise<void> {
  if (!t.done.includes(name)) t.done.push(name);
  await save(ctx, t, change);
}

/** down (on the end it leaves; not on `lost`), up (as re-pointed), edit. A failure leaves it `failed`, the move stopped there. */
export async function rewireTunnel(ctx: MoveContext, t: JournalTunnel, lost?: string): Promise<void> {
  const before = withEnds(ctx.fleet, t.name, { from: t.from, to: t.to });
  const after = withEnds(ctx.fleet, t.name, t.after);
  try {
    if (t.state !== 'moving') await save(ctx, t, { state: 'moving', reason: null });
    const left = leftEnd(t);
    if (!t.done.includes('down')) {
      if (left !== lost) {
        ctx.report(`tunnel ${t.name}: taking it off ${left}`);
        await down(ctx, before, t.name, left);
      }
      await step(ctx, t, 'down');
    }
    const declared = ctx.fleet.tunnels.find((x) => x.name === t.name);
    const stale = declared === undefined ? undefined : staleSessionEnd({ ...declared, from: t.from, to: t.to }, lost);
    // Not once it is up (a journal from before this step): the session on the port is then the new end's.
    if (stale !== undefined && !t.done.includes('stale') && !t.done.includes('up')) {
      ctx.report(`tunnel ${t.name}: ending on ${stale.far} the session ${lost} may still hold (port ${stale.ports.join(', ')})`);
      await endStaleSession(ctx, t.name, stale);
      await step(ctx, t, 'stale');
    }
    if (!t.done.includes('up')) {
      ctx.report(`tunnel ${t.name}: opening it as ${t.after.from} → ${t.after.to}`);
      await up(ctx, after, t.name);
      await step(ctx, t, 'up');
    }
    if (!t.done.includes('edit')) {
      await editEnds(ctx, t.name, t.after);
      await step(ctx, t, 'edit', { state: 'moved', reason: null });
      ctx.report(`tunnel ${t.name}: re-pointed (${t.after.from} → ${t.after.to})`);
    }
  } catch (error) {
    if (!(error instanceof StepFailed)) throw error;
    await save(ctx, t, { state: 'failed', reason: error.message });
  }
}

/**
 * Back as it was (`--abort`): the inventory, the tunnel off its new end, opened again between its
 * old ends (unless one of them is `lost`). A step cut midway may have happened without the journal knowing: whatever the
 * journal says, both are done (each is harmless when there is nothing to undo).
 */
export async function returnTunnel(ctx: MoveContext, t: JournalTunnel, lost?: string): Promise<void> {
  const before = withEnds(ctx.fleet, t.name, { from: t.from, to: t.to });
  const after = withEnds(ctx.fleet, t.name, t.after);
  try {
    if (t.done.includes('edit')) {
      await editEnds(ctx, t.name, { from: t.from, to: t.to });
      await save(ctx, t, { done: t.done.filter((s) => s !== 'edit') });
    }
    if (t.done.length > 0 || t.state !== 'pending') {
      const gained = newEnd(t);
      ctx.report(`tunnel ${t.name}: taking it off ${gained}, opening it again as ${t.from} → ${t.to}`);
      await down(ctx, after, t.name, gained);
      // Between its old ends only when both are there: a lost host is never contacted.
      if (lost === undefined || (t.from !== lost && t.to !== lost)) await up(ctx, before, t.name);
    }
    await save(ctx, t, { done: [], state: 'returned', reason: null });
  } catch (error) {
    if (!(error instanceof StepFailed)) throw error;
    await save(ctx, t, { reason: `abort: ${error.message}` });
  }
}

/**
 * `hosts prepare [hosts]`: check that each host has what the fleet model says it must have
 * (src/hosts/requirements.ts) and, with apply, install it. One ssh round trip per host (the
 * check, or the apply script that checks, acts and checks again), hosts in parallel.
 * --dry-run checks (read-only) and lists the exact steps apply would run for what is missing.
 */
import pLimit from 'p-limit';
import { FleetIndex } from '../analysis/topology.js';
import { UsageError } from '../errors.js';
import type { Fleet } from '../fleet/model.js';
import { hostRequirements, type HostRequirements, type Need, type Requirement, type RequirementNote } from '../hosts/requirements.js';
import { applyScript, applySteps, aptPackage, checkScript, installSteps, macInstruction } from '../hosts/scripts.js';
import { defaultLocator } from '../source/locator.js';
import { records } from '../runtime/shell.js';
import { closest } from '../text/suggest.js';
import { failureReason } from '../transport/types.js';
import { resolveTunnels } from '../tunnels/resolve.js';
import { Ops } from './context.js';
import type { OpsSettings } from './settings.js';
import { stepPrinter } from './progress.js';

export type PrepareMode = 'check' | 'dry-run' | 'apply';

export interface PrepareSettings {
  /** Hosts to prepare (every host when empty). */
  hosts: readonly string[];
  mode: PrepareMode;
  ops: OpsSettings;
  /** Only these of each host's requirements (all when absent): a move creates one cluster and its server, nothing else. */
  only?: (requirement: Requirement) => boolean;
}

export type ItemState = 'present' | 'missing' | 'installed' | 'failed';

export interface PreparedItem {
  id: string;
  kind: Need['kind'];
  /** Who in the model asks for it. */
  why: string[];
  state: ItemState;
  /** What was found (a version, an owner), or why it is missing or failed. */
  detail: string;
  /** --dry-run, and on a Mac: the steps that would make it present. */
  steps?: string[];
}

export interface PreparedHost {
  host: string;
  platform: 'apt' | 'mac';
  reachable: boolean;
  /** The host's own problem (unreachable, no apt, no sudo), when it could not be checked. */
  error?: string;
  items: PreparedItem[];
  /** --dry-run: the package installation step for the whole host. */
  install?: string[];
  /** Number of items apply made present on this host. */
  changed: number;
  /** Seconds the round trip took. */
  seconds: number;
}

export interface PrepareReport {
  command: 'hosts prepare';
  mode: PrepareMode;
  hosts: PreparedHost[];
  notes: RequirementNote[];
  /** Items still missing or failed (0: every host has what the model declares). */
  missing: number;
  /** Items apply made present (0 with apply: nothing changed). */
  changed: number;
  ok: boolean;
}

export type PrepareProgress = (line: string) => void;

/** Every requirement of every selected host, checked (and with apply, installed). */
export async function prepareHosts(fleet: Fleet, settings: PrepareSettings, progress: PrepareProgress = () => {}): Promise<PrepareReport> {
  const tunnels = resolveTunnels(new FleetIndex(fleet), defaultLocator(fleet.inventoryFile)).tunnels;
  const derived = hostRequirements(fleet, tunnels);
  const known = derived.hosts.map((h) => h.host.name);
  for (const name of settings.hosts) {
    if (!fleet.hosts.some((h) => h.name === name)) {
      const guess = closest(
        name,
        fleet.hosts.map((h) => h.name),
      );
      throw new UsageError(`no host "${name}" in the inventory`, guess ? `did you mean "${guess}"?` : `hosts: ${known.join(', ') || '(none)'}`);
    }
  }
  const only = settings.only;
  const selected = derived.hosts
    .filter((h) => settings.hosts.length === 0 || settings.hosts.includes(h.host.name))
    .map((h) => (only === undefined ? h : { ...h, requirements: h.requirements.filter(only) }));
  const ops = new Ops(fleet, settings.ops);
  const limit = pLimit(settings.ops.concurrency);
  const hosts = await Promise.all(selected.map((h) => limit(() => prepareHost(ops, h, settings.mode, progress))));
  const missing = hosts.reduce(
    (n, h) => n + (h.reachable ? h.items.filter((i) => i.state === 'missing' || i.state === 'failed').length : Math.max(1, h.items.length)),
    0,
  );
  const changed = hosts.reduce((n, h) => n + h.changed, 0);
  const notes = derived.notes.filter((n) => n.host === null || settings.hosts.length === 0 || settings.hosts.includes(n.host));
  return { command: 'hosts prepare', mode: settings.mode, hosts, notes, missing, changed, ok: missing === 0 };
}

async function prepareHost(ops: Ops, h: HostRequirements, mode: PrepareMode, progress: PrepareProgress): Promise<PreparedHost> {
  const name = h.host.name;
  const base: PreparedHost = { host: name, platform: h.platform, reachable: true, items: [], changed: 0, seconds: 0 };
  if (h.requirements.length === 0) {
    progress(`${name}: nothing to prepare`);
    return base;
  }
  const started = Date.now();
  const transport = ops.transport(h.host);
  const apply = mode === 'apply' && h.platform === 'apt';
  progress(`${name}: ${apply ? 'preparing' : 'checking'} ${h.requirements.length} item${h.requirements.length === 1 ? '' : 's'}`);
  // The compose package is chosen on the host by the apply script itself (docker-compose-v2 where its release has it).
  const script = apply ? applyScript(h, packagesFor(h, '$compose_pkg')) : checkScript(h);
  // apt-get install may take minutes on a slow mirror: the apply round trip gets far more than a check.
  const result = await transport.script(script, {
    timeoutMs: apply ? Math.max(ops.settings.commandTimeoutMs * 10, 600_000) : ops.settings.commandTimeoutMs,
    ...(apply ? { onStdout: stepPrinter(name, progress) } : {}),
  });
  base.seconds = Math.round((Date.now() - started) / 100) / 10;
  const recs = records(result.stdout);
  if (result.unreachable || (recs.length === 0 && result.code !== 0)) {
    const error =
      result.unreachable ?? (/sudo/.test(result.stderr) ? `cannot run as root (sudo -n): ${failureReason(result)}` : failureReason(result));
    progress(`${name}: ${error}`);
    return {
      ...base,
      reachable: result.unreachable === undefined,
      error,
      items: h.requirements.map((r) => ({ id: r.id, kind: r.need.kind, why: r.why, state: 'missing', detail: 'not checked' })),
    };
  }
  if (recs.some((r) => r[0] === 'noapt'))
    base.error = 'no apt-get on this host: install the missing items by hand (Debian or Ubuntu hosts are prepared with apt)';
  const compose = recs.find((r) => r[0] === 'pkg' && r[1] === 'compose')?.[2] ?? 'docker-compose';
  const pgVersion = new Map(recs.filter((r) => r[0] === 'pgversion').map((r) => [r[1]!, r[2]!]));
  const state = new Map<string, { state: ItemState; detail: string }>();
  const extra: PreparedItem[] = [];
  for (const r of recs) {
    const kind = r[0];
    if (kind !== 'have' && kind !== 'miss' && kind !== 'done' && kind !== 'fail') continue;
    const id = r[1] ?? '';
    const s: ItemState = kind === 'have' ? 'present' : kind === 'miss' ? 'missing' : kind === 'done' ? 'installed' : 'failed';
    if (id === 'dpkg' || id === '-') {
      extra.push({ id: id === '-' ? 'host' : 'dpkg', kind: 'program', why: ["the host's package database"], state: s, detail: r[2] ?? '' });
      continue;
    }
    // The last word about an item wins (apply: a failed fix after its first check).
    const had = state.get(id);
    if (had?.state === 'failed' && s !== 'failed') continue;
    state.set(id, { state: s, detail: r[2] ?? '' });
  }
  const packages = packagesFor(h, compose);
  const items: PreparedItem[] = h.requirements.map((r) => {
    const found = state.get(r.id) ?? {
      state: 'failed' as const,
      detail: apply ? 'the host did not report it (the script was cut short)' : 'not reported',
    };
    const item: PreparedItem = { id: r.id, kind: r.need.kind, why: r.why, ...found };
    if (found.state === 'missing' && (mode === 'dry-run' || h.platform === 'mac')) {
      item.steps =
        h.platform === 'mac'
          ? [macInstruction(r.need)]
          : r.need.kind === 'program'
            ? [`apt-get install ${packages.get(r.id)}`]
            : applySteps(r, { ...(pgVersion.get(r.id) === undefined ? {} : { pgVersion: pgVersion.get(r.id)! }) });
    }
    return item;
  });
  base.items = [...extra, ...items];
  base.changed = base.items.filter((i) => i.state === 'installed').length;
  if (mode === 'dry-run' && h.platform === 'apt') {
    const wanted = items.filter((i) => i.kind === 'program' && i.state === 'missing').map((i) => packages.get(i.id)!);
    base.install = installSteps(
      [...new Set(wanted)],
      extra.some((e) => e.id === 'dpkg' && e.state === 'missing'),
    );
  }
  const missing = base.items.filter((i) => i.state === 'missing' || i.state === 'failed').length;
  progress(
    `${name}: ${missing === 0 ? (base.changed > 0 ? `ready (${base.changed} installed)` : 'ready') : `${missing} missing`} in ${base.seconds.toFixed(1)}s`,
  );
  return base;
}

function packagesFor(h: HostRequirements, compose: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const r of h.requirements) if (r.need.kind === 'program') out.set(r.id, aptPackage(r.need.capability, r.need.version, compose));
  return out;
}

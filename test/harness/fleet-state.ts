// A fleet's record on disk (state.json in its base directory) and the teardown that works from
// that record alone, so a fleet can be removed by the process that made it, by its 'exit'
// handler, by `npm run fleet -- down`, or by a later run sweeping up after a dead one.
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type ProcessRef,
  cgroup2Root,
  cgroupPopulated,
  isAlive,
  isInside,
  killCgroup,
  killProcess,
  mountsUnder,
  removeCgroupTree,
  runSync,
  sleepSync,
} from './system.js';

/**
 * Every fleet's base directory lives here; a persistent fleet's state must survive its creator.
 * This directory and the fleets' parent cgroup stay when empty, so that concurrent runs never
 * race one removing them against another creating its fleet in them.
 */
export const FLEET_STATE_ROOT = '/run/manage-apps-test-fleet';
/** Name of the cgroup (under the cgroup2 root) that holds every fleet's hosts. */
export const FLEET_CGROUP_NAME = 'manage-apps-test-fleet';
/** Prefix of every bridge, veth and network namespace name, followed by the fleet's subnet index. */
export const LINK_PREFIX = 'matf';

export interface HostState {
  name: string;
  alias: string;
  address: string;
  netns: string;
  /** the veth end on the bridge, in the machine's namespace */
  veth: string;
  dir: string;
  upperDir: string;
  mergedDir: string;
  consoleLog: string;
  cgroupDir: string;
  /** the detached `unshare` that parents the host's PID 1 */
  wrapper?: ProcessRef;
  /** the host's systemd, PID 1 in its own PID namespace */
  pid1?: ProcessRef;
}

export interface FleetState {
  version: 1;
  name: string;
  baseDir: string;
  /** the process that created the fleet; a non-persistent fleet is stale once it is gone */
  owner: ProcessRef;
  persistent: boolean;
  createdAt: string;
  /** X in 10.98.X.0/24 */
  subnetIndex?: number;
  bridge?: string;
  cgroupDir?: string;
  connectTimeoutSec: number;
  identityFile: string;
  knownHostsPath: string;
  sshConfigPath: string;
  hosts: HostState[];
}

export function stateFile(baseDir: string): string {
  return join(baseDir, 'state.json');
}

export function writeState(state: FleetState): void {
  const target = stateFile(state.baseDir);
  writeFileSync(`${target}.tmp`, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  renameSync(`${target}.tmp`, target);
}

export function readState(baseDir: string): FleetState | undefined {
  try {
    const state = JSON.parse(readFileSync(stateFile(baseDir), 'utf8')) as FleetState;
    return state.version === 1 && state.baseDir === baseDir ? state : undefined;
  } catch {
    return undefined;
  }
}

export function listFleetStates(): FleetState[] {
  let names: string[];
  try {
    names = readdirSync(FLEET_STATE_ROOT);
  } catch {
    return [];
  }
  return names.flatMap((name) => readState(join(FLEET_STATE_ROOT, name)) ?? []);
}

/** A fleet nobody will tear down: its creator is gone and (for a persistent fleet) so are its hosts. */
export function isStale(state: FleetState): boolean {
  if (isAlive(state.owner)) return false;
  if (!state.persistent) return true;
  return !state.hosts.some((host) => isAlive(host.pid1));
}

function saveQuietly(state: FleetState): void {
  try {
    writeState(state);
  } catch {
    // the base directory is already gone
  }
}

/**
 * Stops every host, then removes mounts, links, namespaces, cgroups, the bridge and the base
 * directory. Synchronous, so it can run in an 'exit' handler; idempotent and tolerant of
 * anything already gone. Returns what could not be removed (empty when all is clean). The bridge
 * is the fleet's claim on its subnet and names: it is released only once everything else is gone.
 */
export function teardownFleet(state: FleetState): string[] {
  if (!isInside(state.baseDir, FLEET_STATE_ROOT) || state.baseDir === FLEET_STATE_ROOT) {
    throw new Error(`refusing to tear down ${state.baseDir}: not a fleet directory under ${FLEET_STATE_ROOT}`);
  }
  const problems: string[] = [];
  stopHosts(state.hosts, problems);
  unmountAll(state.baseDir, problems);
  for (const host of state.hosts) {
    removeLink(host.veth, problems);
    removeNetns(host.netns, problems);
  }
  if (state.cgroupDir) {
    for (const dir of removeCgroupTree(state.cgroupDir)) problems.push(`cgroup ${dir} could not be removed`);
  }
  if (problems.length > 0) {
    saveQuietly(state);
    return problems;
  }
  state.hosts = [];
  saveQuietly(state);
  if (state.bridge) {
    removeLink(state.bridge, problems);
    if (problems.length > 0) return problems;
    state.bridge = undefined;
    saveQuietly(state);
  }
  // Never recurse into a directory with anything mounted below it: that could be a host's root.
  if (mountsUnder(state.baseDir).length > 0) return [`${state.baseDir} still has mounts; left in place`];
  rmSync(state.baseDir, { recursive: true, force: true });
  return [];
}

function stopHosts(hosts: readonly HostState[], problems: string[]): void {
  // Killing PID 1 ends the whole PID namespace; its parent (the wrapper) reaps it and exits.
  // A host still booting has no PID 1 recorded yet: killing the wrapper takes it down (--kill-child).
  for (const host of hosts) {
    if (isAlive(host.pid1)) killProcess(host.pid1);
    else killProcess(host.wrapper);
  }
  const running = () => hosts.filter((h) => isAlive(h.pid1) || isAlive(h.wrapper) || cgroupPopulated(h.cgroupDir));
  const escalateAt = Date.now() + 5_000;
  const giveUpAt = escalateAt + 5_000;
  let escalated = false;
  for (let left = running(); left.length > 0; left = running()) {
    if (!escalated && Date.now() > escalateAt) {
      for (const host of left) {
        killProcess(host.wrapper);
        killCgroup(host.cgroupDir);
      }
      escalated = true;
    }
    if (Date.now() > giveUpAt) {
      for (const host of left) problems.push(`host ${host.name} still has running processes (cgroup ${host.cgroupDir})`);
      return;
    }
    sleepSync(20);
  }
}

function unmountAll(baseDir: string, problems: string[]): void {
  for (let round = 0; round < 5; round++) {
    const mounts = mountsUnder(baseDir);
    if (mounts.length === 0) return;
    for (const mount of mounts) runSync('umount', [mount.mountPoint], { allowFailure: true });
    if (round > 0) sleepSync(100);
  }
  for (const mount of mountsUnder(baseDir)) problems.push(`mount ${mount.mountPoint} (${mount.fsType}) could not be unmounted`);
}

function removeLink(name: string, problems: string[]): void {
  if (!existsSync(`/sys/class/net/${name}`)) return;
  const result = runSync('ip', ['link', 'del', 'dev', name], { allowFailure: true });
  if (result.status !== 0 && existsSync(`/sys/class/net/${name}`)) problems.push(`link ${name}: ${result.stderr.trim()}`);
}

function removeNetns(name: string, problems: string[]): void {
  if (!existsSync(`/run/netns/${name}`)) return;
  const result = runSync('ip', ['netns', 'del', name], { allowFailure: true });
  if (result.status !== 0) problems.push(`network namespace ${name}: ${result.stderr.trim()}`);
}

/**
 * Tears down every fleet whose owner died without doing it (SIGKILL, machine crash, an
 * interrupted `up`), and cgroups left without a fleet. Returns the names of fleets removed.
 */
export function sweepStale(): string[] {
  const swept: string[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(FLEET_STATE_ROOT);
  } catch {
    // nothing recorded yet
  }
  for (const name of names) {
    const baseDir = join(FLEET_STATE_ROOT, name);
    const state = readState(baseDir);
    if (state) {
      if (!isStale(state)) continue;
      const problems = teardownFleet(state);
      if (problems.length > 0) process.stderr.write(`test fleet ${name}: stale leftovers not removed:\n  ${problems.join('\n  ')}\n`);
      else swept.push(name);
    } else if (isAbandonedDirectory(baseDir)) {
      rmSync(baseDir, { recursive: true, force: true });
      swept.push(name);
    }
  }
  sweepOrphanCgroups();
  return swept;
}

/** A base directory without a readable state.json: its creator died between mkdir and the first write. */
function isAbandonedDirectory(baseDir: string): boolean {
  try {
    return statSync(baseDir).mtimeMs < Date.now() - 60_000 && mountsUnder(baseDir).length === 0;
  } catch {
    return false;
  }
}

function sweepOrphanCgroups(): void {
  const root = cgroup2Root();
  if (!root) return;
  const groupDir = join(root, FLEET_CGROUP_NAME);
  let fleets: string[];
  try {
    fleets = readdirSync(groupDir, { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name);
  } catch {
    return;
  }
  for (const fleet of fleets) {
    const dir = join(groupDir, fleet);
    if (!existsSync(join(FLEET_STATE_ROOT, fleet)) && !cgroupPopulated(dir)) removeCgroupTree(dir);
  }
}

export function ensureStateRoot(): void {
  mkdirSync(FLEET_STATE_ROOT, { recursive: true, mode: 0o700 });
}

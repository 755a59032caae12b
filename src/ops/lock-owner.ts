/**
 * The deploy lock of a service on its host: a directory `<service dir>/.deploy.lock` (mkdir is
 * atomic) holding an `owner` file: who (user@machine), when, the deploying process's pid and
 * the deploying machine's boot id. A lock is provably stale when it was taken on this machine,
 * in this boot, by a process that no longer runs (or in an earlier boot): it is then broken
 * automatically, with a note. A lock from another machine is only broken with --break-lock.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname, uptime, userInfo } from 'node:os';
import { isProcessAlive } from '../process.js';
import { CONTROL_CHARACTERS } from '../text/control.js';

export interface LockOwner {
  token: string;
  owner: string;
  machine: string;
  boot: string;
  pid: number;
  time: string;
  command: string;
}

let bootIdCache: string | undefined;
/** This machine's boot: the kernel's boot id on Linux, else the boot time to the minute. */
export function bootId(): string {
  if (bootIdCache) return bootIdCache;
  try {
    bootIdCache = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    bootIdCache = `boot-${Math.round((Date.now() / 1000 - uptime()) / 60)}`;
  }
  return bootIdCache;
}

export function newOwner(command: string): LockOwner {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry
  }
  return {
    token: randomBytes(8).toString('hex'),
    owner: `${user}@${hostname()}`,
    machine: hostname(),
    boot: bootId(),
    pid: process.pid,
    time: new Date().toISOString(),
    command,
  };
}

/** key=value lines: no secrets, no newline (nor any control character) inside values. */
export function ownerText(owner: LockOwner): string {
  return Object.entries(owner)
    .map(([k, v]) => `${k}=${String(v).replace(CONTROL_CHARACTERS, ' ')}`)
    .join('\n');
}

export function parseOwner(text: string): Partial<LockOwner> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  const owner: Partial<LockOwner> = { ...out } as Partial<LockOwner>;
  if (out['pid'] !== undefined) owner.pid = Number(out['pid']);
  return owner;
}

export type Staleness = { stale: true; why: string } | { stale: false; why: string };

/** Decides whether a held lock is provably stale, from this machine's point of view. */
export function staleness(owner: Partial<LockOwner>, now = Date.now()): Staleness {
  if (owner.token === undefined) return { stale: false, why: 'the lock has no owner record (being taken right now, or written by something else)' };
  if (owner.machine !== hostname())
    return { stale: false, why: `taken on another machine (${owner.machine ?? 'unknown'}): manage-apps cannot tell whether that deploy still runs` };
  if (owner.boot !== bootId()) return { stale: true, why: `taken before this machine last booted (${owner.time ?? 'unknown time'})` };
  if (owner.pid === undefined || !Number.isInteger(owner.pid) || owner.pid <= 0) return { stale: false, why: 'the lock names no process' };
  if (owner.pid === process.pid) return { stale: false, why: 'held by this very process' };
  if (!isProcessAlive(owner.pid)) return { stale: true, why: `its deploy (pid ${owner.pid}, started ${owner.time ?? '?'}) no longer runs` };
  void now;
  return { stale: false, why: `pid ${owner.pid} on this machine still runs` };
}

export function describeOwner(owner: Partial<LockOwner>): string {
  return `${owner.owner ?? 'someone'} (pid ${owner.pid ?? '?'}, since ${owner.time ?? '?'}${owner.command ? `, ${owner.command}` : ''})`;
}

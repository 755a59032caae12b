/**
 * Connections opened early. This module stays light (no YAML, no schemas): the read-only
 * commands that ask every host one script (status, drift, secrets status) import it first, so
 * the ssh handshakes start while the rest loads.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Host } from '../fleet/model.js';
import { DEFAULT_INVENTORY } from '../inventory/types.js';
import { SshTransport, type PendingScript } from '../transport/ssh.js';
import type { OpsSettings } from './settings.js';
import { isThisMachine } from './this-machine.js';

/**
 * Starts the ssh connection of every host a read-only command over whole hosts will ask
 * (status, drift, secrets status: one script per host), before the fleet is loaded (loading
 * the code and validating the manifests take ~0.1 s, more in a big tree): the handshake, or
 * the opening of a multiplexed session, overlaps it. The script follows on stdin once known.
 * Only over whole hosts (no project targets; no --env other than prod, whose services tend
 * to live on this machine); any host the command turns out not to need is cancelled.
 */
export function prewarmHosts(
  options: { root?: string; inventory?: string; host?: string; env?: string; targets: readonly string[] },
  settings: OpsSettings,
  timeoutMs: number,
): Map<string, PendingScript> {
  const pending = new Map<string, PendingScript>();
  if (options.env !== undefined && options.env !== 'prod') return pending;
  let inventory: { hosts?: Record<string, { alias?: string; address?: string; provider?: string; local?: boolean }> };
  try {
    const root = resolve(options.root ?? process.cwd());
    const file = options.inventory === undefined ? resolve(root, DEFAULT_INVENTORY) : resolve(process.cwd(), options.inventory);
    inventory = JSON.parse(readFileSync(file, 'utf8').replace(/^\uFEFF/, '')) as typeof inventory;
  } catch {
    return pending;
  }
  const names = Object.keys(inventory.hosts ?? {});
  const wanted = new Set<string>();
  for (const t of options.targets) {
    const at = t.indexOf('@');
    if (at > 0) wanted.add(t.slice(at + 1));
    else if (names.includes(t)) wanted.add(t);
    else return pending; // a project target: its hosts are only known from the manifests
  }
  for (const [name, h] of Object.entries(inventory.hosts ?? {})) {
    if (options.host !== undefined && name !== options.host) continue;
    if (wanted.size > 0 && !wanted.has(name)) continue;
    const alias = h.alias ?? name;
    const host = {
      name,
      alias,
      local: h.local === true,
      provider: h.provider ?? '',
      ...(h.address === undefined ? {} : { address: h.address }),
    } as Host;
    if (isThisMachine(host)) continue;
    try {
      const transport = new SshTransport(name, alias, {
        connectTimeoutS: settings.connectTimeoutS,
        ...(settings.sshConfig === undefined ? {} : { configFile: settings.sshConfig }),
        ...(settings.controlDir === undefined ? {} : { controlDir: settings.controlDir }),
      });
      pending.set(name, transport.startScript({ timeoutMs }));
    } catch {
      // an alias manage-apps would refuse: the status reports it later
    }
  }
  return pending;
}

/** Cancels pre-started connections no service needed. */
export function cancelPending(ops: { pending: Map<string, PendingScript> }): void {
  for (const p of ops.pending.values()) p.cancel();
  ops.pending.clear();
}

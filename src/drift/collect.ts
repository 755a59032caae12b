/**
 * Runs `drift`: the declared state of each host (declared.ts), ONE read-only script per host
 * (host-script.ts), every host at once, then the comparison (compare.ts). The tunnels' files are
 * rendered once every answer is in: a far host's authorized_keys line carries the key its
 * initiator holds.
 */
import pLimit from 'p-limit';
import type { Service } from '../fleet/model.js';
import { MAX_MANIFEST_BYTES, readRegularFileSync } from '../files/read.js';
import type { Ops } from '../ops/context.js';
import { decideStrategy } from '../ops/deploy/plan.js';
import { renderTunnels } from '../render/tunnels.js';
import { runtimeOf } from '../runtime/registry.js';
import type { RuntimeService } from '../runtime/types.js';
import { defaultLocator } from '../source/locator.js';
import { failureReason } from '../transport/types.js';
import { compareHost, parseHostRead, tunnelKeys, type HostRead } from './compare.js';
import { declare, UNIT_DIR, type DeclaredHost } from './declared.js';
import { driftScript } from './host-script.js';
import { VERDICTS, type DriftDocument, type Finding, type HostDrift } from './types.js';

interface HostPlan {
  declared: DeclaredHost;
  released: RuntimeService[];
  composed: RuntimeService[];
}

function planHost(ops: Ops, declared: DeclaredHost): HostPlan {
  const released: RuntimeService[] = [];
  for (const s of declared.services) {
    const runtime = runtimeOf(s).releases;
    // Only a service deploy ships releases for (not one installed outside manage-apps, nor one with its own deploy script).
    if (runtime === undefined || !runtime.activatable(s)) continue;
    const strategy = decideStrategy(s, {});
    if ('error' in strategy || strategy.strategy === 'script') continue;
    const rs = ops.runtime(s);
    if (rs.directory !== undefined) released.push(rs);
  }
  return { declared, released, composed: released.filter((s) => s.compose !== undefined) };
}

const compared = (p: HostPlan): string[] =>
  [
    p.declared.units.length > 0 ? 'units' : '',
    p.released.length > 0 ? 'releases' : '',
    p.composed.length > 0 ? 'compose' : '',
    p.declared.caddyfile !== null ? 'caddy' : '',
    p.declared.initiated.length + p.declared.served.length > 0 ? 'tunnels' : '',
    p.declared.databases.length > 0 ? 'pg_hba' : '',
    p.declared.services.some((s) => (s.secrets?.length ?? 0) > 0) ? 'secrets' : '',
    p.declared.envFiles.length > 0 ? 'env files' : '',
    p.declared.wireguard !== null ? 'wireguard' : '',
    'ports',
  ].filter(Boolean);

export interface DriftRun {
  document: DriftDocument;
  /** Hosts that could not be read. */
  unreachable: number;
}

export async function collectDrift(ops: Ops, selected: readonly Service[], hostNames?: readonly string[]): Promise<DriftRun> {
  const declared = declare(ops.fleet, selected, hostNames);
  const plans = declared.hosts.map((d) => planHost(ops, d));
  const limit = pLimit(ops.settings.concurrency);
  const answers = await Promise.all(
    plans.map((p) =>
      limit(async () => {
        const r = await ops.transport(p.declared.host).script(driftScript(p), { timeoutMs: ops.settings.commandTimeoutMs });
        if (r.unreachable !== undefined || r.code !== 0) return { plan: p, error: failureReason(r) };
        return { plan: p, read: parseHostRead(r.stdout, new Map(p.declared.units.map((u) => [`${UNIT_DIR}/${u.file}`, u.content]))) };
      }),
    ),
  );
  const reads = new Map<string, HostRead>();
  for (const a of answers) if (a.read !== undefined) reads.set(a.plan.declared.host.name, a.read);
  const keys = tunnelKeys(declared.hosts, reads);
  const locator = defaultLocator(ops.fleet.inventoryFile);
  const tunnelFiles = new Map(renderTunnels(declared.index, locator, keys).files.map((f) => [f.path, f.content]));
  const findings: Finding[] = [];
  const hosts: HostDrift[] = [];
  for (const a of answers) {
    const name = a.plan.declared.host.name;
    hosts.push({ host: name, reachable: a.read !== undefined, reason: a.error ?? null, compared: compared(a.plan) });
    if (a.read === undefined) {
      findings.push({
        id: `${name}/host/${name}`,
        host: name,
        kind: 'host',
        subject: name,
        verdict: 'unknown',
        owner: null,
        detail: `could not read the host: ${a.error}`,
        properties: [],
        diff: null,
        adoptable: false,
      });
      continue;
    }
    const composeFiles = new Map(
      a.plan.composed.map((rs) => {
        const path = ops.fleet.services.find((s) => s.id === rs.id)?.compose?.path;
        const read = path === undefined ? undefined : readRegularFileSync(path, MAX_MANIFEST_BYTES);
        return [rs.id, read !== undefined && 'text' in read ? read.text : null] as const;
      }),
    );
    findings.push(
      ...compareHost({
        declared: a.plan.declared,
        read: a.read,
        released: a.plan.released,
        composed: a.plan.composed,
        composeFiles,
        tunnelFiles,
        keys,
      }),
    );
  }
  const counts = Object.fromEntries(VERDICTS.map((v) => [v, findings.filter((f) => f.verdict === v).length])) as DriftDocument['counts'];
  return { document: { hosts, findings, counts }, unreachable: hosts.filter((h) => !h.reachable).length };
}

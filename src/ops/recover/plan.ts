/**
 * The plan of a recovery, from the repository's files and this machine's state alone (the lost
 * host is never asked): every service and database cluster of the lost host in `drain`'s waves,
 * where each one's bits or data come from (a release kept on this machine; the newest backup on
 * the backup's host, when its catalog could be read), the edits of the repository, and what
 * cannot be recovered and why.
 */
import { join } from 'node:path';
import { routingEdges, type Fleet, type Service } from '../../fleet/model.js';
import { upstreamAddress } from '../../fleet/networks.js';
import { planBackups, type CatalogEntry } from '../../data/backup.js';
import { runtimeOf } from '../../runtime/registry.js';
import { keptArchive, keptReleases } from '../kept-releases.js';
import { edit, type InventoryFile, type WaveOrder } from '../move/plan.js';
import type { FileEdit } from '../move/types.js';
import type { RecoverItem, RecoverSource, RecoverWave } from './types.js';

/** What the backup host's catalog said of a cluster: its newest good backup, or why there is none. */
export type CatalogAnswer = { entry: CatalogEntry } | { reason: string };

/** Why a service of the lost host cannot be recovered by this command (undefined: it can). */
function serviceBlocked(fleet: Fleet, service: Service, lost: string): string | undefined {
  if (service.kind === 'edge') return 'an edge comes back with its public address (DNS): set it up on the new host by hand, then `net caddy --apply`';
  const { releases, noDeploy } = runtimeOf(service);
  if (releases === undefined) return `its runtime ships no releases (${noDeploy ?? 'no release layout'})`;
  if (service.command === undefined && service.compose === undefined) return 'no service.command: its unit cannot be rendered on the target';
  const db = service.database === undefined ? undefined : fleet.clusters.find((c) => c.name === service.database!.cluster);
  if (service.stateful && db === undefined)
    return `it is stateful and declares no database: its data was on ${lost} only (nothing the fleet declares holds a copy)`;
  return undefined;
}

const age = (time: string, now: number) => Math.max(0, Math.round((now - Date.parse(time)) / 1000));

export async function planRecoverItems(
  fleet: Fleet,
  inventory: InventoryFile,
  order: readonly WaveOrder[],
  lost: string,
  to: string,
  stateDir: string,
  catalogs: ReadonlyMap<string, CatalogAnswer>,
  warnings: string[],
): Promise<RecoverWave[]> {
  const target = fleet.hosts.find((h) => h.name === to)!;
  const lostHost = fleet.hosts.find((h) => h.name === lost)!;
  const now = Date.now();
  const waves: RecoverWave[] = [];
  const base = { to, state: 'pending' as const, done: [], release: null, reason: null, writers: [], databases: null };
  for (const w of order) {
    const items: RecoverItem[] = [];
    // Within a wave, a database before the services that use it.
    const refs = [...w.items].sort((a, b) => (a.kind === b.kind ? 0 : a.kind === 'cluster' ? -1 : 1));
    for (const ref of refs) {
      if (ref.kind === 'cluster') {
        const cluster = fleet.clusters.find((c) => c.name === ref.name)!;
        const e = await edit(inventory.path, inventory.file, ['clusters', cluster.name, 'host'], cluster.host, to);
        const plan = planBackups(fleet, [cluster.name]).plans[0];
        let blocked: string | null = typeof e === 'string' ? e : null;
        let source: RecoverSource;
        if (plan === undefined || plan.problem !== undefined) {
          const why = plan?.problem ?? `cluster ${cluster.name}: its engine is not driven by manage-apps`;
          blocked ??= `no backup to restore: ${why}`;
          source = { kind: 'none', detail: why };
        } else {
          const answer = catalogs.get(cluster.name);
          const entry = answer !== undefined && 'entry' in answer ? answer.entry : undefined;
          source = {
            kind: 'backup',
            detail:
              entry !== undefined
                ? `backup ${entry.id} of ${entry.time} (${age(entry.time, now)}s old: what was written after it is lost) on ${plan.target!.name}`
                : `the newest backup on ${plan.target!.name}: ${answer !== undefined && 'reason' in answer ? answer.reason : 'its catalog is read when the recovery starts'}`,
            backup_host: plan.target!.name,
            backup_id: entry?.id ?? null,
            backup_time: entry?.time ?? null,
          };
          if (answer !== undefined && 'reason' in answer) blocked ??= `no backup to restore: ${answer.reason}`;
        }
        const dbs = plan?.databases ?? [];
        const steps =
          source.kind === 'none'
            ? [`nothing to restore it from: ${source.detail}`]
            : [
                `cluster: unless a cluster answers on ${to} port ${cluster.port}, ${cluster.name} is created there as \`hosts prepare\` does (the PostgreSQL server, pg_createcluster, listen_addresses, its unit enabled and running)`,
                `provision: roles, databases and pg_hba for ${dbs.join(', ')} on ${to}; the services' env files name it`,
                `restore: ${source.detail}: each database's dump streamed from ${source.backup_host} through this machine into a fresh database on ${to} (as its owner's role), its sha256 and every table's row count compared with the backup's catalog`,
                `provision again (the restored databases' rights), then edit: ${typeof e === 'string' ? e : `${e.file} ${e.field}: ${e.from} → ${e.to}`}`,
              ];
        items.push({
          ...base,
          kind: 'cluster',
          name: cluster.name,
          from: cluster.host,
          how: 'database',
          steps,
          edges: [],
          edits: typeof e === 'string' ? [] : [e],
          blocked,
          source,
        });
        continue;
      }
      const service = fleet.services.find((s) => s.id === ref.name)!;
      let blocked = serviceBlocked(fleet, service, lost) ?? null;
      const edits: FileEdit[] = [];
      const e = await edit(join(fleet.root, service.manifest), service.manifest, ['service', 'host'], lost, to);
      if (typeof e === 'string') blocked ??= e;
      else edits.push(e);
      const kept = (await keptReleases(stateDir, service.id))[0];
      const source: RecoverSource =
        kept === undefined
          ? {
              kind: 'none',
              detail: `no release of ${service.id} was kept on this machine (deploy keeps a copy of each release that passes its gate): its only copy was on ${lost}; deploy it to ${to} from its source (\`manage-apps deploy\`), then recover the rest`,
            }
          : {
              kind: 'kept-release',
              detail: `release ${kept.release}, deployed on ${kept.host} ${kept.at}, kept on this machine${service.compose !== undefined && kept.image?.digest ? `, its image ${kept.image.digest} (pulled by that digest from the registry)` : ''}`,
              release: kept.release,
              file: keptArchive(stateDir, kept),
              ...(service.compose !== undefined && kept.image?.digest ? { image: kept.image.digest } : {}),
            };
      if (kept === undefined) blocked ??= source.detail;
      else if (service.compose !== undefined && !kept.image?.digest)
        blocked ??= `the release of ${service.id} kept on this machine (${kept.release}) records no image digest: deploy it to ${to} from its source (\`manage-apps deploy\`)`;
      if (service.envFile !== undefined)
        warnings.push(
          `${service.id}: its env file ${service.envFile} was on ${lost}: ${service.database === undefined ? `nothing writes it on ${to}: put it back by hand` : `the database entries are written on ${to} again (as \`db provision\` does); put anything else in it back by hand`} (or declare those values in service.secrets: deploy delivers them)`,
        );
      const edges = service.domains.length === 0 ? [] : routingEdges(fleet, service);
      if (service.domains.length > 0 && edges.length === 0)
        warnings.push(`${service.id}: no edge routes its domains (${service.domains.join(', ')}): point their DNS at ${to} yourself`);
      const edgeSteps: string[] = [];
      for (const edge of edges) {
        const edgeHost = fleet.hosts.find((h) => h.name === edge.host);
        const before = edgeHost ? upstreamAddress(edgeHost, lostHost) : undefined;
        const after = edgeHost ? upstreamAddress(edgeHost, target) : undefined;
        if (before === undefined || after === undefined || 'reason' in before || 'reason' in after) {
          blocked ??= `the edge ${edge.host} shares no network with ${after === undefined || 'reason' in after ? to : lost}: it could not route ${service.id} there`;
          continue;
        }
        edgeSteps.push(
          service.swapPorts === undefined
            ? `edges: ${edge.host} routes ${service.domains.join(', ')} to ${after.address}:${service.port} instead of ${before.address}:${service.port} (Caddy's admin API; the Caddyfile on ${edge.host} says the same)`
            : `edges: ${edge.host} routes ${service.domains.join(', ')} to both instances on ${to} (${after.address}:${service.swapPorts.join('/')}) instead of ${lost}'s, the live one preferred (Caddy's admin API; the Caddyfile on ${edge.host} says the same)`,
        );
      }
      items.push({
        ...base,
        kind: 'service',
        name: service.id,
        from: lost,
        how:
          service.compose !== undefined ? 'compose' : service.schedule !== undefined ? 'job' : service.swapPorts !== undefined ? 'swap' : 'release',
        steps: [
          `start: deploy ${source.kind === 'kept-release' ? `release ${source.release} (the copy kept on this machine, under the same id)` : 'its release (none kept: cannot)'} on ${to} (${
            service.schedule !== undefined
              ? 'lock, ship, its unit and timer installed, the timer enabled and started; gate: the timer active'
              : `lock, ship, unit, start, gate on ${service.port === undefined ? 'it running steadily' : service.health.readiness}`
          })`,
          ...edgeSteps,
          ...edits.map((x) => `edit: ${x.file} ${x.field}: ${x.from} → ${x.to}`),
        ],
        edges: edges.map((x) => x.host!),
        edits,
        blocked,
        source,
      });
    }
    waves.push({ wave: w.wave, label: w.label, items });
  }
  return waves;
}

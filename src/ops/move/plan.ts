/**
 * The plan of a move: which services and database clusters go to the target in which waves
 * (`drain`'s waves for a whole host, dependency levels for named services), each one's steps,
 * the edges whose route switches, and the minimal edits of the repository that say where things
 * run afterwards (a manifest's `service.host`, the inventory's clusters and tunnels). Read-only:
 * the files are read to compute the edits, nothing is written.
 */
import { join } from 'node:path';
import { routingEdges, type Fleet, type Service } from '../../fleet/model.js';
import { upstreamAddress } from '../../fleet/networks.js';
import { readIfExists } from '../../files/write.js';
import { runtimeOf } from '../../runtime/registry.js';
import { changedLine, EditError, setScalar } from '../../source/edit.js';
import { clusterBlocked, clusterDatabases } from './database.js';
import { kindSteps } from './kind-steps.js';
import type { FileEdit, MoveItem, MoveWave } from './types.js';

export interface WaveOrder {
  wave: number;
  label: string;
  items: { kind: 'service' | 'cluster'; name: string }[];
}

/** The edit of one value in a file, or why it cannot be made. */
export async function edit(absolute: string, shown: string, path: string[], from: string, to: string): Promise<FileEdit | string> {
  const text = await readIfExists(absolute);
  if (text === undefined) return `cannot read ${shown}`;
  try {
    const after = setScalar(text, path, to, { json: absolute.endsWith('.json') });
    const line = changedLine(text, after);
    return { file: shown, field: path.join('.'), from, to, ...line };
  } catch (error) {
    if (error instanceof EditError) return `${shown}: ${path.join('.')}: ${error.message}`;
    throw error;
  }
}

/** Why a service cannot be moved by this command (undefined: it can). */
function serviceBlocked(fleet: Fleet, service: Service, to: string, clusters: ReadonlySet<string>): string | undefined {
  if (service.kind === 'edge') return 'an edge moves with its public address (DNS): move it by hand, then `net caddy --apply`';
  const { releases, noDeploy } = runtimeOf(service);
  if (releases === undefined) return `its runtime ships no releases (${noDeploy ?? 'no release layout'})`;
  if (service.command === undefined && service.compose === undefined) return 'no service.command: its unit cannot be rendered on the target';
  if (service.database !== undefined) {
    const cluster = fleet.clusters.find((c) => c.name === service.database!.cluster);
    if (cluster !== undefined && cluster.host === service.host && !clusters.has(cluster.name))
      return `its database cluster ${cluster.name} runs beside it and does not move in this move (every project using it moves with it, or none)`;
  }
  if (service.stateful && service.database === undefined)
    return `it is stateful: its data on ${service.host} would not come along (declare a database, or move the data by hand)`;
  return undefined;
}

/** `inventory`: where the inventory is (absolute) and how it is shown. */
export interface InventoryFile {
  path: string;
  file: string;
}

export async function planMoveItems(
  fleet: Fleet,
  inventory: InventoryFile,
  order: readonly WaveOrder[],
  to: string,
  warnings: string[],
): Promise<MoveWave[]> {
  const target = fleet.hosts.find((h) => h.name === to)!;
  const waves: MoveWave[] = [];
  const moving = new Set(order.flatMap((w) => w.items.filter((i) => i.kind === 'service').map((i) => i.name)));
  // The clusters that move in this move (a writer's wave comes with or after its cluster's).
  const clusters = new Set<string>();
  for (const w of order) {
    const items: MoveItem[] = [];
    for (const ref of w.items) {
      if (ref.kind === 'cluster') {
        const cluster = fleet.clusters.find((c) => c.name === ref.name)!;
        const e = await edit(inventory.path, inventory.file, ['clusters', cluster.name, 'host'], cluster.host, to);
        const writers = clusterDatabases(fleet, cluster.name).flatMap((d) => (d.writer === undefined ? [] : [d.writer.id]));
        const dbs = clusterDatabases(fleet, cluster.name).map((d) => d.database.name);
        const blocked =
          clusterBlocked(fleet, cluster, to, moving, new Set(w.items.filter((i) => i.kind === 'service').map((i) => i.name))) ??
          (typeof e === 'string' ? e : null);
        items.push({
          kind: 'cluster',
          name: cluster.name,
          from: cluster.host,
          to,
          how: 'database',
          steps: [
            `cluster: unless a cluster answers on ${to} port ${cluster.port}, ${cluster.name} is created there as \`hosts prepare\` does (the PostgreSQL server, pg_createcluster, listen_addresses, its unit enabled and running), while ${writers.join(', ') || 'its writers'} still serve from ${cluster.host}`,
            `freeze: stop ${writers.join(', ') || 'its writers'} on ${cluster.host}; their roles NOLOGIN there, their sessions ended, ${dbs.join(', ')} read-only by default (nothing writes to ${cluster.host} from here on)`,
            `env: carry ${writers.join(', ')}'s env file to ${to} (through this machine's memory: never argv, logs or the journal)`,
            `provision: on ${to}'s cluster ${cluster.name} (port ${cluster.port}): each role (the same password), database and pg_hba entry, each env file's DATABASE_URL/PG* pointed at it (\`db provision\`)`,
            `restore: per database: every table counted on ${cluster.host}, pg_dump there streamed through this machine into pg_restore on ${to} (as the app's own role), every table counted there, each count compared exactly`,
            `then ${writers.join(', ')} move in this wave (deployed on ${to} against the restored copy, gated, edges switched)`,
            ...(typeof e === 'string'
              ? []
              : [
                  `edit: ${e.file} ${e.field}: ${e.from} → ${e.to} (once every writer serves from ${to}); the databases on ${cluster.host} stay, frozen`,
                ]),
          ],
          edges: [],
          edits: typeof e === 'string' ? [] : [e],
          blocked,
          state: cluster.host === to ? 'moved' : 'pending',
          done: [],
          release: null,
          reason: null,
          writers,
          databases: null,
        });
        if (cluster.host !== to && blocked === null) clusters.add(cluster.name);
        continue;
      }
      const service = fleet.services.find((s) => s.id === ref.name)!;
      const from = service.host!;
      if (from === to) {
        items.push({
          kind: 'service',
          name: service.id,
          from,
          to,
          how: null,
          steps: [`it runs on ${to} already: nothing to do`],
          edges: [],
          edits: [],
          blocked: null,
          state: 'moved',
          done: [],
          release: null,
          reason: null,
          writers: [],
          databases: null,
        });
        continue;
      }
      const source = fleet.hosts.find((h) => h.name === from);
      let blocked = serviceBlocked(fleet, service, to, clusters) ?? null;
      const edits: FileEdit[] = [];
      const e = await edit(join(fleet.root, service.manifest), service.manifest, ['service', 'host'], from, to);
      if (typeof e === 'string') blocked ??= e;
      else edits.push(e);
      const db = service.database === undefined ? undefined : fleet.clusters.find((c) => c.name === service.database!.cluster);
      if (db !== undefined && db.host !== from && db.host !== to)
        warnings.push(
          `${service.id}: its database ${service.database!.name} is on ${db.host} (cluster ${db.name}): the cluster must admit ${to} before the move (pg_hba is not changed by move; \`db provision\` after it makes pg_hba follow the manifests)`,
        );
      const edges = service.domains.length === 0 ? [] : routingEdges(fleet, service);
      if (service.domains.length > 0 && edges.length === 0)
        warnings.push(`${service.id}: no edge routes its domains (${service.domains.join(', ')}): point their DNS at ${to} yourself`);
      const edgeSteps: string[] = [];
      for (const edge of edges) {
        const edgeHost = fleet.hosts.find((h) => h.name === edge.host);
        const before = edgeHost && source ? upstreamAddress(edgeHost, source) : undefined;
        const after = edgeHost ? upstreamAddress(edgeHost, target) : undefined;
        if (before === undefined || after === undefined || 'reason' in before || 'reason' in after) {
          blocked ??= `the edge ${edge.host} shares no network with ${after === undefined || 'reason' in after ? to : from}: it could not route ${service.id} there`;
          continue;
        }
        edgeSteps.push(
          `edges: ${edge.host} routes ${service.domains.join(', ')} to ${after.address}:${service.port} instead of ${before.address}:${service.port} (Caddy's admin API, a graceful load: requests in flight finish on ${from}; the Caddyfile on ${edge.host} says the same)`,
        );
      }
      const unit = service.unit ?? `${service.project}.service`;
      const withCluster = db !== undefined && clusters.has(db.name) ? db.name : undefined;
      const shipSteps = [
        `ship: read the release live on ${from} (${service.directory}/current) into the journal's directory on this machine: the same bits go to ${to}`,
        ...(service.envFile === undefined || withCluster !== undefined
          ? []
          : [`ship: copy ${service.envFile} from ${from} to ${to} (through this machine's memory: never argv, logs or the journal)`]),
      ];
      const how =
        service.compose !== undefined ? 'compose' : service.schedule !== undefined ? 'job' : service.swapPorts !== undefined ? 'swap' : 'release';
      items.push({
        kind: 'service',
        name: service.id,
        from,
        to,
        how,
        steps:
          how !== 'release'
            ? [
                ...shipSteps,
                ...kindSteps(
                  how,
                  service,
                  from,
                  to,
                  edges.map((x) => x.host!),
                ),
                ...edits.map((x) => `edit: ${x.file} ${x.field}: ${x.from} → ${x.to}`),
              ]
            : [
                ...shipSteps,
                withCluster === undefined
                  ? `start: deploy that release on ${to} (lock, ship, install the unit, start, gate on ${service.port === undefined ? 'it running steadily' : `${service.health.readiness}`}) while ${from} keeps serving; a failed gate stops the move here`
                  : `start: deploy that release on ${to} against ${withCluster}'s restored copy there (lock, ship, install the unit, start, gate on ${service.port === undefined ? 'it running steadily' : `${service.health.readiness}`}); it is down from the freeze until this gate passes; a failed gate stops the move here, \`--abort\` returns it and its database to ${from}`,
                ...edgeSteps,
                `stop: stop and disable ${unit} on ${from} (its releases stay there)`,
                ...edits.map((x) => `edit: ${x.file} ${x.field}: ${x.from} → ${x.to}`),
              ],
        edges: edges.map((x) => x.host!),
        edits,
        blocked,
        state: 'pending',
        done: [],
        release: null,
        reason: null,
        writers: [],
        databases: null,
      });
    }
    waves.push({ wave: w.wave, label: w.label, items });
  }
  return waves;
}

/** How many of a move's (or a recovery's) items are in each state: the document's summary counts. */
export function countItems(waves: readonly { items: readonly MoveItem[] }[]): {
  items: number;
  done: number;
  returned: number;
  failed: number;
  pending: number;
  blocked: number;
} {
  const items = waves.flatMap((w) => w.items);
  const n = (s: MoveItem['state']) => items.filter((i) => i.state === s).length;
  return {
    items: items.length,
    done: n('moved'),
    returned: n('returned'),
    failed: n('failed'),
    pending: n('pending') + n('moving'),
    blocked: items.filter((i) => i.blocked !== null && i.state !== 'moved').length,
  };
}

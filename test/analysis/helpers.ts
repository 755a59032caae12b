/** In-memory fleets and CLI runs for the analysis tests. */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { FleetIndex } from '../../src/analysis/topology.js';
import { loadFleet, type LoadedFleet } from '../../src/load/fleet.js';
import type { Cluster, Fleet, Host, Service, Tunnel } from '../../src/fleet/model.js';
import { packageRoot } from '../../src/package-root.js';

export const fixture = (name: string): string => join(packageRoot(), 'test', 'fixtures', name);

export async function loadFixture(name: string): Promise<{ loaded: LoadedFleet; index: FleetIndex }> {
  const loaded = await loadFleet({ root: fixture(name) });
  return { loaded, index: new FleetIndex(loaded.fleet) };
}

export function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(packageRoot(), 'bin', 'manage-apps.js'), ...args], {
    cwd: packageRoot(),
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function cliJson<T>(args: string[]): { status: number | null; json: T; stderr: string } {
  const r = cli([...args, '--json']);
  let json: T;
  try {
    json = JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${r.status}): ${r.stdout}\n${r.stderr}`);
  }
  return { status: r.status, json, stderr: r.stderr };
}

type HostSpec = Partial<Host> & { name: string };
type ServiceSpec = {
  project: string;
  host: string;
  environment?: string;
  dependsOn?: string[];
  port?: number;
  database?: string;
  databaseBackup?: Service['backup'];
  stateful?: boolean;
  owner?: string;
  kind?: Service['kind'];
  domains?: string[];
  backup?: Service['backup'];
};

/** A fleet built directly (no files): hosts, services, clusters and tunnels with sensible defaults. */
export function fleetOf(spec: {
  hosts: (HostSpec | string)[];
  services?: ServiceSpec[];
  clusters?: (Partial<Cluster> & { name: string; host: string })[];
  tunnels?: Tunnel[];
  mesh?: Fleet['mesh'];
}): Fleet {
  const hosts: Host[] = spec.hosts.map((h) => {
    const s = typeof h === 'string' ? { name: h } : h;
    return { alias: s.name, provider: 'bare-metal', role: 'production', local: false, ephemeral: false, gpus: 0, ...s };
  });
  const services: Service[] = (spec.services ?? []).map((s) => {
    const environment = s.environment ?? 'prod';
    const svc: Service = {
      id: environment === 'prod' ? s.project : `${s.project}:${environment}`,
      project: s.project,
      environment,
      provider: 'bare-metal',
      host: s.host,
      kind: s.kind ?? 'app',
      health: { readiness: '/readyz', liveness: '/livez', timeoutMs: 60_000 },
      domains: s.domains ?? [],
      directory: `/srv/${s.project}`,
      keepReleases: 5,
      stateful: s.stateful === true,
      dependsOn: s.dependsOn ?? [],
      supervisor: 'systemd',
      apiVersion: 'infra/v2',
      manifest: `${s.project}/.infra.yaml`,
      projectDir: `/tmp/${s.project}`,
    };
    if (s.port !== undefined) svc.port = s.port;
    if (s.owner !== undefined) svc.owner = s.owner;
    if (s.backup !== undefined) svc.backup = s.backup;
    if (s.database !== undefined) {
      svc.database = { cluster: s.database, name: s.project.replace(/-/g, '_'), user: s.project.replace(/-/g, '_') };
      if (s.databaseBackup) svc.database.backup = s.databaseBackup;
    }
    return svc;
  });
  const clusters: Cluster[] = (spec.clusters ?? []).map((c) => ({ port: 5432, engine: 'postgres', ...c }));
  const databases = services.flatMap((s) =>
    s.database ? [{ project: s.project, environment: s.environment, ...s.database, manifest: s.manifest }] : [],
  );
  const fleet: Fleet = {
    root: '/tmp/fleet',
    inventoryFile: 'mesh-hosts.json',
    hosts,
    clusters,
    tunnels: spec.tunnels ?? [],
    services,
    databases,
    droplets: [],
    runnerPools: [],
    manifests: [],
  };
  if (spec.mesh) fleet.mesh = spec.mesh;
  return fleet;
}

export const indexOf = (spec: Parameters<typeof fleetOf>[0]): FleetIndex => new FleetIndex(fleetOf(spec));

export const tunnel = (name: string, from: string, to: string, extra: Partial<Tunnel> = {}): Tunnel => ({ name, from, to, ...extra });

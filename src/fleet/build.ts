/** Files → the resolved fleet model. Only manifests that passed their schema take part. */
import { dirname, join, posix } from 'node:path';
import { composeDisplay, imageRepository, readCompose } from '../manifest/compose.js';
import { secretDeclarations, takesCredentials } from '../manifest/secrets.js';
import type { ManifestCompose, ManifestService } from '../manifest/types.js';
import { jobSchedule } from './schedule.js';
import { resolvePromotions } from './promotion.js';
import type { LoadedInventory } from '../inventory/load.js';
import type { Inventory } from '../inventory/types.js';
import type { LoadedManifest } from '../manifest/load.js';
import type { LoadedTenants } from '../tenants/load.js';
import { expandTemplate } from './tenants.js';
import {
  durationMs,
  serviceId,
  type ComposeService,
  type Droplet,
  type Fleet,
  type Host,
  type ProjectDatabase,
  type RunnerPool,
  type Service,
  type Supervisor,
  type TenantTemplate,
} from './model.js';

export const DEFAULT_READINESS = '/readyz';
export const DEFAULT_LIVENESS = '/livez';
export const DEFAULT_HEALTH_TIMEOUT_MS = 60_000;
export const DEFAULT_KEEP_RELEASES = 5;
export const DEFAULT_REGION = 'nyc3';

export function buildFleet(root: string, manifests: readonly LoadedManifest[], inventory: LoadedInventory, declaredTenants?: LoadedTenants): Fleet {
  const tenants = declaredTenants?.tenants ?? [];
  const tenantTemplates: TenantTemplate[] = [];
  // The usable part: entries that failed the schema are already left out (and reported).
  const inv: Inventory | undefined = inventory.inventory;
  const hosts = Object.entries(inv?.hosts ?? {})
    .map(([name, h]): Host => {
      const host: Host = {
        name,
        alias: h.alias ?? name,
        provider: h.provider,
        role: h.role,
        local: h.local === true || h.provider === 'local',
        ephemeral: h.ephemeral === true,
        gpus: h.gpus ?? 0,
      };
      if (h.address !== undefined) host.address = h.address;
      if (h.user !== undefined) host.user = h.user;
      if (h.port !== undefined) host.port = h.port;
      if (h.identity_file !== undefined) host.identityFile = h.identity_file;
      if (h.proxy_jump !== undefined) host.proxyJump = h.proxy_jump;
      if (h.mesh_ip !== undefined) host.meshIp = h.mesh_ip;
      if (h.public_ip !== undefined) host.publicIp = h.public_ip;
      if (h.private_ip !== undefined) host.privateIp = h.private_ip;
      if (h.lan !== undefined) host.lan = h.lan;
      if (h.frozen !== undefined) host.frozen = h.frozen;
      if (h.systemd !== undefined) host.systemd = h.systemd;
      if (h.wireguard !== undefined) host.wireguard = h.wireguard;
      if (h.description !== undefined) host.description = h.description;
      if (h.owner !== undefined) host.owner = h.owner;
      return host;
    })
    .sort((a, b) => a.name.localeCompare(b.name));
  const hostByName = new Map(hosts.map((h) => [h.name, h]));

  const services: Service[] = [];
  const databases: ProjectDatabase[] = [];
  const droplets: Droplet[] = [];
  const runnerPools: RunnerPool[] = [];
  for (const loaded of manifests) {
    const m = loaded.manifest;
    if (!loaded.valid || !m) continue;
    if (m.database) databases.push({ project: m.project, environment: loaded.environment, ...m.database, manifest: loaded.file });
    const s = m.service;
    if (s) {
      const hostName = s.host ?? (m.provider === 'local' ? hosts.find((h) => h.local)?.name : undefined);
      const host = hostName === undefined ? undefined : hostByName.get(hostName);
      const onLocalMachine = m.provider === 'local' || host?.local === true || host?.provider === 'local';
      // A service on a Mac that is not this machine and declares service.launchd is supervised by
      // launchd; without it PID mode as before (launchd has not run on a real Mac yet: docs/launchd.md).
      const onMac = !onLocalMachine && (host?.provider === 'mac' || m.provider === 'mac') && s.launchd !== undefined;
      const supervised = supervision(
        s,
        onLocalMachine || m.provider === 'mac',
        onMac,
        `${m.project}${loaded.environment === 'prod' ? '' : `-${loaded.environment}`}.service`,
      );
      const service: Service = {
        id: serviceId(m.project, loaded.environment),
        project: m.project,
        environment: loaded.environment,
        provider: m.provider,
        host: hostName,
        kind: s.kind ?? 'app',
        health: {
          readiness: s.health?.readiness ?? DEFAULT_READINESS,
          liveness: s.health?.liveness ?? DEFAULT_LIVENESS,
          timeoutMs: durationMs(s.health?.timeout, DEFAULT_HEALTH_TIMEOUT_MS),
        },
        domains: s.domains ?? [],
        directory: s.directory ?? `/srv/${m.project}`,
        keepReleases: s.keep_releases ?? DEFAULT_KEEP_RELEASES,
        stateful: s.stateful === true,
        dependsOn: s.depends_on ?? [],
        supervisor: supervised.supervisor,
        apiVersion: m.apiVersion,
        manifest: loaded.file,
        projectDir: dirname(loaded.path),
      };
      if (s.port !== undefined) service.port = s.port;
      if (s.compose !== undefined) service.compose = composeService(service, s.compose);
      if (s.swap !== undefined) service.swapPorts = [s.swap.ports[0], s.swap.ports[1]];
      if (supervised.unit !== undefined) service.unit = supervised.unit;
      if (s.runtime !== undefined) service.runtime = s.runtime;
      if (s.deploy !== undefined) service.deployScript = s.deploy;
      if (s.command !== undefined) service.command = s.command;
      if (s.migrate !== undefined) service.migrate = s.migrate;
      if (s.env_file !== undefined) service.envFile = s.env_file;
      if (s.user !== undefined) service.runAs = s.user;
      if (s.hardening !== undefined) service.hardening = s.hardening;
      if (s.secrets !== undefined)
        service.secrets = secretDeclarations(s.secrets, {
          credentials: takesCredentials(s, m.provider) && supervised.unit !== undefined && !onLocalMachine,
        });
      if (s.schedule !== undefined) service.schedule = jobSchedule(s.schedule);
      if (s.launchd !== undefined) {
        // The account it runs as: service.user, else the account manage-apps logs in to that Mac as (never root by default).
        const user = s.user ?? host?.user;
        service.launchd = {
          session: s.launchd.session ?? 'system',
          ...(s.launchd.reason === undefined ? {} : { reason: s.launchd.reason }),
          ...(user === undefined ? {} : { user }),
        };
      }
      if (s.artifact !== undefined) service.artifact = s.artifact;
      if (s.backup !== undefined) service.backup = s.backup;
      if (s.gpu !== undefined) service.gpu = s.gpu;
      if (s.cluster !== undefined) service.cluster = s.cluster;
      if (m.owner !== undefined) service.owner = m.owner;
      if (m.database) service.database = { ...m.database };
      if (s.tenants === undefined) services.push(service);
      else {
        const template: TenantTemplate = {
          id: service.id,
          project: service.project,
          environment: service.environment,
          surface: s.tenants.surface,
          domains: service.domains,
          host: service.host,
          ...(s.tenants.instances === undefined ? {} : { ports: [s.tenants.instances.ports[0], s.tenants.instances.ports[1]] as [number, number] }),
          manifest: loaded.file,
        };
        // Instances each need a unit of their own, rendered from the command: one compose project or one
        // declared unit would serve them all (rule tenant_template says so, and they are left out).
        if (s.tenants.instances !== undefined)
          if (s.compose !== undefined) template.noInstances = 'compose';
          else if (s.systemd_unit !== undefined) template.noInstances = 'systemd_unit';
          else if (s.command === undefined) template.noInstances = 'command';
        tenantTemplates.push(template);
        // An instance's unit is rendered under its own name, as the template's would have been.
        const rendersUnit = service.unit !== undefined && s.systemd_unit === undefined;
        const unitOf = (project: string) => `${project}${loaded.environment === 'prod' ? '' : `-${loaded.environment}`}.service`;
        if (template.noInstances === undefined) services.push(...expandTemplate(service, template, tenants, rendersUnit ? unitOf : undefined));
      }
    }
    for (const d of m.droplets ?? []) {
      droplets.push({
        name: d.name,
        ...(d.role === undefined ? {} : { role: d.role }),
        provider: d.provider ?? 'digitalocean',
        region: d.region ?? inv?.conventions?.default_region ?? DEFAULT_REGION,
        size: d.size ?? 's-1vcpu-1gb',
        image: d.image ?? 'ubuntu-24-04-x64',
        previousNames: d.previous_names ?? [],
        hosts: d.hosts ?? [],
        services: d.services,
        project: m.project,
        manifest: loaded.file,
      });
    }
    if (m.runner_pool) {
      const p = m.runner_pool;
      runnerPools.push({
        name: p.name,
        region: p.region ?? inv?.conventions?.default_region ?? DEFAULT_REGION,
        size: p.size ?? 's-8vcpu-16gb-amd',
        ...(p.image === undefined ? {} : { image: p.image }),
        ...(p.ssh_key === undefined ? {} : { sshKey: p.ssh_key }),
        ...(p.producer === undefined ? {} : { producer: p.producer }),
        project: m.project,
        manifest: loaded.file,
      });
    }
  }
  services.sort((a, b) => a.project.localeCompare(b.project) || a.environment.localeCompare(b.environment));

  const fleet: Fleet = {
    root,
    inventoryFile: inventory.file,
    hosts,
    clusters: Object.entries(inv?.clusters ?? {})
      .map(([name, c]) => ({ name, ...c }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    tunnels: [...(inv?.tunnels ?? [])],
    services,
    databases,
    droplets,
    runnerPools,
    manifests: manifests.map((l) => ({
      file: l.file,
      project: typeof l.manifest?.project === 'string' ? l.manifest.project : undefined,
      environment: l.environment,
      apiVersion: typeof l.manifest?.apiVersion === 'string' ? l.manifest.apiVersion : undefined,
    })),
  };
  if (inv?.mesh) {
    fleet.mesh = {
      cidr: inv.mesh.cidr,
      ...(inv.mesh.hub === undefined ? {} : { hub: inv.mesh.hub }),
      topology: inv.mesh.topology ?? 'hub-and-spoke',
      listenPort: inv.mesh.listen_port ?? 51820,
      interface: inv.mesh.interface ?? 'wg0',
    };
  }
  if (inv?.conventions) fleet.conventions = inv.conventions;
  const promotions = resolvePromotions(manifests, inv, inventory.file);
  if (promotions.length > 0) fleet.promotions = promotions;
  if (inv?.promotion?.allowed_signers !== undefined) fleet.allowedSigners = inv.promotion.allowed_signers;
  if (declaredTenants?.present === true) {
    fleet.tenantsFile = declaredTenants.file;
    fleet.tenants = tenants.map((t) => ({ ...t, tlds: [...t.tlds], surfaces: [...t.surfaces], config: { ...t.config }, ports: { ...t.ports } }));
  }
  if (tenantTemplates.length > 0) fleet.tenantTemplates = tenantTemplates;
  return fleet;
}

/**
 * Which runtime supervises a service (src/runtime/registry.ts), and the systemd unit it has: a
 * compose service is run by Docker (no unit); a service on a Mac other than this machine by
 * launchd (a property list, runtime/launchd.ts); PID mode is for this machine (a declared unit
 * only, none rendered); everything else is a systemd unit, declared or rendered from
 * `command` (infra/v2).
 */
function supervision(
  s: ManifestService,
  pidMode: boolean,
  onMac: boolean,
  renderedUnit: string,
): { supervisor: Supervisor; unit: string | undefined } {
  if (s.compose !== undefined) return { supervisor: 'compose', unit: undefined };
  if (onMac) return { supervisor: 'launchd', unit: undefined };
  if (pidMode) return { supervisor: 'pid', unit: s.systemd_unit };
  return { supervisor: 'systemd', unit: s.systemd_unit ?? (s.command !== undefined ? renderedUnit : undefined) };
}

/**
 * The compose side of a service: names from the manifest; ports, container name and image from
 * the compose file, read only when first asked for (status, start and stop of a host need none
 * of them, and parsing YAML is most of a status's start-up).
 */
function composeService(service: Service, m: ManifestCompose): ComposeService {
  const path = join(service.projectDir, m.file);
  const compose = {
    file: m.file,
    path,
    bundleDir: join(service.projectDir, posix.dirname(m.file)),
    fileInBundle: posix.basename(m.file),
    service: m.service,
    project:
      m.project ??
      (service.environment === 'prod' ? service.project : `${service.project}-${service.environment}`).toLowerCase().replace(/[^a-z0-9_-]/g, '-'),
    ...(m.tag === undefined ? {} : { tag: m.tag }),
  } as ComposeService;
  let facts: Pick<ComposeService, 'published' | 'networkHost' | 'containerName' | 'fileImage' | 'image' | 'declares' | 'tmpfs'> | undefined;
  const load = () => {
    if (facts) return facts;
    const read = readCompose(path, composeDisplay(service.manifest, m.file), m.service);
    const f = read.ok ? read.facts : undefined;
    const fileImage = f?.image;
    const fromFile = fileImage !== undefined && !fileImage.includes('$') ? imageRepository(fileImage) : undefined;
    facts = {
      published: [...new Set((f?.published ?? []).map((p) => p.port))],
      networkHost: f?.networkHost ?? false,
      containerName: f?.containerName,
      fileImage,
      image: m.image ?? fromFile,
      declares: f?.declares ?? [],
      tmpfs: f?.tmpfs ?? [],
    };
    return facts;
  };
  for (const key of ['published', 'networkHost', 'containerName', 'fileImage', 'image', 'declares', 'tmpfs'] as const)
    Object.defineProperty(compose, key, { get: () => load()[key], enumerable: true });
  return compose;
}

/**
 * Cross-file rules: each manifest against the others and against the inventory.
 * They check the resolved fleet (and render units to find what deploy would refuse),
 * so they sit above src/fleet and src/render; src/manifest only reads files.
 * Rules read the resolved fleet and point back into the files through the
 * loaded sources, so every finding is located.
 */
import type { LoadedInventory } from '../inventory/load.js';
import { problem, type Location, type Problem } from '../problems.js';
import { closest } from '../text/suggest.js';
import { abbreviated } from '../text/control.js';
import { POSTGRES_ENGINES, pgNameIssue } from '../names.js';
import { databaseConflicts } from '../fleet/databases.js';
import type { Fleet, ProjectDatabase, Service } from '../fleet/model.js';
import { findHost, matchesNaming, repeatedDomains, resolveDependency } from '../fleet/model.js';
import type { LoadedManifest } from '../manifest/load.js';
import { renderTimer, renderUnit, UnitError, unitSkipReason } from '../render/systemd-unit.js';
import { looksLikeSecret, SECRET_KEY } from '../text/secrets.js';
import { tunnelProblems } from '../tunnels/validate.js';
import { projectPathProblems } from './project-paths.js';
import { describeSource, SECRET_SOURCES } from '../manifest/secrets.js';
import { scheduleProblems } from './schedules.js';
import { promotionProblems } from './promotion.js';
import { composeDisplay, readCompose } from '../manifest/compose.js';
import type { LoadedTenants } from '../tenants/load.js';
import { tenantProblems } from './tenants.js';

const CLOUD_OR_METAL = new Set(['digitalocean', 'bare-metal', 'vps']);

interface RuleContext {
  fleet: Fleet;
  manifests: readonly LoadedManifest[];
  inventory: LoadedInventory;
  byFile: Map<string, LoadedManifest>;
  /** Projects named by any manifest that parsed, valid or not: avoids cascades from one typo. */
  knownProjects: Set<string>;
  tenants: LoadedTenants | undefined;
  out: Problem[];
}

export function checkRules(fleet: Fleet, manifests: readonly LoadedManifest[], inventory: LoadedInventory, tenants?: LoadedTenants): Problem[] {
  const ctx: RuleContext = {
    fleet,
    manifests,
    inventory,
    byFile: new Map(manifests.map((m) => [m.file, m])),
    knownProjects: new Set(
      manifests.map((m) => (m.source.value as { project?: unknown } | undefined)?.project).filter((p): p is string => typeof p === 'string'),
    ),
    tenants,
    out: [],
  };
  for (const m of manifests) checkSecrets(ctx, m);
  checkDuplicates(ctx);
  checkVariantsAgree(ctx);
  const inventoryReady = inventory.inventory !== undefined;
  for (const s of fleet.services) {
    if (inventoryReady) checkHost(ctx, s);
    checkDependencies(ctx, s);
    checkGpu(ctx, s);
  }
  if (inventoryReady) checkDatabaseClusters(ctx);
  if (inventoryReady) checkClusterServices(ctx);
  checkOwnDb(ctx);
  checkDatabaseNames(ctx);
  checkCycles(ctx);
  checkUnits(ctx);
  checkSharedSecrets(ctx);
  checkCompose(ctx);
  checkDomains(ctx);
  if (inventoryReady) checkPorts(ctx);
  checkDroplets(ctx, inventoryReady);
  if (inventoryReady) ctx.out.push(...tunnelProblems(fleet, inventory));
  ctx.out.push(...promotionProblems(manifests, inventory));
  ctx.out.push(...tenantProblems(fleet, tenants, (file, path, key) => at(ctx, file, path, key)));
  return ctx.out;
}

function at(ctx: RuleContext, file: string, path: (string | number)[], key = false): Location {
  const m = ctx.byFile.get(file);
  return m ? m.source.locate(path, { key }) : { file, line: 1, column: 1 };
}

/** Where a problem points in a manifest, by file and path (line 1 of the file when it is not one of them). */
export type ManifestLocate = (file: string, path: (string | number)[], key?: boolean) => Location;

/**
 * The rules whose answer depends on this machine as well as on the files: whether systemd
 * accepts a calendar (asked of `systemd-analyze`), and where an artifact's or compose bundle's
 * path leads once symbolic links are resolved. They run on every load; the resolved-fleet cache
 * (load/fleet-cache.ts) keeps only what `checkRules` finds, which the files alone decide.
 */
export function machineRuleProblems(fleet: Fleet, locate: ManifestLocate): Problem[] {
  return [...scheduleProblems(fleet, locate), ...projectPathProblems(fleet, (file, path) => locate(file, path))];
}

/**
 * A secret in a manifest is in git: flag keys that name secrets and values that look like keys.
 * Walks the plain value; positions are looked up only for what it finds.
 */
function checkSecrets(ctx: RuleContext, m: LoadedManifest): void {
  if (m.source.syntaxProblems.length > 0) return;
  const flag = (path: (string | number)[], key: boolean, message: string, hint: string): void => {
    const p = problem('secret_in_manifest', m.source.locate(path, { key }), message, hint);
    p.redact = true;
    ctx.out.push(p);
  };
  const visit = (value: unknown, path: (string | number)[]): void => {
    if (Array.isArray(value)) {
      value.forEach((item, i) => visit(item, [...path, i]));
    } else if (value !== null && typeof value === 'object') {
      for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
        const hasValue = child !== null && child !== undefined && String(child).trim() !== '';
        // service.secrets maps names like AUTH_SECRET to a source: the rule secrets reports a value written there.
        const declaredSecret = path.length === 2 && path[0] === 'service' && path[1] === 'secrets';
        const sourceRef = path.length === 3 && path[0] === 'service' && path[1] === 'secrets' && (SECRET_SOURCES as readonly string[]).includes(key);
        if (SECRET_KEY.test(key) && hasValue && !declaredSecret && !sourceRef) {
          flag(
            [...path, key],
            true,
            `"${key}" looks like a secret written into the manifest`,
            'remove it from the file (and from git history), rotate it, and put it in the service env_file on the host',
          );
          continue;
        }
        if (declaredSecret && typeof child !== 'object') continue;
        visit(child, [...path, key]);
      }
    } else if (typeof value === 'string' && looksLikeSecret(value)) {
      flag(
        path,
        false,
        `the value of ${path.join('.') || 'the document'} looks like a credential`,
        'never write keys or tokens into a manifest: rotate it and move it to the service env_file on the host',
      );
    }
  };
  visit(m.source.value, []);
}

function checkDuplicates(ctx: RuleContext): void {
  const seen = new Map<string, LoadedManifest>();
  for (const m of ctx.manifests) {
    if (!m.valid || !m.manifest) continue;
    const key = `${m.manifest.project}\u0000${m.environment}`;
    const first = seen.get(key);
    if (first) {
      ctx.out.push(
        problem(
          'duplicate_project',
          at(ctx, m.file, ['project']),
          `project "${m.manifest.project}" (${m.environment}) is already declared in ${first.file}`,
          'a project has one manifest per environment; rename one of them',
        ),
      );
    } else {
      seen.set(key, m);
    }
  }
}

/** .infra.yaml and .infra.<env>.yaml side by side describe one project. */
function checkVariantsAgree(ctx: RuleContext): void {
  const byDir = new Map<string, LoadedManifest[]>();
  for (const m of ctx.manifests) {
    if (!m.valid || !m.manifest) continue;
    const dir = m.file.includes('/') ? m.file.slice(0, m.file.lastIndexOf('/')) : '.';
    byDir.set(dir, [...(byDir.get(dir) ?? []), m]);
  }
  for (const group of byDir.values()) {
    const prod = group.find((m) => m.environment === 'prod') ?? group[0]!;
    for (const m of group) {
      if (m !== prod && m.manifest!.project !== prod.manifest!.project) {
        ctx.out.push(
          problem(
            'env_variants',
            at(ctx, m.file, ['project']),
            `this variant names project "${m.manifest!.project}" but ${prod.file} beside it names "${prod.manifest!.project}"`,
            'variants of one project share its name; a different project belongs in its own directory',
          ),
        );
      }
    }
  }
}

function checkHost(ctx: RuleContext, s: Service): void {
  const hosts = ctx.fleet.hosts;
  if (s.host === undefined) {
    if (s.provider !== 'local') {
      ctx.out.push(
        problem(
          'host_in_mesh',
          at(ctx, s.manifest, ['service'], true),
          `service of "${s.project}" has no host`,
          `add "host:" with one of: ${hosts.map((h) => h.name).join(', ')}`,
        ),
      );
    }
    return;
  }
  const host = findHost(ctx.fleet, s.host);
  // A host left out of the inventory for its own schema problem: that problem is the one to fix.
  if (!host && ctx.inventory.omitted.hosts.has(s.host)) return;
  if (!host) {
    const guess = closest(
      s.host,
      hosts.map((h) => h.name),
    );
    ctx.out.push(
      problem(
        'host_in_mesh',
        at(ctx, s.manifest, ['service', 'host']),
        `host "${s.host}" is not in ${ctx.inventory.file}`,
        guess
          ? `did you mean "${guess}"? known hosts: ${hosts.map((h) => h.name).join(', ')}`
          : `known hosts: ${hosts.map((h) => h.name).join(', ')}`,
      ),
    );
    return;
  }
  const providerMatches = s.provider === host.provider || (s.provider === 'local' && host.local);
  if (!providerMatches) {
    ctx.out.push(
      problem(
        'cloud_provider',
        at(ctx, s.manifest, ['provider']),
        `provider is "${s.provider}" but host "${host.name}" is "${host.provider}" in the inventory`,
        `set "provider: ${host.provider}", or move the service to a ${s.provider} host`,
      ),
    );
  }
  const standing = s.kind !== 'worker' || s.port !== undefined || s.command !== undefined || s.unit !== undefined;
  if (CLOUD_OR_METAL.has(host.provider) && !host.local && s.unit === undefined && standing && s.compose === undefined) {
    ctx.out.push(
      problem(
        'systemd_supervision',
        at(ctx, s.manifest, ['service'], true),
        `"${s.project}" runs on ${host.provider} host "${host.name}" but declares no systemd unit`,
        'add service.systemd_unit (infra/v1) or service.command (infra/v2 renders the unit); PID mode is for local and mac only',
      ),
    );
  }
  if (s.environment === 'prod') {
    if (host.role === 'workstation' || host.role === 'dev') {
      ctx.out.push(
        problem(
          'placement',
          at(ctx, s.manifest, ['service', 'host']),
          `production service "${s.project}" is placed on ${host.role} host "${host.name}"`,
          'production must keep running with workstations and dev boxes offline; place it on a production host',
        ),
      );
    }
    if (host.frozen && !host.frozen.carries.includes(s.project)) {
      ctx.out.push(
        problem(
          'placement',
          at(ctx, s.manifest, ['service', 'host']),
          `host "${host.name}" is frozen: it takes no new production ("${s.project}" is not among what it still carries)`,
          host.frozen.reason ? `frozen: ${host.frozen.reason}` : 'place it on a production host, or list it under frozen.carries while it drains',
        ),
      );
    }
  }
}

function checkDatabaseClusters(ctx: RuleContext): void {
  const names = ctx.fleet.clusters.map((c) => c.name);
  for (const db of ctx.fleet.databases) {
    if (names.includes(db.cluster) || ctx.inventory.omitted.clusters.has(db.cluster)) continue;
    const guess = closest(db.cluster, names);
    ctx.out.push(
      problem(
        'unknown_cluster',
        at(ctx, db.manifest, ['database', 'cluster']),
        `database cluster "${db.cluster}" is not in ${ctx.inventory.file}`,
        guess
          ? `did you mean "${guess}"?`
          : names.length > 0
            ? `known clusters: ${names.join(', ')}`
            : 'declare it under "clusters" in the inventory',
      ),
    );
  }
}

/** service.cluster: the service is that cluster's server, so it runs where the cluster is and on its port. */
function checkClusterServices(ctx: RuleContext): void {
  const names = ctx.fleet.clusters.map((c) => c.name);
  for (const s of ctx.fleet.services) {
    if (s.cluster === undefined) continue;
    const c = ctx.fleet.clusters.find((x) => x.name === s.cluster);
    if (!c) {
      if (ctx.inventory.omitted.clusters.has(s.cluster)) continue;
      const guess = closest(s.cluster, names);
      ctx.out.push(
        problem(
          'cluster_service',
          at(ctx, s.manifest, ['service', 'cluster']),
          `${s.id} supervises cluster "${s.cluster}", which is not in ${ctx.inventory.file}`,
          guess ? `did you mean "${guess}"?` : 'declare it under "clusters" in the inventory (host, port, engine)',
        ),
      );
      continue;
    }
    if (s.host !== undefined && s.host !== c.host)
      ctx.out.push(
        problem(
          'cluster_service',
          at(ctx, s.manifest, ['service', 'host']),
          `${s.id} supervises cluster "${c.name}", which the inventory puts on "${c.host}", not "${s.host}"`,
          `run it on ${c.host} (or move the cluster in the inventory)`,
        ),
      );
    if (s.port !== undefined && s.port !== c.port)
      ctx.out.push(
        problem(
          'cluster_service',
          at(ctx, s.manifest, ['service', 'port']),
          `${s.id} supervises cluster "${c.name}" on port ${s.port}, but the cluster listens on ${c.port}`,
          "leave service.port out: the cluster's port is the one it serves",
        ),
      );
  }
}

function checkDependencies(ctx: RuleContext, s: Service): void {
  s.dependsOn.forEach((dep, i) => {
    if (dep === s.project) {
      ctx.out.push(problem('http_coupling', at(ctx, s.manifest, ['service', 'depends_on', i]), `"${s.project}" depends on itself`));
    } else if (!ctx.knownProjects.has(dep)) {
      const guess = closest(dep, [...ctx.knownProjects]);
      ctx.out.push(
        problem(
          'http_coupling',
          at(ctx, s.manifest, ['service', 'depends_on', i]),
          `depends_on names unknown project "${dep}"`,
          guess ? `did you mean "${guess}"?` : 'every dependency is a project with its own .infra.yaml',
        ),
      );
    } else if (resolveDependency(ctx.fleet, s, dep) === undefined) {
      // A dependency resolves in the service's own environment, else in prod. One that exists
      // only elsewhere (a dev-only tool) leaves this service without it when it runs.
      const usable = new Set([s.environment, 'prod']);
      // Its own errors are reported there; and a file that did not parse may be its manifest.
      if (
        ctx.manifests.some(
          (m) =>
            usable.has(m.environment) && ((m.source.value as { project?: unknown } | undefined)?.project === dep || m.source.value === undefined),
        )
      )
        return;
      const elsewhere = [
        ...new Set(ctx.manifests.filter((m) => (m.source.value as { project?: unknown } | undefined)?.project === dep).map((m) => m.environment)),
      ].sort();
      const wanted = s.environment === 'prod' ? 'prod' : `${s.environment} or prod`;
      ctx.out.push(
        problem(
          'http_coupling',
          at(ctx, s.manifest, ['service', 'depends_on', i]),
          `"${s.id}" depends on "${dep}", which has no ${wanted} manifest (only ${elsewhere.join(', ')})`,
          `give ${dep} a ${s.environment === 'prod' ? '.infra.yaml' : `.infra.${s.environment}.yaml or .infra.yaml`}, or drop the dependency`,
        ),
      );
    }
  });
}

function checkGpu(ctx: RuleContext, s: Service): void {
  if (!s.gpu) return;
  if (s.gpu.mode !== 'on-demand') {
    ctx.out.push(
      problem(
        'gpu_ondemand',
        at(ctx, s.manifest, ['service', 'gpu', ...(s.gpu.mode === undefined ? [] : ['mode'])], s.gpu.mode === undefined),
        `GPU workload "${s.project}" is not on-demand`,
        'set gpu.mode: on-demand: provision, keep warm while the queue is deep, release on idle',
      ),
    );
  }
  if (
    s.gpu.droplet !== undefined &&
    !ctx.fleet.droplets.some((d) => d.name === s.gpu!.droplet) &&
    !ctx.fleet.hosts.some((h) => h.name === s.gpu!.droplet)
  ) {
    ctx.out.push(
      problem(
        'gpu_ondemand',
        at(ctx, s.manifest, ['service', 'gpu', 'droplet']),
        `GPU droplet "${s.gpu.droplet}" is declared by no producer manifest and no host`,
      ),
    );
  }
}

/** No two projects share a cluster's logical database or user (own_db; shared DBs also break http_coupling). */
function checkOwnDb(ctx: RuleContext): void {
  for (const { field, cluster, value, declarations } of databaseConflicts(ctx.fleet.databases)) {
    const first = declarations[0]!;
    for (const db of declarations.slice(1)) {
      if (db.project === first.project) continue;
      const what = field === 'name' ? 'database' : 'database user';
      ctx.out.push(
        problem(
          'own_db',
          at(ctx, db.manifest, ['database', field]),
          `${what} "${value}" on cluster "${cluster}" is already ${field === 'name' ? 'owned' : 'used'} by "${first.project}" (${first.manifest})`,
          field === 'name'
            ? 'give each project its own logical database; share data over HTTP (depends_on)'
            : "give each project its own database user; never reuse another service's credentials",
        ),
      );
    }
  }
}

/** A PostgreSQL database or user name is one manage-apps can provision: plain, not a keyword or reserved name (db_name). */
function checkDatabaseNames(ctx: RuleContext): void {
  for (const db of ctx.fleet.databases) {
    const cluster = ctx.fleet.clusters.find((c) => c.name === db.cluster);
    if (cluster && !POSTGRES_ENGINES.has(cluster.engine)) continue;
    for (const field of ['name', 'user'] as const) {
      const issue = pgNameIssue(field === 'name' ? 'database' : 'user', db[field]);
      if (issue !== undefined)
        ctx.out.push(
          problem(
            'db_name',
            at(ctx, db.manifest, ['database', field]),
            `database ${field === 'name' ? 'name' : 'user'} ${JSON.stringify(abbreviated(db[field], 80))} ${issue}`,
            `name it after the project, e.g. ${JSON.stringify(
              `${db.project
                .toLowerCase()
                .replace(/[^a-z0-9_]/g, '_')
                .replace(/^([0-9])/, '_$1')
                .slice(0, 50)}_${field === 'name' ? 'db' : 'app'}`,
            )}`,
          ),
        );
    }
  }
}

function checkCycles(ctx: RuleContext): void {
  const { fleet } = ctx;
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: Service[] = [];
  const reported = new Set<string>();
  const visit = (s: Service): void => {
    state.set(s.id, 'visiting');
    stack.push(s);
    s.dependsOn.forEach((dep) => {
      const target = resolveDependency(fleet, s, dep);
      if (!target) return;
      const st = state.get(target.id);
      if (st === 'visiting') {
        const cycle = stack.slice(stack.indexOf(target));
        const key = cycle
          .map((c) => c.id)
          .sort()
          .join(',');
        if (reported.has(key)) return;
        reported.add(key);
        const names = [...cycle.map((c) => c.project), target.project].join(' → ');
        for (const member of cycle) {
          const next = cycle[(cycle.indexOf(member) + 1) % cycle.length]!;
          const i = member.dependsOn.indexOf(next.project);
          ctx.out.push(
            problem(
              'dependency_cycle',
              at(ctx, member.manifest, ['service', 'depends_on', ...(i >= 0 ? [i] : [])]),
              `dependency cycle: ${names}`,
              'start order needs an acyclic graph: one of these must stop depending on the other',
            ),
          );
        }
      } else if (st === undefined) {
        visit(target);
      }
    });
    stack.pop();
    state.set(s.id, 'done');
  };
  for (const s of fleet.services) if (!state.has(s.id)) visit(s);
}

/**
 * A secret two services share (same name) comes from one source: with two, a push would deliver
 * whichever it resolved last and status could not say which value is current. Every party is told.
 */
function checkSharedSecrets(ctx: RuleContext): void {
  const byName = new Map<string, { service: Service; source: string }[]>();
  for (const s of ctx.fleet.services)
    for (const d of s.secrets ?? []) {
      const list = byName.get(d.name) ?? [];
      list.push({ service: s, source: describeSource(d.source) });
      byName.set(d.name, list);
    }
  for (const [name, users] of byName) {
    const sources = new Set(users.map((u) => u.source));
    if (sources.size < 2) continue;
    for (const u of users) {
      const others = users.filter((o) => o.source !== u.source).map((o) => `${o.service.id} (${o.source})`);
      ctx.out.push(
        problem(
          'secrets',
          at(ctx, u.service.manifest, ['service', 'secrets', name]),
          `${u.service.id}: secret ${name} comes from ${u.source} here, but from another source in ${others.join(', ')}`,
          'a shared secret has one source: give every service the same one, or give one of them its own name',
        ),
      );
    }
  }
}

/** What `units` and `deploy` would refuse to render (an unclosed quote, a program systemd reads as a prefix, …), found at validate time. */
function checkUnits(ctx: RuleContext): void {
  for (const s of ctx.fleet.services) {
    if (unitSkipReason(s) !== undefined) continue;
    try {
      // Its host: the unit's credential lines depend on the host's systemd (docs/secrets.md).
      renderUnit(
        s,
        ctx.fleet.hosts.find((h) => h.name === s.host),
      );
      if (s.schedule !== undefined) renderTimer(s, undefined);
    } catch (err) {
      if (!(err instanceof UnitError)) throw err;
      ctx.out.push(problem('unit_render', at(ctx, s.manifest, err.path), `${s.id}: ${err.message}`, err.hint ?? 'see docs/render.md (units)'));
    }
  }
}

/**
 * A compose service's file: it exists, parses, defines the service, publishes the manifest's port
 * (or uses the host's network), names an image deploy can pin, and holds no secret (those belong
 * in service.env_file on the host). A compose service runs no systemd unit of its own.
 */
function checkCompose(ctx: RuleContext): void {
  for (const s of ctx.fleet.services) {
    const c = s.compose;
    if (c === undefined) continue;
    const field = (...path: string[]) => at(ctx, s.manifest, ['service', 'compose', ...path]);
    for (const key of ['command', 'systemd_unit', 'deploy', 'artifact'] as const) {
      const raw = (ctx.byFile.get(s.manifest)?.manifest?.service ?? {}) as Record<string, unknown>;
      if (raw[key] !== undefined)
        ctx.out.push(
          problem(
            'compose_file',
            at(ctx, s.manifest, ['service', key], true),
            `a compose service has no ${key}: Docker runs ${c.service} from ${c.file}`,
            `remove service.${key}, or remove service.compose to run it as a systemd unit`,
          ),
        );
    }
    const read = readCompose(c.path, composeDisplay(s.manifest, c.file), c.service);
    if (!read.ok) {
      if (read.kind === 'missing' || read.kind === 'unreadable')
        ctx.out.push(
          problem(
            'compose_file',
            field('file'),
            read.reason,
            read.kind === 'missing' ? 'the path is relative to the directory of this manifest' : undefined,
          ),
        );
      else if (read.kind === 'syntax')
        ctx.out.push(...read.problems.map((p) => ({ ...p, rule: 'compose_file', message: `${p.message} (compose file)` })));
      else if (read.kind === 'no-service') {
        const guess = closest(c.service, read.services);
        ctx.out.push(
          problem(
            'compose_file',
            field('service'),
            `${c.file} defines no service "${c.service}"`,
            guess
              ? `did you mean "${guess}"? services: ${read.services.join(', ')}`
              : read.services.length > 0
                ? `services: ${read.services.join(', ')}`
                : 'the file has no services: section',
          ),
        );
      }
      continue;
    }
    const facts = read.facts;
    for (const secret of facts.secrets) {
      const p = problem(
        'secret_in_manifest',
        read.source.locate(secret.path),
        `${c.file}: environment ${secret.key} holds a secret written into the compose file`,
        `put it in the env file on the host (service.env_file) and write \${${secret.key}} or nothing here`,
      );
      p.redact = true;
      ctx.out.push(p);
    }
    if (s.port !== undefined && !facts.networkHost && !c.published.includes(s.port)) {
      const published = c.published.length > 0 ? `it publishes ${c.published.join(', ')}` : 'it publishes no host port';
      ctx.out.push(
        problem(
          'compose_file',
          at(ctx, s.manifest, ['service', 'port']),
          `port ${s.port} is not published by service "${c.service}" in ${c.file} (${published})`,
          `publish it there ("${s.port}:<container port>") or set service.port to the published port; readiness is probed on the host's loopback at this port`,
        ),
      );
    }
    for (const unreadable of facts.unreadablePorts) {
      ctx.out.push(
        problem(
          'compose_file',
          read.source.locate(unreadable.path),
          `${c.file}: the host port of ${JSON.stringify(unreadable.text)} cannot be known before the host fills it in`,
          'write the host port as a number so the port registry and port_clash can see it',
          'warning',
        ),
      );
    }
    if (c.image === undefined) {
      ctx.out.push(
        problem(
          'compose_file',
          field(),
          `no image to pin: "${c.service}" in ${c.file} has ${facts.image === undefined ? 'no image' : `image ${JSON.stringify(facts.image)}`}`,
          'set service.compose.image to the repository (e.g. ghcr.io/acme/app)',
        ),
      );
    }
  }
}

/** A public domain routes to one service: the edges (net caddy) cannot send it to two. */
function checkDomains(ctx: RuleContext): void {
  for (const r of repeatedDomains(ctx.fleet)) {
    const tenant = r.service.tenant?.slug ?? r.service.tenantRoutes?.find((route) => route.domains.includes(r.domain))?.slug;
    const source = ctx.tenants?.source;
    // A name a tenant brings is the tenant's to change: pointed at it in the tenants file.
    if (tenant !== undefined && source !== undefined) {
      const firstTenant = r.first.tenant?.slug ?? r.first.tenantRoutes?.find((route) => route.domains.includes(r.domain))?.slug;
      ctx.out.push(
        problem(
          'domain_unique',
          source.locate(['tenants', tenant], { key: true }),
          `domain "${r.domain}" of tenant "${tenant}" (from ${r.service.tenant?.template ?? r.service.id}, ${r.service.manifest}) is already routed to "${r.first.id}"${firstTenant === undefined ? '' : ` for tenant "${firstTenant}"`} (${r.first.manifest})`,
          'a domain goes to one service: give this tenant another slug or TLD, or take the surface off',
        ),
      );
      continue;
    }
    ctx.out.push(
      problem(
        'domain_unique',
        at(ctx, r.service.manifest, ['service', 'domains', r.index]),
        `domain "${r.domain}" is already routed to "${r.first.id}" (${r.first.manifest})`,
        'a domain goes to one service: drop it here or there',
      ),
    );
  }
}

/** Where a service's port is declared: a tenant instance's in the tenants file, any other in its manifest. */
function claimAt(ctx: RuleContext, s: Service, file: string, path: (string | number)[]): Location {
  const source = ctx.tenants?.source;
  if (s.tenant !== undefined && source !== undefined && path[1] === 'port')
    return source.locate(['tenants', s.tenant.slug, 'ports', s.tenant.template]);
  return at(ctx, file, path);
}

/** One port of one host has one listener: services and database clusters alike. */
function checkPorts(ctx: RuleContext): void {
  const taken = new Map<string, { label: string; file: string; path: (string | number)[]; inventory: boolean }>();
  const invSource = ctx.inventory.source;
  for (const c of ctx.fleet.clusters) {
    const key = `${c.host}\u0000${c.port}`;
    const first = taken.get(key);
    if (first && invSource)
      ctx.out.push(
        problem('port_clash', invSource.locate(['clusters', c.name, 'port']), `port ${c.port} on "${c.host}" is already taken by ${first.label}`),
      );
    else taken.set(key, { label: `cluster "${c.name}"`, file: ctx.inventory.file, path: ['clusters', c.name, 'port'], inventory: true });
  }
  for (const s of ctx.fleet.services) {
    if (s.host === undefined) continue;
    // A compose service also holds every host port its compose file publishes.
    // The server of a cluster (service.cluster) serves the cluster's own port: one listener, not a clash.
    const servesCluster = s.cluster !== undefined && ctx.fleet.clusters.some((c) => c.name === s.cluster && c.host === s.host && c.port === s.port);
    const claims: { port: number; file: string; path: (string | number)[] }[] =
      s.port === undefined || servesCluster ? [] : [{ port: s.port, file: s.manifest, path: ['service', 'port'] }];
    for (const port of s.compose?.published ?? []) if (port !== s.port) claims.push({ port, file: s.manifest, path: ['service', 'compose', 'file'] });
    for (const claim of claims) {
      const key = `${s.host}\u0000${claim.port}`;
      const first = taken.get(key);
      if (first) {
        ctx.out.push(
          problem(
            'port_clash',
            claimAt(ctx, s, claim.file, claim.path),
            `port ${claim.port} on host "${s.host}" is already taken by ${first.label} (${first.file})${claim.path[1] === 'compose' ? ` (${s.compose!.file} publishes it)` : ''}`,
            'pick a free port (see `manage-apps ports`)',
          ),
        );
      } else {
        taken.set(key, { label: `"${s.id}"`, file: s.manifest, path: claim.path, inventory: false });
      }
    }
  }
  // A swap's other port is taken too (the new release listens there during a deploy).
  for (const s of ctx.fleet.services) {
    if (s.swapPorts === undefined || s.host === undefined) continue;
    s.swapPorts.forEach((port, i) => {
      if (port === s.port) return;
      const key = `${s.host}\u0000${port}`;
      const first = taken.get(key);
      if (first)
        ctx.out.push(
          problem(
            'port_clash',
            at(ctx, s.manifest, ['service', 'swap', 'ports', i]),
            `swap port ${port} on host "${s.host}" is already taken by ${first.label} (${first.file})`,
            'pick a free port (see `manage-apps ports`)',
          ),
        );
      else taken.set(key, { label: `"${s.id}" (swap)`, file: s.manifest, path: ['service', 'swap', 'ports', i], inventory: false });
    });
  }
}

function checkDroplets(ctx: RuleContext, inventoryReady: boolean): void {
  const naming = ctx.fleet.conventions?.droplet_naming;
  const seen = new Map<string, string>();
  const index = new Map<string, number>();
  for (const d of ctx.fleet.droplets) {
    const i = index.get(d.manifest) ?? 0;
    index.set(d.manifest, i + 1);
    const first = seen.get(d.name);
    if (first)
      ctx.out.push(
        problem(
          'droplet_naming',
          at(ctx, d.manifest, ['droplets', i, 'name']),
          `droplet "${d.name}" is already declared in ${first}`,
          'each droplet is declared once, at its producer root',
        ),
      );
    else seen.set(d.name, d.manifest);
    if (naming && !matchesNaming(d.name, naming.prefix, naming.producers)) {
      const form = naming.producers?.length
        ? `${naming.prefix}.<role> or ${naming.prefix}.<producer>.<role> with <producer> one of ${naming.producers.join(', ')}`
        : `${naming.prefix}.<role>`;
      ctx.out.push(
        problem(
          'droplet_naming',
          at(ctx, d.manifest, ['droplets', i, 'name']),
          `droplet name "${d.name}" does not follow the fleet's naming`,
          `expected ${form}`,
        ),
      );
    }
    if (d.provider !== 'digitalocean') {
      ctx.out.push(
        problem(
          'cloud_provider',
          at(ctx, d.manifest, ['droplets', i, 'provider']),
          `droplet "${d.name}" has provider "${d.provider}"`,
          'standing cloud hosts run on DigitalOcean',
        ),
      );
    }
    if (inventoryReady) {
      d.hosts.forEach((h, j) => {
        if (!ctx.fleet.hosts.some((x) => x.name === h) && !ctx.inventory.omitted.hosts.has(h)) {
          ctx.out.push(
            problem(
              'shared_infra_topology',
              at(ctx, d.manifest, ['droplets', i, 'hosts', j]),
              `droplet "${d.name}" registers host "${h}" which is not in ${ctx.inventory.file} yet`,
              'register the host in the inventory once it is provisioned',
            ),
          );
        }
      });
    }
  }
}

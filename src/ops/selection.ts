/**
 * Targets → services → dependency levels.
 *
 * A target is a project (`sso`: every environment of it), `project:env` (`sso:dev`, `sso:prod`),
 * `project@host`, or a host name (`manage-apps start atlilith apricot`: the project's services on
 * that host). A template for tenants with instances (docs/tenants.md) names all of them. No
 * target means every service under the root. `--env` and `--host` narrow the
 * selection.
 */
import { ProblemsFoundError, UsageError } from '../errors.js';
import { resolveDependency, type Fleet, type Service } from '../fleet/model.js';
import { closest } from '../text/suggest.js';

export interface SelectOptions {
  targets: readonly string[];
  env?: string;
  host?: string;
}

export interface Selection {
  services: Service[];
  /** Ids of services a target named explicitly (an edge is only stopped when named). */
  named: Set<string>;
  /** Services left out, with why (no host, …). */
  skipped: { id: string; reason: string }[];
}

/** Target typos: a looser bound than schema hints, since names here are often short. */
const targetBound = (_word: string, candidate: string): number => Math.max(2, Math.floor(candidate.length / 4));

/** --host must name an inventory host: a typo is a usage error with a suggestion, not an empty selection. */
export function requireHost(fleet: Fleet, host: string): void {
  const hostNames = fleet.hosts.map((h) => h.name);
  if (hostNames.includes(host)) return;
  throw new UsageError(`no host ${JSON.stringify(host)} in the inventory`, hint(host, hostNames) ?? `hosts: ${hostNames.join(', ')}`);
}

export function selectServices(fleet: Fleet, options: SelectOptions): Selection {
  const projects = new Set(fleet.services.map((s) => s.project));
  const hostNames = new Set(fleet.hosts.map((h) => h.name));
  // Templates with instances by their service id: their project names every tenant's instance.
  const templates = new Map((fleet.tenantTemplates ?? []).filter((t) => t.ports !== undefined).map((t) => [t.id, t.project]));
  const templateProjects = new Set(templates.values());
  if (options.host !== undefined) requireHost(fleet, options.host);
  const hostFilter = new Set<string>(options.host === undefined ? [] : [options.host]);
  const wanted: ((s: Service) => boolean)[] = [];
  for (const target of options.targets) {
    const at = target.indexOf('@');
    if (at > 0) {
      const project = target.slice(0, at);
      const host = target.slice(at + 1);
      if (!hostNames.has(host))
        throw new UsageError(`no host ${JSON.stringify(host)} in the inventory (target ${target})`, hint(host, [...hostNames]));
      if (!projects.has(project))
        throw new UsageError(`no project ${JSON.stringify(project)} under the root (target ${target})`, hint(project, [...projects]));
      wanted.push((s) => s.project === project && s.host === host);
    } else if (target.includes(':') && fleet.services.some((s) => `${s.project}:${s.environment}` === target)) {
      wanted.push((s) => `${s.project}:${s.environment}` === target);
    } else if (projects.has(target)) {
      wanted.push((s) => s.project === target);
    } else if (templateProjects.has(target)) {
      wanted.push((s) => s.tenant !== undefined && templates.get(s.tenant.template) === target);
    } else if (hostNames.has(target)) {
      hostFilter.add(target);
    } else {
      throw new UsageError(`unknown target ${JSON.stringify(target)}: not a project, service or host`, hint(target, [...projects, ...hostNames]));
    }
  }
  const named = new Set<string>();
  const skipped: Selection['skipped'] = [];
  const services = fleet.services.filter((s) => {
    if (options.env !== undefined && s.environment !== options.env) return false;
    if (hostFilter.size > 0 && (s.host === undefined || !hostFilter.has(s.host))) return false;
    if (wanted.length > 0 && !wanted.some((w) => w(s))) return false;
    if (s.host === undefined || !fleet.hosts.some((h) => h.name === s.host)) {
      skipped.push({ id: s.id, reason: 'no host in the inventory to run on' });
      return false;
    }
    return true;
  });
  // Only project/service targets name a service (a host target selects, it does not name).
  if (wanted.length > 0) for (const s of services) named.add(s.id);
  return { services, named, skipped };
}

function hint(word: string, candidates: string[]): string | undefined {
  const near = closest(word, candidates, targetBound);
  return near === undefined ? undefined : `did you mean ${near}?`;
}

/**
 * Services in dependency levels: level 0 depends on nothing selected, level n only on lower
 * levels. Start walks the levels up, stop walks them down. Dependencies outside the selection
 * do not order anything. A cycle among the selected services has no order: it throws (exit 1),
 * naming the cycle, before anything is done.
 */
export function dependencyLevels(fleet: Fleet, services: readonly Service[]): Service[][] {
  const ids = new Set(services.map((s) => s.id));
  const deps = new Map<string, Set<string>>();
  for (const s of services) {
    const set = new Set<string>();
    for (const project of s.dependsOn) {
      const dep = resolveDependency(fleet, s, project);
      if (dep && ids.has(dep.id) && dep.id !== s.id) set.add(dep.id);
    }
    deps.set(s.id, set);
  }
  const levels: Service[][] = [];
  const placed = new Set<string>();
  let remaining = [...services];
  while (remaining.length > 0) {
    const level = remaining.filter((s) => [...deps.get(s.id)!].every((d) => placed.has(d)));
    if (level.length === 0) {
      // Every remaining service waits on another remaining one: following those waits must loop.
      const path: string[] = [];
      let at = remaining[0]!.id;
      while (!path.includes(at)) {
        path.push(at);
        at = [...deps.get(at)!].find((d) => !placed.has(d))!;
      }
      const cycle = [...path.slice(path.indexOf(at)), at].join(' → ');
      throw new ProblemsFoundError(
        `dependency cycle among the selected services: ${cycle}; there is no order to start or stop them in, so nothing was done`,
        'fix depends_on (manage-apps validate shows where), or select fewer services: a dependency outside the selection orders nothing',
      );
    }
    levels.push(level);
    for (const s of level) placed.add(s.id);
    remaining = remaining.filter((s) => !placed.has(s.id));
  }
  return levels;
}

/** The selected services a service depends on (directly). */
export function selectedDependencies(fleet: Fleet, service: Service, selected: readonly Service[]): Service[] {
  const ids = new Set(selected.map((s) => s.id));
  return service.dependsOn
    .map((p) => resolveDependency(fleet, service, p))
    .filter((d): d is Service => d !== undefined && ids.has(d.id) && d.id !== service.id);
}

/** A service a start added because another one it starts needs it (`for`: those that need it directly). */
export interface AddedDependency {
  id: string;
  host: string;
  for: string[];
}

/**
 * `start <target>` brings up what the target depends on first, as `docker compose up` does:
 * every dependency, transitively, wherever it runs and whatever --env/--host narrowed (a
 * dependency resolves as depends_on says: the same environment's instance, else prod's). One
 * without a host in the inventory is skipped with the reason. `--no-deps` leaves this out.
 */
export function withDependencies(fleet: Fleet, selection: Selection): { selection: Selection; added: AddedDependency[] } {
  const hostNames = new Set(fleet.hosts.map((h) => h.name));
  const chosen = new Map(selection.services.map((s) => [s.id, s]));
  const neededBy = new Map<string, Set<string>>();
  const skipped = [...selection.skipped];
  const queue = [...selection.services];
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    for (const project of next.dependsOn) {
      const dep = resolveDependency(fleet, next, project);
      if (dep === undefined || dep.id === next.id) continue;
      if (selection.services.some((s) => s.id === dep.id)) continue;
      neededBy.set(dep.id, (neededBy.get(dep.id) ?? new Set<string>()).add(next.id));
      if (chosen.has(dep.id) || skipped.some((s) => s.id === dep.id)) continue;
      if (dep.host === undefined || !hostNames.has(dep.host)) {
        skipped.push({ id: dep.id, reason: `a dependency of ${next.id}, but it has no host in the inventory to run on` });
        continue;
      }
      chosen.set(dep.id, dep);
      queue.push(dep);
    }
  }
  const services = fleet.services.filter((s) => chosen.has(s.id));
  const added = services
    .filter((s) => !selection.services.includes(s))
    .map((s) => ({ id: s.id, host: s.host!, for: [...(neededBy.get(s.id) ?? [])].sort() }));
  return { selection: { services, named: selection.named, skipped }, added };
}

/**
 * The services outside a stop that depend on what it stops, directly or through others: they
 * keep running without it (they degrade). `via`: which stopped services each one needs.
 */
export function dependentsOutside(fleet: Fleet, stopped: readonly Service[]): { service: Service; via: string[] }[] {
  const stoppedIds = new Set(stopped.map((s) => s.id));
  const via = new Map<string, Set<string>>();
  const needs = (s: Service): Set<string> => {
    const known = via.get(s.id);
    if (known) return known;
    const out = new Set<string>();
    via.set(s.id, out); // a cycle ends here instead of looping
    for (const project of s.dependsOn) {
      const dep = resolveDependency(fleet, s, project);
      if (dep === undefined || dep.id === s.id) continue;
      if (stoppedIds.has(dep.id)) out.add(dep.id);
      else for (const id of needs(dep)) out.add(id);
    }
    return out;
  };
  return fleet.services
    .filter((s) => !stoppedIds.has(s.id) && s.host !== undefined && fleet.hosts.some((h) => h.name === s.host))
    .map((service) => ({ service, via: [...needs(service)].sort() }))
    .filter((d) => d.via.length > 0);
}

/**
 * Tenants from templates (docs/tenants.md): a manifest with service.tenants is a template, and the
 * fleet model holds what it becomes for the declared tenants, so that every later stage (list,
 * ports, graph, net caddy, deploy, status, the dashboard) sees ordinary services.
 *
 * - Without `instances`, the service is shared: each of its domains with a placeholder becomes one
 *   name per tenant that enables the surface (and per TLD for {tld}); `tenantRoutes` says whose
 *   each name is, so the edge can tell the service which tenant a request is for.
 * - With `instances`, one service per such tenant, named <project>-<slug>: its own port (recorded
 *   in the tenants file), unit, directory, domains and environment (the tenant's config).
 */
import type { FleetTenant, Service, TenantTemplate } from './model.js';
import { serviceId } from './model.js';

const PLACEHOLDER = /\{(org|slug|tld)\}/;

export function hasPlaceholder(domain: string): boolean {
  return PLACEHOLDER.test(domain);
}

/** A domain for one tenant: {org} and {slug} are its slug; {tld} each of its TLDs (one name per TLD). */
export function expandDomain(domain: string, tenant: Pick<FleetTenant, 'slug' | 'tlds'>): string[] {
  if (!hasPlaceholder(domain)) return [domain];
  const named = domain.replace(/\{(org|slug)\}/g, tenant.slug);
  return named.includes('{tld}') ? tenant.tlds.map((tld) => named.replace(/\{tld\}/g, tld)) : [named];
}

/** The tenants that enable a surface, in slug order (stable output whatever the file's order). */
export function tenantsWith(tenants: readonly FleetTenant[], surface: string): FleetTenant[] {
  return tenants.filter((t) => t.surfaces.includes(surface)).sort((a, b) => (a.slug < b.slug ? -1 : a.slug > b.slug ? 1 : 0));
}

/** The project name of a tenant's instance of a template. */
export function instanceProject(templateProject: string, slug: string): string {
  return `${templateProject}-${slug}`;
}

/** The environment a tenant instance gets: its slug and kind, then its config. */
export function tenantEnv(tenant: FleetTenant): Record<string, string> {
  return { TENANT: tenant.slug, TENANT_KIND: tenant.kind, ...tenant.config };
}

/**
 * What a template service becomes for the tenants: the shared service with every tenant's
 * routes, or one instance per tenant. `renderedUnit` names a unit rendered from `command` for a
 * project (undefined when the template declares its own unit or runs without one).
 */
export function expandTemplate(
  template: Service,
  info: TenantTemplate,
  tenants: readonly FleetTenant[],
  renderedUnit: ((project: string) => string) | undefined,
): Service[] {
  const served = tenantsWith(tenants, info.surface);
  if (info.ports === undefined) {
    const plain = info.domains.filter((d) => !hasPlaceholder(d));
    const routes = served.map((t) => ({ slug: t.slug, domains: info.domains.filter(hasPlaceholder).flatMap((d) => expandDomain(d, t)) }));
    return [{ ...template, domains: [...plain, ...routes.flatMap((r) => r.domains)], tenantRoutes: routes.filter((r) => r.domains.length > 0) }];
  }
  return served.map((t): Service => {
    const project = instanceProject(template.project, t.slug);
    const instance: Service = {
      ...template,
      id: serviceId(project, template.environment),
      project,
      domains: info.domains.flatMap((d) => expandDomain(d, t)),
      // Never one directory for two instances: their releases would overwrite each other.
      directory: template.directory === `/srv/${template.project}` ? `/srv/${project}` : `${template.directory}-${t.slug}`,
      env: { ...(template.env ?? {}), ...tenantEnv(t) },
      tenant: { slug: t.slug, template: info.id },
    };
    delete instance.port;
    const port = t.ports[info.id];
    if (port !== undefined) instance.port = port;
    if (renderedUnit !== undefined) instance.unit = renderedUnit(project);
    return instance;
  });
}

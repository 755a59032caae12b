/**
 * Rules of tenants and their templates (docs/tenants.md): placeholders only in templates, a
 * template with instances renders its own unit, every instance's port recorded and inside its
 * template's range, no secret in a tenant's config, and surfaces some template serves. Domain and
 * port clashes of tenant instances are domain_unique and port_clash (rules.ts), located in the
 * tenants file.
 */
import type { Fleet } from '../fleet/model.js';
import { hasPlaceholder } from '../fleet/tenants.js';
import { problem, type Location, type Problem } from '../problems.js';
import type { PathSegment } from '../source/document.js';
import type { LoadedTenants } from '../tenants/load.js';
import { looksLikeSecret, SECRET_KEY } from '../text/secrets.js';
import { hasControlCharacter } from '../text/control.js';

type At = (file: string, path: PathSegment[], key?: boolean) => Location;

/** The lowest port of a range no listener of the host holds (undefined: the range is full). */
export function freePort(
  fleet: Fleet,
  host: string | undefined,
  range: readonly [number, number],
  alsoTaken: Iterable<number> = [],
): number | undefined {
  const taken = new Set(alsoTaken);
  for (const s of fleet.services) if (s.host === host && s.port !== undefined) taken.add(s.port);
  for (const s of fleet.services) if (s.host === host) for (const p of s.swapPorts ?? []) taken.add(p);
  for (const c of fleet.clusters) if (c.host === host) taken.add(c.port);
  for (let p = range[0]; p <= range[1]; p++) if (!taken.has(p)) return p;
  return undefined;
}

export function tenantProblems(fleet: Fleet, tenants: LoadedTenants | undefined, at: At): Problem[] {
  const out: Problem[] = [];
  const templates = fleet.tenantTemplates ?? [];
  // Placeholders outside a template: nothing would fill them in.
  for (const s of fleet.services) {
    if (s.tenant !== undefined || s.tenantRoutes !== undefined) continue;
    s.domains.forEach((d, i) => {
      if (hasPlaceholder(d))
        out.push(
          problem(
            'tenant_template',
            at(s.manifest, ['service', 'domains', i]),
            `domain "${d}" of "${s.id}" has a placeholder but the service is no template`,
            'add service.tenants { surface: … } to make it one (docs/tenants.md), or write the name out',
          ),
        );
    });
  }
  for (const t of templates) {
    if (t.ports === undefined) continue;
    if (t.ports[0] > t.ports[1])
      out.push(
        problem(
          'tenant_template',
          at(t.manifest, ['service', 'tenants', 'instances', 'ports']),
          `port range ${t.ports[0]}-${t.ports[1]} is empty`,
          'write [first, last]',
        ),
      );
    if (t.noInstances !== undefined)
      out.push(
        problem(
          'tenant_template',
          at(t.manifest, ['service', t.noInstances === 'command' ? 'tenants' : t.noInstances], true),
          t.noInstances === 'command'
            ? `"${t.id}" has instances per tenant but no command: each instance runs its own unit rendered from it`
            : `"${t.id}" has instances per tenant but ${t.noInstances === 'compose' ? 'runs under Docker Compose: one compose project' : 'declares its systemd_unit: one unit'} would serve every tenant`,
          'give the template a service.command (each instance gets its own rendered unit); its instances are left out until then',
        ),
      );
  }
  const source = tenants?.source;
  if (tenants === undefined || source === undefined) return out;
  const surfaces = new Set(templates.map((t) => t.surface));
  for (const tenant of tenants.tenants) {
    const here = (...path: PathSegment[]) => source.locate(['tenants', tenant.slug, ...path]);
    for (const [key, value] of Object.entries(tenant.config)) {
      if (SECRET_KEY.test(key.replace(/[-_]/g, '')) || looksLikeSecret(value)) {
        const p = problem(
          'tenant_config',
          here('config', key),
          `config ${key} of tenant "${tenant.slug}" looks like a secret: the tenants file is in git and its values are in the units`,
          "declare it under the template's service.secrets (docs/secrets.md), or keep it in the env file on the host",
        );
        p.redact = true;
        out.push(p);
      } else if (hasControlCharacter(value))
        out.push(
          problem(
            'tenant_config',
            here('config', key),
            `config ${key} of tenant "${tenant.slug}" contains a control character`,
            'one line of plain text',
          ),
        );
    }
    tenant.surfaces.forEach((surface, i) => {
      if (!surfaces.has(surface))
        out.push(
          problem(
            'tenant_surface',
            here('surfaces', i),
            `no template serves surface "${surface}" of tenant "${tenant.slug}"`,
            templates.length === 0 ? 'give a manifest service.tenants { surface: … }' : `templates serve: ${[...surfaces].sort().join(', ')}`,
          ),
        );
    });
    for (const t of templates) {
      if (t.ports === undefined || !tenant.surfaces.includes(t.surface)) continue;
      const port = tenant.ports[t.id];
      if (port === undefined) {
        const free = freePort(fleet, t.host, t.ports);
        out.push(
          problem(
            'tenant_port',
            here(),
            `tenant "${tenant.slug}" has no port for its instance of "${t.id}" (range ${t.ports[0]}-${t.ports[1]})`,
            free === undefined
              ? `the range is full: widen it in ${t.manifest}`
              : `add ports: { ${t.id}: ${free} } (the first free one), or use \`manage-apps tenants add\``,
          ),
        );
      } else if (port < t.ports[0] || port > t.ports[1])
        out.push(
          problem(
            'tenant_port',
            here('ports', t.id),
            `port ${port} of tenant "${tenant.slug}" for "${t.id}" is outside the template's range ${t.ports[0]}-${t.ports[1]}`,
            `pick one in the range (${t.manifest})`,
          ),
        );
    }
  }
  return out;
}

/**
 * `tenants list | status | add | remove` (docs/tenants.md): the fleet's tenants and what their
 * templates give them; onboarding one with a declaration, and taking it away again.
 *
 * add: check the declaration as it would be written (nothing is touched when it has an error),
 * look up each new public name against the edge that will serve it (a warning with the record to
 * create), write the declaration, deploy the tenant's instances through their gates, then install
 * the edge's new Caddyfile (validated, reloaded gracefully), probe every new URL through the edge,
 * and record the outcome. Instances are up before the route exists, so a crash at any point never
 * leaves a route to nothing; running it again finishes the job.
 *
 * remove: the declaration goes first, then the route (the edge's Caddyfile without the tenant),
 * then the instances stop: the route is gone before its instances. Running it again stops
 * instances a crash left running (they are found from the templates, the tenant no longer declared).
 */
import { lookup } from 'node:dns/promises';
import { mkdir } from 'node:fs/promises';
import { request } from 'node:https';
import { dirname, join } from 'node:path';
import { EXIT_OK, EXIT_PROBLEMS, UsageError } from '../errors.js';
import { readIfExists, writeFileSafely } from '../files/write.js';
import { findHost, routingEdges, type Fleet, type FleetTenant, type Service } from '../fleet/model.js';
import { expandTemplate, instanceProject } from '../fleet/tenants.js';
import { freePort } from '../checks/tenants.js';
import { loadFleet, type FleetOptions, type LoadedFleet } from '../load/fleet.js';
import { Ops } from '../ops/context.js';
import { runDeploy } from '../ops/deploy.js';
import { DEPLOY_DEFAULTS } from '../ops/deploy/types.js';
import { LIFECYCLE_DEFAULTS, runLifecycle } from '../ops/lifecycle.js';
import { retireUnits } from '../ops/retire.js';
import type { Progress } from '../ops/progress.js';
import { resolveSettings, type OpsSettings } from '../ops/settings.js';
import { problemJson, type Problem } from '../problems.js';
import { isNonPublicName } from '../render/caddy.js';
import { addMapEntry, EditError, removeMapEntry } from '../source/edit.js';
import { tenantsPath, type TenantKind } from '../tenants/load.js';
import { applyRendered } from './apply-configs.js';
import type { Answer } from './answer.js';
import { viewAnswer, type WithProblems } from './answer.js';

const SLUG = /^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/;

/** What a tenant has in the fleet: its instances and its routes on shared services. */
export interface TenantView {
  slug: string;
  kind: TenantKind;
  tlds: string[];
  surfaces: string[];
  /** Names of its config values (the values are in the tenants file). */
  config: string[];
  instances: { id: string; template: string; host: string | null; port: number | null; unit: string | null; domains: string[] }[];
  routes: { service: string; domains: string[] }[];
  /** Every name it is served under, and whether a public CA issues for it. */
  urls: { domain: string; service: string; public: boolean; url: string }[];
}

export type TenantsListDocument = WithProblems<{
  tenants_file: string | null;
  tenants: TenantView[];
  templates: { id: string; surface: string; instances: boolean; ports: [number, number] | null; domains: string[]; manifest: string }[];
}>;

function viewOf(fleet: Fleet, t: FleetTenant): TenantView {
  const instances = fleet.services.filter((s) => s.tenant?.slug === t.slug);
  const routes = fleet.services.flatMap((s) =>
    (s.tenantRoutes ?? []).filter((r) => r.slug === t.slug).map((r) => ({ service: s, domains: r.domains })),
  );
  const urls = [
    ...instances.flatMap((s) => s.domains.map((d) => ({ domain: d, service: s }))),
    ...routes.flatMap((r) => r.domains.map((d) => ({ domain: d, service: r.service }))),
  ].map(({ domain, service }) => ({
    domain,
    service: service.id,
    public: !isNonPublicName(domain),
    url: `https://${domain}${service.health.readiness}`,
  }));
  return {
    slug: t.slug,
    kind: t.kind,
    tlds: t.tlds,
    surfaces: t.surfaces,
    config: Object.keys(t.config),
    instances: instances.map((s) => ({
      id: s.id,
      template: s.tenant!.template,
      host: s.host ?? null,
      port: s.port ?? null,
      unit: s.unit ?? null,
      domains: s.domains,
    })),
    routes: routes.map((r) => ({ service: r.service.id, domains: r.domains })),
    urls,
  };
}

function listDocument(loaded: LoadedFleet): Omit<TenantsListDocument, 'problems'> {
  const fleet = loaded.fleet;
  return {
    tenants_file: fleet.tenantsFile ?? null,
    tenants: (fleet.tenants ?? []).map((t) => viewOf(fleet, t)),
    templates: (fleet.tenantTemplates ?? []).map((t) => ({
      id: t.id,
      surface: t.surface,
      instances: t.ports !== undefined,
      ports: t.ports ?? null,
      domains: t.domains,
      manifest: t.manifest,
    })),
  };
}

export async function tenantsList(source: FleetOptions): Promise<Answer<TenantsListDocument>> {
  const loaded = await loadFleet(source);
  return viewAnswer(loaded, listDocument(loaded));
}

/** One URL probed through the edge that serves it: the readiness path, over TLS, with the name as SNI and Host. */
export interface ProbeResult {
  url: string;
  edge: string;
  ok: boolean;
  status: number | null;
  error?: string;
}

/** The address the operator's machine reaches an edge host at. */
function edgeAddress(fleet: Fleet, edge: Service): string | undefined {
  const host = findHost(fleet, edge.host);
  return host?.publicIp ?? host?.address ?? host?.lan;
}

function probeOnce(
  address: string,
  port: number,
  domain: string,
  path: string,
  verify: boolean,
  timeoutMs: number,
): Promise<{ status: number | null; error?: string }> {
  return new Promise((resolve) => {
    const req = request(
      { host: address, port, path, servername: domain, headers: { host: domain }, rejectUnauthorized: verify, timeout: timeoutMs },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? null }));
        res.on('error', (e) => resolve({ status: null, error: e.message }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)));
    req.on('error', (e) => resolve({ status: null, error: e.message }));
    req.end();
  });
}

/**
 * Each of the tenant's URLs through each edge that routes it, until it answers 2xx or `waitMs`
 * passes. A public name's certificate is verified; an internal name's comes from Caddy's own CA,
 * which this machine does not trust, so only the answer is checked.
 */
async function probeTenant(fleet: Fleet, view: TenantView, waitMs: number): Promise<ProbeResult[]> {
  const jobs = view.urls.flatMap((u) => {
    const service = fleet.services.find((s) => s.id === u.service)!;
    return routingEdges(fleet, service).map((edge) => ({ u, service, edge }));
  });
  return Promise.all(
    jobs.map(async ({ u, service, edge }): Promise<ProbeResult> => {
      const address = edgeAddress(fleet, edge);
      const base = { url: u.url, edge: edge.host! };
      if (address === undefined) return { ...base, ok: false, status: null, error: `no address for edge host ${edge.host}` };
      const deadline = Date.now() + waitMs;
      for (;;) {
        const r = await probeOnce(address, edge.port ?? 443, u.domain, service.health.readiness, u.public, 5000);
        const ok = r.status !== null && r.status >= 200 && r.status < 300;
        if (ok || Date.now() > deadline) return { ...base, ok, status: r.status, ...(r.error === undefined ? {} : { error: r.error }) };
        await new Promise((res) => setTimeout(res, 500));
      }
    }),
  );
}

export interface TenantRecord {
  slug: string;
  action: 'add' | 'remove';
  at: string;
  ok: boolean;
  steps: TenantStep[];
}

/** Where the outcome of the last add/remove of each tenant is kept: beside the tenants file. */
function recordPath(loaded: LoadedFleet, slug: string): string {
  return join(dirname(loaded.tenants.path), '.manage-apps', 'tenants', `${slug}.json`);
}

async function readRecord(loaded: LoadedFleet, slug: string): Promise<TenantRecord | null> {
  const text = await readIfExists(recordPath(loaded, slug));
  if (text === undefined) return null;
  try {
    return JSON.parse(text) as TenantRecord;
  } catch {
    return null;
  }
}

export type TenantsStatusDocument = WithProblems<{
  tenants: (TenantView & { probes: ProbeResult[]; live: boolean; last: TenantRecord | null })[];
}>;

/** `tenants status [slug]`: each tenant's URLs probed through its edges now, and its last add/remove. */
export async function tenantsStatus(source: FleetOptions, slug: string | undefined): Promise<Answer<TenantsStatusDocument>> {
  const loaded = await loadFleet(source);
  const fleet = loaded.fleet;
  const chosen = (fleet.tenants ?? []).filter((t) => slug === undefined || t.slug === slug);
  if (slug !== undefined && chosen.length === 0) throw new UsageError(`no tenant "${slug}" in ${fleet.tenantsFile ?? 'the tenants file'}`);
  const tenants = await Promise.all(
    chosen.map(async (t) => {
      const view = viewOf(fleet, t);
      const probes = await probeTenant(fleet, view, 0);
      return { ...view, probes, live: probes.every((p) => p.ok), last: await readRecord(loaded, t.slug) };
    }),
  );
  const answer = viewAnswer(loaded, { tenants });
  if (tenants.some((t) => !t.live)) answer.exitCode = EXIT_PROBLEMS;
  return answer;
}

/** What `tenants add` is given: the tenant's declaration. */
export interface TenantSpec {
  kind?: TenantKind;
  tlds?: string[];
  surfaces?: string[];
  config?: Record<string, string>;
}

export interface TenantStep {
  step: 'check' | 'declare' | 'dns' | 'deploy' | 'edge' | 'probe' | 'stop' | 'record';
  state: 'ok' | 'changed' | 'unchanged' | 'warning' | 'failed' | 'planned' | 'skipped';
  detail: string;
}

export type TenantChangeDocument = {
  action: 'add' | 'remove';
  slug: string;
  dry_run: boolean;
  ok: boolean;
  tenants_file: string;
  steps: TenantStep[];
  dns: { domain: string; state: 'ok' | 'missing' | 'elsewhere' | 'internal'; addresses: string[]; record?: string }[];
  instances: string[];
  urls: string[];
  probes: ProbeResult[];
  problems: Record<string, unknown>[];
};

function yamlScalar(value: string): string {
  return /^[A-Za-z0-9][A-Za-z0-9._/@+-]*$/.test(value) && !/^(true|false|null|yes|no|on|off|~|[0-9.eE+-]+)$/i.test(value)
    ? value
    : JSON.stringify(value);
}

/** The tenant's entry as written into the tenants file. */
function entryLines(t: FleetTenant): string[] {
  const lines = [`kind: ${t.kind}`, `tlds: [${t.tlds.map(yamlScalar).join(', ')}]`, `surfaces: [${t.surfaces.map(yamlScalar).join(', ')}]`];
  const config = Object.entries(t.config);
  if (config.length > 0) lines.push('config:', ...config.map(([k, v]) => `  ${k}: ${yamlScalar(v)}`));
  const ports = Object.entries(t.ports);
  if (ports.length > 0) lines.push('ports:', ...ports.map(([k, v]) => `  ${yamlScalar(k)}: ${v}`));
  return lines;
}

/** Problems the candidate has that the fleet as it is has not (by rule, place and message). */
function newErrors(before: readonly Problem[], after: readonly Problem[]): Problem[] {
  const seen = new Set(before.map((p) => `${p.rule}\u0000${p.message}`));
  return after.filter((p) => p.severity === 'error' && !seen.has(`${p.rule}\u0000${p.message}`));
}

async function checkDns(fleet: Fleet, view: TenantView): Promise<TenantChangeDocument['dns']> {
  return Promise.all(
    view.urls.map(async (u): Promise<TenantChangeDocument['dns'][number]> => {
      if (!u.public) return { domain: u.domain, state: 'internal', addresses: [] };
      const service = fleet.services.find((s) => s.id === u.service)!;
      const edges = routingEdges(fleet, service);
      const wanted = edges.flatMap((e) => {
        const h = findHost(fleet, e.host);
        return [h?.publicIp, h?.address].filter((a): a is string => a !== undefined);
      });
      const target = wanted[0];
      let addresses: string[] = [];
      try {
        const found = await Promise.race([
          lookup(u.domain, { all: true }),
          new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), 5000)),
        ]);
        addresses = found.map((a) => a.address);
      } catch {
        addresses = [];
      }
      const record = target === undefined ? undefined : `${u.domain}. ${target.includes(':') ? 'AAAA' : 'A'} ${target}`;
      if (addresses.length === 0) return { domain: u.domain, state: 'missing', addresses, ...(record === undefined ? {} : { record }) };
      if (addresses.some((a) => wanted.includes(a))) return { domain: u.domain, state: 'ok', addresses };
      return { domain: u.domain, state: 'elsewhere', addresses, ...(record === undefined ? {} : { record }) };
    }),
  );
}

/** The tenant's instances as the templates make them, whether it is declared or not (remove finds what a crash left running). */
function instancesFor(fleet: Fleet, slug: string): Service[] {
  const ghost: FleetTenant = { slug, kind: 'org', tlds: ['invalid'], surfaces: [], config: {}, ports: {} };
  const declared = fleet.services.filter((s) => s.tenant?.slug === slug);
  const out = [...declared];
  for (const template of fleet.tenantTemplates ?? []) {
    if (template.ports === undefined || template.noInstances !== undefined) continue;
    const project = instanceProject(template.project, slug);
    if (out.some((s) => s.project === project && s.environment === template.environment)) continue;
    // The template as a service: any of its instances, or the shared shape (host, runtime, unit naming).
    const sibling = fleet.services.find((s) => s.tenant?.template === template.id);
    if (sibling === undefined) continue;
    const [instance] = expandTemplate(
      { ...sibling, project: template.project, id: template.id, directory: `/srv/${template.project}` },
      template,
      [{ ...ghost, surfaces: [template.surface] }],
      sibling.unit === `${sibling.project}${sibling.environment === 'prod' ? '' : `-${sibling.environment}`}.service`
        ? (p) => `${p}${sibling.environment === 'prod' ? '' : `-${sibling.environment}`}.service`
        : undefined,
    );
    if (instance !== undefined) out.push(instance);
  }
  return out;
}

export interface TenantChangeChoices {
  dryRun: boolean;
  /** How long the probes wait for each URL to answer through the edge. */
  probeWaitMs?: number;
}

function checkSlug(slug: string): void {
  if (!SLUG.test(slug))
    throw new UsageError(`tenant slug ${JSON.stringify(slug)} is not a DNS label`, 'lower-case letters, digits and inner "-", at most 32 characters');
}

/** The document add and remove fill in, and the step recorder that also prints each step as progress. */
function startChange(
  action: TenantChangeDocument['action'],
  slug: string,
  dryRun: boolean,
  tenantsFile: TenantChangeDocument['tenants_file'],
  onStep: (line: string) => void,
) {
  const doc: TenantChangeDocument = {
    action,
    slug,
    dry_run: dryRun,
    ok: false,
    tenants_file: tenantsFile,
    steps: [],
    dns: [],
    instances: [],
    urls: [],
    probes: [],
    problems: [],
  };
  const step = (s: TenantStep) => {
    doc.steps.push(s);
    onStep(`${s.step}: ${s.state}${s.detail ? `: ${s.detail}` : ''}`);
  };
  return { doc, step };
}

/** `tenants add <slug>`: see the module's comment for the order and why. */
export async function tenantsAdd(
  source: FleetOptions,
  slug: string,
  spec: TenantSpec,
  given: Partial<OpsSettings>,
  choices: TenantChangeChoices,
  progress: Progress,
  onStep: (line: string) => void = () => {},
): Promise<Answer<TenantChangeDocument>> {
  checkSlug(slug);
  const loaded = await loadFleet(source);
  const fleet = loaded.fleet;
  const path = tenantsPath(loaded.inventory.path);
  const existing = (fleet.tenants ?? []).find((t) => t.slug === slug);
  const { doc, step } = startChange('add', slug, choices.dryRun, loaded.tenants.file, onStep);
  const finish = (exitCode: number, answerLoaded: LoadedFleet) => ({ exitCode, document: doc, loaded: answerLoaded });

  // 1. The declaration as it would be written, checked with the whole fleet.
  const text = (await readIfExists(path)) ?? '';
  let candidateText = text;
  if (existing === undefined) {
    if (spec.kind === undefined || spec.tlds === undefined || spec.tlds.length === 0)
      throw new UsageError(
        `tenant "${slug}" is new: give its --kind and --tld`,
        'e.g. manage-apps tenants add newco --kind org --tld maison --surface site --surface ai',
      );
    const tenant: FleetTenant = { slug, kind: spec.kind, tlds: spec.tlds, surfaces: spec.surfaces ?? [], config: spec.config ?? {}, ports: {} };
    // Each instance's port: the first free one of its template's range on its host, recorded so it never moves.
    const taken = new Map<string, number[]>();
    for (const template of fleet.tenantTemplates ?? []) {
      if (template.ports === undefined || !tenant.surfaces.includes(template.surface)) continue;
      const others = taken.get(template.host ?? '') ?? [];
      const port = freePort(fleet, template.host, template.ports, others);
      if (port === undefined)
        throw new UsageError(`the port range ${template.ports.join('-')} of "${template.id}" is full`, `widen it in ${template.manifest}`);
      tenant.ports[template.id] = port;
      taken.set(template.host ?? '', [...others, port]);
    }
    try {
      candidateText = addMapEntry(text, ['tenants'], slug, entryLines(tenant));
    } catch (error) {
      if (error instanceof EditError) throw new UsageError(`cannot add "${slug}" to ${loaded.tenants.file}: ${error.message}`);
      throw error;
    }
  } else if (
    (spec.kind !== undefined && spec.kind !== existing.kind) ||
    (spec.tlds !== undefined && spec.tlds.join() !== existing.tlds.join()) ||
    (spec.surfaces !== undefined && [...spec.surfaces].sort().join() !== [...existing.surfaces].sort().join()) ||
    (spec.config !== undefined && JSON.stringify(spec.config) !== JSON.stringify(existing.config))
  ) {
    throw new UsageError(
      `tenant "${slug}" is declared already, with other values`,
      `change it in ${loaded.tenants.file}, or run \`manage-apps tenants add ${slug}\` alone to finish onboarding it`,
    );
  }
  const candidate = await loadFleet(source, { tenantsText: candidateText });
  const errors = newErrors(loaded.problems, candidate.problems);
  const declared = (candidate.fleet.tenants ?? []).find((t) => t.slug === slug);
  if (errors.length > 0 || declared === undefined) {
    doc.problems = (errors.length > 0 ? errors : candidate.problems).map(problemJson);
    step({ step: 'check', state: 'failed', detail: `${errors.length || candidate.problems.length} problem(s): nothing was touched` });
    return finish(EXIT_PROBLEMS, candidate);
  }
  step({ step: 'check', state: 'ok', detail: '' });
  const view = viewOf(candidate.fleet, declared);
  doc.instances = view.instances.map((i) => i.id);
  doc.urls = view.urls.map((u) => u.url);

  // 2. DNS of each new public name against the edge that will serve it (never blocking).
  doc.dns = await checkDns(candidate.fleet, view);
  const wrong = doc.dns.filter((d) => d.state === 'missing' || d.state === 'elsewhere');
  step({
    step: 'dns',
    state: wrong.length > 0 ? 'warning' : 'ok',
    detail:
      wrong.length > 0
        ? `${wrong.length} public name(s) do not point at the edge: ${wrong.map((d) => d.record ?? `${d.domain} (no edge address known)`).join('; ')}`
        : `${doc.dns.filter((d) => d.state === 'ok').length} public, ${doc.dns.filter((d) => d.state === 'internal').length} internal`,
  });

  if (choices.dryRun) {
    step({
      step: 'declare',
      state: 'planned',
      detail: candidateText === text ? `${loaded.tenants.file} already declares it` : `${loaded.tenants.file}: add "${slug}"`,
    });
    step({ step: 'deploy', state: 'planned', detail: doc.instances.join(', ') || 'no instances' });
    step({ step: 'edge', state: 'planned', detail: `routes: ${view.urls.map((u) => u.domain).join(', ') || 'none'}` });
    step({ step: 'probe', state: 'planned', detail: doc.urls.join(' ') });
    doc.ok = true;
    return finish(EXIT_OK, candidate);
  }

  // 3. The declaration written (a backup of the file kept).
  if (candidateText !== text) {
    await mkdir(dirname(path), { recursive: true });
    await writeFileSafely(path, candidateText);
    step({ step: 'declare', state: 'changed', detail: `${loaded.tenants.file}: "${slug}" added` });
  } else step({ step: 'declare', state: 'unchanged', detail: `${loaded.tenants.file} declares it already` });

  const settings = resolveSettings(given);
  const live = await loadFleet(source);
  const record = async (ok: boolean) => {
    doc.ok = ok;
    const file = recordPath(live, slug);
    await mkdir(dirname(file), { recursive: true });
    await writeFileSafely(
      file,
      `${JSON.stringify({ slug, action: 'add', at: new Date().toISOString(), ok, steps: doc.steps } satisfies TenantRecord, null, 2)}\n`,
    );
  };

  // 4. Its instances deployed through their gates before any route points at them.
  const instances = live.fleet.services.filter((s) => s.tenant?.slug === slug);
  if (instances.length > 0) {
    const ops = new Ops(live.fleet, settings);
    const report = await runDeploy(
      ops,
      { services: instances, named: new Set(instances.map((s) => s.id)), skipped: [] },
      { ...DEPLOY_DEFAULTS, dryRun: false, wait: true },
      progress,
    );
    const failed = report.deploys.filter((d) => !d.ok);
    if (failed.length > 0) {
      step({ step: 'deploy', state: 'failed', detail: failed.map((d) => `${d.id}: ${d.reason ?? d.outcome}`).join('; ') });
      // Not live: the declaration goes back, so the edge never routes to an instance that failed its gate.
      if (candidateText !== text) await writeFileSafely(path, text);
      step({ step: 'declare', state: 'changed', detail: `${loaded.tenants.file}: "${slug}" taken out again` });
      await record(false);
      return finish(EXIT_PROBLEMS, live);
    }
    step({ step: 'deploy', state: 'ok', detail: instances.map((s) => s.id).join(', ') });
  } else step({ step: 'deploy', state: 'skipped', detail: 'no instances: its surfaces are served by shared services' });

  // 5. The edges: the new Caddyfile validated there and taken gracefully.
  const applied = await applyRendered('net caddy', source, given, false, onStep);
  const edgeOk = applied.exitCode === EXIT_OK;
  step({
    step: 'edge',
    state: edgeOk ? (applied.document.hosts.some((h) => h.state === 'changed') ? 'changed' : 'unchanged') : 'failed',
    detail: applied.document.hosts.map((h) => `${h.host}: ${h.state}${h.message ? ` (${h.message})` : ''}`).join('; ') || 'no edge',
  });
  if (!edgeOk) {
    doc.problems = applied.document.problems;
    await record(false);
    return finish(EXIT_PROBLEMS, live);
  }

  // 6. Every new URL through the edge.
  doc.probes = await probeTenant(
    live.fleet,
    viewOf(
      live.fleet,
      (live.fleet.tenants ?? []).find((t) => t.slug === slug)!,
    ),
    choices.probeWaitMs ?? 30_000,
  );
  const bad = doc.probes.filter((p) => !p.ok);
  step({
    step: 'probe',
    state: bad.length === 0 ? 'ok' : 'failed',
    detail:
      bad.length === 0
        ? `${doc.probes.length} URL(s) answer through the edge`
        : bad.map((p) => `${p.url} via ${p.edge}: ${p.status ?? p.error}`).join('; '),
  });
  await record(bad.length === 0);
  step({ step: 'record', state: 'ok', detail: recordPath(live, slug) });
  return finish(bad.length === 0 ? EXIT_OK : EXIT_PROBLEMS, live);
}

/** `tenants remove <slug>`: see the module's comment for the order and why. */
export async function tenantsRemove(
  source: FleetOptions,
  slug: string,
  given: Partial<OpsSettings>,
  choices: TenantChangeChoices,
  progress: Progress,
  onStep: (line: string) => void = () => {},
): Promise<Answer<TenantChangeDocument>> {
  checkSlug(slug);
  const loaded = await loadFleet(source);
  const path = tenantsPath(loaded.inventory.path);
  const { doc, step } = startChange('remove', slug, choices.dryRun, loaded.tenants.file, onStep);
  const declared = (loaded.fleet.tenants ?? []).find((t) => t.slug === slug);
  const instances = instancesFor(loaded.fleet, slug);
  doc.instances = instances.map((s) => s.id);
  if (declared !== undefined) doc.urls = viewOf(loaded.fleet, declared).urls.map((u) => u.url);
  const text = (await readIfExists(path)) ?? '';
  let candidateText: string;
  try {
    candidateText = removeMapEntry(text, ['tenants'], slug);
  } catch (error) {
    if (error instanceof EditError) throw new UsageError(`cannot take "${slug}" out of ${loaded.tenants.file}: ${error.message}`);
    throw error;
  }
  if (choices.dryRun) {
    step({
      step: 'declare',
      state: 'planned',
      detail: candidateText === text ? `${loaded.tenants.file} does not declare it` : `${loaded.tenants.file}: take "${slug}" out`,
    });
    step({ step: 'edge', state: 'planned', detail: `routes gone: ${doc.urls.join(' ') || 'none'}` });
    step({ step: 'stop', state: 'planned', detail: doc.instances.join(', ') || 'no instances' });
    doc.ok = true;
    return { exitCode: EXIT_OK, document: doc, loaded };
  }
  if (candidateText !== text) {
    await writeFileSafely(path, candidateText);
    step({ step: 'declare', state: 'changed', detail: `${loaded.tenants.file}: "${slug}" taken out` });
  } else step({ step: 'declare', state: 'unchanged', detail: `${loaded.tenants.file} does not declare it` });

  // The route goes before the instances.
  const applied = await applyRendered('net caddy', source, given, false, onStep);
  const edgeOk = applied.exitCode === EXIT_OK;
  step({
    step: 'edge',
    state: edgeOk ? (applied.document.hosts.some((h) => h.state === 'changed') ? 'changed' : 'unchanged') : 'failed',
    detail: applied.document.hosts.map((h) => `${h.host}: ${h.state}${h.message ? ` (${h.message})` : ''}`).join('; ') || 'no edge',
  });
  const live = await loadFleet(source);
  const record = async (ok: boolean) => {
    doc.ok = ok;
    const file = recordPath(live, slug);
    await mkdir(dirname(file), { recursive: true });
    await writeFileSafely(
      file,
      `${JSON.stringify({ slug, action: 'remove', at: new Date().toISOString(), ok, steps: doc.steps } satisfies TenantRecord, null, 2)}\n`,
    );
  };
  if (!edgeOk) {
    // Its instances keep running while a route may still point at them.
    doc.problems = applied.document.problems;
    await record(false);
    return { exitCode: EXIT_PROBLEMS, document: doc, loaded: live };
  }
  if (instances.length > 0) {
    const ops = new Ops({ ...live.fleet, services: [...live.fleet.services, ...instances] }, resolveSettings(given));
    const report = await runLifecycle(
      ops,
      { services: instances, named: new Set(instances.map((s) => s.id)), skipped: [] },
      'stop',
      LIFECYCLE_DEFAULTS,
      progress,
    );
    // Stopped, then disabled: a reboot must not start an instance nothing routes to any more.
    const stopped = new Set(report.results.filter((r) => r.ok).map((r) => r.id));
    const retired = await retireUnits(
      ops,
      instances.filter((s) => stopped.has(s.id)),
    );
    const failed = [...report.results.filter((r) => !r.ok), ...retired.filter((r) => !r.ok)];
    step({
      step: 'stop',
      state: failed.length === 0 ? 'ok' : 'failed',
      detail:
        failed.length === 0
          ? `${instances.map((s) => s.id).join(', ')} (stopped and disabled)`
          : failed.map((r) => `${r.id}: ${r.detail ?? ('outcome' in r ? r.outcome : 'failed')}`).join('; '),
    });
    if (failed.length > 0) {
      await record(false);
      return { exitCode: EXIT_PROBLEMS, document: doc, loaded: live };
    }
  } else step({ step: 'stop', state: 'skipped', detail: 'no instances' });
  await record(true);
  step({ step: 'record', state: 'ok', detail: recordPath(live, slug) });
  return { exitCode: EXIT_OK, document: doc, loaded: live };
}

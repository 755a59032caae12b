/** tenants list | status | add | remove (docs/tenants.md). */
import {
  tenantsAdd as addUseCase,
  tenantsList as listUseCase,
  tenantsRemove as removeUseCase,
  tenantsStatus as statusUseCase,
  type TenantChangeDocument,
} from '../../app/tenants.js';
import { UsageError } from '../../errors.js';
import { makeProgress } from '../../ops/progress.js';
import type { CommandResult } from '../context.js';
import { fleetSource, givenSettings, seconds, type OpsCliOptions } from '../ops-options.js';
import { plural, style, table } from '../style.js';
import { viewResult } from './shared.js';

export async function tenantsList(options: OpsCliOptions): Promise<CommandResult> {
  const answer = await listUseCase(fleetSource(options));
  return viewResult(answer, (doc) => {
    if (doc.tenants_file === null && doc.tenants.length === 0)
      return `No tenants file (tenants.yaml beside the inventory).${doc.templates.length > 0 ? ` ${plural(doc.templates.length, 'template')} wait for tenants.` : ''}`;
    const rows = doc.tenants.map((t) => [
      t.slug,
      t.kind,
      t.tlds.join(' '),
      t.surfaces.join(' ') || '-',
      t.instances.map((i) => `${i.id}${i.port === null ? '' : `:${i.port}`}`).join(' ') || '-',
      t.urls.map((u) => u.domain).join(' ') || '-',
    ]);
    return [
      table(['TENANT', 'KIND', 'TLDS', 'SURFACES', 'INSTANCES', 'NAMES'], rows),
      '',
      `${plural(doc.tenants.length, 'tenant')} in ${doc.tenants_file ?? 'no file'}; templates: ${doc.templates.map((t) => `${t.id} (${t.surface}${t.instances ? ', per tenant' : ', shared'})`).join(', ') || 'none'}.`,
    ].join('\n');
  });
}

export async function tenantsStatus(slug: string | undefined, options: OpsCliOptions): Promise<CommandResult> {
  const answer = await statusUseCase(fleetSource(options), slug);
  return viewResult(answer, (doc) => {
    const out: string[] = [];
    for (const t of doc.tenants) {
      out.push(
        `${t.live ? style.green('✔') : style.red('✖')} ${style.bold(t.slug)} (${t.kind})${t.last ? style.dim(` last ${t.last.action} ${t.last.ok ? 'ok' : 'failed'} at ${t.last.at}`) : ''}`,
      );
      for (const p of t.probes) out.push(`  ${p.ok ? style.green('✔') : style.red('✖')} ${p.url} via ${p.edge}: ${p.status ?? p.error ?? ''}`);
    }
    if (doc.tenants.length === 0) out.push('No tenants.');
    return out.join('\n');
  });
}

function changeText(doc: TenantChangeDocument): string {
  const mark = {
    ok: style.green('✔'),
    changed: style.green('✔'),
    unchanged: style.green('✔'),
    warning: style.yellow('!'),
    failed: style.red('✖'),
    planned: '-',
    skipped: '-',
  };
  const out = [style.bold(`tenants ${doc.action} ${doc.slug}${doc.dry_run ? ' (dry run: nothing was touched)' : ''}`)];
  for (const s of doc.steps) out.push(`${mark[s.state]} ${s.step}: ${s.state}${s.detail ? `: ${s.detail}` : ''}`);
  for (const d of doc.dns.filter((d) => d.state === 'missing' || d.state === 'elsewhere'))
    out.push(
      style.yellow(
        `! ${d.domain} ${d.state === 'missing' ? 'does not resolve' : `resolves to ${d.addresses.join(', ')}`}, not to the edge${d.record ? `: create ${d.record}` : ''}`,
      ),
    );
  return out.join('\n');
}

function changeResult(answer: { exitCode: number; document: TenantChangeDocument }): CommandResult {
  const doc = answer.document;
  return {
    exitCode: answer.exitCode,
    json: doc,
    human: () => {
      const text = changeText(doc);
      const problems = doc.problems as {
        file: string;
        line: number;
        column: number;
        rule: string;
        severity: string;
        message: string;
        hint?: string;
      }[];
      const located = problems.map(
        (p) =>
          `${p.severity === 'error' ? style.red('error') : style.yellow('warning')} [${p.rule}] ${p.file}:${p.line}:${p.column}\n  ${p.message}${p.hint ? `\n  hint: ${p.hint}` : ''}`,
      );
      return [...located, text].join('\n');
    },
  };
}

function configOf(values: string[] | undefined): Record<string, string> | undefined {
  if (values === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq <= 0) throw new UsageError(`--config takes KEY=value, not ${JSON.stringify(v)}`, 'e.g. --config BRAND_NAME="New Co"');
    out[v.slice(0, eq)] = v.slice(eq + 1);
  }
  return out;
}

type TenantsAddOptions = OpsCliOptions & {
  kind?: 'person' | 'org';
  tld?: string[];
  surface?: string[];
  config?: string[];
  probeTimeout?: string;
  dryRun?: boolean;
};

export async function tenantsAdd(slug: string, options: OpsCliOptions): Promise<CommandResult> {
  const o = options as TenantsAddOptions;
  const config = configOf(o.config);
  const answer = await addUseCase(
    fleetSource(o),
    slug,
    {
      ...(o.kind === undefined ? {} : { kind: o.kind }),
      ...(o.tld === undefined ? {} : { tlds: o.tld }),
      ...(o.surface === undefined ? {} : { surfaces: o.surface }),
      ...(config === undefined ? {} : { config }),
    },
    givenSettings(o),
    { dryRun: o.dryRun === true, probeWaitMs: seconds('--probe-timeout', o.probeTimeout, 30) * 1000 },
    makeProgress({ json: o.json === true }),
    o.json === true ? undefined : (line) => process.stderr.write(`${line}\n`),
  );
  return changeResult(answer);
}

export async function tenantsRemove(slug: string, options: OpsCliOptions): Promise<CommandResult> {
  const o = options as OpsCliOptions & { dryRun?: boolean };
  const answer = await removeUseCase(
    fleetSource(o),
    slug,
    givenSettings(o),
    { dryRun: o.dryRun === true },
    makeProgress({ json: o.json === true }),
    o.json === true ? undefined : (line) => process.stderr.write(`${line}\n`),
  );
  return changeResult(answer);
}

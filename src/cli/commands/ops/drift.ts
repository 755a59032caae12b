/** drift: findings with their verdicts, grouped by host; never a raw dump (diffs are short). */
import { drift as driftUseCase } from '../../../app/drift.js';
import type { DriftDocument, Finding, Verdict } from '../../../drift/types.js';
import { inert } from '../../../text/control.js';
import type { CommandResult } from '../../context.js';
import { fleetSource, givenSettings, seconds, selectorOf, type OpsCliOptions } from '../../ops-options.js';
import { plural, style } from '../../style.js';
import { problemNote } from './format.js';

const VERDICT_STYLE: Record<Verdict, (s: string) => string> = {
  missing: style.red,
  extra: style.yellow,
  changed: style.yellow,
  'edited on host': style.red,
  unknown: style.dim,
};

/** One finding as a few lines: verdict, what, why, the properties, the short diff. */
export function findingText(f: Finding): string {
  const out = [`  ${VERDICT_STYLE[f.verdict](f.verdict.padEnd(14))} ${inert(f.subject)}${f.owner ? style.dim(` (${inert(f.owner)})`) : ''}`];
  out.push(`      ${inert(f.detail)}`);
  if (f.adoptable) out.push(style.dim(`      adoptable: manage-apps adopt ${inert(f.id)}`));
  for (const p of f.properties.slice(0, 8))
    out.push(
      `      ${style.dim(inert(p.name))}: ${p.declared === null ? style.dim('(not declared)') : inert(p.declared)} → ${p.live === null ? style.dim('(absent)') : inert(p.live)}`,
    );
  if (f.diff)
    out.push(
      ...f.diff
        .split('\n')
        .map((l) => `      ${l.startsWith('+') ? style.green(inert(l)) : l.startsWith('-') ? style.red(inert(l)) : style.dim(inert(l))}`),
    );
  return out.join('\n');
}

/** The findings by host, and a line counting them. */
export function driftText(document: DriftDocument): string {
  const out: string[] = [];
  for (const h of document.hosts) {
    const list = document.findings.filter((f) => f.host === h.host);
    const head = `${style.bold(h.host)} ${style.dim(`(${h.compared.join(', ')})`)}`;
    if (!h.reachable) out.push(`${head}\n  ${style.red('unknown')}        ${inert(h.reason ?? '')}`);
    else if (list.length === 0) out.push(`${head}  ${style.green('no drift')}`);
    else out.push(`${head}\n${list.map(findingText).join('\n')}`);
  }
  const n = document.findings.length;
  const counts = Object.entries(document.counts)
    .filter(([, c]) => c > 0)
    .map(([v, c]) => `${c} ${v}`)
    .join(', ');
  out.push(
    '',
    n === 0
      ? style.green(`No drift on ${plural(document.hosts.length, 'host')}: the hosts run what the repository declares.`)
      : `${plural(n, 'finding')} (${counts}): \`manage-apps reapply\` puts back what manage-apps installs; \`manage-apps adopt <finding>\` writes an adoptable one into its manifest.`,
  );
  return out.join('\n');
}

export async function drift(targets: string[], options: OpsCliOptions): Promise<CommandResult> {
  const answer = await driftUseCase(fleetSource(options), selectorOf(targets, options), givenSettings(options));
  const { document, loaded } = answer;
  return {
    exitCode: answer.exitCode,
    json: document,
    human: () => {
      problemNote(loaded);
      return driftText(document);
    },
  };
}

export async function reapply(targets: string[], options: OpsCliOptions & { dryRun?: boolean; readyTimeout?: string }): Promise<CommandResult> {
  const { reapply: reapplyUseCase } = await import('../../../app/reapply.js');
  const { makeProgress } = await import('../../../ops/progress.js');
  const dryRun = options.dryRun === true;
  const answer = await reapplyUseCase(
    fleetSource(options),
    selectorOf(targets, options),
    givenSettings(options),
    { dryRun, ...(options.readyTimeout === undefined ? {} : { readyTimeoutMs: seconds('--ready-timeout', options.readyTimeout, 60) * 1000 }) },
    makeProgress({ json: options.json === true || dryRun }),
  );
  const { document, loaded } = answer;
  return {
    exitCode: answer.exitCode,
    json: document,
    human: () => {
      problemNote(loaded);
      const out: string[] = [];
      if (document.findings.length === 0) return style.green('No drift: nothing to reapply.');
      out.push(style.bold(dryRun ? 'Would do:' : 'Plan:'));
      for (const p of document.plan) out.push(`  ${inert(p.step)}  ${style.dim(`(${p.findings.map(inert).join(', ')})`)}`);
      if (document.plan.length === 0) out.push(style.dim('  nothing manage-apps can put back'));
      if (document.left.length > 0) {
        out.push(style.bold('Left as it is:'));
        for (const l of document.left) out.push(`  ${inert(l.id)}: ${inert(l.why)}`);
      }
      if (document.steps.length > 0) {
        out.push(style.bold('Done:'));
        for (const s of document.steps) out.push(`  ${s.ok ? style.green('✓') : style.red('✗')} ${inert(s.step)}: ${inert(s.detail)}`);
      }
      if (document.after !== null) {
        const n = document.after.findings.length;
        out.push(n === 0 ? style.green('drift afterwards: none') : `drift afterwards: ${plural(n, 'finding')}`);
        for (const f of document.after.findings) out.push(findingText(f));
      }
      return out.join('\n');
    },
  };
}

export async function adopt(id: string, options: OpsCliOptions & { dryRun?: boolean }): Promise<CommandResult> {
  const { adopt: adoptUseCase } = await import('../../../app/adopt.js');
  const answer = await adoptUseCase(fleetSource(options), id, givenSettings(options), { dryRun: options.dryRun === true });
  const { document, loaded } = answer;
  return {
    exitCode: answer.exitCode,
    json: document,
    human: () => {
      problemNote(loaded);
      const what = document.finding === null ? inert(id) : `${inert(document.finding.id)} (${document.finding.verdict})`;
      if (document.reason !== null) return `${style.red('not adopted:')} ${what}\n  ${inert(document.reason)}`;
      const change = `${document.file}: ${document.field} = ${document.value}`;
      return document.dry_run ? `would write ${inert(change)}` : `${style.green('adopted:')} ${inert(change)} (the previous file kept as .bak)`;
    },
  };
}

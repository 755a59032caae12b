/** deploy and rollback. */
import { deploy as deployUseCase, rollback as rollbackUseCase } from '../../../app/deploy.js';
import { UsageError } from '../../../errors.js';
import type { DeployOptions, DeployResult, RollbackResult, Strategy } from '../../../ops/deploy.js';
import { DEPLOY_DEFAULTS } from '../../../ops/deploy/types.js';
import { makeProgress } from '../../../ops/progress.js';
import type { CommandResult } from '../../context.js';
import { inert } from '../../../text/control.js';
import { count, fleetSource, givenSettings, seconds, selectorOf, type OpsCliOptions } from '../../ops-options.js';
import { plural, style } from '../../style.js';
import { formatDiagnosis, problemNote } from './format.js';

export interface DeployCliOptions extends OpsCliOptions {
  artifact?: string;
  /** One of STRATEGIES: commander refuses any other (.choices). */
  strategy?: Strategy;
  dryRun?: boolean;
  wait?: boolean | string;
  breakLock?: boolean;
  readyTimeout?: string;
  keep?: string;
  scriptTimeout?: string;
  to?: string;
  revertMargin?: string;
  tag?: string;
  all?: boolean;
  force?: boolean;
}

function deployOptions(options: DeployCliOptions): DeployOptions {
  const waitSeconds =
    typeof options.wait === 'string' ? seconds('--wait', options.wait, DEPLOY_DEFAULTS.waitTimeoutMs / 1000) : DEPLOY_DEFAULTS.waitTimeoutMs / 1000;
  return {
    ...(options.artifact === undefined ? {} : { artifact: options.artifact }),
    ...(options.strategy === undefined ? {} : { strategy: options.strategy }),
    dryRun: options.dryRun === true,
    wait: options.wait !== undefined && options.wait !== false,
    waitTimeoutMs: waitSeconds * 1000,
    breakLock: options.breakLock === true,
    ...(options.readyTimeout === undefined ? {} : { readyTimeoutMs: seconds('--ready-timeout', options.readyTimeout, 60) * 1000 }),
    ...(options.keep === undefined ? {} : { keep: count('--keep', options.keep, 5) }),
    scriptTimeoutMs: seconds('--script-timeout', options.scriptTimeout, DEPLOY_DEFAULTS.scriptTimeoutMs / 1000) * 1000,
    revertMarginMs: seconds('--revert-margin', options.revertMargin, DEPLOY_DEFAULTS.revertMarginMs / 1000) * 1000,
    ...(options.tag === undefined ? {} : { tag: options.tag }),
    ...(options.force === true ? { force: true } : {}),
  };
}

export async function deploy(targets: string[], options: DeployCliOptions): Promise<CommandResult> {
  // Shipping every service at once is never an accident: with no target it takes --all.
  const narrowed = targets.length > 0 || options.host !== undefined || options.env !== undefined;
  if (!narrowed && options.all !== true) {
    throw new UsageError(
      'deploy needs a target, or --all to deploy every service under the root',
      'name projects (or project@host), pass --host/--env to deploy a whole host or environment, or --all for everything',
    );
  }
  if (narrowed && options.all === true) throw new UsageError('--all deploys every service under the root: give it without targets, --host or --env');
  const opts = deployOptions(options);
  const answer = await deployUseCase(
    fleetSource(options),
    selectorOf(targets, options),
    givenSettings(options),
    opts,
    makeProgress({ json: options.json === true || opts.dryRun }),
    options.json === true ? undefined : problemNote,
  );
  const report = answer.document;
  return {
    exitCode: answer.exitCode,
    json: report,
    human: () => {
      if (report.dry_run) {
        const out = [
          style.bold('Deploy plan (dry run: nothing was touched)'),
          ...report.levels.map((l, i) => style.dim(`level ${i + 1}: ${l.join(', ')}`)),
        ];
        for (const p of report.plan ?? []) {
          out.push(
            '',
            `${style.bold(p.id)} on ${p.host} (ssh ${p.alias})${p.strategy ? `, ${p.strategy} strategy` : ''}${p.release ? `, release ${p.release}` : ''}`,
          );
          if (p.image) out.push(`  image: ${p.image}`);
          if (p.skipped) out.push(`  ${style.yellow('skipped:')} ${p.skipped}`);
          p.steps.forEach((s, i) => out.push(`  ${i + 1}. ${s}`));
        }
        for (const d of report.deploys) out.push('', `${style.yellow('-')} ${d.id} on ${d.host}: ${d.reason}`);
        return out.join('\n');
      }
      const out = report.deploys.map(deployLine);
      const { deployed, failed, skipped } = report.summary;
      out.push('', `${plural(deployed, 'service')} deployed` + (failed ? `, ${failed} failed` : '') + (skipped ? `, ${skipped} skipped` : '') + '.');
      return out.join('\n');
    },
  };
}

function deployLine(d: DeployResult): string {
  const t = d.timings;
  // In parentheses, so it never runs into a number of the line before it ("for 10s 11.6s", "pruned 2 1.3s").
  const time = t.totalMs
    ? style.dim(
        ` (took ${(t.totalMs / 1000).toFixed(1)}s${t.overheadMs !== null ? `, ${(t.overheadMs / 1000).toFixed(1)}s beyond the restart and health wait` : ''})`,
      )
    : '';
  const image = d.image
    ? `, ${d.image.ref}${d.image.digest ? ` = ${d.image.digest.slice(d.image.digest.indexOf('@') + 1, d.image.digest.indexOf('@') + 20)}` : ''}${d.compose ? ` via ${d.compose}` : ''}`
    : '';
  if (d.ok && d.outcome === 'deployed')
    return `${style.green('✔')} ${d.id} on ${d.host}: ${d.release ? `${d.release} is live` : 'deployed'}${image}${d.previous ? ` (was ${d.previous})` : ''}${d.pruned.length ? `, pruned ${d.pruned.length}` : ''}${time}`;
  if (d.outcome === 'skipped') return `${style.yellow('-')} ${d.id} on ${d.host}: skipped (${d.reason})`;
  const out = [`${style.red('✖')} ${d.id} on ${d.host}: ${d.outcome}: ${d.reason ?? ''}${time}`];
  if (d.rollback) out.push(`    ${d.rollback.ok ? style.green('rollback:') : style.red('rollback failed:')} ${d.rollback.detail}`);
  if (d.script && d.script.lastLines.length > 0)
    out.push(`    ${style.bold('script output (last lines):')}`, ...d.script.lastLines.map((l) => `      ${inert(l)}`));
  const diag = formatDiagnosis(d.diagnosis);
  if (diag) out.push(diag);
  return out.join('\n');
}

export async function rollback(targets: string[], options: DeployCliOptions): Promise<CommandResult> {
  const opts = { ...deployOptions(options), ...(options.to === undefined ? {} : { to: options.to }) };
  const answer = await rollbackUseCase(
    fleetSource(options),
    selectorOf(targets, options),
    givenSettings(options),
    opts,
    makeProgress({ json: options.json === true || opts.dryRun }),
  );
  const results = answer.document.rollbacks;
  return {
    exitCode: answer.exitCode,
    json: answer.document,
    human: () => results.map(rollbackLine).join('\n'),
  };
}

function rollbackLine(r: RollbackResult): string {
  if (r.outcome === 'skipped' && r.ok) return `${style.yellow('-')} ${r.id} on ${r.host}: ${r.reason}`;
  if (r.ok)
    return `${style.green('✔')} ${r.id} on ${r.host}: ${r.to} is live again${r.digest ? ` (${r.digest}${r.compose ? ` via ${r.compose}` : ''})` : ''} (was ${r.from})`;
  const diag = formatDiagnosis(r.diagnosis);
  return `${style.red('✖')} ${r.id} on ${r.host}: ${r.outcome}: ${r.reason ?? ''}${diag ? `\n${diag}` : ''}`;
}

/** secrets push | status | revert | confirm: flags in, text out (the use cases are src/app/secrets.ts). */
import { secretsPush as pushUseCase, secretsSwitch as switchUseCase } from '../../app/secrets.js';
import type { SecretsPushDocument, SecretsStatusDocument, SecretsSwitchDocument } from '../../app/secrets.js';
import { makeProgress } from '../../ops/progress.js';
import { printable } from '../../text/control.js';
import type { CommandResult } from '../context.js';
import { commandLine, fleetSource, givenSettings, seconds, selectorOf, type OpsCliOptions } from '../ops-options.js';
import { plural, style } from '../style.js';
import { problemNote } from './ops/format.js';

export interface SecretsPushCliOptions extends OpsCliOptions {
  dryRun?: boolean;
  readyTimeout?: string;
}

export async function secretsPush(targets: string[], options: SecretsPushCliOptions, rotate: unknown): Promise<CommandResult> {
  const readyTimeout = options.readyTimeout === undefined ? undefined : seconds('--ready-timeout', options.readyTimeout, 60) * 1000;
  const answer = await pushUseCase(
    fleetSource(options),
    selectorOf(targets, options),
    givenSettings(options),
    {
      dryRun: options.dryRun === true,
      ...(typeof rotate === 'string' ? { rotate } : {}),
      ...(readyTimeout === undefined ? {} : { readyTimeoutMs: readyTimeout }),
    },
    makeProgress({ json: options.json === true }),
    options.json === true ? undefined : problemNote,
  );
  return {
    exitCode: answer.exitCode,
    json: answer.document,
    human: () => pushText(answer.document, commandLine('secrets revert', targets, options), commandLine('secrets confirm', targets, options)),
  };
}

export function pushText(r: SecretsPushDocument, revertCommand: string, confirmCommand: string): string {
  const out: string[] = [];
  for (const s of r.services) {
    const names = s.changed.length > 0 ? s.changed.join(', ') : '';
    switch (s.outcome) {
      case 'unchanged':
        out.push(`${style.dim('=')} ${s.id}@${s.host}: unchanged`);
        break;
      case 'would-deliver':
        out.push(`${style.green('~')} ${s.id}@${s.host}: would deliver ${names}${s.reason ? ` (${s.reason})` : ''}`);
        break;
      case 'delivered':
        out.push(`${style.green('✔')} ${s.id}@${s.host}: delivered ${names || '(restart only)'}`);
        break;
      case 'held':
        out.push(`${style.red('✖')} ${s.id}@${s.host}: held back: ${printable(s.reason ?? '')}`);
        break;
      case 'failed':
        out.push(`${style.red('✖')} ${s.id}@${s.host}: ${printable(s.reason ?? 'failed')}`);
        break;
    }
    if (s.restart !== null) out.push(`    restart: ${s.restart.outcome}${s.restart.detail ? ` (${printable(s.restart.detail)})` : ''}`);
    if (s.reverted !== undefined)
      out.push(
        s.reverted.ok
          ? `    ${style.yellow('!')} it runs the values before again (the host put them back); the store's new value is not in use there`
          : `    ${style.red('!')} putting the values before back failed: ${printable(s.reverted.detail ?? '')}; to go back by hand: \`${revertCommand}\``,
      );
  }
  if (r.not_reached.length > 0) out.push(`${style.yellow('-')} not reached (stopped at the failed gate): ${r.not_reached.join(', ')}`);
  if (r.services.length === 0) out.push('No selected service declares secrets.');
  const delivered = r.services.filter((s) => s.outcome === 'delivered' && s.changed.length > 0).length;
  out.push('');
  if (r.dry_run)
    out.push(`Would deliver to ${plural(r.services.filter((s) => s.outcome === 'would-deliver').length, 'service')}; nothing was touched.`);
  else out.push(`Delivered to ${plural(delivered, 'service')}.`);
  if (!r.dry_run && delivered > 0)
    out.push(`The hosts keep the values before until you confirm: \`${confirmCommand}\`; to go back: \`${revertCommand}\`.`);
  return out.join('\n');
}

const STATE_TEXT: Record<string, (t: string) => string> = {
  current: (t) => style.green(t),
  stale: (t) => style.red(t),
  missing: (t) => style.red(t),
  unresolvable: (t) => style.yellow(t),
};

export function statusText(r: SecretsStatusDocument): string {
  const out: string[] = [];
  for (const s of r.services) {
    const head = `${s.id}@${s.host || '?'}`;
    if (s.unreachable !== undefined) {
      out.push(`${style.red('✖')} ${head}: not read: ${printable(s.unreachable)}`);
      continue;
    }
    const notes = [
      s.restart_pending ? style.yellow('restart pending: its process runs the values before the last delivery') : '',
      s.previous_kept ? style.dim('previous values kept (unconfirmed)') : '',
    ]
      .filter(Boolean)
      .join('; ');
    out.push(`${head}${notes ? `  ${notes}` : ''}`);
    for (const x of s.secrets) {
      const state = x.state === 'unresolvable' ? 'not resolvable here' : x.state === 'missing' ? 'missing on host' : x.state;
      out.push(
        `  ${x.name.padEnd(24)} ${(STATE_TEXT[x.state] ?? ((t: string) => t))(state.padEnd(20))} ${style.dim(`${x.delivery}, from ${printable(x.source)}`)}${x.reason ? `: ${printable(x.reason)}` : ''}`,
      );
    }
  }
  if (r.services.length === 0) out.push('No selected service declares secrets.');
  const { current, stale, missing, unresolvable, restart_pending, unreachable } = r.summary;
  out.push(
    '',
    `${current} current, ${stale} stale, ${missing} missing, ${unresolvable} not resolvable here${restart_pending ? `, ${restart_pending} restart pending` : ''}${unreachable ? `, ${unreachable} not read` : ''}.`,
  );
  return out.join('\n');
}

export async function secretsSwitch(
  action: 'revert' | 'confirm',
  targets: string[],
  options: OpsCliOptions & { readyTimeout?: string },
): Promise<CommandResult> {
  const readyTimeout = options.readyTimeout === undefined ? undefined : seconds('--ready-timeout', options.readyTimeout, 60) * 1000;
  const answer = await switchUseCase(
    fleetSource(options),
    selectorOf(targets, options),
    givenSettings(options),
    action,
    readyTimeout === undefined ? {} : { readyTimeoutMs: readyTimeout },
  );
  return { exitCode: answer.exitCode, json: answer.document, human: () => switchText(answer.document) };
}

export function switchText(r: SecretsSwitchDocument): string {
  const out = r.services.map((s) =>
    s.state === 'done'
      ? `${style.green('✔')} ${s.id}@${s.host}: ${r.action === 'revert' ? 'back on the values before' : 'confirmed; the values before are forgotten'}`
      : s.state === 'none'
        ? `${style.dim('=')} ${s.id}@${s.host}: no values before kept`
        : `${style.red('✖')} ${s.id}@${s.host}: ${printable(s.detail ?? 'failed')}`,
  );
  for (const x of r.restarts) out.push(`    ${x.id} restart: ${x.outcome}${x.detail ? ` (${printable(x.detail)})` : ''}`);
  if (r.services.length === 0) out.push('No selected service declares secrets.');
  return out.join('\n');
}

/** `hosts prepare [hosts]`: options → settings, the use case, and its report for people. */
import { hostsPrepare as prepareUseCase } from '../../app/hosts-prepare.js';
import { UsageError } from '../../errors.js';
import type { PreparedItem, PrepareReport } from '../../ops/prepare.js';
import type { CommandResult } from '../context.js';
import { fleetSource, givenSettings, type OpsCliOptions } from '../ops-options.js';
import { plural, style } from '../style.js';
import { writeProblemNote } from './shared.js';

export async function hostsPrepare(hosts: string[], options: OpsCliOptions & { apply?: boolean; dryRun?: boolean }): Promise<CommandResult> {
  if (options.apply && options.dryRun) throw new UsageError('--apply and --dry-run exclude each other', '--dry-run shows what --apply would do');
  const json = options.json === true;
  const answer = await prepareUseCase(
    fleetSource(options),
    hosts,
    givenSettings(options),
    options.apply ? 'apply' : options.dryRun ? 'dry-run' : 'check',
    json ? () => {} : (line) => process.stderr.write(`${style.dim(line)}\n`),
  );
  const { loaded, document: report } = answer;
  return {
    exitCode: answer.exitCode,
    json: report,
    human: () => {
      if (loaded.problems.length > 0) writeProblemNote(loaded.problems);
      return humanReport(report);
    },
  };
}

const MARK: Record<PreparedItem['state'], string> = {
  present: style.green('✔'),
  installed: style.green('+'),
  missing: style.yellow('✖'),
  failed: style.red('✖'),
};

export function humanReport(report: PrepareReport): string {
  const out: string[] = [];
  for (const h of report.hosts) {
    out.push(style.bold(`${h.host}${h.platform === 'mac' ? ' (Mac: told, never installed)' : ''}`));
    if (h.items.length === 0) out.push(`  ${style.dim('nothing declared needs preparing here')}`);
    if (h.error) out.push(`  ${style.red('✖')} ${h.error}`);
    for (const i of h.items) {
      const what = i.state === 'installed' ? 'installed' : i.state === 'present' ? '' : i.state;
      out.push(`  ${MARK[i.state]} ${i.id}${what ? ` ${what}` : ''}${i.detail ? `: ${i.detail}` : ''} ${style.dim(`(${i.why.join(', ')})`)}`);
      for (const s of i.steps ?? []) out.push(`      ${style.dim('→')} ${s}`);
    }
    if (h.install && h.install.length > 0) out.push(`  ${style.dim('packages:')}`, ...h.install.map((s) => `      ${style.dim('→')} ${s}`));
  }
  for (const n of report.notes) out.push(`${style.dim('note')} ${n.host ? `${n.host}: ` : ''}${n.message}`);
  out.push('');
  if (report.mode === 'apply') {
    if (report.missing === 0)
      out.push(
        report.changed === 0
          ? `${style.green('✔')} every host already had what the fleet declares: nothing changed.`
          : `${style.green('✔')} every host has what the fleet declares: ${plural(report.changed, 'item')} installed.`,
      );
    else
      out.push(
        `${style.red('✖')} ${plural(report.missing, 'item')} still missing${report.changed > 0 ? ` (${plural(report.changed, 'item')} installed)` : ''}: fix the cause and run \`manage-apps hosts prepare --apply\` again (it finishes what was left).`,
      );
  } else if (report.missing === 0) out.push(`${style.green('✔')} every host has what the fleet declares.`);
  else
    out.push(
      `${style.yellow('✖')} ${plural(report.missing, 'item')} missing${report.mode === 'dry-run' ? ': nothing was changed; the steps above are what --apply runs.' : ': `manage-apps hosts prepare --apply` installs them (--dry-run shows how).'}`,
    );
  return out.join('\n');
}

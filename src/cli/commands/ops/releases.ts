/** releases: what each service has on its host, newest first, with gate outcomes and the switch. */
import { releases as releasesUseCase, type ReleaseEntry } from '../../../app/releases.js';
import { decideStrategy } from '../../../ops/deploy/plan.js';
import type { Service } from '../../../fleet/model.js';
import { runtimeOf } from '../../../runtime/registry.js';
import { describeRevert } from '../../../runtime/revert.js';
import type { CommandResult } from '../../context.js';
import { fleetSource, givenSettings, selectorOf, type OpsCliOptions } from '../../ops-options.js';
import { style, table } from '../../style.js';
import { ago, problemNote } from './format.js';

const OUTCOME_STYLE: Record<string, (s: string) => string> = {
  passed: style.green,
  failed: style.red,
  unconfirmed: style.red,
  reverted: style.yellow,
  pending: style.yellow,
};

/** Why a service shows no releases: it does not ship any (say what it is instead), or has not yet. */
function noReleases(service: Service | undefined): string {
  if (service === undefined) return 'no releases';
  const runtime = runtimeOf(service);
  if (runtime.releases === undefined) return `no releases: ${runtime.noReleases ?? 'its runtime ships none'}`;
  const decided = decideStrategy(service, {});
  if ('error' in decided)
    return `no releases: it does not ship any (${service.unit ?? 'its unit'} is installed outside manage-apps: no service.artifact, service.command or service.deploy)`;
  if (decided.strategy === 'script') return 'no releases: it is deployed by its own script (service.deploy), which keeps none here';
  return `no releases yet: \`manage-apps deploy ${service.id}\` ships the first`;
}

/** The newest ledger record of a release, in words, with its line (`ledger shop` tells the rest). */
function ledgerCell(entries: NonNullable<ReleaseEntry['ledger']>): string {
  const e = entries.at(-1);
  if (e === undefined) return style.dim('(none)');
  const what =
    e.kind === 'promotion'
      ? `promoted from ${e.from ?? '?'}${e.approved_by ? `, approved by ${e.approved_by.principal}` : ''}`
      : e.kind === 'rollback'
        ? `rolled back to${e.from ? ` from ${e.from}` : ''}`
        : e.kind === 'revert'
          ? 'reverted on the host'
          : 'deployed';
  return `${what}${e.outcome !== null && e.outcome !== 'passed' ? ` (${e.outcome})` : ''}, line ${e.line}`;
}

export async function releases(targets: string[], options: OpsCliOptions): Promise<CommandResult> {
  const answer = await releasesUseCase(fleetSource(options), selectorOf(targets, options), givenSettings(options));
  const { loaded, document } = answer;
  const selection = { services: answer.selected };
  const { services } = document;
  return {
    exitCode: answer.exitCode,
    json: document,
    human: () => {
      problemNote(loaded);
      const out: string[] = [];
      for (const s of services) {
        out.push(`${style.bold(s.id)} on ${s.host} (${s.directory})`);
        if (!s.reachable) {
          out.push(`  ${style.red('unreachable:')} ${s.reason}`, '');
          continue;
        }
        if (s.releases.length === 0) out.push(style.dim(`  ${noReleases(selection.services.find((x) => x.id === s.id))}`));
        else {
          const onPath = s.releases.some((r) => r.ledger !== undefined);
          out.push(
            table(
              ['', 'RELEASE', 'AGE', 'BY', 'GATE', ...(onPath ? ['LEDGER'] : [])],
              s.releases.map((r) => [
                r.current ? style.green('▸') : ' ',
                r.id,
                r.created ? ago(r.created) : '',
                r.by ?? '',
                r.outcome === null
                  ? style.dim('(no record)')
                  : `${(OUTCOME_STYLE[r.outcome] ?? ((x: string) => x))(r.outcome)}${r.why ? `: ${r.why}` : ''}`,
                ...(onPath ? [ledgerCell(r.ledger ?? [])] : []),
              ]),
            )
              .split('\n')
              .map((l) => `  ${l}`)
              .join('\n'),
          );
        }
        if (s.revert) out.push(`  ${style.yellow('↺')} ${describeRevert(s.revert)}`);
        out.push('');
      }
      // Services that keep no releases on a host at all (PID mode): named, so none silently disappears.
      const unlisted = selection.services.filter((x) => !services.some((s) => s.id === x.id));
      for (const x of unlisted) out.push(style.dim(`${x.id}: ${noReleases(x)}`));
      if (services.length === 0 && unlisted.length === 0) out.push('No released services (systemd) among the selected ones.');
      return out.join('\n').trimEnd();
    },
  };
}

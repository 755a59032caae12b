/** start, stop, restart. */
import { lifecycle as lifecycleUseCase } from '../../../app/lifecycle.js';
import { LIFECYCLE_DEFAULTS, type ActionResult, type LifecycleAction } from '../../../ops/lifecycle.js';
import { makeProgress } from '../../../ops/progress.js';
import type { CommandResult } from '../../context.js';
import { commandLine, fleetSource, givenSettings, seconds, selectorOf, type OpsCliOptions } from '../../ops-options.js';
import { plural, style } from '../../style.js';
import { formatDiagnosis, problemNote } from './format.js';
import { runtimeOf } from '../../../runtime/registry.js';

export interface LifecycleCliOptions extends OpsCliOptions {
  force?: boolean;
  /** start: false with --no-deps (do not bring up what the targets depend on). */
  deps?: boolean;
  /** false with --no-wait. */
  wait?: boolean | string;
  grace?: string;
  readyTimeout?: string;
}

export async function lifecycle(action: LifecycleAction, targets: string[], options: LifecycleCliOptions): Promise<CommandResult> {
  const readyTimeout = options.readyTimeout === undefined ? undefined : seconds('--ready-timeout', options.readyTimeout, 60) * 1000;
  const choices = {
    wait: options.wait !== false,
    force: options.force === true,
    graceS: seconds('--grace', options.grace, LIFECYCLE_DEFAULTS.graceS),
    ...(readyTimeout === undefined ? {} : { readyTimeoutMs: readyTimeout }),
    deps: options.deps !== false,
  };
  const progress = makeProgress({ json: options.json === true });
  const answer = await lifecycleUseCase(
    action,
    fleetSource(options),
    selectorOf(targets, options),
    givenSettings(options),
    choices,
    progress,
    options.json === true ? undefined : problemNote,
  );
  const { document: report, loaded } = answer;
  const added = report.dependencies_added ?? [];
  const degraded = report.degraded ?? [];
  return {
    exitCode: answer.exitCode,
    json: report,
    human: () => {
      const out: string[] = [];
      for (const a of added) out.push(style.dim(`+ ${a.id} on ${a.host}: a dependency of ${a.for.join(', ')} (--no-deps leaves it out)`));
      report.levels.forEach((level, i) => out.push(style.dim(`level ${i + 1}: ${level.join(', ')}`)));
      for (const r of report.results) out.push(line(r));
      const { ok, failed, skipped } = report.summary;
      out.push(
        '',
        `${plural(ok, 'service')} ${action === 'stop' ? 'stopped' : action === 'start' ? 'up' : 'restarted'}` +
          (failed ? `, ${failed} failed` : '') +
          (skipped ? `, ${skipped} skipped` : '') +
          '.',
      );
      for (const d of degraded) {
        out.push(
          d.state === 'running'
            ? `${style.yellow('!')} ${d.id} on ${d.host} is still running without ${d.needs.join(', ')} (it depends on ${d.needs.length === 1 ? 'it' : 'them'}): it will degrade`
            : `${style.yellow('?')} ${d.id} on ${d.host} depends on ${d.needs.join(', ')}; its host did not answer (${d.reason ?? 'unreachable'})`,
        );
      }
      // Processes manage-apps started itself (PID mode) keep running until stopped: say how.
      const local = report.results.some((r) => {
        const service = loaded.fleet.services.find((s) => s.id === r.id);
        return r.ok && r.outcome !== 'skipped' && service !== undefined && runtimeOf(service).ownsProcesses;
      });
      if (action !== 'stop' && local)
        out.push(`Check them with: ${commandLine('status', targets, options)}`, `Stop them with: ${commandLine('stop', targets, options)}`);
      return out.join('\n');
    },
  };
}

function line(r: ActionResult): string {
  const mark = r.outcome === 'skipped' ? style.yellow('-') : r.ok ? style.green('✔') : style.red('✖');
  const text = `${mark} ${r.id} on ${r.host}: ${r.outcome}${r.detail ? ` (${r.detail})` : ''}${r.durationMs ? style.dim(` ${(r.durationMs / 1000).toFixed(1)}s`) : ''}`;
  const diag = formatDiagnosis(r.diagnosis);
  return diag ? `${text}\n${diag}` : text;
}

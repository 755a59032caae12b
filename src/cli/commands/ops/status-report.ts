/** status, once its ssh connections are opening (see status.ts). */
import { EXIT_OK, EXIT_PROBLEMS } from '../../../errors.js';
import { commandLine, prepare } from '../../../ops/cli.js';
import type { OpsCliOptions, OpsSettings } from '../../../ops/settings.js';
import { collectStatus, type ServiceStatus } from '../../../ops/status.js';
import type { PendingScript } from '../../../transport/ssh.js';
import { problemJson } from '../../report-problems.js';
import type { CommandResult } from '../../context.js';
import { plural, style, table } from '../../style.js';
import { describeRevert } from '../../../runtime/revert.js';
import { ago, problemNote } from './format.js';

export async function statusReport(targets: string[], options: OpsCliOptions, defaults: Partial<OpsSettings>, started: Map<string, PendingScript>): Promise<CommandResult> {
  const { loaded, ops, selection } = await prepare(targets, options, defaults, started);
  const report = await collectStatus(ops, selection.services);
  const allHealthy = report.summary.healthy === report.summary.services;
  // A manifest that failed to load was skipped: the others' status is shown, and the exit code says something is wrong.
  const loadErrors = loaded.problems.some((p) => p.severity === 'error');
  return {
    exitCode: allHealthy && !loadErrors ? EXIT_OK : EXIT_PROBLEMS,
    json: { ...report, skipped: selection.skipped, problems: loaded.problems.map(problemJson) },
    human: () => {
      problemNote(loaded);
      const rows = report.services.map((s) => [
        s.host,
        s.id,
        s.supervisor === 'pid' ? (s.state?.pid ? `pid ${s.state.pid}` : 'pid mode') : (s.unit ?? ''),
        s.state ? `${s.state.active} (${s.state.sub})` : '',
        s.state?.since ? ago(s.state.since) : '',
        s.state?.restarts === null || s.state?.restarts === undefined ? '' : String(s.state.restarts),
        probe(s, 'readiness'),
        probe(s, 'liveness'),
        verdict(s),
      ]);
      const out = [table(['HOST', 'SERVICE', 'UNIT', 'STATE', 'SINCE', 'RESTARTS', 'READY', 'LIVE', 'VERDICT'], rows)];
      for (const h of report.hosts.filter((h) => !h.reachable)) out.push(`${style.red('✖')} ${h.host} unreachable: ${h.reason}`);
      for (const s of report.services.filter((x) => x.revert)) out.push(`${style.yellow('↺')} ${s.id} on ${s.host}: ${describeRevert(s.revert!)}`);
      const { services, healthy, unhealthy, unreachable } = report.summary;
      out.push(
        '',
        `${plural(services, 'service')}: ${healthy} healthy` + (unhealthy > 0 ? `, ${unhealthy} not healthy` : '') + (unreachable > 0 ? `, ${unreachable} on unreachable hosts` : '') + '.',
      );
      const localRunning = report.services.some((s) => s.supervisor === 'pid' && s.state?.active === 'active' && report.hosts.find((h) => h.host === s.host)?.transport === 'local');
      if (localRunning) out.push(`Stop them with: ${commandLine('stop', targets, options)}`);
      return out.join('\n');
    },
  };
}

function probe(s: ServiceStatus, which: 'readiness' | 'liveness'): string {
  const p = s.health?.[which];
  if (!p) return '';
  const text = p.status === 0 ? '---' : String(p.status);
  return p.ok ? style.green(text) : style.red(text);
}

function verdict(s: ServiceStatus): string {
  const text = s.reason ? `${s.verdict}: ${s.reason}` : s.verdict;
  return s.healthy ? style.green(text) : s.verdict === 'unreachable' || s.verdict === 'failed' ? style.red(text) : style.yellow(text);
}

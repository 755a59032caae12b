/** status, once its ssh connections are opening (see status.ts). */
import { EXIT_OK, EXIT_PROBLEMS } from '../../../errors.js';
import { commandLine, prepare } from '../../../ops/cli.js';
import type { OpsCliOptions, OpsSettings } from '../../../ops/settings.js';
import { collectStatus, type ServiceStatus } from '../../../ops/service-status.js';
import type { PendingScript } from '../../../transport/ssh.js';
import { problemJson } from '../../report-problems.js';
import type { CommandResult } from '../../context.js';
import { plural, style, table } from '../../style.js';
import { describeRevert } from '../../../runtime/revert.js';
import { runtimeOf } from '../../../runtime/registry.js';
import { ago, problemNote } from './format.js';
import { FleetIndex } from '../../../analysis/topology.js';
import type { LoadedFleet } from '../../../fleet/load.js';
import type { Service } from '../../../fleet/model.js';
import { tunnelStatusCollector, type TunnelStatus, type TunnelStatusCollector } from '../../../ops/tunnel-verdicts.js';
import { resolveTunnels } from '../../../tunnels/resolve.js';
import { locatorOf } from '../render/shared.js';
import { backupRunCollector, badRun } from '../../../data/backup-runs.js';
import { backupRunsTable } from '../backup-runs-text.js';
import { mergeExtras } from '../../../ops/service-status.js';

export async function statusReport(targets: string[], options: OpsCliOptions, defaults: Partial<OpsSettings>, started: Map<string, PendingScript>): Promise<CommandResult> {
  const { loaded, ops, selection } = await prepare(targets, options, defaults, started);
  const tunnelCollector = tunnelsForStatus(loaded, selection.services, targets.length > 0 || options.env !== undefined || options.host !== undefined);
  // The installed backup timers' last runs, read in the cluster hosts' same round trip (docs/data.md).
  const narrowed = targets.length > 0 || options.env !== undefined || options.host !== undefined;
  const backupCollector = backupRunCollector(loaded.fleet, { onlyInstalled: true, ...(narrowed ? { hosts: new Set(selection.services.map((s) => s.host!)) } : {}) });
  const report = await collectStatus(ops, selection.services, undefined, mergeExtras(tunnelCollector.extras, backupCollector.extras));
  const tunnels = tunnelCollector.report();
  const backups = backupCollector.report();
  const allHealthy = report.summary.healthy === report.summary.services && tunnels.every((t) => t.verdict === 'up') && !backups.some(badRun);
  // A manifest that failed to load was skipped: the others' status is shown, and the exit code says something is wrong.
  const loadErrors = loaded.problems.some((p) => p.severity === 'error');
  return {
    exitCode: allHealthy && !loadErrors ? EXIT_OK : EXIT_PROBLEMS,
    json: { ...report, tunnels, backups, skipped: selection.skipped, problems: loaded.problems.map(problemJson) },
    human: () => {
      problemNote(loaded);
      const rows = report.services.map((s) => [
        s.host,
        s.id,
        // What runs it: the unit, the pid, the container and the digest it runs.
        runtimeOf(s).statusLabel(s),
        s.state ? `${s.state.active} (${s.state.sub})` : '',
        s.state?.since ? ago(s.state.since) : '',
        s.state?.restarts === null || s.state?.restarts === undefined ? '' : String(s.state.restarts),
        probe(s, 'readiness'),
        probe(s, 'liveness'),
        verdict(s),
      ]);
      const out = [table(['HOST', 'SERVICE', 'UNIT', 'STATE', 'SINCE', 'RESTARTS', 'READY', 'LIVE', 'VERDICT'], rows)];
      if (tunnels.length > 0) out.push('', tunnelTable(tunnels));
      if (backups.length > 0) out.push('', backupRunsTable(backups));
      for (const h of report.hosts.filter((h) => !h.reachable)) out.push(`${style.red('✖')} ${h.host} unreachable: ${h.reason}`);
      for (const s of report.services.filter((x) => x.revert)) out.push(`${style.yellow('↺')} ${s.id} on ${s.host}: ${describeRevert(s.revert!)}`);
      const { services, healthy, unhealthy, unreachable } = report.summary;
      const tunnelsUp = tunnels.filter((t) => t.verdict === 'up').length;
      out.push(
        '',
        (tunnels.length > 0 ? `${plural(tunnels.length, 'tunnel')}: ${tunnelsUp} up${tunnelsUp < tunnels.length ? `, ${tunnels.length - tunnelsUp} not` : ''}. ` : '') +
        `${plural(services, 'service')}: ${healthy} healthy` + (unhealthy > 0 ? `, ${unhealthy} not healthy` : '') + (unreachable > 0 ? `, ${unreachable} on unreachable hosts` : '') + '.',
      );
      const localRunning = report.services.some((s) => runtimeOf(s).ownsProcesses && s.state?.active === 'active' && report.hosts.find((h) => h.host === s.host)?.transport === 'local');
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

/** Every tunnel that can be opened; with a selection, those with an end on a selected service's host. */
function tunnelsForStatus(loaded: LoadedFleet, services: readonly Service[], narrowed: boolean): TunnelStatusCollector {
  const index = new FleetIndex(loaded.fleet);
  const all = resolveTunnels(index, locatorOf(loaded)).tunnels;
  const hosts = new Set(services.map((s) => s.host));
  return tunnelStatusCollector(index, narrowed ? all.filter((t) => hosts.has(t.initiator) || hosts.has(t.far)) : all);
}

function tunnelTable(tunnels: readonly TunnelStatus[]): string {
  return table(
    ['TUNNEL', 'OPENED BY', 'LISTENS ON', 'UNIT STATE', 'SINCE', 'RESTARTS', 'PROBE', 'VERDICT'],
    tunnels.map((t) => [
      t.name,
      t.initiator,
      `${t.listen_host}:${t.probes.map((p) => p.port).filter((p, i, a) => a.indexOf(p) === i).join(',') || '?'}`,
      t.state ? `${t.state.active} (${t.state.sub})` : '',
      t.state?.since ? ago(t.state.since) : '',
      t.state?.restarts === null || t.state?.restarts === undefined ? '' : String(t.state.restarts),
      t.probes.map((p) => (p.ok ? style.green(p.kind) : style.red(p.kind))).join(' '),
      t.verdict === 'up' ? style.green('up') : style.red(t.reason ? `${t.verdict}: ${t.reason}` : t.verdict),
    ]),
  );
}

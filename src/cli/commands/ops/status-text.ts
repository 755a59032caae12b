/** status as text: a table of the services, the tunnels and the backup runs, and what is wrong. */
import type { Answer } from '../../../app/answer.js';
import type { StatusDocument } from '../../../app/status-document.js';
import type { ServiceStatus } from '../../../ops/service-status.js';
import type { TunnelStatus } from '../../../ops/tunnel-verdicts.js';
import { describeRevert } from '../../../runtime/revert.js';
import { runtimeOf } from '../../../runtime/registry.js';
import { commandLine, type OpsCliOptions } from '../../ops-options.js';
import { plural, style, table } from '../../style.js';
import { backupRunsTable } from '../backup-runs-text.js';
import { ago, problemNote } from './format.js';
import type { SecretState } from '../../../secrets/deliver.js';
import { printable } from '../../../text/control.js';

export function statusText({ document, loaded }: Answer<StatusDocument>, targets: readonly string[], options: OpsCliOptions): string {
  const report = document;
  const { tunnels, backups } = document;
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
  const jobs = report.services.filter((s) => s.job !== undefined);
  if (jobs.length > 0) out.push('', jobTable(jobs));
  if (tunnels.length > 0) out.push('', tunnelTable(tunnels));
  if (backups.length > 0) out.push('', backupRunsTable(backups));
  if (document.secrets.services.length > 0) out.push('', secretsTable(document.secrets));
  for (const h of report.hosts.filter((h) => !h.reachable)) out.push(`${style.red('✖')} ${h.host} unreachable: ${h.reason}`);
  for (const s of report.services.filter((x) => x.revert)) out.push(`${style.yellow('↺')} ${s.id} on ${s.host}: ${describeRevert(s.revert!)}`);
  const { services, healthy, unhealthy, unreachable } = report.summary;
  const tunnelsUp = tunnels.filter((t) => t.verdict === 'up').length;
  out.push(
    '',
    (tunnels.length > 0
      ? `${plural(tunnels.length, 'tunnel')}: ${tunnelsUp} up${tunnelsUp < tunnels.length ? `, ${tunnels.length - tunnelsUp} not` : ''}. `
      : '') +
      `${plural(services, 'service')}: ${healthy} healthy` +
      (unhealthy > 0 ? `, ${unhealthy} not healthy` : '') +
      (unreachable > 0 ? `, ${unreachable} on unreachable hosts` : '') +
      '.' +
      secretsSummary(document.secrets),
  );
  const localRunning = report.services.some(
    (s) => runtimeOf(s).ownsProcesses && s.state?.active === 'active' && report.hosts.find((h) => h.host === s.host)?.transport === 'local',
  );
  if (localRunning) out.push(`Stop them with: ${commandLine('stop', targets, options)}`);
  return out.join('\n');
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

/** Scheduled jobs: when, the next run, the run in progress or the last one, the last success, skipped runs. */
function jobTable(jobs: readonly ServiceStatus[]): string {
  return table(
    ['JOB', 'SCHEDULE', 'NEXT RUN', 'LAST RUN', 'TOOK', 'RESULT', 'LAST SUCCESS', 'SKIPPED'],
    jobs.map((s) => {
      const j = s.job!;
      const last = j.last;
      const result = j.running
        ? style.yellow(`running${j.running.since ? ` since ${ago(j.running.since)}` : ''}`)
        : last === null
          ? 'not run yet'
          : last.ok
            ? style.green('success')
            : style.red(
                `${last.result}${last.signal !== null ? ` (SIG${last.signal})` : last.exit_status !== null ? ` (exit ${last.exit_status})` : ''}`,
              );
      return [
        s.id,
        j.calendar,
        j.next === null ? (j.scheduled ? 'after the run in progress' : style.yellow('none (timer stopped)')) : j.next,
        last?.started ? ago(last.started) : '',
        last?.duration_ms === null || last === null ? '' : `${(last.duration_ms / 1000).toFixed(1)} s`,
        result,
        j.last_success === null ? '' : j.overdue ? style.red(`${ago(j.last_success)} (overdue)`) : ago(j.last_success),
        j.skipped.count === 0 ? '' : `${j.skipped.count} (last ${j.skipped.last === null ? '?' : ago(j.skipped.last)})`,
      ];
    }),
  );
}

function tunnelTable(tunnels: readonly TunnelStatus[]): string {
  return table(
    ['TUNNEL', 'OPENED BY', 'LISTENS ON', 'UNIT STATE', 'SINCE', 'RESTARTS', 'PROBE', 'VERDICT'],
    tunnels.map((t) => [
      t.name,
      t.initiator,
      `${t.listen_host}:${
        t.probes
          .map((p) => p.port)
          .filter((p, i, a) => a.indexOf(p) === i)
          .join(',') || '?'
      }`,
      t.state ? `${t.state.active} (${t.state.sub})` : '',
      t.state?.since ? ago(t.state.since) : '',
      t.state?.restarts === null || t.state?.restarts === undefined ? '' : String(t.state.restarts),
      t.probes.map((p) => (p.ok ? style.green(p.kind) : style.red(p.kind))).join(' '),
      t.verdict === 'up' ? style.green('up') : style.red(t.reason ? `${t.verdict}: ${t.reason}` : t.verdict),
    ]),
  );
}

const SECRET_STATE_TEXT: Record<SecretState, string> = {
  current: 'current',
  stale: 'stale',
  missing: 'missing on host',
  unresolvable: 'not resolvable here',
};

/** Per service with secrets: what is not current by name (never a value), the rest counted. */
function secretsTable(report: StatusDocument['secrets']): string {
  const rows = report.services.map((s) => {
    if (s.unreachable !== undefined) return [s.host, s.id, style.red(`not read: ${printable(s.unreachable)}`)];
    const current = s.secrets.filter((x) => x.state === 'current').length;
    const others = s.secrets
      .filter((x) => x.state !== 'current')
      .map((x) => `${x.name} ${x.state === 'unresolvable' ? style.yellow(SECRET_STATE_TEXT[x.state]) : style.red(SECRET_STATE_TEXT[x.state])}`);
    const notes = [
      ...others,
      ...(current > 0 ? [style.green(`${current} current`)] : []),
      ...(s.restart_pending ? [style.yellow('restart pending')] : []),
    ];
    return [s.host, s.id, notes.join(', ')];
  });
  return table(['HOST', 'SERVICE', 'SECRETS'], rows);
}

function secretsSummary(report: StatusDocument['secrets']): string {
  const { stale, missing, unresolvable } = report.summary;
  const bad = [
    stale > 0 ? `${stale} stale` : '',
    missing > 0 ? `${missing} missing on hosts` : '',
    unresolvable > 0 ? `${unresolvable} not resolvable here` : '',
  ]
    .filter(Boolean)
    .join(', ');
  return bad === '' ? '' : ` Secrets: ${bad} (\`manage-apps secrets status\` for each; \`manage-apps secrets push\` delivers).`;
}

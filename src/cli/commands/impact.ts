import { stepText, type ImpactReport } from '../../analysis/impact.js';
import { impact as impactUseCase, type HostRecovery } from '../../app/impact.js';
import type { DrillStatus } from '../../data/evidence.js';
import type { CommandResult, GlobalOptions } from '../context.js';
import { givenSettings, type OpsCliOptions } from '../ops-options.js';
import { plural, style, table } from '../style.js';
import { viewResult } from './shared.js';

export async function impact(hosts: string[], options: GlobalOptions & OpsCliOptions & { live?: boolean }): Promise<CommandResult> {
  const answer = await impactUseCase(options, hosts, options.live === true ? { live: givenSettings(options) } : {});
  return viewResult(answer, impactText);
}

type DrillProven = { drill?: DrillStatus['last_drill'] };

export function impactText(r: ImpactReport): string {
  const observed = r.tunnels.filter((t) => t.basis === 'observed');
  const head =
    r.offline.length === 0
      ? 'Now, with the tunnels observed down (--live):'
      : `If ${r.offline.join(' and ')} ${r.offline.length === 1 ? 'goes' : 'go'} offline${r.tunnels.some((t) => t.basis) ? ', with the tunnels observed down (--live)' : ''}:`;
  const out: string[] = [style.bold(head), ''];
  for (const t of observed) out.push(`  ${style.red('✖')} tunnel ${t.name} observed down (${t.observed})`);
  if (observed.length > 0) out.push('');
  const prod = (e: { environment: string }) => (e.environment === 'prod' ? '' : style.dim(` [${e.environment}]`));
  out.push(style.bold(`Down (${r.down.length})`) + style.dim('  they run there'));
  for (const s of r.down) out.push(`  ${style.red('✖')} ${s.id}${prod(s)} on ${s.host}`);
  if (r.down.length === 0) out.push(style.dim('  nothing runs there'));
  out.push('', style.bold(`Degraded (${r.degraded.length})`) + style.dim('  something they rely on is down or out of reach'));
  for (const s of r.degraded) {
    out.push(`  ${style.yellow('!')} ${s.id}${prod(s)} on ${s.host}`);
    for (const step of s.via) out.push(`      ${stepText(step)}`);
    const first = s.via[0];
    for (const step of s.failing) if (step.to !== first?.to || step.kind !== first.kind) out.push(`      ${style.dim('and')} ${stepText(step)}`);
  }
  if (r.degraded.length === 0)
    out.push(style.dim(r.domains.length + r.backups.length === 0 ? '  nothing else is affected' : '  no other service relies on them'));
  if (r.domains.length > 0) {
    out.push('', style.bold(`Domains dark (${r.domains.length})`) + style.dim('  no edge serves them'));
    for (const d of r.domains)
      out.push(
        `  ${style.red('✖')} ${d.domain} → ${d.service}: ${d.reason === 'service-down' ? `${d.service} is down` : d.reason === 'edge-offline' ? `${d.edges.length === 1 ? 'its only edge' : 'every edge that routes it'} (${d.edges.join(', ')}) is offline` : `its edges (${d.edges.join(', ')}) cannot reach it`}`,
      );
  }
  if (r.backups.length > 0) {
    out.push('', style.bold(`Backups lost (${r.backups.length})`) + style.dim('  the data is up; its backups are kept there'));
    for (const b of r.backups) out.push(`  ${style.yellow('!')} ${b.of}: its backups on ${b.host} are gone until re-made`);
  }
  out.push('', style.bold(`Data unreachable (${r.data.length})`));
  if (r.data.length > 0) {
    out.push(
      table(
        ['DATA', 'HOST', 'WHY', 'CONSUMERS', 'BACKUP (RPO / RTO)'],
        (r.data as (ImpactReport['data'][number] & DrillProven)[]).map((d) => [
          `${d.kind === 'cluster' ? `${d.name} (${d.engine})` : `${d.name} (stateful service)`}`,
          d.host,
          d.reason === 'host-offline' ? 'host offline' : `no route from ${d.unreachable_from?.join(', ')}`,
          d.consumers.join(', '),
          d.backup
            ? `${d.backup.rpo} / ${d.backup.rto}${d.kind === 'cluster' ? (d.drill ? (d.drill.ok ? style.dim(` (drilled: ${d.drill.achieved_rpo_s}s / ${d.drill.achieved_rto_s}s)`) : style.red(' (last drill FAILED)')) : style.dim(' (never drilled)')) : ''}`
            : d.backup_status === 'cache'
              ? 'cache: nothing to lose'
              : d.backup_status === 'lost-with-host'
                ? style.red('kept on this host: lost')
                : style.red('no policy'),
        ]),
      )
        .split('\n')
        .map((l) => `  ${l}`)
        .join('\n'),
    );
  } else out.push(style.dim('  no data lives there'));
  const recovery = (r as ImpactReport & { recovery?: HostRecovery[] }).recovery ?? [];
  if (recovery.length > 0) {
    out.push('', style.bold('Time to recover') + style.dim('  measured by the last `recover` of the host when there is one, else declared'));
    for (const h of recovery)
      out.push(
        h.source === 'measured'
          ? `  ${h.host}: ${h.rto_s}s, measured by \`recover\` onto ${h.to} at ${h.measured_at}${h.declared === null ? '' : style.dim(` (declared ${h.declared})`)}`
          : h.source === 'declared'
            ? `  ${h.host}: ${h.declared} declared ${style.dim('(never measured: no `recover` of it yet)')}`
            : `  ${h.host}: ${style.dim('nothing declared, never measured')}`,
      );
  }
  out.push('', style.bold(`Tunnels broken (${r.tunnels.length})`));
  if (r.tunnels.length > 0) {
    out.push(
      table(
        ['TUNNEL', 'FROM → TO', 'DIRECTION', 'CARRIES', 'CRITICAL', ...(r.tunnels.some((t) => t.basis) ? ['BASIS'] : [])],
        r.tunnels.map((t) => [
          t.name,
          `${t.from} → ${t.to}`,
          t.direction,
          t.carries ?? '',
          t.critical ? style.yellow('yes') : '',
          ...(t.basis ? [t.basis === 'observed' ? style.red('observed down') : 'assumed (end offline)'] : []),
        ]),
      )
        .split('\n')
        .map((l) => `  ${l}`)
        .join('\n'),
    );
  } else out.push(style.dim('  no tunnel ends there'));
  if (r.lanes.length > 0) {
    out.push('', style.bold(`Lanes that chain through ${r.offline.join(', ')} (${r.lanes.length})`));
    for (const l of r.lanes)
      out.push(`  ${l.carries}: ${l.from} ⇢ ${l.through} ⇢ ${l.to} over ${l.tunnels.join(', ')}${l.critical ? style.yellow('  critical') : ''}`);
  }
  if (r.notes.length > 0) {
    out.push('', style.bold('Notes'));
    for (const n of r.notes) out.push(`  ${n}`);
  }
  const prodCount = r.down.filter((s) => s.environment === 'prod').length + r.degraded.filter((s) => s.environment === 'prod').length;
  out.push(
    '',
    `${plural(r.down.length, 'service')} down and ${r.degraded.length} degraded (${prodCount} of them production), ${plural(r.domains.length, 'domain')} dark, ${plural(r.data.length, 'data set')} out of reach, ${plural(r.backups.length, 'backup')} lost, ${plural(r.tunnels.length, 'tunnel')} broken.`,
  );
  return out.join('\n');
}

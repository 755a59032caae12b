import type { DrainPlan } from '../../analysis/drain.js';
import { drain as drainUseCase } from '../../app/drain.js';
import type { CommandResult, GlobalOptions } from '../context.js';
import { plural, style, table } from '../style.js';
import { viewResult } from './shared.js';

export async function drain(host: string, options: GlobalOptions & { to?: string }): Promise<CommandResult> {
  return viewResult(await drainUseCase(options, host, options.to), drainText);
}

export function drainText(p: DrainPlan): string {
  const out: string[] = [style.bold(`Drain ${p.host} → ${p.to}`), ''];
  if (p.register.length === 0) {
    out.push(`Nothing runs on ${p.host}: no service and no database cluster to move.`);
  } else {
    out.push(style.bold('Dependency register'));
    out.push(
      table(
        ['WAVE', 'KIND', 'NAME', 'CURRENT', 'TARGET', 'OWNER', 'CONSUMERS', 'RELIED ON BY', 'NOTE'],
        p.register.map((r) => [
          String(r.wave),
          r.kind,
          r.name + (r.environment && r.environment !== 'prod' ? style.dim(` [${r.environment}]`) : ''),
          r.current,
          r.target,
          r.owner ?? style.yellow('none'),
          String(r.consumers.length),
          String(r.dependants),
          [r.core ? r.core.detail : '', ...r.blocked.map((b) => style.red(`cannot move: ${b.reason}`))].filter(Boolean).join('; '),
        ]),
      ),
    );
    out.push(
      '',
      style.bold('Waves') +
        style.dim(
          '  (a thing moves after what it relies on on this host, a database with the one project using it; what everything depends on goes last)',
        ),
    );
    for (const w of p.waves)
      out.push(
        `  ${String(w.wave).padStart(2)}  ${w.items.map((i) => (i.kind === 'cluster' ? `${i.name} (db)` : i.name)).join(', ')}${w.label ? style.dim(`  ← ${w.label}`) : ''}`,
      );
  }
  if (p.tunnels.length > 0) {
    out.push('', style.bold(`Tunnels that end on ${p.host} (${p.tunnels.length})`));
    for (const t of p.tunnels) out.push(`  ${t.name} (${t.from} → ${t.to}${t.critical ? ', critical' : ''}): ${t.suggestion}`);
  }
  if (p.warnings.length > 0) {
    out.push('', style.bold('Warnings'));
    for (const w of p.warnings) out.push(`  ${style.yellow('!')} ${w.message}`);
  }
  if (p.blocked.length > 0) {
    out.push('', style.bold(style.red('Cannot move')));
    for (const b of p.blocked) out.push(`  ${style.red('✖')} ${b.name}: ${b.message}`);
  }
  out.push(
    '',
    p.ok
      ? `${style.green('✔')} ${plural(p.register.length, 'item')} in ${plural(p.waves.length, 'wave')}; everything can move.`
      : `${style.red('✖')} ${plural(new Set(p.blocked.map((b) => b.name)).size, 'item')} cannot move (see above).`,
  );
  return out.join('\n');
}

import type { HostIndependence } from '../../analysis/independence.js';
import { stepText } from '../../analysis/impact.js';
import { independence } from '../../app/independence.js';
import type { CommandResult, GlobalOptions } from '../context.js';
import { givenSettings, type OpsCliOptions } from '../ops-options.js';
import { style } from '../style.js';
import { viewResult } from './shared.js';

export async function checkIndependence(options: GlobalOptions & OpsCliOptions & { live?: boolean }): Promise<CommandResult> {
  const answer = await independence(options, options.live === true ? { live: givenSettings(options) } : {});
  const { live } = answer;
  return viewResult(answer, (report) => {
    if (report.hosts.length === 0) return `${style.green('✔')} no host has the role workstation or dev: nothing to check.`;
    const out: string[] = [];
    if (live) {
      out.push(
        live.observedDown.size === 0
          ? `${style.green('✔')} --live: every tunnel observed is up.`
          : `${style.red('✖')} --live: observed down: ${[...live.observedDown.keys()].join(', ')} (counted as broken below).`,
      );
      for (const n of live.notes) out.push(`  ${style.dim(n)}`);
    }
    const details = (h: Omit<HostIndependence, 'host' | 'role'>, where: string) => {
      for (const s of h.down) out.push(`    down: ${s.id} runs on ${s.host}`);
      for (const s of h.degraded) {
        out.push(`    degraded: ${s.id} on ${s.host}`);
        for (const step of s.via) out.push(`      ${stepText(step)}`);
        const first = s.via[0];
        for (const step of s.failing) if (step.to !== first?.to || step.kind !== first.kind) out.push(`      and ${stepText(step)}`);
      }
      for (const t of h.critical_tunnels) {
        if (t.basis === 'observed')
          out.push(
            `    critical tunnel ${t.name} (${t.from} → ${t.to}${t.carries ? `, carries ${t.carries}` : ''}) observed down (${t.observed}): \`manage-apps status\` shows it`,
          );
        else
          out.push(
            `    critical tunnel ${t.name} (${t.from} → ${t.to}${t.carries ? `, carries ${t.carries}` : ''}) ends on ${where}: re-home it onto the fleet`,
          );
      }
    };
    for (const h of report.hosts) {
      if (h.ok) {
        out.push(`${style.green('✔')} ${h.host} (${h.role}): production runs with it offline.`);
        continue;
      }
      out.push(`${style.red('✖')} ${h.host} (${h.role}): production depends on it.`);
      details(h, h.host);
    }
    const together = report.together;
    if (together) {
      if (together.ok) out.push(`${style.green('✔')} all of them offline at once (${together.hosts.join(', ')}): production runs.`);
      else {
        out.push(`${style.red('✖')} all of them offline at once (${together.hosts.join(', ')}): production depends on one of them.`);
        details(together, 'one of them');
      }
    }
    out.push(
      '',
      report.ok
        ? `${style.green('✔')} production runs with every workstation and dev host offline.`
        : `${style.red('✖')} production does not run with every workstation and dev host offline.`,
    );
    return out.join('\n');
  });
}

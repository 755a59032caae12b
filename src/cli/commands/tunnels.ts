/** `tunnels up|down [names]`: the use case (src/app/tunnels.ts), its steps on stderr as they happen, the report. */
import { tunnels as tunnelsUseCase } from '../../app/tunnels.js';
import type { CommandResult } from '../context.js';
import { fleetSource, givenSettings, type OpsCliOptions } from '../ops-options.js';
import { plural, style } from '../style.js';
import { writeProblemNote } from './shared.js';

export async function tunnels(action: 'up' | 'down', names: string[], options: OpsCliOptions & { dryRun?: boolean }): Promise<CommandResult> {
  const json = options.json === true;
  const answer = await tunnelsUseCase(
    action,
    fleetSource(options),
    names,
    givenSettings(options),
    { dryRun: options.dryRun === true },
    json ? () => {} : (line) => process.stderr.write(`${style.dim(line)}\n`),
  );
  const { loaded, document: run } = answer;
  const { resolution } = answer;
  return {
    exitCode: answer.exitCode,
    json: run,
    human: () => {
      if (loaded.problems.length > 0) writeProblemNote(loaded.problems);
      const out: string[] = [];
      // Said on every run, not only by validate: a published port is reachable from other hosts.
      for (const w of resolution.problems.filter((p) => p.severity === 'warning'))
        out.push(`${style.yellow('⚠')} ${w.file}:${w.line}:${w.column} ${w.message}${w.hint ? style.dim(` (${w.hint})`) : ''}`);
      if (run.plan) {
        out.push(style.bold(`tunnels ${action} --dry-run: nothing was touched; the run would do:`));
        for (const p of run.plan) out.push(`  round ${p.round} on ${p.host}:`, ...p.steps.map((s) => `    - ${s}`));
        return out.join('\n');
      }
      for (const h of run.hosts) {
        for (const c of h.changes) out.push(`${style.green('+')} ${h.host}: ${c}`);
        if (h.error) out.push(`${style.red('✖')} ${h.host}: ${h.error}`);
      }
      for (const t of run.tunnels) {
        const head = `${t.name} (${t.direction}, opened by ${t.initiator}, far end ${t.far})`;
        if (t.error) out.push(`${style.red('✖')} ${head}: ${t.error}`);
        else if (t.changes.length === 0) out.push(`${style.green('✔')} ${head}: unchanged${t.state ? `, ${t.state}` : ''}`);
        else out.push(`${style.green('✔')} ${head}: ${t.changes.join(', ')}${t.state ? `; ${t.state}` : ''}`);
      }
      for (const s of resolution.skipped) out.push(`${style.dim('skipped')} ${s.name}: ${s.reason}`);
      out.push(
        '',
        run.changed === 0
          ? `${plural(run.tunnels.length, 'tunnel')} ${action}: nothing changed (the hosts already were as declared).`
          : `${plural(run.tunnels.length, 'tunnel')} ${action}: ${plural(run.changed, 'change')}.`,
      );
      if (!run.ok)
        out.push(
          `${style.red('✖')} some tunnels failed: run \`manage-apps tunnels ${action}\` again once the cause is fixed (it finishes what was left).`,
        );
      return out.join('\n');
    },
  };
}

/** `tunnels up|down [names]`: resolve, select, run (or plan with --dry-run), report. */
import { FleetIndex } from '../../analysis/topology.js';
import { EXIT_OK, EXIT_PROBLEMS } from '../../errors.js';
import { loadFleet } from '../../fleet/load.js';
import { Ops } from '../../ops/context.js';
import { settingsFrom, type OpsCliOptions } from '../../ops/settings.js';
import { selectTunnels, TunnelRunner, type TunnelsRun } from '../../ops/tunnels.js';
import { countBySeverity } from '../../problems.js';
import { resolveTunnels } from '../../tunnels/resolve.js';
import type { CommandResult } from '../context.js';
import { problemJson } from '../report-problems.js';
import { plural, style } from '../style.js';
import { locatorOf } from './render/shared.js';
import { writeProblemNote } from './shared.js';

export async function tunnels(action: 'up' | 'down', names: string[], options: OpsCliOptions & { dryRun?: boolean }): Promise<CommandResult> {
  const loaded = await loadFleet(options);
  const index = new FleetIndex(loaded.fleet);
  const resolution = resolveTunnels(index, locatorOf(loaded));
  const selected = selectTunnels(resolution.tunnels, names);
  const ops = new Ops(loaded.fleet, settingsFrom(options, { commandTimeoutMs: 60_000 }));
  const json = options.json === true;
  const runner = new TunnelRunner(ops, index, resolution.tunnels, json ? () => {} : (line) => process.stderr.write(`${style.dim(line)}\n`));
  const run: TunnelsRun = options.dryRun ? runner.plan(action, selected) : action === 'up' ? await runner.up(selected) : await runner.down(selected);
  // Tunnels that cannot be opened (their problems) are reported; the others still ran.
  const blocked = names.length === 0 ? countBySeverity(resolution.problems).errors : 0;
  return {
    exitCode: run.ok && blocked === 0 ? EXIT_OK : EXIT_PROBLEMS,
    json: { command: `tunnels ${action}`, ...run, skipped: resolution.skipped, problems: loaded.problems.map(problemJson) },
    human: () => {
      if (loaded.problems.length > 0) writeProblemNote(loaded.problems);
      const out: string[] = [];
      // Said on every run, not only by validate: a published port is reachable from other hosts.
      for (const w of resolution.problems.filter((p) => p.severity === 'warning')) out.push(`${style.yellow('⚠')} ${w.file}:${w.line}:${w.column} ${w.message}${w.hint ? style.dim(` (${w.hint})`) : ''}`);
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
      out.push('', run.changed === 0 ? `${plural(run.tunnels.length, 'tunnel')} ${action}: nothing changed (the hosts already were as declared).` : `${plural(run.tunnels.length, 'tunnel')} ${action}: ${plural(run.changed, 'change')}.`);
      if (!run.ok) out.push(`${style.red('✖')} some tunnels failed: run \`manage-apps tunnels ${action}\` again once the cause is fixed (it finishes what was left).`);
      return out.join('\n');
    },
  };
}

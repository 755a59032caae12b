/** promote, approve, ledger, ledger verify (docs/promotion.md). */
import { approve as approveUseCase } from '../../app/approve.js';
import { ledgerVerify as verifyUseCase, ledgerView } from '../../app/ledger.js';
import { promote as promoteUseCase } from '../../app/promote.js';
import { UsageError } from '../../errors.js';
import { makeProgress } from '../../ops/progress.js';
import type { CommandResult } from '../context.js';
import type { CliOptions } from '../specs/types.js';
import { fleetSource, givenSettings, seconds } from '../ops-options.js';
import { style, table } from '../style.js';
import { problemNote } from './ops/format.js';

function durationOption(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(value.trim());
  if (!m) throw new UsageError(`${name} ${JSON.stringify(value)} is not a duration`, 'e.g. 30s, 10m, 2h (a bare number is seconds)');
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h' | 'd'];
}

export async function promote(args: string[], options: CliOptions): Promise<CommandResult> {
  const project = args[0]!;
  const observeMs = durationOption('--observe', options.observe);
  const answer = await promoteUseCase(
    fleetSource(options),
    { project, ...(options.from === undefined ? {} : { from: options.from }), ...(options.to === undefined ? {} : { to: options.to }) },
    givenSettings(options),
    {
      dryRun: options.dryRun === true,
      wait: options.wait === true,
      force: options.force === true,
      ...(options.reason === undefined ? {} : { reason: options.reason }),
      ...(observeMs === undefined ? {} : { observeMs }),
      ...(options.readyTimeout === undefined ? {} : { readyTimeoutMs: seconds('--ready-timeout', options.readyTimeout, 60) * 1000 }),
      ...(options.revertMargin === undefined ? {} : { revertMarginMs: seconds('--revert-margin', options.revertMargin, 20) * 1000 }),
    },
    makeProgress({ json: options.json === true }),
  );
  const r = answer.document;
  return {
    exitCode: answer.exitCode,
    json: r,
    human: () => {
      problemNote(answer.loaded);
      const out = [style.bold(`${r.project}: ${r.from} → ${r.to}${r.dry_run ? ' (dry run: nothing touched, nothing recorded)' : ''}`)];
      if (r.source.release !== null)
        out.push(
          `  ${r.from} (${r.source.host}) runs ${r.source.release}${r.source.content ? `, content ${r.source.content.slice(0, 12)}…` : ''}${r.source.image_digest ? `, image ${r.source.image_digest}` : ''}`,
        );
      for (const g of r.gates)
        out.push(
          `  ${g.ok ? style.green('✓') : style.red('✗')} ${g.gate.padEnd(11)} ${g.detail}${g.ok || g.fix === undefined ? '' : `\n                run: ${g.fix}`}`,
        );
      if (r.observation !== null && r.observation.samples.some((s) => !s.ok))
        out.push(...r.observation.samples.filter((s) => !s.ok).map((s) => `    failed sample ${s.time}: ${s.detail ?? ''}`));
      if (r.deploy !== undefined)
        out.push(
          `  deploy into ${r.to} on ${r.target.host}: ${r.deploy.outcome}${r.deploy.release ? ` ${r.deploy.release}` : ''}${r.deploy.reason ? ` (${r.deploy.reason})` : ''}`,
        );
      out.push(
        r.outcome === 'promoted'
          ? style.green(`promoted ${r.source.release} into ${r.to}`)
          : r.outcome === 'planned'
            ? style.green(`every gate passes: \`manage-apps promote ${r.project} --to ${r.to}\` would promote ${r.source.release}`)
            : style.red(`${r.outcome}: ${r.reason ?? ''}`),
      );
      if (r.ledger.error !== undefined) out.push(style.red(`ledger: ${r.ledger.error}`));
      return out.join('\n');
    },
  };
}

export async function approve(args: string[], options: CliOptions): Promise<CommandResult> {
  const answer = await approveUseCase(fleetSource(options), {
    project: args[0]!,
    to: options.to!,
    key: options.key!,
    ...(options.release === undefined ? {} : { release: options.release }),
  });
  const d = answer.document;
  return {
    exitCode: answer.exitCode,
    json: d,
    human: () =>
      `approved ${d.project} ${d.release} (${d.from} → ${d.to}), content ${d.content?.slice(0, 12) ?? '-'}…${d.image_digest ? `, image ${d.image_digest}` : ''}\n  signed by ${d.signer.principal} (${d.signer.fingerprint}); ledger line ${d.line}`,
  };
}

export async function ledger(args: string[], options: CliOptions): Promise<CommandResult> {
  const answer = await ledgerView(fleetSource(options), args[0]);
  const d = answer.document;
  return {
    exitCode: answer.exitCode,
    json: d,
    human: () => {
      const out: string[] = [];
      if (d.broken !== undefined) out.push(style.red(`${d.file}: ${d.broken.message}; records after it are not shown`));
      out.push(
        table(
          ['PROJECT', 'ENV', 'RELEASE', 'SINCE', 'BECAUSE'],
          d.environments.map((e) => {
            const b = e.because;
            const why =
              b === null
                ? style.dim('(nothing recorded)')
                : b.kind === 'promotion'
                  ? `promoted from ${String(b['from'])} (line ${b.seq})${e.evidence.observation ? `; observed ${String(e.evidence.observation['window_s'])}s, ${String(e.evidence.observation['samples'])} samples` : ''}${e.evidence.approval ? `; approved by ${String((e.evidence.approval['signer'] as { principal?: string } | undefined)?.principal)} ${String((e.evidence.approval['signer'] as { fingerprint?: string } | undefined)?.fingerprint)}` : ''}${e.evidence.drill ? `; drill: ${String(e.evidence.drill)}` : ''}${b['forced'] ? `; forced: ${String(b['forced'])}` : ''}`
                  : `${b.kind} (line ${b.seq})${b['reason'] ? `: ${String(b['reason'])}` : ''}`;
            return [e.project, e.env, e.release ?? '-', b?.time ?? '', why];
          }),
        ),
      );
      return out.join('\n');
    },
  };
}

export async function ledgerVerify(_args: string[], options: CliOptions): Promise<CommandResult> {
  const answer = await verifyUseCase(
    fleetSource(options),
    options.repair === true ? { given: givenSettings(options), progress: makeProgress({ json: options.json === true }) } : undefined,
  );
  const d = answer.document;
  return {
    exitCode: answer.exitCode,
    json: d,
    human: () =>
      [
        ...d.pending.map((p) => {
          const what = `promotion of ${p.release} into ${p.project}:${p.env}`;
          return p.action === 'append'
            ? style.green(`recovered the ${what}: ${p.detail} (line ${p.line ?? '?'})`)
            : p.action === 'drop'
              ? `pending ${what} dropped: ${p.detail}`
              : style.red(`unrecorded ${what}: ${p.detail}`);
        }),
        d.broken === undefined
          ? style.green(`${d.file}: ${d.records} records, the chain holds, ${d.signatures.checked} approval signature(s) verify; head ${d.head}`)
          : style.red(`${d.file}: ${d.broken.message}`),
      ].join('\n'),
  };
}

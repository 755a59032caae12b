/** Shared formatting for the ops commands (status, start, stop, restart, logs, deploy, rollback). */
import type { LoadedFleet } from '../../../app/answer.js';
import type { Diagnosis } from '../../../runtime/types.js';
import { inert, printable } from '../../../text/control.js';
import { style } from '../../style.js';
import { writeProblemNote } from '../shared.js';

/** One stderr line when some manifests have problems, and one per manifest that takes no part (it was skipped, the rest went on). */
export function problemNote(loaded: LoadedFleet): void {
  if (!loaded.problems.some((p) => p.severity === 'error')) return;
  writeProblemNote(loaded.problems);
  for (const m of loaded.manifests) {
    if (m.valid) continue;
    const first = m.problems.find((p) => p.severity === 'error');
    process.stderr.write(
      `${style.dim('skipped')} ${printable(m.file)}${first ? `: ${printable(first.message)} (${first.line}:${first.column}, rule ${first.rule})` : ''}\n`,
    );
  }
}

export function ago(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

export function formatDiagnosis(d: Diagnosis | undefined, indent = '    '): string {
  if (!d) return '';
  const out: string[] = [];
  // All of it is the host's and the application's text: inert (src/text/control.ts).
  if (d.status.trim()) out.push(`${indent}${style.bold('status:')}`, ...d.status.split('\n').map((l) => `${indent}  ${inert(l)}`));
  if (d.journal.length > 0) out.push(`${indent}${style.bold('last log lines:')}`, ...d.journal.map((l) => `${indent}  ${inert(l)}`));
  if (d.readiness !== null)
    out.push(
      `${indent}${style.bold('readiness answer:')}`,
      ...(d.readiness.trim() || '(no answer)').split('\n').map((l) => `${indent}  ${inert(l.replace(/\r$/, ''))}`),
    );
  return out.join('\n');
}

/**
 * status. The use case opens the ssh connections first (src/app/status.ts); the text is
 * formatted by a module loaded afterwards, so this one's imports stay few and light.
 */
import { status as statusUseCase } from '../../../app/status.js';
import type { CommandResult } from '../../context.js';
import { fleetSource, givenSettings, selectorOf, type OpsCliOptions } from '../../ops-options.js';

export async function status(targets: string[], options: OpsCliOptions & { drift?: boolean }): Promise<CommandResult> {
  const answer = await statusUseCase(fleetSource(options), selectorOf(targets, options), givenSettings(options));
  const { statusText } = await import('./status-text.js');
  if (options.drift !== true) return { exitCode: answer.exitCode, json: answer.document, human: () => statusText(answer, targets, options) };
  // --drift: the same findings `drift` reports, from its own use case (one more read-only round trip per host).
  const { drift } = await import('../../../app/drift.js');
  const { driftText } = await import('./drift.js');
  const found = await drift(fleetSource(options), selectorOf(targets, options), givenSettings(options));
  const { problems: _problems, ...driftDocument } = found.document;
  return {
    exitCode: Math.max(answer.exitCode, found.exitCode),
    json: { ...answer.document, drift: driftDocument },
    human: () => `${statusText(answer, targets, options)}\n\n${driftText(found.document)}`,
  };
}

/**
 * status. The use case opens the ssh connections first (src/app/status.ts); the text is
 * formatted by a module loaded afterwards, so this one's imports stay few and light.
 */
import { status as statusUseCase } from '../../../app/status.js';
import type { CommandResult } from '../../context.js';
import { fleetSource, givenSettings, selectorOf, type OpsCliOptions } from '../../ops-options.js';

export async function status(targets: string[], options: OpsCliOptions): Promise<CommandResult> {
  const answer = await statusUseCase(fleetSource(options), selectorOf(targets, options), givenSettings(options));
  const { statusText } = await import('./status-text.js');
  return { exitCode: answer.exitCode, json: answer.document, human: () => statusText(answer, targets, options) };
}

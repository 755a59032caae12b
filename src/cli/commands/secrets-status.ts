/**
 * secrets status. The use case opens the ssh connections first (src/app/secrets-status.ts); the
 * text is formatted by a module loaded afterwards, so this one's imports stay few and light.
 */
import { secretsStatus as statusUseCase } from '../../app/secrets-status.js';
import type { CommandResult } from '../context.js';
import { fleetSource, givenSettings, selectorOf, type OpsCliOptions } from '../ops-options.js';

export async function secretsStatus(targets: string[], options: OpsCliOptions): Promise<CommandResult> {
  const answer = await statusUseCase(fleetSource(options), selectorOf(targets, options), givenSettings(options));
  const { statusText } = await import('./secrets.js');
  return { exitCode: answer.exitCode, json: answer.document, human: () => statusText(answer.document) };
}

/**
 * adopt <finding>: the live value of one drift finding written into the repository, where the
 * repository can say it — a port a declared service listens on (service.port), the image tag a
 * compose service's container runs (service.compose.tag) — as a minimal edit of the manifest
 * (source/edit.ts), checked to load before it is written (atomic, with a backup).
 */
import { join } from 'node:path';
import { collectDrift } from '../drift/collect.js';
import type { Finding } from '../drift/types.js';
import { EXIT_OK, EXIT_PROBLEMS, UsageError } from '../errors.js';
import { readIfExists, writeFileSafely } from '../files/write.js';
import { loadFleet, type FleetOptions } from '../load/fleet.js';
import { resolveSettings, type OpsSettings } from '../ops/settings.js';
import { EditError, setScalar } from '../source/edit.js';
import { problemJson } from '../problems.js';
import type { Answer, WithProblems } from './answer.js';
import { prepare } from './prepare.js';

/** What adopt can write, and what it cannot (said in full when asked for something else). */
export const ADOPTABLE =
  'adopt writes a port a declared service listens on (service.port) and the image tag a compose service runs (service.compose.tag); units, drop-ins, releases, Caddy routes, tunnels, pg_hba lines and ports of processes no manifest runs cannot be said in a manifest: `manage-apps reapply` puts those back instead';

export interface AdoptDocument {
  finding: Finding | null;
  adopted: boolean;
  /** The manifest written, the field, the value it now declares. */
  file: string | null;
  field: string | null;
  value: string | number | null;
  /** Why it was not adopted. */
  reason: string | null;
  dry_run: boolean;
}

export async function adopt(
  source: FleetOptions,
  id: string,
  given: Partial<OpsSettings>,
  choices: { dryRun: boolean },
): Promise<Answer<WithProblems<AdoptDocument>>> {
  const [host] = id.split('/');
  if (host === undefined || id.split('/').length < 3)
    throw new UsageError(`${JSON.stringify(id)} is not a finding id`, 'ids are <host>/<kind>/<subject>, as `manage-apps drift` prints them');
  const { loaded, ops, selection } = await prepare(source, { targets: [], host }, resolveSettings(given));
  const run = await collectDrift(ops, selection.services, [host]);
  const finding = run.document.findings.find((f) => f.id === id) ?? null;
  const base: AdoptDocument = { finding, adopted: false, file: null, field: null, value: null, reason: null, dry_run: choices.dryRun };
  const answer = (d: AdoptDocument, exitCode: number) => ({ exitCode, document: { ...d, problems: loaded.problems.map(problemJson) }, loaded });
  if (finding === null)
    throw new UsageError(`drift reports no finding ${JSON.stringify(id)} now`, `\`manage-apps drift --host ${host}\` lists the findings on ${host}`);
  if (!finding.adoptable) return answer({ ...base, reason: ADOPTABLE }, EXIT_PROBLEMS);
  const service = loaded.fleet.services.find((s) => s.id === finding.owner);
  if (service === undefined) return answer({ ...base, reason: `${finding.owner ?? 'nothing'} is not a declared service` }, EXIT_PROBLEMS);
  let path: string[];
  let value: string | number;
  if (finding.kind === 'port') {
    path = ['service', 'port'];
    value = Number(finding.subject);
  } else if (finding.kind === 'image') {
    const live = finding.properties.find((p) => p.name === 'image')?.live ?? '';
    const tag = /^[^@]+:([^/:@]+)$/.exec(live)?.[1];
    if (tag === undefined) return answer({ ...base, reason: `the container's image ${live} carries no tag to declare` }, EXIT_PROBLEMS);
    path = ['service', 'compose', 'tag'];
    value = tag;
  } else return answer({ ...base, reason: ADOPTABLE }, EXIT_PROBLEMS);
  const file = join(loaded.fleet.root, service.manifest);
  const text = await readIfExists(file);
  if (text === undefined) throw new UsageError(`cannot read ${service.manifest}`);
  let edited: string;
  try {
    edited = setScalar(text, path, value);
  } catch (error) {
    if (error instanceof EditError) return answer({ ...base, reason: `${service.manifest}: ${error.message}` }, EXIT_PROBLEMS);
    throw error;
  }
  const done: AdoptDocument = { ...base, adopted: !choices.dryRun, file: service.manifest, field: path.join('.'), value };
  if (choices.dryRun) return answer(done, EXIT_OK);
  await writeFileSafely(file, edited);
  // The edit must leave a fleet that loads with the value in place; otherwise it is put back.
  const after = await loadFleet(source);
  const reloaded = after.fleet.services.find((s) => s.id === service.id);
  const holds = finding.kind === 'port' ? reloaded?.port === value : reloaded?.compose?.tag === value;
  const errors = after.problems.filter((p) => p.severity === 'error' && p.file === service.manifest);
  if (!holds || errors.length > 0) {
    await writeFileSafely(file, text);
    return answer(
      {
        ...done,
        adopted: false,
        reason: `the edited manifest does not load as intended (${errors.map((e) => e.message).join('; ') || 'the value did not take'}): left as it was`,
      },
      EXIT_PROBLEMS,
    );
  }
  return answer(done, EXIT_OK);
}

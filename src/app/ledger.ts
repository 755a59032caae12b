/**
 * `ledger verify` (the chain and every approval's signature) and `ledger [project]` (which
 * release each environment is at and why): docs/promotion.md#the-ledger, docs/json.md.
 */
import { isAbsolute, resolve } from 'node:path';
import { EXIT_OK, EXIT_PROBLEMS, UsageError } from '../errors.js';
import type { Fleet } from '../fleet/model.js';
import { loadFleet, type FleetOptions } from '../load/fleet.js';
import { checkLedger, liveRecord, type LedgerCheck } from '../promotion/history.js';
import { LEDGER_FILE, readLedger, type LedgerRecord } from '../promotion/ledger.js';
import { readIntents } from '../promotion/pending.js';
import { Ops } from '../ops/context.js';
import type { Progress } from '../ops/progress.js';
import { settlePending, type Settled } from '../ops/promote.js';
import { resolveSettings, type OpsSettings } from '../ops/settings.js';
import { problemJson } from '../problems.js';
import type { Answer, WithProblems } from './answer.js';

/** The allowed_signers file approvals are checked against (docs/promotion.md). */
export function allowedSignersOf(fleet: Fleet): string {
  const file = fleet.allowedSigners ?? 'allowed_signers';
  return isAbsolute(file) ? file : resolve(fleet.root, file);
}

export type LedgerVerifyDocument = WithProblems<
  { file: string; ok: boolean } & LedgerCheck & {
      /** Promotions a crash left unrecorded: with --repair, what became of each; without, the ones pending. */
      pending: Settled[];
    }
>;

/**
 * `ledger verify [--repair]`: the chain and every signature. A promotion a crash left between the
 * host and the ledger is listed as pending; with `repair` it is settled first from what its target
 * host says (the lost record appended, or the intent dropped when nothing switched).
 */
export async function ledgerVerify(
  source: FleetOptions,
  repair?: { given: Partial<OpsSettings>; progress: Progress },
): Promise<Answer<LedgerVerifyDocument>> {
  const loaded = await loadFleet(source);
  const { fleet } = loaded;
  let pending: Settled[];
  if (repair === undefined)
    pending = readIntents(fleet.root).map((i) => ({
      intent: i.id,
      project: i.project,
      env: i.env,
      release: i.release,
      action: 'keep' as const,
      detail: 'not settled: run `manage-apps ledger verify --repair`',
    }));
  else {
    pending = await settlePending(new Ops(fleet, resolveSettings(repair.given)), fleet.services, repair.progress);
    await repair.progress.close();
  }
  const check = await checkLedger(readLedger(fleet.root), allowedSignersOf(fleet));
  const ok = check.broken === undefined && pending.every((p) => p.action !== 'keep');
  return {
    exitCode: ok ? EXIT_OK : EXIT_PROBLEMS,
    document: { file: LEDGER_FILE, ok, ...check, pending, problems: loaded.problems.map(problemJson) },
    loaded,
  };
}

/** Why an environment is at its release: the record that put it there, and for a promotion the evidence it cites. */
export interface EnvironmentAnswer {
  project: string;
  env: string;
  release: string | null;
  content: string | null;
  image_digest: string | null;
  /** The record that put it there (null: the ledger has none for this environment). */
  because: LedgerRecord | null;
  /** A promotion's evidence, each the ledger line it cites. */
  evidence: { observation: LedgerRecord | null; approval: LedgerRecord | null; drill: unknown };
}

export type LedgerDocument = WithProblems<{
  file: string;
  ok: boolean;
  broken?: { line: number; message: string };
  environments: EnvironmentAnswer[];
  records: LedgerRecord[];
}>;

export async function ledgerView(source: FleetOptions, project: string | undefined): Promise<Answer<LedgerDocument>> {
  const loaded = await loadFleet(source);
  const ledger = readLedger(loaded.fleet.root);
  const promotions = (loaded.fleet.promotions ?? []).filter((p) => project === undefined || p.project === project);
  if (project !== undefined && promotions.length === 0 && !ledger.records.some((r) => r.project === project))
    throw new UsageError(`${project} has no promotion path and no ledger records`, 'declare promotion.path in its manifest (docs/promotion.md)');
  const bySeq = new Map(ledger.records.map((r) => [r.hash, r]));
  const environments: EnvironmentAnswer[] = promotions.flatMap((p) =>
    p.path.map((env): EnvironmentAnswer => {
      const live = liveRecord(ledger.records, p.project, env) ?? null;
      const cite = (key: string) => (live === null || typeof live[key] !== 'string' ? null : (bySeq.get(live[key] as string) ?? null));
      return {
        project: p.project,
        env,
        release: typeof live?.['release'] === 'string' ? live['release'] : null,
        content: typeof live?.['content'] === 'string' ? live['content'] : null,
        image_digest: typeof live?.['image_digest'] === 'string' ? live['image_digest'] : null,
        because: live,
        evidence: { observation: cite('observation'), approval: cite('approval'), drill: live?.['drill'] ?? null },
      };
    }),
  );
  const records = ledger.records.filter((r) => project === undefined || r.project === project);
  return {
    exitCode: ledger.broken === undefined ? EXIT_OK : EXIT_PROBLEMS,
    document: {
      file: LEDGER_FILE,
      ok: ledger.broken === undefined,
      ...(ledger.broken === undefined ? {} : { broken: ledger.broken }),
      environments,
      records,
      problems: loaded.problems.map(problemJson),
    },
    loaded,
  };
}

/** The dashboard's ledger panel: per service of a promotion path, what the ledger has live there and on what evidence, and whether the chain verifies. */
export interface LedgerPanel {
  file: string;
  verification: {
    ok: boolean;
    records: number;
    head: string;
    broken: { line: number; message: string } | null;
    signatures: { checked: number; bad: number };
    /** Promotions a crash left unrecorded (`ledger verify --repair` settles them). */
    pending: number;
  };
  services: {
    service: string;
    project: string;
    env: string;
    release: string | null;
    /** The record that put it there: deploy, promotion, rollback; null when the ledger has none. */
    kind: string | null;
    line: number | null;
    time: string | null;
    outcome: string | null;
    /** A promotion's evidence, each from the ledger line it cites. */
    evidence: {
      from: string | null;
      /** The source's record: the deploy whose gate the release passed in the environment before. */
      gate: { line: number; env: string; kind: string; outcome: string | null; time: string } | null;
      observation: { line: number; window_s: number | null; samples: number | null; verdict: string | null; override: string | null } | null;
      drill: string | null;
      approval: { line: number; principal: string | null; fingerprint: string | null; time: string } | null;
      forced: string | null;
      recovered: boolean;
    } | null;
  }[];
}

const text = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const count = (v: unknown): number | null => (typeof v === 'number' ? v : null);

/** What the dashboard shows of the ledger, on a fleet already loaded (null: no promotion path and no ledger). */
export async function ledgerPanel(fleet: Fleet): Promise<LedgerPanel | null> {
  const promotions = fleet.promotions ?? [];
  const ledger = readLedger(fleet.root);
  if (promotions.length === 0 && ledger.records.length === 0) return null;
  const check = await checkLedger(ledger, allowedSignersOf(fleet));
  const byHash = new Map(ledger.records.map((r) => [r.hash, r]));
  const services = promotions.flatMap((p) =>
    p.path.flatMap((env) =>
      fleet.services
        .filter((s) => s.project === p.project && s.environment === env)
        .map((s) => {
          const live = liveRecord(ledger.records, p.project, env) ?? null;
          const cite = (key: string) => byHash.get(text(live?.[key]) ?? '') ?? null;
          const source = live?.['source'] as { ledger?: unknown } | undefined;
          const gate = byHash.get(text(source?.ledger) ?? '') ?? null;
          const observation = cite('observation');
          const approval = cite('approval');
          const signer = approval?.['signer'] as { principal?: unknown; fingerprint?: unknown } | undefined;
          return {
            service: s.id,
            project: p.project,
            env,
            release: text(live?.['release']),
            kind: live?.kind ?? null,
            line: live?.seq ?? null,
            time: live?.time ?? null,
            outcome: text(live?.['outcome']),
            evidence:
              live?.kind !== 'promotion'
                ? null
                : {
                    from: text(live['from']),
                    gate: gate === null ? null : { line: gate.seq, env: gate.env, kind: gate.kind, outcome: text(gate['outcome']), time: gate.time },
                    observation:
                      observation === null
                        ? null
                        : {
                            line: observation.seq,
                            window_s: count(observation['window_s']),
                            samples: count(observation['samples']),
                            verdict: text(observation['verdict']),
                            override: text(observation['override']),
                          },
                    drill: text(live['drill']),
                    approval:
                      approval === null
                        ? null
                        : { line: approval.seq, principal: text(signer?.principal), fingerprint: text(signer?.fingerprint), time: approval.time },
                    forced: text(live['forced']),
                    recovered: live['recovered'] !== undefined,
                  },
          };
        }),
    ),
  );
  const pending = readIntents(fleet.root).length;
  return {
    file: LEDGER_FILE,
    verification: {
      ok: check.broken === undefined && pending === 0,
      records: check.records,
      head: check.head,
      broken: check.broken ?? null,
      signatures: { checked: check.signatures.checked, bad: check.signatures.bad.length },
      pending,
    },
    services,
  };
}

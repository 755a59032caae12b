/**
 * `approve <project> --to ENV`: the operator's ssh key signs the promotion of the release the
 * ledger has live in the environment before ENV (or `--release`), and the approval is appended
 * to the ledger, chained to the head it signed (docs/promotion.md#approval). Nothing on a host
 * changes. A key that is not in allowed_signers is refused here, before anything is written.
 */
import { EXIT_OK, ProblemsFoundError } from '../errors.js';
import { loadFleet, type FleetOptions } from '../load/fleet.js';
import { digestsOf, liveRecord } from '../promotion/history.js';
import { appendRecords, LEDGER_FILE, LedgerError, readLedger, type LedgerRecord } from '../promotion/ledger.js';
import { SignatureError, signStatement, statementText, verifyStatement, type ApprovalStatement } from '../promotion/signature.js';
import { problemJson } from '../problems.js';
import type { Answer, WithProblems } from './answer.js';
import { allowedSignersOf } from './ledger.js';
import { stageOf } from './promote.js';

export interface ApproveSettings {
  project: string;
  to: string;
  release?: string;
  /** The signing key: a private key file, or a public one whose private half is in ssh-agent. */
  key: string;
}

export type ApproveDocument = WithProblems<{
  project: string;
  from: string;
  to: string;
  release: string;
  content: string | null;
  image_digest: string | null;
  signer: { principal: string; fingerprint: string };
  line: number;
  hash: string;
}>;

export async function approve(source: FleetOptions, settings: ApproveSettings): Promise<Answer<ApproveDocument>> {
  const loaded = await loadFleet(source);
  const { fleet } = loaded;
  const { from, to } = stageOf(fleet, settings.project, undefined, settings.to);
  const allowed = allowedSignersOf(fleet);
  const ledger = readLedger(fleet.root);
  if (ledger.broken !== undefined) throw new ProblemsFoundError(`${LEDGER_FILE}: ${ledger.broken.message}`, 'run `manage-apps ledger verify`');
  const live =
    settings.release === undefined
      ? liveRecord(ledger.records, settings.project, from)
      : findRelease(ledger.records, settings.project, from, settings.release);
  if (live === undefined)
    throw new ProblemsFoundError(
      settings.release === undefined
        ? `the ledger has no release live in ${settings.project}'s ${from}: nothing to approve`
        : `the ledger has no passed deploy of ${settings.release} into ${settings.project}'s ${from}`,
      `deploy it to ${from} first (\`manage-apps deploy ${settings.project} --env ${from}\`)`,
    );
  const statement: ApprovalStatement = {
    project: settings.project,
    from,
    to,
    release: String(live['release']),
    content: typeof live['content'] === 'string' ? live['content'] : digestsOf(ledger.records, String(live['release'])).content,
    image_digest: typeof live['image_digest'] === 'string' ? live['image_digest'] : digestsOf(ledger.records, String(live['release'])).image_digest,
    ledger_head: ledger.head,
    time: new Date().toISOString(),
  };
  let signature: string;
  try {
    signature = await signStatement(statementText(statement), settings.key);
  } catch (error) {
    if (error instanceof SignatureError)
      throw new ProblemsFoundError(error.message, 'pass --key with your ssh key (or its .pub, with the key in ssh-agent)');
    throw error;
  }
  const verified = await verifyStatement(statementText(statement), signature, allowed, statement.time);
  if (!verified.ok)
    throw new ProblemsFoundError(
      `this approval would not count: ${verified.reason}`,
      `add the key's public half to ${allowed} (a line "<name> <key>"), or sign with a key that is there`,
    );
  const signer = { principal: verified.principal!, fingerprint: verified.fingerprint! };
  const { ledger_head: head, ...what } = statement;
  let sealed: LedgerRecord[];
  try {
    sealed = appendRecords(fleet.root, (now) => {
      // The statement names the head it follows: a record appended meanwhile makes it void.
      if (now.head !== head) throw new LedgerError('the ledger changed while the approval was being signed: run approve again');
      return [
        {
          kind: 'approval',
          project: what.project,
          env: to,
          from,
          release: what.release,
          content: what.content,
          image_digest: what.image_digest,
          time: what.time,
          signature,
          signer,
        },
      ];
    });
  } catch (error) {
    if (error instanceof LedgerError) throw new ProblemsFoundError(error.message);
    throw error;
  }
  const r = sealed[0]!;
  const { time: _time, ...shown } = what;
  void _time;
  return {
    exitCode: EXIT_OK,
    document: { ...shown, signer, line: r.seq, hash: r.hash, problems: loaded.problems.map(problemJson) },
    loaded,
  };
}

function findRelease(records: readonly LedgerRecord[], project: string, env: string, release: string): LedgerRecord | undefined {
  return [...records]
    .reverse()
    .find((r) => r.project === project && r.env === env && r['release'] === release && r['outcome'] === 'passed' && r.kind !== 'approval');
}

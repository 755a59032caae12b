/**
 * What every step of a move shares: the context it runs in, the failure that stops an item
 * (the source still authoritative), and the small host actions several steps take (a unit
 * retired or revived, an env file carried from host to host through memory).
 */
import type { Fleet, Host, Service } from '../../fleet/model.js';
import { records } from '../../runtime/shell.js';
import { failureReason } from '../../transport/types.js';
import { Ops } from '../context.js';
import type { DeployOptions } from '../deploy/types.js';
import { readEnvFileScript, writeEnvFileScript } from './host-scripts.js';
import type { JournalItem, JournalWriter } from './journal.js';

export interface MoveContext {
  /** The fleet as the files say now (a moved service's manifest may already name the target). */
  fleet: Fleet;
  ops: Ops;
  journal: JournalWriter;
  /** Where shipped releases are kept (beside the journal, this machine only). */
  releasesDir: string;
  deploy: Partial<DeployOptions>;
  report: (line: string) => void;
  /** The inventory file (absolute): a moved cluster's host is edited there. */
  inventoryPath: string;
  /** Services whose database moves with its cluster in this move: their env file is carried (and rewired) by the cluster's steps. */
  databaseWriters: ReadonlySet<string>;
}

export class StepFailed extends Error {}

export const hostOf = (fleet: Fleet, name: string): Host => {
  const h = fleet.hosts.find((x) => x.name === name);
  if (h === undefined) throw new StepFailed(`host ${name} is not in the inventory any more`);
  return h;
};

export async function unitScript(ctx: MoveContext, hostName: string, script: string, what: string): Promise<void> {
  const res = await ctx.ops.transport(hostOf(ctx.fleet, hostName)).script(script, { timeoutMs: 120_000 });
  const error = records(res.stdout).find((r) => r[0] === 'error');
  if (res.unreachable || res.code !== 0 || error) throw new StepFailed(`cannot ${what} on ${hostName}: ${error?.[1] ?? failureReason(res)}`);
}

/** The service's env file, from the source to the target, through this process's memory only. */
export async function copyEnvFile(ctx: MoveContext, service: Service, item: Pick<JournalItem, 'from' | 'to'>): Promise<void> {
  if (service.envFile === undefined) return;
  const owner = service.runAs ?? 'root';
  const read = await ctx.ops.transport(hostOf(ctx.fleet, item.from)).script(readEnvFileScript(service.envFile, owner), { timeoutMs: 60_000 });
  const error = records(read.stdout).find((r) => r[0] === 'error');
  if (read.unreachable || read.code !== 0 || error)
    throw new StepFailed(`cannot read ${service.envFile} on ${item.from}: ${error?.[1] ?? failureReason(read)}`);
  if (records(read.stdout).some((r) => r[0] === 'absent')) return;
  const at = read.stdout.indexOf('@@env\n');
  if (at < 0) throw new StepFailed(`cannot read ${service.envFile} on ${item.from}: no answer`);
  const content = Buffer.from(read.stdout.slice(at + 6), 'base64');
  const write = await ctx.ops
    .transport(hostOf(ctx.fleet, item.to))
    .script(writeEnvFileScript(service.envFile, owner, content), { timeoutMs: 60_000 });
  const werr = records(write.stdout).find((r) => r[0] === 'error');
  if (write.unreachable || write.code !== 0 || werr || !records(write.stdout).some((r) => r[0] === 'written'))
    throw new StepFailed(`cannot write ${service.envFile} on ${item.to}: ${werr?.[1] ?? failureReason(write)}`);
}

export const at = (service: Service, host: string): Service => ({ ...service, host });

/** The service's view on one host: the same declaration, that host. */
export function opsAt(ctx: MoveContext, service: Service, host: string): { ops: Ops; service: Service } {
  const moved = at(service, host);
  const fleet: Fleet = { ...ctx.fleet, services: ctx.fleet.services.map((s) => (s.id === service.id ? moved : s)) };
  return { ops: new Ops(fleet, ctx.ops.settings), service: moved };
}

export const unitOf = (ctx: MoveContext, service: Service, host: string) => opsAt(ctx, service, host).ops.runtime(at(service, host)).unit!;

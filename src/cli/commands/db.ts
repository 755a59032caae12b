/** db provision, db status. */
import { dbProvision as provisionUseCase, dbStatus } from '../../app/db.js';
import type { DbStatusReport } from '../../data/db-status.js';
import type { DatabaseResult, ProvisionReport } from '../../data/provision.js';
import { makeProgress } from '../../ops/progress.js';
import type { CommandResult } from '../context.js';
import { fleetSource, givenSettings, seconds, type OpsCliOptions } from '../ops-options.js';
import { style, table } from '../style.js';
import { problemNote } from './ops/format.js';

export interface ProvisionCliOptions extends OpsCliOptions {
  rotate?: boolean;
  dryRun?: boolean;
  readyTimeout?: string;
}

export async function dbProvision(targets: string[], options: ProvisionCliOptions): Promise<CommandResult> {
  const readyTimeout = options.readyTimeout === undefined ? undefined : seconds('--ready-timeout', options.readyTimeout, 60) * 1000;
  const choices = {
    rotate: options.rotate === true,
    dryRun: options.dryRun === true,
    ...(readyTimeout === undefined ? {} : { readyTimeoutMs: readyTimeout }),
  };
  const selector = { targets, ...(options.env === undefined ? {} : { env: options.env }) };
  const answer = await provisionUseCase(
    fleetSource(options),
    selector,
    givenSettings(options),
    choices,
    makeProgress({ json: options.json === true }),
    options.json === true ? undefined : problemNote,
  );
  return { exitCode: answer.exitCode, json: answer.document, human: () => provisionText(answer.document) };
}

function dbLine(r: DatabaseResult, dryRun: boolean): string[] {
  const mark = !r.ok ? style.red('✖') : r.changes.length > 0 ? style.green(dryRun ? '~' : '✔') : style.dim('=');
  const where = `${r.database} (user ${r.user}) on ${r.cluster}@${r.host}`;
  const head = `${mark} ${r.id}: ${where}` + (r.ok ? (r.changes.length === 0 ? style.dim(' unchanged') : '') : `: ${r.reason}`);
  const out = [head, ...(r.ok ? r.changes.map((c) => `    ${dryRun ? 'would ' : ''}${c}`) : [])];
  if (r.ok && r.credentials === 'not-delivered' && r.reason) out.push(`    ${style.yellow('!')} credentials not delivered: ${r.reason}`);
  return out;
}

export function provisionText(r: ProvisionReport): string {
  const out: string[] = [];
  for (const d of r.databases) out.push(...dbLine(d, r.dry_run));
  for (const c of r.clusters) {
    if (!c.ok) out.push(`${style.red('✖')} cluster ${c.name} on ${c.host}: ${c.reason}`);
    else if (c.hba !== 'unchanged')
      out.push(
        `${style.green(r.dry_run ? '~' : '✔')} cluster ${c.name} on ${c.host}: pg_hba.conf managed block ${c.hba === 'updated' ? `updated and reloaded (backup: ${c.hba_backup})` : 'would be updated and reloaded'}`,
      );
  }
  for (const n of r.not_driven) out.push(`${style.yellow('-')} ${n.id ?? n.cluster}: not driven: ${n.reason}`);
  if (r.databases.length === 0 && r.not_driven.length === 0) out.push('No declared database matches.');
  const { changed, unchanged, failed, clusters_changed, not_delivered } = r.summary;
  const undelivered = not_delivered ? ` ${not_delivered} service(s) cannot get their credentials (see above).` : '';
  out.push('');
  if (changed === 0 && clusters_changed === 0 && failed === 0)
    out.push(`Nothing to change: ${unchanged} database(s) already as declared.${undelivered}`);
  else
    out.push(
      `${r.dry_run ? 'Would change' : 'Changed'} ${changed} database(s) and ${clusters_changed} pg_hba.conf; ${unchanged} unchanged${failed ? `, ${failed} failed` : ''}.${undelivered}`,
    );
  return out.join('\n');
}

export async function dbStatusCommand(clusters: string[], options: OpsCliOptions): Promise<CommandResult> {
  const answer = await dbStatus(fleetSource(options), clusters, givenSettings(options));
  return { exitCode: answer.exitCode, json: answer.document, human: () => dbStatusText(answer.document) };
}

const size = (b: number | null) =>
  b === null
    ? ''
    : b >= 1 << 30
      ? `${(b / (1 << 30)).toFixed(1)} GiB`
      : b >= 1 << 20
        ? `${(b / (1 << 20)).toFixed(1)} MiB`
        : `${Math.round(b / 1024)} KiB`;

export function dbStatusText(r: DbStatusReport): string {
  const out: string[] = [];
  for (const c of r.clusters) {
    out.push(style.bold(`${c.name}`) + style.dim(` ${c.engine} on ${c.host}:${c.port}${c.version ? `, PostgreSQL ${c.version}` : ''}`));
    if (!c.reachable) {
      out.push(`  ${style.red('✖')} ${c.reason}`, '');
      continue;
    }
    const rows = c.declared.map((d) => [
      d.id,
      d.database,
      d.exists ? style.green('yes') : style.red('MISSING'),
      d.user,
      d.user_exists ? (d.user_limited ? style.green('yes') : style.yellow('too many rights')) : style.red('MISSING'),
      d.owner === null ? '' : d.owner_ok ? d.owner : style.yellow(d.owner),
      size(d.bytes),
      d.connections === null ? '' : String(d.connections),
    ]);
    if (rows.length > 0) out.push(table(['SERVICE', 'DATABASE', 'EXISTS', 'USER', 'USER OK', 'OWNER', 'SIZE', 'CONN'], rows));
    else out.push(style.dim('  no manifest declares a database here'));
    if (c.drift.databases.length + c.drift.roles.length > 0)
      out.push(
        `  ${style.yellow('drift:')} not declared by any manifest: ${[...c.drift.databases.map((d) => `database ${d}`), ...c.drift.roles.map((x) => `role ${x}`)].join(', ')}`,
      );
    for (const v of c.violations) out.push(`  ${style.red('✖')} ${v.message}`);
    out.push('');
  }
  for (const n of r.not_driven) out.push(`${style.yellow('-')} ${n.cluster}: not driven: ${n.reason}`);
  const s = r.summary;
  out.push(
    `${s.declared} declared database(s): ${s.missing} missing, ${s.violations} own_db violation(s), ${s.drift} undeclared object(s), ${s.unreachable} cluster(s) unreachable.`,
  );
  return out.join('\n');
}

/**
 * reapply: drift, then each finding put back through the path that installs it (drift/reapply.ts
 * says which), then drift again to show what is left. `dryRun`: the plan only, nothing changed.
 */
import { FleetIndex } from '../analysis/topology.js';
import { selectDatabases } from '../data/declared.js';
import { provision } from '../data/provision.js';
import { collectDrift } from '../drift/collect.js';
import { planReapply, setAsideScript } from '../drift/reapply.js';
import { applyRendered } from './apply-configs.js';
import { backupsInstall } from './backup-actions.js';
import type { DriftDocument } from '../drift/types.js';
import { EXIT_OK, EXIT_PROBLEMS } from '../errors.js';
import type { FleetOptions } from '../load/fleet.js';
import { locatorOf } from '../load/locator.js';
import { runDeploy } from '../ops/deploy.js';
import { DEPLOY_DEFAULTS } from '../ops/deploy/types.js';
import type { Progress } from '../ops/progress.js';
import { selectServices, type SelectOptions } from '../ops/selection.js';
import { resolveSettings, type OpsSettings } from '../ops/settings.js';
import { selectTunnels, TunnelRunner } from '../ops/tunnels.js';
import { problemJson } from '../problems.js';
import { records } from '../runtime/shell.js';
import { failureReason } from '../transport/types.js';
import { resolveTunnels } from '../tunnels/resolve.js';
import type { Answer, WithProblems } from './answer.js';
import { prepare } from './prepare.js';

export interface ReapplyStep {
  /** "deploy shop worker", "tunnels up pg-forward", "db provision apps", "net caddy --apply on edge", "set aside on app". */
  step: string;
  ok: boolean;
  detail: string;
}

export interface ReapplyDocument {
  dry_run: boolean;
  /** What drift found first. */
  findings: DriftDocument['findings'];
  plan: { step: string; findings: string[] }[];
  left: { id: string; why: string }[];
  steps: ReapplyStep[];
  /** drift after the steps (null on a dry run). */
  after: DriftDocument | null;
}

export async function reapply(
  source: FleetOptions,
  selector: SelectOptions,
  given: Partial<OpsSettings>,
  choices: { dryRun: boolean; readyTimeoutMs?: number },
  progress: Progress,
): Promise<Answer<WithProblems<ReapplyDocument>>> {
  const { loaded, ops, selection } = await prepare(source, selector, resolveSettings(given));
  const everything = selector.targets.length === 0 && selector.host === undefined && selector.env === undefined;
  const hosts = everything ? loaded.fleet.hosts.map((h) => h.name) : undefined;
  const first = await collectDrift(ops, selection.services, hosts);
  const index = new FleetIndex(loaded.fleet);
  const allTunnels = resolveTunnels(index, locatorOf(loaded)).tunnels;
  const byHost = new Map<string, string[]>();
  for (const t of allTunnels) byHost.set(t.far, [...(byHost.get(t.far) ?? []), t.name]);
  const plan = planReapply(first.document.findings, new Set(selection.services.map((s) => s.id)), byHost);
  const stepOf = new Map<string, string[]>();
  for (const [id, step] of plan.by) stepOf.set(step, [...(stepOf.get(step) ?? []), id]);
  const document: ReapplyDocument = {
    dry_run: choices.dryRun,
    findings: first.document.findings,
    plan: [...stepOf].map(([step, findings]) => ({ step, findings })),
    left: plan.left,
    steps: [],
    after: null,
  };
  const done = (exitCode: number) => ({ exitCode, document: { ...document, problems: loaded.problems.map(problemJson) }, loaded });
  if (choices.dryRun || plan.by.size === 0) {
    await progress.close();
    return done(first.document.findings.length === 0 ? EXIT_OK : EXIT_PROBLEMS);
  }
  const stamp = new Date().toISOString().replace(/[-:.]/g, '');
  const host = (name: string) => loaded.fleet.hosts.find((h) => h.name === name)!;
  // Drop-ins first: the deploy's restart then runs the unit without them.
  for (const [name, paths] of plan.setAside) {
    progress.note(`[${name}] setting aside ${paths.join(', ')} (moved, never deleted), then systemctl daemon-reload`);
    const r = await ops.transport(host(name)).script(setAsideScript(paths, stamp), { timeoutMs: ops.settings.commandTimeoutMs });
    const failed = records(r.stdout).filter((x) => x[0] === 'aside' && x[2] !== 'ok');
    document.steps.push({
      step: `set aside on ${name}`,
      ok: r.code === 0 && failed.length === 0,
      detail: r.code === 0 && failed.length === 0 ? `${paths.join(', ')} moved to /var/lib/manage-apps/set-aside/${stamp}/` : failureReason(r),
    });
  }
  if (plan.deploy.length > 0) {
    const chosen = selectServices(loaded.fleet, { targets: plan.deploy });
    const report = await runDeploy(
      ops,
      chosen,
      { ...DEPLOY_DEFAULTS, ...(choices.readyTimeoutMs === undefined ? {} : { readyTimeoutMs: choices.readyTimeoutMs }) },
      progress,
    );
    for (const d of report.deploys)
      document.steps.push({
        step: `deploy ${d.id}`,
        ok: d.ok,
        detail: d.ok ? `${d.outcome}${d.release ? ` ${d.release}` : ''}` : (d.reason ?? d.outcome),
      });
  }
  if (plan.tunnels.length > 0) {
    const runner = new TunnelRunner(ops, index, allTunnels, (line) => progress.note(line));
    const run = await runner.up(selectTunnels(allTunnels, plan.tunnels));
    for (const t of run.tunnels)
      document.steps.push({ step: `tunnels up ${t.name}`, ok: t.error === undefined, detail: t.error ?? (t.changes.join(', ') || 'as declared') });
  }
  // An env file's credentials come back with the provision of its database's cluster.
  const declaredDatabases = selectDatabases(loaded.fleet, []).databases;
  for (const id of plan.envFiles) {
    const cluster = declaredDatabases.find((d) => d.id === id)?.cluster.name;
    if (cluster !== undefined && !plan.clusters.includes(cluster)) plan.clusters.push(cluster);
  }
  if (plan.clusters.length > 0) {
    const report = await provision(loaded.fleet, ops, { targets: plan.clusters, rotate: false, dryRun: false }, progress);
    for (const c of report.clusters) document.steps.push({ step: `db provision ${c.name}`, ok: c.ok, detail: `pg_hba.conf ${c.hba}` });
  }
  for (const name of plan.caddy) {
    const applied = await applyRendered('net caddy', { ...source, host: name }, given, false, (line) => progress.note(line));
    for (const h of applied.document.hosts)
      document.steps.push({
        step: `net caddy --apply on ${h.host}`,
        ok: h.state === 'changed' || h.state === 'unchanged',
        detail: `${h.path} ${h.state}${h.reload ? `, Caddy ${h.reload}` : ''}${h.message ? `: ${h.message}` : ''}`,
      });
    if (applied.document.hosts.length === 0)
      document.steps.push({ step: `net caddy --apply on ${name}`, ok: false, detail: 'nothing rendered for it' });
  }
  for (const name of plan.wireguard) {
    const applied = await applyRendered('net wireguard', { ...source, host: name }, given, false, (line) => progress.note(line));
    for (const h of applied.document.hosts)
      document.steps.push({
        step: `net wireguard --apply on ${h.host}`,
        ok: h.state === 'changed' || h.state === 'unchanged',
        detail: `${h.path} ${h.state}${h.reload ? `, ${h.reload}` : ''}${h.message ? `: ${h.message}` : ''}`,
      });
    if (applied.document.hosts.length === 0)
      document.steps.push({ step: `net wireguard --apply on ${name}`, ok: false, detail: 'nothing rendered for it' });
  }
  if (plan.backups.length > 0) {
    const installed = await backupsInstall(source, plan.backups, given, { dryRun: false });
    for (const i of installed.document.installs)
      document.steps.push({
        step: `backups install ${i.cluster}`,
        ok: i.ok,
        detail: i.ok ? `unit and ${i.timer?.unit ?? 'no timer'} installed on ${i.host}` : (i.reason ?? 'failed'),
      });
  }
  await progress.close();
  document.after = (await collectDrift(ops, selection.services, hosts)).document;
  const ok = document.steps.every((s) => s.ok) && document.after.findings.length === 0;
  return done(ok ? EXIT_OK : EXIT_PROBLEMS);
}

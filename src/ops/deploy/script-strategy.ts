/**
 * The project's own deploy script (`service.deploy`, infra/v1): lock → run the project's own script
 * locally with the service's details in MANAGE_APPS_* variables → restart → gate → unlock.
 * manage-apps switches nothing here (the script installs whatever it installs), so there is
 * no release to go back to and no revert is armed: docs/operations.md says what is guarded.
 */
import { access, constants } from 'node:fs/promises';
import { resolve } from 'node:path';
import { lockScript } from '../../runtime/release.js';
import { parseDiagnosis } from '../../runtime/shell.js';
import { diagnosisScript, gateScript } from '../../runtime/systemd-units.js';
import type { Diagnosis } from '../../runtime/types.js';
import { runProcess } from '../../transport/spawn.js';
import { sshBaseArgs } from '../../transport/ssh.js';
import type { Transport } from '../../transport/types.js';
import type { Ops } from '../context.js';
import { newOwner } from '../lock-owner.js';
import { gateDetail, readyTimeout } from '../lifecycle.js';
import { gateOf } from './activate.js';
import { acquire, forget, unlock } from './lock.js';
import type { StrategyContext } from './release-strategy.js';
import type { DeployResult } from './types.js';

async function diagnose(
  ops: Ops,
  transport: Transport,
  service: StrategyContext['service'],
  since: number | undefined,
): Promise<Diagnosis | undefined> {
  const rs = ops.runtime(service);
  if (rs.unit === undefined) return undefined;
  const r = await transport.script(diagnosisScript(rs, since), { timeoutMs: ops.settings.commandTimeoutMs });
  return r.unreachable === undefined ? parseDiagnosis(r.stdout) : undefined;
}

/** The ssh options manage-apps uses, quoted for the shell (`eval "set -- $MANAGE_APPS_SSH_OPTIONS"`). */
function sshOptionsWord(ops: Ops): string {
  return sshBaseArgs({
    connectTimeoutS: ops.settings.connectTimeoutS,
    ...(ops.settings.sshConfig === undefined ? {} : { configFile: ops.settings.sshConfig }),
    ...(ops.settings.controlDir === undefined ? {} : { controlDir: ops.settings.controlDir }),
  })
    .map((a) => (/^[A-Za-z0-9_./:=%,@+-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`))
    .join(' ');
}

export async function deployScript(ctx: StrategyContext): Promise<DeployResult> {
  const { ops, service, options, base, timings, report } = ctx;
  const host = ops.host(service)!;
  const transport = ops.transport(host);
  const owner = newOwner(`deploy ${service.id}`);
  const key = ops.runtime(service).key;
  report('taking the deploy lock');
  const lock = await acquire({ service, key, transport, owner, options, report, note: ctx.note }, (request) =>
    transport.script(lockScript(service.directory, key, request), { timeoutMs: ops.settings.commandTimeoutMs }),
  );
  base.roundTrips = lock.attempts;
  timings.lockMs = lock.waitedMs;
  base.lock = { waitedMs: lock.waitedMs, ...(lock.broke === undefined ? {} : { broke: lock.broke }) };
  if (!lock.acquired)
    return {
      ...base,
      outcome: lock.result.unreachable ? 'unreachable' : lock.owner ? 'locked' : 'failed',
      ok: false,
      reason: lock.reason ?? 'could not take the deploy lock',
    };
  let result: DeployResult | undefined;
  try {
    result = await runScript(ctx, transport);
    return result;
  } finally {
    // Once the host is judged unreachable nothing more is sent: the lock is provably stale once this process ends.
    if (result?.outcome !== 'unreachable') {
      await unlock(transport, service, key, owner.token);
      if (result) result.roundTrips++;
    } else forget(service);
  }
}

async function runScript(ctx: StrategyContext, transport: Transport): Promise<DeployResult> {
  const { ops, service, options, base, timings, report } = ctx;
  const host = ops.host(service)!;
  const script = resolve(service.projectDir, service.deployScript!);
  let executable = true;
  try {
    await access(script, constants.X_OK);
  } catch {
    try {
      await access(script, constants.R_OK);
      executable = false;
    } catch {
      return { ...base, outcome: 'failed', ok: false, reason: `deploy script not found: ${script}` };
    }
  }
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    MANAGE_APPS_SERVICE: service.id,
    MANAGE_APPS_PROJECT: service.project,
    MANAGE_APPS_ENV: service.environment,
    MANAGE_APPS_HOST: host.name,
    MANAGE_APPS_SSH_HOST: host.alias,
    MANAGE_APPS_DIRECTORY: service.directory,
    MANAGE_APPS_SSH_OPTIONS: sshOptionsWord(ops),
    ...(service.unit === undefined ? {} : { MANAGE_APPS_UNIT: service.unit }),
    ...(service.port === undefined ? {} : { MANAGE_APPS_PORT: String(service.port) }),
    ...(ops.settings.sshConfig === undefined ? {} : { MANAGE_APPS_SSH_CONFIG: ops.settings.sshConfig }),
  };
  report(`running ${service.deployScript}`);
  const t1 = Date.now();
  let last = '';
  const out = await runProcess(executable ? script : 'sh', executable ? [] : [script], {
    cwd: service.projectDir,
    env,
    timeoutMs: options.scriptTimeoutMs,
    onStdout: (c) => {
      last = (last + c).split('\n').filter(Boolean).pop() ?? last;
      report(`${service.deployScript}: ${last.slice(0, 120)}`);
    },
  });
  timings.shipMs = Date.now() - t1;
  const lastLines = `${out.stdout}\n${out.stderr}`
    .split('\n')
    .filter((l) => l.trim() !== '')
    .slice(-20);
  const scriptInfo = { exitCode: out.code, lastLines };
  const rs = ops.runtime(service);
  const timeout = readyTimeout(service, options);
  if (out.code !== 0) {
    base.roundTrips++;
    const diagnosis = await diagnose(ops, transport, service, undefined);
    return {
      ...base,
      outcome: 'failed',
      ok: false,
      reason: out.timedOut ? `${service.deployScript} timed out` : `${service.deployScript} failed (exit ${out.code ?? out.spawnError ?? 'signal'})`,
      script: scriptInfo,
      ...(diagnosis === undefined ? {} : { diagnosis }),
    };
  }
  report(`restarting ${rs.unit}, waiting for ${service.health.readiness}`);
  const t2 = Date.now();
  base.roundTrips++;
  const g = await transport.script(gateScript(rs, timeout, { action: 'restart' }), { timeoutMs: timeout + ops.settings.commandTimeoutMs + 90_000 });
  timings.activateMs = Date.now() - t2;
  if (g.unreachable) return { ...base, outcome: 'unreachable', ok: false, reason: g.unreachable, script: scriptInfo };
  const gate = gateOf(g);
  timings.gateMs = gate.elapsedMs;
  if (gate.outcome === 'ready') return { ...base, outcome: 'deployed', ok: true, script: scriptInfo };
  const reason = gateDetail(service, gate.outcome, gate.detail, timeout, gate.port);
  base.roundTrips++;
  const diagnosis = await diagnose(ops, transport, service, gate.since);
  return { ...base, outcome: 'failed', ok: false, reason, script: scriptInfo, ...(diagnosis === undefined ? {} : { diagnosis }) };
}

/**
 * Secrets from the operator's store to the hosts (docs/secrets.md): resolve locally, read each
 * host's state (one round trip), write a new generation for each service whose values changed
 * (one round trip), then restart the running services that use them through their readiness gate.
 * Status is the read alone, compared with keyed fingerprints of what the store holds now.
 *
 * Nothing here prints or returns a value: reports carry names, states and reasons, and every
 * reason that came from a host or a command is redacted by the resolved values.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Host, Service } from '../fleet/model.js';
import type { SecretDeclaration } from '../manifest/secrets.js';
import { describeSource } from '../manifest/secrets.js';
import type { Ops } from '../ops/context.js';
import { gateDetail, readyTimeout, runAction } from '../ops/lifecycle.js';
import { runtimeOf } from '../runtime/registry.js';
import { hostStatusScript, parseHostStatus } from '../runtime/host-status-script.js';
import { parseGate } from '../runtime/shell.js';
import { quote, validName } from '../transport/quote.js';
import type { StatusExtra } from '../ops/service-status.js';
import type { Progress } from '../ops/progress.js';
import { failureReason } from '../transport/types.js';
import { redactValues } from '../text/secrets.js';
import {
  credentialFile,
  ENV_FILE_NAME,
  FINGERPRINT_HEADER,
  HOST_SECRETS_ROOT,
  parseRead,
  parseSwitch,
  parseRevert,
  parseWrite,
  readScript,
  revertScript,
  switchScript,
  writeScript,
  type FingerprintLine,
  type GenerationWrite,
  type HostSecretsState,
  type RestartOnHost,
  type SecretsDirTarget,
} from './host-scripts.js';
import { SecretResolver, type Resolved } from './resolve.js';
import { credentialStore, SYSTEMD_LOAD_CREDENTIAL_SINCE } from './layout.js';

export type SecretState = 'current' | 'stale' | 'missing' | 'unresolvable';

export interface SecretRow {
  name: string;
  source: string;
  delivery: SecretDeclaration['delivery'];
  state: SecretState;
  /** Why it is not resolvable here (never a value). */
  reason?: string;
}

export interface ServiceSecretsRow {
  id: string;
  host: string;
  secrets: SecretRow[];
  /** The values on the host changed after its process started: it runs the ones before (a restart is pending). */
  restart_pending: boolean;
  /** A previous generation is kept (an unconfirmed change: `secrets revert` goes back to it). */
  previous_kept: boolean;
  /** The host could not be read. */
  unreachable?: string;
}

/**
 * The salt a host without one gets, one per host for the whole command: `deploy --all` pushes each
 * service's secrets on its own, side by side, and two services of one fresh host must not each
 * bring a salt of their own (the second would find the first's and stop: "the salt changed").
 */
const freshSalts = new WeakMap<Ops, Map<string, string>>();
function freshSalt(ops: Ops, host: string): string {
  let byHost = freshSalts.get(ops);
  if (byHost === undefined) freshSalts.set(ops, (byHost = new Map()));
  let salt = byHost.get(host);
  if (salt === undefined) byHost.set(host, (salt = randomBytes(32).toString('hex')));
  return salt;
}

/** Where this host's secrets live, and whether root's tree (a remote host) or the operator's (this machine). */
export function secretsRoot(ops: Ops, host: Host): { root: string; asRoot: boolean } {
  return ops.isLocal(host) ? { root: join(ops.localStateDir, 'secrets'), asRoot: false } : { root: HOST_SECRETS_ROOT, asRoot: true };
}

export function fingerprint(saltHex: string, value: string): string {
  return `hmac-sha256:${createHmac('sha256', Buffer.from(saltHex, 'hex')).update(value, 'utf8').digest('hex')}`;
}

const dirTarget = (s: Service): SecretsDirTarget => ({
  id: s.id,
  environment: s.environment,
  project: s.project,
  ...(s.unit === undefined || s.compose !== undefined ? {} : { unit: s.unit }),
});

/** A value as one line of an env file every reader takes the same way (systemd, Compose, dotenv, sh). */
export function envLine(name: string, value: string): { ok: true; line: string } | { ok: false; reason: string } {
  if (/[\0\r\n]/.test(value)) return { ok: false, reason: `${name} holds a line break: an env file cannot carry it (deliver it as a credential)` };
  if (/^[A-Za-z0-9_@%+=:,./-]*$/.test(value)) return { ok: true, line: `${name}=${value}` };
  if (!value.includes("'")) return { ok: true, line: `${name}='${value}'` };
  return { ok: false, reason: `${name} holds a single quote and characters an env file would interpret: deliver it as a credential` };
}

export interface HostGroup {
  host: Host;
  services: Service[];
}

export function byHost(ops: Ops, services: readonly Service[]): { groups: HostGroup[]; noHost: Service[] } {
  const groups = new Map<string, HostGroup>();
  const noHost: Service[] = [];
  for (const s of services) {
    const host = ops.host(s);
    if (host === undefined) {
      noHost.push(s);
      continue;
    }
    const g = groups.get(host.name) ?? { host, services: [] };
    g.services.push(s);
    groups.set(host.name, g);
  }
  return { groups: [...groups.values()], noHost };
}

/** Every declared secret of these services resolved (each source once). */
export async function resolveAll(resolver: SecretResolver, services: readonly Service[]): Promise<Map<string, Map<string, Resolved>>> {
  const out = new Map<string, Map<string, Resolved>>();
  await Promise.all(
    services.map(async (s) => {
      const m = new Map<string, Resolved>();
      for (const d of s.secrets ?? []) m.set(d.name, await resolver.resolve(d));
      out.set(s.id, m);
    }),
  );
  return out;
}

async function readHost(ops: Ops, group: HostGroup): Promise<{ ok: true; state: HostSecretsState } | { ok: false; reason: string }> {
  const { root, asRoot } = secretsRoot(ops, group.host);
  const r = await ops
    .transport(group.host)
    .script(readScript(root, asRoot, group.services.map(dirTarget)), { timeoutMs: ops.settings.commandTimeoutMs });
  if (r.code !== 0) return { ok: false, reason: failureReason(r) };
  return { ok: true, state: parseRead(r.stdout) };
}

function rowsFor(s: Service, hostName: string, resolved: Map<string, Resolved>, state: HostSecretsState | undefined): ServiceSecretsRow {
  const dir = state?.services.get(s.id);
  const onHost = new Map((dir?.fingerprints ?? []).map((f) => [f.name, f]));
  const secrets = (s.secrets ?? []).map((d): SecretRow => {
    const base = { name: d.name, source: describeSource(d.source), delivery: d.delivery };
    const r = resolved.get(d.name);
    if (r === undefined || !r.ok) return { ...base, state: 'unresolvable', reason: r?.ok === false ? r.reason : 'not resolved' };
    const fp = onHost.get(d.name);
    if (fp === undefined || state === undefined || state.salt === '') return { ...base, state: 'missing' };
    return { ...base, state: fp.fingerprint === fingerprint(state.salt, r.value) && fp.delivery === d.delivery ? 'current' : 'stale' };
  });
  return { id: s.id, host: hostName, secrets, restart_pending: dir?.runningOlder === true, previous_kept: (dir?.previous ?? '') !== '' };
}

export interface StatusReport {
  services: ServiceSecretsRow[];
  summary: { current: number; stale: number; missing: number; unresolvable: number; restart_pending: number; unreachable: number };
}

/** Rows and counts from what was resolved here and read on each host (a host not read: its rows say why). */
function statusReport(
  ops: Ops,
  withSecrets: readonly Service[],
  resolved: Map<string, Map<string, Resolved>>,
  reads: Map<string, { ok: true; state: HostSecretsState } | { ok: false; reason: string }>,
  values: readonly string[],
): StatusReport {
  const rows: ServiceSecretsRow[] = [];
  const { groups, noHost } = byHost(ops, withSecrets);
  for (const g of groups) {
    const read = reads.get(g.host.name) ?? { ok: false as const, reason: 'not read' };
    for (const s of g.services) {
      const row = rowsFor(s, g.host.name, resolved.get(s.id)!, read.ok ? read.state : undefined);
      if (!read.ok) row.unreachable = redactValues(read.reason, values);
      rows.push(row);
    }
  }
  for (const s of noHost) rows.push({ ...rowsFor(s, '', resolved.get(s.id)!, undefined), unreachable: 'no host' });
  rows.sort((a, b) => a.id.localeCompare(b.id));
  const count = (st: SecretState) => rows.reduce((n, r) => n + (r.unreachable === undefined ? r.secrets.filter((x) => x.state === st).length : 0), 0);
  return {
    services: rows,
    summary: {
      current: count('current'),
      stale: count('stale'),
      missing: count('missing'),
      unresolvable: count('unresolvable'),
      restart_pending: rows.filter((r) => r.restart_pending).length,
      unreachable: rows.filter((r) => r.unreachable !== undefined).length,
    },
  };
}

/** `secrets status`: one round trip per host, in parallel; values compared by keyed fingerprint only. */
export async function secretsStatus(ops: Ops, services: readonly Service[], resolver = new SecretResolver()): Promise<StatusReport> {
  const withSecrets = services.filter((s) => (s.secrets ?? []).length > 0);
  const [resolved, reads] = await Promise.all([
    resolveAll(resolver, withSecrets),
    Promise.all(byHost(ops, withSecrets).groups.map(async (g) => [g.host.name, await readHost(ops, g)] as const)),
  ]);
  return statusReport(ops, withSecrets, resolved, new Map(reads), await resolver.values());
}

const SECRETS_BEGIN = '@@secrets-begin';
const SECRETS_END = '@@secrets-end';

export interface SecretsStatusCollector {
  /** Per host: the read of its secrets, appended to that host's status script (the same round trip). */
  extras: Map<string, StatusExtra[]>;
  report(): Promise<StatusReport>;
}

/**
 * `status`'s view of secrets: the same read as `secrets status`, riding in each host's status
 * script; the values are resolved here meanwhile.
 */
export function secretsStatusCollector(ops: Ops, services: readonly Service[], resolver = new SecretResolver()): SecretsStatusCollector {
  const withSecrets = services.filter((s) => (s.secrets ?? []).length > 0);
  const resolving = resolveAll(resolver, withSecrets);
  const reads = new Map<string, { ok: true; state: HostSecretsState } | { ok: false; reason: string }>();
  const extras = new Map<string, StatusExtra[]>();
  for (const g of byHost(ops, withSecrets).groups) {
    const { root, asRoot } = secretsRoot(ops, g.host);
    extras.set(g.host.name, [
      {
        // Its own subshell: the read's prelude and `set -u` stay inside it.
        script: `printf '%s\\n' ${quote(SECRETS_BEGIN)}\n(\n${readScript(root, asRoot, g.services.map(dirTarget))})\nprintf '%s\\n' ${quote(SECRETS_END)}\n`,
        onResult: (r) => {
          const from = r.stdout.indexOf(`${SECRETS_BEGIN}\n`);
          const to = r.stdout.indexOf(`${SECRETS_END}\n`, from);
          if (r.unreachable !== undefined) reads.set(g.host.name, { ok: false, reason: r.unreachable });
          else if (from < 0 || to < 0) reads.set(g.host.name, { ok: false, reason: failureReason(r) });
          else reads.set(g.host.name, { ok: true, state: parseRead(r.stdout.slice(from, to)) });
        },
      },
    ]);
  }
  return {
    extras,
    report: async () => statusReport(ops, withSecrets, await resolving, reads, await resolver.values()),
  };
}

/**
 * The fragments that restart a service on its host inside the write's own round trip, when its
 * runtime can tell there whether it runs (runtime.ts ActivationRuntime.running): systemd units
 * and Compose services. Others (PID mode, a swap's instances, a scheduled job) are restarted by
 * the CLI after the write, when they run.
 */
function restartOnHost(ops: Ops, s: Service, readyTimeoutMs: number | undefined): { fragments: RestartOnHost; timeoutMs: number } | undefined {
  const releases = runtimeOf(s).releases;
  if (releases === undefined || !releases.activatable(s)) return undefined;
  const activation = ops.activation(s);
  if (activation.running === undefined) return undefined;
  const timeoutMs = readyTimeout(s, readyTimeoutMs === undefined ? {} : { readyTimeoutMs });
  return {
    timeoutMs,
    fragments: {
      directory: validName('path', s.directory),
      functions: activation.functions,
      running: activation.running(),
      restartAndGate: activation.restartAndGate(timeoutMs),
      restoreAndGate: activation.restoreAndGate ? activation.restoreAndGate(timeoutMs, 'failed-gate') : activation.restartAndGate(timeoutMs),
    },
  };
}

/** Whether a service the CLI restarts itself runs now: its unit active (read before), or its runtime's status says so. */
async function runsNow(ops: Ops, host: Host, s: Service, state: HostSecretsState): Promise<boolean> {
  if (state.services.get(s.id)?.active === true) return true;
  if (s.unit !== undefined) return false;
  const input = { groups: [{ runtime: runtimeOf(s), services: [ops.runtime(s)] }] };
  const r = await ops.transport(host).script(hostStatusScript(input), { timeoutMs: ops.settings.commandTimeoutMs });
  if (r.code !== 0) return false;
  return parseHostStatus(input, r.stdout).services.find((x) => x.id === s.id)?.state?.active === 'active';
}

/**
 * Why credentials cannot go to this host as its units are rendered, or undefined when they can:
 * the inventory's `systemd` (which decides the unit's LoadCredentialEncrypted= or LoadCredential=)
 * checked against the host's own, read in the same round trip as its secrets.
 */
export function credentialRefusal(host: Host, state: Pick<HostSecretsState, 'creds' | 'systemd'>): string | undefined {
  const store = credentialStore(host.systemd);
  const runs = state.systemd > 0 ? `systemd ${state.systemd}` : 'a systemd whose version it does not tell';
  if (store === 'none' || (state.systemd > 0 && state.systemd < SYSTEMD_LOAD_CREDENTIAL_SINCE))
    return `${host.name} runs ${runs}, which has no credentials (247 brought them): declare them with as: env`;
  if (store === 'encrypted' && !state.creds)
    return (
      `${host.name} runs ${runs}, without systemd-creds (250 brought it): credentials cannot be encrypted there; ` +
      `give "systemd": ${state.systemd > 0 ? state.systemd : '<its version>'} for ${host.name} in the inventory and deploy again, ` +
      'so its units load them from root-only files (LoadCredential=), or declare them with as: env'
    );
  return undefined;
}

export type PushOutcome = 'delivered' | 'unchanged' | 'would-deliver' | 'held' | 'failed';

export interface PushServiceResult {
  id: string;
  host: string;
  outcome: PushOutcome;
  /** Names delivered (or that would be), never values. */
  changed: string[];
  /** Names whose value could not be resolved here (the service is held back). */
  unresolvable: { name: string; reason: string }[];
  restart: { outcome: string; ok: boolean; detail?: string } | null;
  /** After a failed gate: the host went back to the values before, and restarted on them. */
  reverted?: { ok: boolean; detail?: string };
  reason?: string;
}

export interface PushOptions {
  dryRun: boolean;
  /** Only these secret names (rotation): a service that does not use one is left alone. */
  only?: readonly string[];
  /** Restart the running services whose values changed, through their gate (deploy restarts them itself). */
  restart: boolean;
  /** Host by host, stopping at the first failed gate (rotation); else every host in parallel. */
  sequential: boolean;
  readyTimeoutMs?: number;
}

export interface PushReport {
  services: PushServiceResult[];
  /** Hosts not reached (a rotation stops at the first failed gate). */
  not_reached: string[];
}

function generationId(): string {
  return `${Date.now().toString(36)}${randomBytes(4).toString('hex')}`;
}

/** What one service's new generation holds, or why it cannot be built. */
function buildGeneration(
  s: Service,
  resolved: Map<string, Resolved>,
  salt: string,
  store: 'encrypted' | 'file',
  onHost: readonly FingerprintLine[] = [],
): { ok: true; write: GenerationWrite } | { ok: false; reason: string } {
  const credentials: GenerationWrite['credentials'] = [];
  const env: string[] = [];
  const fp: string[] = [FINGERPRINT_HEADER];
  for (const d of s.secrets ?? []) {
    const r = resolved.get(d.name);
    if (r === undefined || !r.ok) return { ok: false, reason: `${d.name}: ${r?.ok === false ? r.reason : 'not resolved'}` };
    if (d.delivery === 'credential') {
      // Unchanged on the host (same keyed fingerprint, delivered as a credential): the host may copy its encrypted file.
      const same = onHost.some((f) => f.name === d.name && f.delivery === 'credential' && f.fingerprint === fingerprint(salt, r.value));
      credentials.push({ name: d.name, value: r.value, ...(same ? { unchanged: true } : {}) });
    } else {
      const line = envLine(d.name, r.value);
      if (!line.ok) return { ok: false, reason: line.reason };
      env.push(line.line);
    }
    fp.push(`${d.name}\t${d.delivery}\t${fingerprint(salt, r.value)}`);
  }
  return {
    ok: true,
    write: {
      id: s.id,
      environment: s.environment,
      project: s.project,
      ...(s.runAs === undefined ? {} : { owner: s.runAs }),
      credentials,
      ...(credentials.length > 0 && store === 'file' ? { credentialStore: 'file' as const } : {}),
      ...(env.length === 0 ? {} : { envFile: `${env.join('\n')}\n` }),
      fingerprints: `${fp.join('\n')}\n`,
    },
  };
}

/**
 * `secrets push` (and deploy's delivery): per host, read, write the generations that changed,
 * restart what runs them. Services whose secrets cannot be resolved are held back with the reason;
 * the others go on.
 */
export async function pushSecrets(
  ops: Ops,
  services: readonly Service[],
  options: PushOptions,
  progress: Progress,
  resolver = new SecretResolver(),
): Promise<PushReport> {
  const relevant = services.filter((s) => (s.secrets ?? []).some((d) => options.only === undefined || options.only.includes(d.name)));
  const { groups, noHost } = byHost(ops, relevant);
  // Every host's read starts now, while the values are resolved here (a `pass` entry costs a gpg
  // run, a command its own time): the two overlap instead of adding up. A host's state does not
  // change when others are written, so a rotation's later hosts may be read this early too.
  const reads = new Map(
    groups.map((g) => [
      g.host.name,
      readHost(ops, g).catch((error: unknown) => ({ ok: false as const, reason: error instanceof Error ? error.message : String(error) })),
    ]),
  );
  const resolved = await resolveAll(resolver, relevant);
  const values = await resolver.values();
  const redact = (t: string) => redactValues(t, values);
  const report: PushReport = { services: [], not_reached: [] };
  for (const s of noHost)
    report.services.push({ id: s.id, host: '', outcome: 'failed', changed: [], unresolvable: [], restart: null, reason: 'no host' });

  const pushHost = async (g: HostGroup): Promise<PushServiceResult[]> => {
    const results: PushServiceResult[] = [];
    const task = progress.task(`secrets:${g.host.name}`);
    const read = await reads.get(g.host.name)!;
    if (!read.ok) {
      task.fail(redact(read.reason));
      return g.services.map((s) => ({
        id: s.id,
        host: g.host.name,
        outcome: 'failed',
        changed: [],
        unresolvable: [],
        restart: null,
        reason: redact(read.reason),
      }));
    }
    const state = read.state;
    const newSalt = state.salt === '' ? freshSalt(ops, g.host.name) : undefined;
    const salt = state.salt === '' ? newSalt! : state.salt;
    const writes: { s: Service; write: GenerationWrite; result: PushServiceResult }[] = [];
    for (const s of g.services) {
      const res = resolved.get(s.id)!;
      const row = rowsFor(s, g.host.name, res, state);
      const result: PushServiceResult = { id: s.id, host: g.host.name, outcome: 'unchanged', changed: [], unresolvable: [], restart: null };
      results.push(result);
      result.unresolvable = row.secrets.filter((x) => x.state === 'unresolvable').map((x) => ({ name: x.name, reason: x.reason ?? '' }));
      if (result.unresolvable.length > 0) {
        result.outcome = 'held';
        result.reason = `not resolvable here: ${result.unresolvable.map((u) => `${u.name} (${u.reason})`).join('; ')}`;
        continue;
      }
      result.changed = row.secrets
        .filter((x) => x.state !== 'current' && (options.only === undefined || options.only.includes(x.name)))
        .map((x) => x.name);
      // Rotation of one name: the service's other secrets are delivered as they are now (they are in the same generation).
      const needsRestartOnly = result.changed.length === 0 && row.restart_pending;
      if (result.changed.length === 0 && !needsRestartOnly) continue;
      const refused = s.secrets!.some((d) => d.delivery === 'credential') ? credentialRefusal(g.host, state) : undefined;
      if (refused !== undefined) {
        result.outcome = 'failed';
        result.reason = refused;
        continue;
      }
      if (options.dryRun) {
        result.outcome = result.changed.length > 0 ? 'would-deliver' : 'unchanged';
        if (needsRestartOnly) result.reason = 'delivered before; its process still runs the values before them (would restart)';
        continue;
      }
      if (needsRestartOnly) {
        result.reason = 'delivered before; restarting so its process runs them';
        writes.push({ s, write: undefined as unknown as GenerationWrite, result });
        continue;
      }
      const gen = buildGeneration(
        s,
        res,
        salt,
        credentialStore(g.host.systemd) === 'file' ? 'file' : 'encrypted',
        state.services.get(s.id)?.fingerprints ?? [],
      );
      if (!gen.ok) {
        result.outcome = 'failed';
        result.reason = redact(gen.reason);
        continue;
      }
      writes.push({ s, write: gen.write, result });
    }
    const toWrite = writes.filter((w) => w.write !== undefined);
    const restarting = options.restart && !options.dryRun;
    // Services restarted by the write's own script (their runtime can say, on the host, whether they run).
    const onHost = new Set<string>();
    let writeMs = ops.settings.commandTimeoutMs;
    if (restarting)
      for (const w of toWrite) {
        const restart = restartOnHost(ops, w.s, options.readyTimeoutMs);
        if (restart === undefined) continue;
        w.write.restart = restart.fragments;
        onHost.add(w.s.id);
        writeMs += 2 * restart.timeoutMs + 30_000;
      }
    if (toWrite.length > 0) {
      task.update(`delivering ${toWrite.map((w) => w.s.id).join(', ')}${onHost.size > 0 ? ', restarting what runs them through their gate' : ''}`);
      const { root, asRoot } = secretsRoot(ops, g.host);
      const r = await ops.transport(g.host).script(
        writeScript(
          root,
          asRoot,
          toWrite.map((w) => w.write),
          generationId(),
          newSalt,
        ),
        { timeoutMs: writeMs },
      );
      const written = parseWrite(r.stdout);
      for (const w of toWrite) {
        const one = written.get(w.s.id);
        if (one?.ok === true) w.result.outcome = 'delivered';
        else {
          w.result.outcome = 'failed';
          w.result.reason = redact(one?.error ?? (r.code === 0 ? 'no answer from the host' : failureReason(r)));
          continue;
        }
        if (!onHost.has(w.s.id)) continue;
        if (one.restart === undefined) {
          // Switched, then the answer stopped: the host finishes the restart (or goes back) on its own.
          w.result.restart = { outcome: 'unknown', ok: false, detail: redact(`no verdict from the host: ${failureReason(r)}`) };
          w.result.outcome = 'failed';
          w.result.reason = `${w.s.id}: delivered; the host's answer about its restart did not arrive (\`manage-apps secrets status\` tells what it runs)`;
          continue;
        }
        if (one.restart.idle) continue;
        const timeout = readyTimeout(w.s, options);
        const gate = parseGate(one.restart.output);
        const ok = gate.outcome === 'ready';
        w.result.restart = {
          outcome: ok ? 'restarted' : 'failed',
          ok,
          ...(ok ? {} : { detail: redact(gateDetail(w.s, gate.outcome, gate.detail, timeout, gate.port)) }),
        };
        if (ok) continue;
        w.result.outcome = 'failed';
        w.result.reason = `${w.s.id} failed its readiness gate with the new value of ${w.result.changed.join(', ')}`;
        if (one.back === 'done') {
          const again = parseGate(one.restore ?? '');
          w.result.reverted =
            again.outcome === 'ready'
              ? { ok: true }
              : { ok: false, detail: redact(gateDetail(w.s, again.outcome, again.detail, timeout, again.port)) };
        } else w.result.reverted = { ok: false, detail: one.back === 'none' ? 'no previous values on the host' : 'the switch back failed' };
      }
    }
    if (restarting) {
      for (const w of writes) {
        if (w.result.outcome === 'failed' || onHost.has(w.s.id)) continue;
        if (w.write === undefined) w.result.outcome = 'delivered';
        if (!(await runsNow(ops, g.host, w.s, state))) continue;
        task.update(`restarting ${w.s.id} through its readiness gate`);
        const r = await runAction(ops, w.s, 'restart', {
          wait: true,
          force: true,
          graceS: 10,
          ...(options.readyTimeoutMs === undefined ? {} : { readyTimeoutMs: options.readyTimeoutMs }),
        });
        w.result.restart = { outcome: r.outcome, ok: r.ok, ...(r.detail === undefined ? {} : { detail: redact(r.detail) }) };
        if (!r.ok && w.write !== undefined) {
          // The new values failed the gate: back to the ones before, and up again on them.
          w.result.outcome = 'failed';
          w.result.reason = `${w.s.id} failed its readiness gate with the new value of ${w.result.changed.join(', ')}`;
          const { root, asRoot } = secretsRoot(ops, g.host);
          const sw = await ops
            .transport(g.host)
            .script(switchScript(root, asRoot, [dirTarget(w.s)], 'revert'), { timeoutMs: ops.settings.commandTimeoutMs });
          const back = parseSwitch(sw.stdout).get(w.s.id);
          if (back?.state === 'done') {
            const again = await runAction(ops, w.s, 'restart', { wait: true, force: true, graceS: 10 });
            w.result.reverted = { ok: again.ok, ...(again.ok ? {} : { detail: redact(again.detail ?? again.outcome) }) };
          } else w.result.reverted = { ok: false, detail: back?.state === 'none' ? 'no previous values on the host' : 'the switch back failed' };
        }
      }
    }
    if (results.some((r) => r.outcome === 'failed'))
      task.fail(
        results
          .filter((r) => r.outcome === 'failed')
          .map((r) => `${r.id}: ${r.reason}`)
          .join('; '),
      );
    else task.ok(`${results.filter((r) => r.outcome === 'delivered').length} delivered`);
    return results;
  };

  progress.plan(groups.map((g) => ({ key: `secrets:${g.host.name}`, host: g.host.name, title: `secrets on ${g.host.name}` })));
  if (options.sequential) {
    for (let i = 0; i < groups.length; i++) {
      const results = await pushHost(groups[i]!);
      report.services.push(...results);
      if (results.some((r) => r.restart !== null && !r.restart.ok)) {
        report.not_reached = groups.slice(i + 1).map((g) => g.host.name);
        break;
      }
    }
  } else for (const results of await Promise.all(groups.map(pushHost))) report.services.push(...results);
  report.services.sort((a, b) => a.id.localeCompare(b.id));
  return report;
}

/** `secrets revert` / `secrets confirm` on each selected service's host: one round trip per host. */
export async function switchSecrets(
  ops: Ops,
  services: readonly Service[],
  action: 'revert' | 'confirm',
): Promise<{ id: string; host: string; state: 'done' | 'none' | 'fail'; detail?: string }[]> {
  const out: { id: string; host: string; state: 'done' | 'none' | 'fail'; detail?: string }[] = [];
  const { groups } = byHost(
    ops,
    services.filter((s) => (s.secrets ?? []).length > 0),
  );
  await Promise.all(
    groups.map(async (g) => {
      const { root, asRoot } = secretsRoot(ops, g.host);
      const r = await ops
        .transport(g.host)
        .script(switchScript(root, asRoot, g.services.map(dirTarget), action), { timeoutMs: ops.settings.commandTimeoutMs });
      const parsed = parseSwitch(r.stdout);
      for (const s of g.services) {
        const one = parsed.get(s.id);
        out.push({ id: s.id, host: g.host.name, state: one?.state ?? 'fail', ...(one === undefined ? { detail: failureReason(r) } : {}) });
      }
    }),
  );
  return out.sort((a, b) => a.id.localeCompare(b.id));
}

export interface RevertReport {
  services: { id: string; host: string; state: 'done' | 'none' | 'fail'; detail?: string }[];
  restarts: { id: string; outcome: string; ok: boolean; detail?: string }[];
}

/**
 * `secrets revert`: each selected service back on the values before the last change, one round
 * trip per host (in parallel). What runs them restarts through its gate in that same script (a
 * systemd unit, a Compose service recreated by \`up -d\` so it reads the env file again), so a CLI
 * killed or cut off meanwhile leaves the host to finish; others (PID mode) are not restarted.
 */
export async function revertSecrets(ops: Ops, services: readonly Service[], options: { readyTimeoutMs?: number } = {}): Promise<RevertReport> {
  const report: RevertReport = { services: [], restarts: [] };
  const { groups } = byHost(
    ops,
    services.filter((s) => (s.secrets ?? []).length > 0),
  );
  await Promise.all(
    groups.map(async (g) => {
      const { root, asRoot } = secretsRoot(ops, g.host);
      let timeoutMs = ops.settings.commandTimeoutMs;
      const targets = g.services.map((s) => {
        const restart = restartOnHost(ops, s, options.readyTimeoutMs);
        if (restart !== undefined) timeoutMs += 2 * restart.timeoutMs + 30_000;
        return { s, target: dirTarget(s), ...(restart === undefined ? {} : { restart: restart.fragments }) };
      });
      const r = await ops.transport(g.host).script(revertScript(root, asRoot, targets), { timeoutMs });
      const parsed = parseRevert(r.stdout);
      for (const t of targets) {
        const one = parsed.get(t.s.id);
        report.services.push({
          id: t.s.id,
          host: g.host.name,
          state: one?.state ?? 'fail',
          ...(one === undefined ? { detail: failureReason(r) } : one.state === 'fail' ? { detail: 'cannot switch current' } : {}),
        });
        if (one?.state !== 'done') continue;
        if (t.restart === undefined) {
          // A unit with no fragment (one of its own): restarted by the CLI, as before. PID mode is
          // not restarted: `secrets status` says when its process runs the values before.
          if (t.s.unit !== undefined && t.s.compose === undefined) {
            const done = await runAction(ops, t.s, 'restart', { wait: true, force: true, graceS: 10 });
            report.restarts.push({ id: t.s.id, outcome: done.outcome, ok: done.ok, ...(done.detail === undefined ? {} : { detail: done.detail }) });
          }
          continue;
        }
        const w = one.restart?.restart;
        if (w === undefined) {
          report.restarts.push({ id: t.s.id, outcome: 'unknown', ok: false, detail: `no verdict from the host: ${failureReason(r)}` });
          continue;
        }
        if (w.idle) continue;
        const timeout = readyTimeout(t.s, options);
        const gate = parseGate(w.output);
        if (gate.outcome === 'ready') {
          report.restarts.push({ id: t.s.id, outcome: 'restarted', ok: true });
          continue;
        }
        const forward = one.restart?.back === 'done' ? '; the host switched forward again to the values it ran and restarted on them' : '';
        report.restarts.push({
          id: t.s.id,
          outcome: 'failed',
          ok: false,
          detail: `${gateDetail(t.s, gate.outcome, gate.detail, timeout, gate.port)}${forward}`,
        });
      }
    }),
  );
  report.services.sort((a, b) => a.id.localeCompare(b.id));
  report.restarts.sort((a, b) => a.id.localeCompare(b.id));
  return report;
}

/**
 * The system OpenSSH client, so the user's ~/.ssh/config, agent, ProxyJump and keys just work
 * (the infra/v1 mesh_host_resolution rule: `ssh <alias> …`, no IP or -i baked in).
 *
 * Every connection: BatchMode (never a prompt), a connect timeout, host keys checked by
 * ssh's own rules (never StrictHostKeyChecking=no), keep-alives so a cut network is noticed,
 * and multiplexing (ControlMaster/ControlPersist) through a private control directory so a
 * second command to the same host costs one round trip, not a handshake.
 */
import { homedir, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { existingAncestor, privateDirectory } from './private-dir.js';
import { Shell, validName } from './quote.js';
import { runProcess, type SpawnResult } from './spawn.js';
import type { RunOptions, RunResult, Transport } from './types.js';

export interface SshOptions {
  /** An ssh config file passed with -F (--ssh-config, or MANAGE_APPS_SSH_CONFIG). */
  configFile?: string;
  /** Seconds for the TCP connect + handshake (ssh ConnectTimeout). */
  connectTimeoutS?: number;
  /** Control directory for multiplexed connections; default: a private one (see controlDir). */
  controlDir?: string;
  /** false: no multiplexing (every command makes its own connection). */
  multiplex?: boolean;
  /** How long an idle master connection stays up (ControlPersist). */
  persist?: string;
  /** The ssh binary (default "ssh"). */
  ssh?: string;
}

export const DEFAULT_CONNECT_TIMEOUT_S = 10;

/** A script whose ssh connection is already being made (see SshTransport.startScript). */
export interface PendingScript {
  run(script: string): Promise<RunResult>;
  cancel(): void;
}

/**
 * Private directory for ControlPath sockets: $MANAGE_APPS_CONTROL_DIR, else
 * ~/.cache/manage-apps/ssh, else /tmp/manage-apps-<uid>/ssh when the home path would make a
 * socket path longer than the system allows (~104 bytes). Whichever it is, its whole path is
 * checked as OpenSSH checks the files it trusts (src/transport/private-dir.ts): a directory on
 * the way that another user owns or can write is refused, never repaired — in /tmp another
 * local user can make /tmp/manage-apps-<uid> first and swap in a master socket of their own.
 */
export function controlDir(configured?: string): string {
  const fromEnv = configured ?? process.env['MANAGE_APPS_CONTROL_DIR'];
  if (fromEnv !== undefined && fromEnv !== '') return privateDirectory(fromEnv, existingAncestor(fromEnv));
  const dir = join(homedir(), '.cache', 'manage-apps', 'ssh');
  // %C expands to 40 hex characters; unix socket paths are limited to ~104 bytes (macOS).
  if (dir.length + 42 + 20 <= 104) return privateDirectory(dir, existingAncestor(dir));
  const uid = typeof process.getuid === 'function' ? process.getuid() : userInfo().uid;
  return privateDirectory(join(tmpdir(), `manage-apps-${uid}`, 'ssh'), tmpdir());
}

/** The ssh arguments before the destination: shared by every command, the benchmark and the docs. */
export function sshBaseArgs(options: SshOptions = {}): string[] {
  const args: string[] = [];
  const config = options.configFile ?? process.env['MANAGE_APPS_SSH_CONFIG'];
  if (config !== undefined && config !== '') args.push('-F', config);
  args.push(
    '-T',
    '-o',
    'BatchMode=yes',
    '-o',
    `ConnectTimeout=${options.connectTimeoutS ?? DEFAULT_CONNECT_TIMEOUT_S}`,
    // A host that stops answering mid-command is judged gone after 3 missed keepalives: every 5 s,
    // or as often as the connect timeout when that is shorter (--connect-timeout 2: within ~6 s).
    '-o',
    `ServerAliveInterval=${Math.max(1, Math.min(5, Math.ceil(options.connectTimeoutS ?? DEFAULT_CONNECT_TIMEOUT_S)))}`,
    '-o',
    'ServerAliveCountMax=3',
    '-o',
    'LogLevel=ERROR',
  );
  if (options.multiplex !== false) {
    const dir = controlDir(options.controlDir);
    args.push('-o', 'ControlMaster=auto', '-o', `ControlPath=${join(dir, '%C')}`, '-o', `ControlPersist=${options.persist ?? '60s'}`);
  }
  return args;
}

/** ssh's own messages when it could not reach or log in to the host (exit status 255). */
const CONNECTION_ERROR =
  /(ssh: |connect to host|Connection (timed out|refused|closed|reset)|No route to host|Network is unreachable|Could not resolve hostname|Host key verification failed|Permission denied|kex_exchange_identification|banner exchange|Connection to .* (closed|timed out)|Broken pipe|mux_client|Control socket|Timeout, server .* not responding|port \d+: )/i;

export function classify(result: SpawnResult, target: string): RunResult {
  let unreachable: string | undefined;
  if (result.spawnError !== undefined) unreachable = `cannot run ssh: ${result.spawnError}`;
  else if (result.timedOut) unreachable = `no answer from ${target} within ${(result.durationMs / 1000).toFixed(1)}s`;
  else if (result.code === 255) {
    // 255 is ssh's own failure (our scripts never exit 255): no connection, or it was lost.
    const lines = result.stderr
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
    const line = lines.filter((l) => CONNECTION_ERROR.test(l)).pop() ?? lines.pop();
    unreachable = line === undefined ? `lost the connection to ${target}` : line.replace(/^ssh: /, '');
  }
  return { code: result.code, stdout: result.stdout, stderr: result.stderr, timedOut: result.timedOut, durationMs: result.durationMs, unreachable };
}

export class SshTransport implements Transport {
  readonly kind = 'ssh' as const;
  private readonly base: string[];
  private readonly ssh: string;

  /**
   * `prestarted`: hands over a connection opened before the caller knew what to run (see
   * src/ops/prewarm.ts), or nothing; the next plain `script()` runs on it instead of spawning ssh.
   */
  constructor(
    readonly host: string,
    readonly target: string,
    readonly options: SshOptions = {},
    private readonly prestarted: () => PendingScript | undefined = () => undefined,
  ) {
    // The alias goes to ssh as one argv word after "--": it can never be read as an option.
    validName('host', target);
    this.base = sshBaseArgs(options);
    this.ssh = options.ssh ?? 'ssh';
  }

  /** The full argv for a remote command (exposed for --dry-run and the docs). */
  argv(remote: string): string[] {
    return [...this.base, '--', this.target, remote];
  }

  async script(script: string, options: Omit<RunOptions, 'stdin'> = {}): Promise<RunResult> {
    // A connection already opened serves a script that needs nothing but a timeout (no live output, no abort).
    const started = options.onStdout === undefined && options.onStderr === undefined && options.signal === undefined ? this.prestarted() : undefined;
    if (started !== undefined) return started.run(script);
    // The remote login shell runs `sh -s`, which reads the script from stdin.
    const result = await runProcess(this.ssh, this.argv('sh -s'), { ...options, stdin: script });
    return classify(result, this.target);
  }

  async command(command: Shell, options: RunOptions = {}): Promise<RunResult> {
    const result = await runProcess(this.ssh, this.argv(command.text), options);
    return classify(result, this.target);
  }

  commandArgv(command: Shell): { file: string; args: string[] } {
    return { file: this.ssh, args: this.argv(command.text) };
  }

  /**
   * Starts `ssh <alias> sh -s` now and sends the script later: the connection (or the
   * multiplexed session) is set up while the caller is still working out what to run.
   * `cancel()` ends it unused.
   */
  startScript(options: Omit<RunOptions, 'stdin'> = {}): PendingScript {
    const stdin = new PassThrough();
    const abort = new AbortController();
    const running = runProcess(this.ssh, this.argv('sh -s'), { ...options, stdin, signal: abort.signal });
    let sent = false;
    return {
      run: async (script: string) => {
        sent = true;
        stdin.end(script);
        return classify(await running, this.target);
      },
      cancel: () => {
        if (sent) return;
        sent = true;
        stdin.end('exit 0\n');
        abort.abort();
      },
    };
  }

  /** Ends the multiplexed master connection (used after a timeout, so the next command starts fresh). */
  async dropMaster(): Promise<void> {
    if (this.options.multiplex === false) return;
    await runProcess(this.ssh, [...this.base, '-O', 'exit', '--', this.target], { timeoutMs: 3000 });
  }

  async close(): Promise<void> {
    // ControlPersist keeps the master for the next command; nothing to release here.
  }
}

// Real test hosts for the test suite: each host has its own address on a private bridge,
// systemd as PID 1 in its own namespaces, and a real sshd. See docs/test-hosts.md.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import {
  FLEET_CGROUP_NAME,
  FLEET_STATE_ROOT,
  type FleetState,
  type HostState,
  LINK_PREFIX,
  ensureStateRoot,
  listFleetStates,
  readState,
  sweepStale,
  teardownFleet,
  writeState,
} from './fleet-state.js';
import { localAptRepository, purgeScript, writeOfflineApt } from './fresh-hosts.js';
import { HOST_INIT_SCRIPT, HOST_WRAPPER_SCRIPT, SSHD_BINARY, SSH_UNIT_FILE, SYSTEMD_BINARY, writeHostIdentity } from './host-image.js';
import {
  CLEAN_ENV,
  type CommandResult,
  cgroup2Root,
  cgroupPopulated,
  childPids,
  commandInPath,
  ensureInotifyAllowance,
  innermostPid,
  isAlive,
  killInFlightCommands,
  processRef,
  removeCgroupTree,
  runAsync,
  runSync,
  sleep,
} from './system.js';

export { sweepStale, FLEET_STATE_ROOT } from './fleet-state.js';
export { ensureUpperDir, writeUpperFile } from './host-image.js';
export type { CommandResult } from './system.js';

export type FleetSpec = { count: number } | { names: readonly string[] };

export interface FleetHost {
  readonly name: string;
  /** its address on the fleet's bridge, 10.98.X.N */
  readonly address: string;
  /** the Host entry in sshConfigPath: `ssh -F <sshConfigPath> <alias>` */
  readonly alias: string;
}

export interface HostPreparation {
  readonly name: string;
  readonly address: string;
  /** the host's overlay upper layer: a file at upperDir/etc/x is /etc/x inside the host */
  readonly upperDir: string;
}

export interface FleetOptions {
  /** directory name under FLEET_STATE_ROOT; default test-<pid>-<n> */
  name?: string;
  /** ssh ConnectTimeout written to the ssh config, in seconds (default 2) */
  connectTimeoutSec?: number;
  /** how long each host may take to answer `ssh … true` (default 60 s) */
  bootTimeoutMs?: number;
  /**
   * Hosts outlive this process (for `npm run fleet -- up`): no clean-up on exit once up()
   * has succeeded. An up() that fails or is interrupted is still cleaned up.
   */
  persistent?: boolean;
  /**
   * Called for each host after the harness has written its files and before boot, e.g. to
   * install units. Write only below upperDir (ensureUpperDir/writeUpperFile keep the machine's
   * directory modes).
   */
  prepareHost?: (host: HostPreparation) => void | Promise<void>;
  /**
   * Fresh hosts (test/harness/fresh-hosts.ts): Caddy, PostgreSQL and Docker are not installed
   * (purged after boot), and apt installs them from a local repository of this machine's packages.
   */
  fresh?: boolean;
}

export type HostRef = string | FleetHost;

export interface HostStatus extends FleetHost {
  running: boolean;
  /** PID of the host's systemd in the machine's PID namespace */
  pid1?: number;
  networkUp: boolean;
}

export type Prerequisites = { ok: true } | { ok: false; reason: string };

const HOST_NAME = /^[a-z][a-z0-9-]{0,30}$/;
const FLEET_NAME = /^[a-z0-9][a-z0-9-]{0,40}$/;
const UNIT_NAME = /^[A-Za-z0-9][A-Za-z0-9@._:\\-]*$/;
const MAX_HOSTS = 200;

/** What the machine must have for real test hosts; `reason` says what is missing and how to get it. */
export function prerequisites(): Prerequisites {
  const missing = (reason: string): Prerequisites => ({ ok: false, reason });
  if (process.platform !== 'linux') return missing(`not Linux (${process.platform})`);
  if (process.getuid?.() !== 0) return missing('not root (namespaces, mounts and cgroups need root)');
  if (!existsSync(SYSTEMD_BINARY)) return missing(`no systemd binary at ${SYSTEMD_BINARY}`);
  if (!existsSync(SSHD_BINARY) || !existsSync(SSH_UNIT_FILE)) return missing('sshd not installed (apt-get install openssh-server)');
  const commands: Array<[string, string]> = [
    ['ip', 'iproute2'],
    ['unshare', 'util-linux'],
    ['nsenter', 'util-linux'],
    ['pivot_root', 'util-linux'],
    ['mount', 'mount'],
    ['umount', 'mount'],
    ['ssh', 'openssh-client'],
    ['ssh-keygen', 'openssh-client'],
  ];
  for (const [command, debianPackage] of commands) {
    if (!commandInPath(command)) return missing(`no ${command} command (apt-get install ${debianPackage})`);
  }
  if (!cgroup2Root()) return missing('no cgroup2 hierarchy mounted');
  return { ok: true };
}

/**
 * For `test(name, { skip: realHostsSkipReason() }, …)`: the one-line reason to skip, or
 * undefined when the hosts can run. With CI=true it is always undefined: the test then runs
 * and TestFleet.up() fails with the reason, because CI must not silently skip real-host tests.
 */
export function realHostsSkipReason(): string | undefined {
  const check = prerequisites();
  if (check.ok || process.env.CI === 'true') return undefined;
  return `real test hosts unavailable: ${check.reason}`;
}

// ---- clean-up when the process ends ----------------------------------------------------------

const fleetsToTearDownOnExit = new Set<TestFleet>();
const HANDLED_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

function tearDownAllOnExit(): void {
  killInFlightCommands();
  for (const fleet of [...fleetsToTearDownOnExit]) {
    fleetsToTearDownOnExit.delete(fleet);
    const problems = fleet.tearDownNow();
    if (problems.length > 0) process.stderr.write(`test fleet ${fleet.name}: not fully removed:\n  ${problems.join('\n  ')}\n`);
  }
}

function onSignal(signal: NodeJS.Signals): void {
  tearDownAllOnExit();
  process.exit(128 + (osConstants.signals[signal] ?? 0));
}

function tearDownOnExit(fleet: TestFleet): void {
  if (fleetsToTearDownOnExit.size === 0) {
    // 'exit' also runs after an uncaught exception or unhandled rejection.
    process.on('exit', tearDownAllOnExit);
    for (const signal of HANDLED_SIGNALS) process.on(signal, onSignal);
  }
  fleetsToTearDownOnExit.add(fleet);
}

function keepAfterExit(fleet: TestFleet): void {
  if (!fleetsToTearDownOnExit.delete(fleet) || fleetsToTearDownOnExit.size > 0) return;
  process.off('exit', tearDownAllOnExit);
  for (const signal of HANDLED_SIGNALS) process.off(signal, onSignal);
}

// ---- the fleet ---------------------------------------------------------------------------------

let fleetsCreated = 0;

export class TestFleet {
  private tornDown = false;

  /** How each host's wrapper (and so its PID 1) ended, when this process saw it end: said when a boot fails. */
  private readonly wrapperEnds = new Map<string, string>();

  private constructor(private readonly state: FleetState) {}

  /**
   * Brings the hosts up in parallel and resolves once each answers `ssh <alias> true`.
   * Leftovers of fleets whose owner died are swept first.
   */
  static async up(spec: FleetSpec, options: FleetOptions = {}): Promise<TestFleet> {
    const check = prerequisites();
    if (!check.ok) {
      const ci = process.env.CI === 'true' ? ' (CI=true: real-host tests fail instead of skipping)' : '';
      throw new Error(`real test hosts unavailable: ${check.reason}${ci}`);
    }
    const names = hostNames(spec);
    const name = options.name ?? `test-${process.pid}-${++fleetsCreated}`;
    if (!FLEET_NAME.test(name)) throw new Error(`invalid fleet name ${JSON.stringify(name)}: use ${FLEET_NAME}`);
    const connectTimeoutSec = options.connectTimeoutSec ?? 2;
    if (!Number.isInteger(connectTimeoutSec) || connectTimeoutSec < 1) throw new Error('connectTimeoutSec must be a whole number of seconds ≥ 1');

    sweepStale();
    for (const change of ensureInotifyAllowance())
      process.stderr.write(`test fleet ${name}: raised ${change} (the hosts' systemd take inotify instances from it)\n`);
    ensureStateRoot();
    const baseDir = join(FLEET_STATE_ROOT, name);
    try {
      mkdirSync(baseDir, { mode: 0o700 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      throw new Error(`test fleet ${name} already exists (${baseDir}); tear it down first: npm run fleet -- down --name ${name}`);
    }
    const owner = processRef(process.pid);
    if (!owner) throw new Error('cannot read this process in /proc');
    const fleet = new TestFleet({
      version: 1,
      name,
      baseDir,
      owner,
      persistent: options.persistent ?? false,
      createdAt: new Date().toISOString(),
      connectTimeoutSec,
      identityFile: join(baseDir, 'id_ed25519'),
      knownHostsPath: join(baseDir, 'known_hosts'),
      sshConfigPath: join(baseDir, 'ssh_config'),
      hosts: [],
    });
    writeState(fleet.state);
    // Registered before anything exists, so an interrupted up() leaves nothing behind either.
    tearDownOnExit(fleet);
    try {
      await fleet.build(names, options);
    } catch (error) {
      keepAfterExit(fleet);
      const problems = fleet.tearDownNow();
      if (problems.length > 0)
        throw new AggregateError([error], `test fleet ${name} failed to come up, and clean-up left:\n  ${problems.join('\n  ')}`);
      throw error;
    }
    if (fleet.state.persistent) keepAfterExit(fleet);
    return fleet;
  }

  /** A fleet recorded under FLEET_STATE_ROOT (e.g. one `npm run fleet -- up` left running). */
  static attach(name: string): TestFleet | undefined {
    const state = readState(join(FLEET_STATE_ROOT, name));
    return state ? new TestFleet(state) : undefined;
  }

  /** Every fleet recorded under FLEET_STATE_ROOT, by any process. */
  static list(): TestFleet[] {
    return listFleetStates().map((state) => new TestFleet(state));
  }

  get name(): string {
    return this.state.name;
  }
  get baseDir(): string {
    return this.state.baseDir;
  }
  get persistent(): boolean {
    return this.state.persistent;
  }
  get hosts(): readonly FleetHost[] {
    return this.state.hosts.map(({ name, address, alias }) => ({ name, address, alias }));
  }
  get sshConfigPath(): string {
    return this.state.sshConfigPath;
  }
  get knownHostsPath(): string {
    return this.state.knownHostsPath;
  }
  get identityFile(): string {
    return this.state.identityFile;
  }
  get connectTimeoutSec(): number {
    return this.state.connectTimeoutSec;
  }
  /** 10.98.X.0/24 */
  get subnet(): string | undefined {
    return this.state.subnetIndex === undefined ? undefined : `10.98.${this.state.subnetIndex}.0/24`;
  }
  get bridge(): string | undefined {
    return this.state.bridge;
  }
  /** every network namespace of this fleet is named <netnsPrefix><host name> */
  get netnsPrefix(): string | undefined {
    return this.state.subnetIndex === undefined ? undefined : `${LINK_PREFIX}${this.state.subnetIndex}-`;
  }
  /** the cgroup holding every process of this fleet's hosts */
  get cgroupDir(): string | undefined {
    return this.state.cgroupDir;
  }

  host(ref: HostRef): FleetHost {
    const { name, address, alias } = this.hostState(ref);
    return { name, address, alias };
  }

  /** `ssh -F <sshConfigPath> <alias> <command>`; a timeout kills ssh and reports exitCode null. */
  /** The host's overlay upper layer: every file the host wrote since it was made is there (tmpfs mounts aside). */
  upperDir(ref: HostRef): string {
    return this.hostState(ref).upperDir;
  }

  ssh(ref: HostRef, command: string, options: { timeoutMs?: number } = {}): Promise<CommandResult> {
    const host = this.hostState(ref);
    return runAsync('ssh', ['-F', this.state.sshConfigPath, '--', host.alias, command], { timeoutMs: options.timeoutMs ?? 30_000 });
  }

  /**
   * Runs a command inside the host by entering its namespaces (no ssh): for assertions and
   * faults that must work while the host's network is cut.
   */
  exec(ref: HostRef, argv: readonly string[], options: { timeoutMs?: number } = {}): Promise<CommandResult> {
    const pid1 = this.hostPid1(ref);
    const enter = ['--target', String(pid1), '--mount', '--uts', '--ipc', '--net', '--pid', '--cgroup', '--root', '--wd', '--'];
    return runAsync('nsenter', [...enter, ...argv], { timeoutMs: options.timeoutMs ?? 30_000 });
  }

  /** Waits until `systemctl is-system-running` has left initializing/starting; returns its answer. */
  async waitForSystemState(ref: HostRef, options: { timeoutMs?: number } = {}): Promise<string> {
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    for (;;) {
      const result = await this.ssh(ref, 'systemctl is-system-running', { timeoutMs: 15_000 });
      const state = result.stdout.trim();
      if (result.exitCode !== 255 && state !== '' && state !== 'initializing' && state !== 'starting') return state;
      if (Date.now() > deadline) {
        throw new Error(
          `host ${this.hostState(ref).name} still ${JSON.stringify(state || result.stderr.trim())} after ${options.timeoutMs ?? 60_000} ms`,
        );
      }
      await sleep(200);
    }
  }

  /** Takes the host's link to the bridge down: packets to and from it are dropped. */
  async cutNetwork(ref: HostRef): Promise<void> {
    runSync('ip', ['link', 'set', 'dev', this.hostState(ref).veth, 'down']);
  }

  /**
   * Brings the host's link back. Neighbour entries that failed while the link was down are
   * dropped on both sides: the kernel would otherwise answer the next connection at once with
   * "No route to host" until it retries on its own.
   */
  async healNetwork(ref: HostRef): Promise<void> {
    const host = this.hostState(ref);
    runSync('ip', ['link', 'set', 'dev', host.veth, 'up']);
    if (this.state.bridge) runSync('ip', ['neigh', 'flush', 'dev', this.state.bridge, 'to', host.address], { allowFailure: true });
    runSync('ip', ['-n', host.netns, 'neigh', 'flush', 'dev', 'eth0'], { allowFailure: true });
  }

  /** SIGKILLs the host's PID 1: its whole PID namespace dies. Its disk (upper layer) is kept. */
  async crash(ref: HostRef): Promise<void> {
    const host = this.hostState(ref);
    process.kill(this.hostPid1(host), 'SIGKILL');
    const deadline = Date.now() + 10_000;
    while (isAlive(host.pid1) || isAlive(host.wrapper) || cgroupPopulated(host.cgroupDir)) {
      if (Date.now() > deadline) throw new Error(`host ${host.name} still has processes 10 s after its PID 1 was killed`);
      await sleep(20);
    }
    host.pid1 = undefined;
    host.wrapper = undefined;
    writeState(this.state);
  }

  /** Boots a crashed host again, with the files it had (a reboot that keeps the disk). */
  async restart(ref: HostRef, options: { bootTimeoutMs?: number } = {}): Promise<void> {
    const host = this.hostState(ref);
    if (isAlive(host.pid1) || isAlive(host.wrapper)) throw new Error(`host ${host.name} is running; crash() it first`);
    removeCgroupTree(host.cgroupDir, { keepRoot: true });
    this.startHost(host);
    await this.waitUntilReachable(host, Date.now() + (options.bootTimeoutMs ?? 60_000));
  }

  /** `systemctl kill -s KILL <unit>` inside the host (works while its network is cut). */
  async killUnit(ref: HostRef, unit: string): Promise<void> {
    if (!UNIT_NAME.test(unit)) throw new Error(`invalid unit name ${JSON.stringify(unit)}`);
    const result = await this.exec(ref, ['systemctl', 'kill', '-s', 'KILL', unit]);
    if (result.exitCode !== 0) throw new Error(`systemctl kill ${unit} on ${this.hostState(ref).name} failed: ${result.stderr.trim()}`);
  }

  /** PID (in the machine's PID namespace) of the host's systemd; throws if the host is not running. */
  hostPid1(ref: HostRef): number {
    const host = this.hostState(ref);
    if (!host.pid1 || !isAlive(host.pid1)) throw new Error(`host ${host.name} is not running`);
    return host.pid1.pid;
  }

  status(): HostStatus[] {
    return this.state.hosts.map((host) => {
      const running = isAlive(host.pid1);
      return {
        name: host.name,
        address: host.address,
        alias: host.alias,
        running,
        ...(running && host.pid1 ? { pid1: host.pid1.pid } : {}),
        networkUp: linkIsUp(host.veth),
      };
    });
  }

  /** Stops every host and removes everything the fleet made. Idempotent. */
  async down(): Promise<void> {
    if (this.tornDown) return;
    keepAfterExit(this);
    const problems = this.tearDownNow();
    if (problems.length > 0) throw new Error(`test fleet ${this.name} not fully removed:\n  ${problems.join('\n  ')}`);
  }

  /** Synchronous teardown, for down() and for the exit handlers. Returns what is left. */
  tearDownNow(): string[] {
    if (this.tornDown) return [];
    const problems = existsSync(this.state.baseDir) ? teardownFleet(this.state) : [];
    this.tornDown = problems.length === 0;
    return problems;
  }

  // ---- building ------------------------------------------------------------------------------

  private async build(names: readonly string[], options: FleetOptions): Promise<void> {
    const state = this.state;
    const cgroupRoot = cgroup2Root();
    if (!cgroupRoot) throw new Error('no cgroup2 hierarchy mounted');
    state.cgroupDir = join(cgroupRoot, FLEET_CGROUP_NAME, state.name);
    writeState(state);
    mkdirSync(state.cgroupDir, { recursive: true });

    const subnetIndex = claimSubnet(state);
    runSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `manage-apps-test-fleet-${state.name}`, '-f', state.identityFile]);
    const authorizedKey = readFileSync(`${state.identityFile}.pub`, 'utf8');
    const addresses = names.map((_, index) => `10.98.${subnetIndex}.${index + 2}`);
    const hostsFile = [
      '127.0.0.1\tlocalhost',
      '::1\tlocalhost ip6-localhost ip6-loopback',
      `# manage-apps test fleet ${state.name}`,
      ...names.map((name, index) => `${addresses[index]}\t${name}`),
      '',
    ].join('\n');

    const fresh = options.fresh ? localAptRepository() : undefined;
    const prepare: FleetOptions['prepareHost'] = async (host) => {
      if (fresh) writeOfflineApt(host.upperDir, fresh.dir);
      await options.prepareHost?.(host);
    };
    const hostKeys: string[] = [];
    for (const [index, name] of names.entries()) {
      const dir = join(state.baseDir, 'hosts', name);
      const host: HostState = {
        name,
        alias: name,
        address: addresses[index]!,
        netns: `${LINK_PREFIX}${subnetIndex}-${name}`,
        veth: `${LINK_PREFIX}${subnetIndex}v${index + 2}`,
        dir,
        upperDir: join(dir, 'rw', 'upper'),
        mergedDir: join(dir, 'merged'),
        consoleLog: join(dir, 'console.log'),
        cgroupDir: join(state.cgroupDir, name),
      };
      // Recorded before it is created: teardown removes whatever of it exists.
      state.hosts.push(host);
      writeState(state);
      createHostNetwork(host, state.bridge!);
      hostKeys.push(await prepareHostRoot(host, { hostsFile, authorizedKey }, prepare));
    }
    this.writeSshFiles(hostKeys);

    const bootTimeoutMs = options.bootTimeoutMs ?? 60_000;
    const deadline = Date.now() + bootTimeoutMs;
    for (const host of state.hosts) this.startHost(host);
    await Promise.all(state.hosts.map((host) => this.bootOnceMore(host, deadline, bootTimeoutMs)));
    if (fresh) {
      const purged = await Promise.all(state.hosts.map((host) => this.ssh(host.name, purgeScript(fresh.packages), { timeoutMs: 600_000 })));
      purged.forEach((r, i) => {
        if (r.exitCode !== 0) throw new Error(`fresh host ${state.hosts[i]!.name}: purging ${fresh.packages.join(' ')} failed: ${r.stderr.trim()}`);
      });
    }
  }

  private writeSshFiles(hostKeys: readonly string[]): void {
    const state = this.state;
    const knownHosts = state.hosts.map((host, index) => `${host.alias},${host.address} ${hostKeys[index]}\n`).join('');
    writeFileSync(state.knownHostsPath, knownHosts, { mode: 0o600 });
    const blocks = state.hosts.map((host) =>
      [
        `Host ${host.alias}`,
        `  HostName ${host.address}`,
        '  User root',
        `  IdentityFile ${state.identityFile}`,
        '  IdentitiesOnly yes',
        `  UserKnownHostsFile ${state.knownHostsPath}`,
        '  GlobalKnownHostsFile /dev/null',
        '  StrictHostKeyChecking yes',
        '  BatchMode yes',
        `  ConnectTimeout ${state.connectTimeoutSec}`,
        '',
      ].join('\n'),
    );
    const header = `# Test fleet ${state.name}, written by the manage-apps test harness.\n# Use: ssh -F ${state.sshConfigPath} <alias>\n\n`;
    writeFileSync(state.sshConfigPath, header + blocks.join('\n'), { mode: 0o600 });
  }

  /** Starts the host's detached wrapper (its own session, output to the host's console.log). */
  private startHost(host: HostState): void {
    mkdirSync(host.cgroupDir, { recursive: true });
    const log = openSync(host.consoleLog, 'a');
    const wrapper = spawn('sh', ['-c', HOST_WRAPPER_SCRIPT, 'manage-apps-test-host', host.cgroupDir, host.netns, host.mergedDir, HOST_INIT_SCRIPT], {
      detached: true,
      stdio: ['ignore', log, log],
      env: CLEAN_ENV,
    });
    closeSync(log);
    // Liveness is read from /proc; the events only have to be consumed. How it ended is kept for
    // a boot that fails (a signal says something killed it; a status, that its systemd exited).
    wrapper.on('error', () => {});
    this.wrapperEnds.delete(host.name);
    wrapper.on('exit', (code, signal) => this.wrapperEnds.set(host.name, signal === null ? `exit status ${code}` : `signal ${signal}`));
    wrapper.unref();
    host.wrapper = wrapper.pid === undefined ? undefined : processRef(wrapper.pid);
    host.pid1 = undefined;
    writeState(this.state);
    if (!host.wrapper) throw new Error(`host ${host.name}: could not start its wrapper`);
  }

  /**
   * Waits for a first boot and, if the host died while booting or its sshd did not answer in
   * time, boots it once more from the same disk. Seen on a machine at a load of 18 (several
   * test runs side by side): a host whose PID 1 was gone 5 s after it started, with nothing on
   * its console, and one whose sshd still refused connections after 60 s. Neither says anything
   * about the code under test, and a second boot is what a person would try; a host that fails
   * twice fails the fleet with both reasons.
   */
  private async bootOnceMore(host: HostState, deadline: number, timeoutMs: number): Promise<void> {
    try {
      await this.waitUntilReachable(host, deadline);
    } catch (first) {
      const reason = first instanceof Error ? first.message : String(first);
      if (/rejected the fleet's keys/.test(reason)) throw first;
      process.stderr.write(`test fleet ${this.name}: host ${host.name}: ${reason.split('\n')[0]}; booting it once more\n`);
      for (const ref of [host.pid1, host.wrapper]) {
        if (ref && isAlive(ref)) {
          try {
            process.kill(ref.pid, 'SIGKILL');
          } catch {
            // it ended on its own meanwhile
          }
        }
      }
      const gone = Date.now() + 10_000;
      while (isAlive(host.pid1) || isAlive(host.wrapper) || cgroupPopulated(host.cgroupDir)) {
        if (Date.now() > gone) throw new Error(`${reason}\n(and its processes were still there 10 s after SIGKILL)`);
        await sleep(20);
      }
      removeCgroupTree(host.cgroupDir, { keepRoot: true });
      this.startHost(host);
      try {
        await this.waitUntilReachable(host, Date.now() + timeoutMs);
      } catch (second) {
        throw new Error(`${second instanceof Error ? second.message : String(second)}\n(a first boot failed too: ${reason.split('\n')[0]})`);
      }
    }
  }

  private async waitUntilReachable(host: HostState, deadline: number): Promise<void> {
    for (;;) {
      this.recordPid1(host);
      if (!isAlive(host.wrapper)) {
        await sleep(50);
        const ended = this.wrapperEnds.get(host.name) ?? 'how is unknown';
        throw new Error(
          `host ${host.name} stopped while booting (its PID 1's parent ended: ${ended}); end of ${host.consoleLog}:\n${tail(host.consoleLog)}`,
        );
      }
      const probe = await this.ssh(host.name, 'true', { timeoutMs: this.state.connectTimeoutSec * 1000 + 5_000 });
      if (probe.exitCode === 0) {
        this.recordPid1(host);
        return;
      }
      if (/Host key verification failed|REMOTE HOST IDENTIFICATION|Permission denied/.test(probe.stderr)) {
        throw new Error(`ssh to ${host.name} rejected the fleet's keys: ${probe.stderr.trim()}`);
      }
      if (Date.now() > deadline) {
        throw new Error(
          `host ${host.name} did not answer ssh in time (last: ${probe.stderr.trim()}); end of ${host.consoleLog}:\n${tail(host.consoleLog)}`,
        );
      }
      await sleep(100);
    }
  }

  private recordPid1(host: HostState): void {
    if (host.pid1 || !host.wrapper || !isAlive(host.wrapper)) return;
    const pid = childPids(host.wrapper.pid).find((child) => innermostPid(child) === 1);
    const ref = pid === undefined ? undefined : processRef(pid);
    if (!ref) return;
    host.pid1 = ref;
    writeState(this.state);
  }

  private hostState(ref: HostRef): HostState {
    const name = typeof ref === 'string' ? ref : ref.name;
    const host = this.state.hosts.find((candidate) => candidate.name === name);
    if (!host) throw new Error(`no host ${JSON.stringify(name)} in test fleet ${this.name}`);
    return host;
  }
}

function hostNames(spec: FleetSpec): string[] {
  const names = 'names' in spec ? [...spec.names] : Array.from({ length: spec.count }, (_, index) => `host${index + 1}`);
  if (names.length < 1 || names.length > MAX_HOSTS) throw new Error(`a test fleet has 1 to ${MAX_HOSTS} hosts, not ${names.length}`);
  for (const name of names) {
    if (!HOST_NAME.test(name)) throw new Error(`invalid host name ${JSON.stringify(name)}: use ${HOST_NAME}`);
  }
  if (new Set(names).size !== names.length) throw new Error(`duplicate host names in ${names.join(', ')}`);
  return names;
}

/**
 * Picks X for 10.98.X.0/24 that no address or route on the machine uses, and claims it by
 * creating the bridge matf-brX: creating a link is atomic, so two processes picking the same X
 * at once cannot both succeed.
 */
function claimSubnet(state: FleetState): number {
  const inUse = new Set<number>();
  const seen = runSync('ip', ['-4', '-o', 'addr', 'show']).stdout + runSync('ip', ['-4', 'route', 'show', 'table', 'all']).stdout;
  for (const match of seen.matchAll(/\b10\.98\.(\d{1,3})\./g)) inUse.add(Number(match[1]));
  const start = 1 + Math.floor(Math.random() * 254);
  for (let offset = 0; offset < 254; offset++) {
    const index = ((start - 1 + offset) % 254) + 1;
    if (inUse.has(index)) continue;
    const bridge = `${LINK_PREFIX}-br${index}`;
    const created = runSync('ip', ['link', 'add', 'name', bridge, 'type', 'bridge'], { allowFailure: true });
    if (created.status !== 0) {
      if (/exists/i.test(created.stderr)) continue;
      throw new Error(`ip link add ${bridge} failed: ${created.stderr.trim()}`);
    }
    state.subnetIndex = index;
    state.bridge = bridge;
    writeState(state);
    runSync('ip', ['addr', 'add', `10.98.${index}.1/24`, 'dev', bridge]);
    runSync('ip', ['link', 'set', 'dev', bridge, 'up']);
    return index;
  }
  throw new Error('no free subnet in 10.98.1.0/24 … 10.98.254.0/24');
}

function createHostNetwork(host: HostState, bridge: string): void {
  runSync('ip', ['netns', 'add', host.netns]);
  runSync('ip', ['link', 'add', host.veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host.netns]);
  runSync('ip', ['link', 'set', 'dev', host.veth, 'master', bridge, 'up']);
  runSync('ip', ['-n', host.netns, 'addr', 'add', `${host.address}/24`, 'dev', 'eth0']);
  runSync('ip', ['-n', host.netns, 'link', 'set', 'dev', 'eth0', 'up']);
  runSync('ip', ['-n', host.netns, 'link', 'set', 'dev', 'lo', 'up']);
}

/** tmpfs for the host's writes, its identity in the upper layer, then the overlay over the machine's root. */
async function prepareHostRoot(
  host: HostState,
  identity: { hostsFile: string; authorizedKey: string },
  prepareHost: FleetOptions['prepareHost'],
): Promise<string> {
  const rwDir = join(host.dir, 'rw');
  mkdirSync(rwDir, { recursive: true });
  mkdirSync(host.mergedDir);
  runSync('mount', ['-t', 'tmpfs', '-o', 'mode=755', 'tmpfs', rwDir]);
  mkdirSync(host.upperDir);
  mkdirSync(join(rwDir, 'work'));
  const hostKey = writeHostIdentity(host.upperDir, { name: host.name, ...identity });
  await prepareHost?.({ name: host.name, address: host.address, upperDir: host.upperDir });
  runSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=/,upperdir=${host.upperDir},workdir=${join(rwDir, 'work')}`, host.mergedDir]);
  return hostKey;
}

function linkIsUp(name: string): boolean {
  try {
    // IFF_UP is bit 0 of the interface flags.
    return (Number(readFileSync(`/sys/class/net/${name}/flags`, 'utf8').trim()) & 1) === 1;
  } catch {
    return false;
  }
}

function tail(path: string, lines = 20): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no output)';
  }
}

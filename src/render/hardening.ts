/**
 * The hardening every unit manage-apps renders for an application gets (docs/render.md#hardening).
 * An application is not trusted: an exploited one must not own its host. So by default its unit
 *
 * - runs as service.user, or, when none is declared, as a dynamic user (DynamicUser=yes) that
 *   exists only while the unit runs, named `app-<unit stem>` so that a unit named like a system
 *   account (postgres.service) never runs as that account (systemd uses a static user of the
 *   name when one exists) and both instances of a swap share one user and its state;
 * - sees the file system read-only (ProtectSystem=strict) except its state directory
 *   (StateDirectory=, from hardening.state_directory or stateful: true) and the paths it
 *   declares it writes (hardening.read_write_paths); no /home, /root (ProtectHome), a private
 *   /tmp, no devices, no other users' processes (ProtectProc=invisible, ProcSubset=pid);
 * - has no capabilities (CAP_NET_BIND_SERVICE only for a port below 1024, as an ambient one),
 *   no new privileges (setuid binaries do nothing), IPv4/IPv6/unix sockets only, the system calls
 *   of an ordinary service (a denied one fails with EPERM rather than killing the process: libuv
 *   probes io_uring, which @system-service denies), no writable+executable memory unless its
 *   runtime compiles code at run time (node, java, …: their JIT needs it), no kernel tunables,
 *   modules, logs, clock, hostname, cgroups or namespaces, files created 0600.
 *
 * Each directive may be relaxed per service, with a reason (service.hardening.relax): left out,
 * or set to the declared value, with the reason written above it as a comment.
 */
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import type { Service } from '../fleet/model.js';
import { UNIT_DIRECTIVES, type Relaxation, type UnitDirective } from '../manifest/hardening.js';
import { printable } from '../text/control.js';

/** Programs that compile code at run time into writable, executable memory (MemoryDenyWriteExecute=yes kills them). */
const JIT_PROGRAM =
  /^(node(js)?\d*|npm|npx|pnpm|yarn|corepack|pm2|deno|bun|java|dotnet|pypy\d*(\.\d+)?|luajit|erl|elixir|iex|mix|beam\.smp|gunicorn-pypy)$/;

/** Home directories: ProtectHome=yes hides them, so a service living there gets them read-only. */
const HOME = /^\/(home|root|run\/user)(\/|$)/;

/** "api.service", "api@.service", "api@8001.service" → "api". */
export function unitStem(unit: string): string {
  return unit.replace(/\.service$/, '').replace(/@.*$/, '');
}

/**
 * The dynamic user of a unit: `app-<stem>`, a valid user name for systemd (letters, digits, "_",
 * "-", at most 31); a stem that is not (dots, length) gets a short hash so two units never share one.
 */
export function dynamicUserName(unit: string): string {
  const stem = unitStem(unit);
  const plain = `app-${stem}`;
  if (/^[a-z_][a-z0-9_-]*$/.test(plain) && plain.length <= 31) return plain;
  const hash = createHash('sha256').update(stem).digest('hex').slice(0, 8);
  return `app-${stem
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-')
    .slice(0, 18)}-${hash}`;
}

/** The state directory the unit gets: hardening.state_directory, else the unit's stem when stateful. */
export function stateDirectory(service: Service, unit: string): string | undefined {
  return service.hardening?.state_directory ?? (service.stateful ? unitStem(unit) : undefined);
}

/** The runtime in the command that needs writable+executable memory (its JIT), if any. */
export function jitRuntime(command: string): string | undefined {
  // Any word of the command: `node server.js`, `/usr/bin/node …`, `sh -c 'cd x && npm start'`.
  for (const word of command.split(/[\s;&|()'"`]+/)) {
    const base = posix.basename(word);
    if (JIT_PROGRAM.test(base)) return base;
  }
  return undefined;
}

export interface HardeningInput {
  /** The unit's file name (a swap's template included): names the dynamic user and the state directory. */
  unit: string;
  /** Every port the unit may listen on (a swap template: both). */
  ports: readonly number[];
  /** The working directory and the service directory: a home directory needs ProtectHome=read-only. */
  workdir: string;
}

/**
 * The [Service] lines of the account and the hardening of an application's unit, in a fixed
 * order: pure, the same service gives the same lines. Values were validated when the manifest
 * was loaded (manifest/hardening.ts).
 */
export function hardeningLines(service: Service, input: HardeningInput): string[] {
  const relax = service.hardening?.relax ?? [];
  const account =
    service.runAs !== undefined
      ? [`User=${service.runAs}`]
      : relax.some((r) => r.directive === 'DynamicUser')
        ? []
        : ['DynamicUser=yes', `User=${dynamicUserName(input.unit)}`];
  const state = stateDirectory(service, input.unit);
  const jit = service.command === undefined ? undefined : jitRuntime(service.command);
  return hardenedLines({
    account,
    ...(state === undefined ? {} : { state }),
    writes: service.hardening?.read_write_paths ?? [],
    ports: input.ports,
    paths: [input.workdir, service.directory],
    ...(jit === undefined ? {} : { jit }),
    relax,
  });
}

export interface HardeningSpec {
  /** User=/DynamicUser= lines (empty: root, a relaxed DynamicUser). */
  account: string[];
  /** StateDirectory= name. */
  state?: string;
  /** ReadWritePaths= entries (a leading "-": ignored when missing). */
  writes: readonly string[];
  /** Ports it listens on (one below 1024 gets CAP_NET_BIND_SERVICE). */
  ports: readonly number[];
  /** Paths it reads or runs from: one under a home directory gets ProtectHome=read-only. */
  paths: readonly string[];
  /** A runtime with a JIT in its command: no MemoryDenyWriteExecute. */
  jit?: string;
  /** Why PrivateUsers= is not set, when it must not be. */
  noPrivateUsers?: string;
  relax: readonly Relaxation[];
  /** The first comment line (default: how an application relaxes a directive). */
  header?: string;
}

/** What a directive's lines are made from: the unit's spec, its relaxations, and the lines so far. */
interface UnitLines {
  spec: HardeningSpec;
  relaxed: ReadonlyMap<string, Relaxation>;
  out: string[];
  /** A directive with these values, or its relaxation: left out, or the declared value, under the reason. */
  directive: (name: UnitDirective, values: readonly string[]) => void;
  /** The first port below 1024 the unit listens on (it gets CAP_NET_BIND_SERVICE). */
  lowPort: number | undefined;
}

/**
 * Every directive a rendered unit sets, in the order the unit lists them (UNIT_DIRECTIVES): its
 * default value(s) (SystemCallFilter is two lines: the allow list, then what it still takes
 * away), or, where the default depends on the unit, how its lines are made.
 */
const DIRECTIVES: { readonly [D in UnitDirective]: readonly string[] | ((unit: UnitLines) => void) } = {
  DynamicUser: ({ spec, relaxed, out, directive }) => {
    if (relaxed.has('DynamicUser')) directive('DynamicUser', []);
    out.push(...spec.account);
    if (spec.state !== undefined) out.push(`StateDirectory=${spec.state}`, 'StateDirectoryMode=0700');
    if (spec.writes.length > 0) out.push(`ReadWritePaths=${spec.writes.join(' ')}`);
  },
  NoNewPrivileges: ['yes'],
  ProtectSystem: ['strict'],
  ProtectHome: ({ spec, relaxed, out, directive }) => {
    const inHome = [...spec.paths, ...spec.writes.map((w) => w.replace(/^-/, ''))].filter((p) => HOME.test(p));
    if (inHome.length > 0 && !relaxed.has('ProtectHome'))
      out.push(`# ${inHome[0]} is under a home directory: ProtectHome=read-only rather than yes.`, 'ProtectHome=read-only');
    else directive('ProtectHome', ['yes']);
  },
  PrivateTmp: ['yes'],
  PrivateDevices: ['yes'],
  PrivateUsers: ({ spec, relaxed, out, directive, lowPort }) => {
    // A capability held inside a user namespace does not reach the host's network namespace:
    // binding a port below 1024 needs the service in the host's user namespace.
    const noPrivateUsers =
      spec.noPrivateUsers ?? (lowPort === undefined ? undefined : `binding port ${lowPort} needs CAP_NET_BIND_SERVICE in the host's user namespace`);
    if (noPrivateUsers !== undefined && !relaxed.has('PrivateUsers')) out.push(`# PrivateUsers= is not set: ${noPrivateUsers}.`);
    else directive('PrivateUsers', ['yes']);
  },
  PrivateMounts: ['yes'],
  CapabilityBoundingSet: ({ out, directive, lowPort }) => {
    directive('CapabilityBoundingSet', [lowPort === undefined ? '' : 'CAP_NET_BIND_SERVICE']);
    out.push(`AmbientCapabilities=${lowPort === undefined ? '' : 'CAP_NET_BIND_SERVICE'}`);
  },
  RestrictAddressFamilies: ['AF_UNIX AF_INET AF_INET6'],
  SystemCallFilter: ({ relaxed, out, directive }) => {
    directive('SystemCallFilter', ['@system-service', '~@privileged @resources']);
    if (!relaxed.has('SystemCallFilter') || relaxed.get('SystemCallFilter')!.value !== undefined) out.push('SystemCallErrorNumber=EPERM');
  },
  SystemCallArchitectures: ['native'],
  MemoryDenyWriteExecute: ({ spec, relaxed, out, directive }) => {
    if (spec.jit !== undefined && !relaxed.has('MemoryDenyWriteExecute'))
      out.push(`# MemoryDenyWriteExecute= is not set: ${spec.jit} compiles code at run time (its JIT needs writable, executable memory).`);
    else directive('MemoryDenyWriteExecute', ['yes']);
  },
  LockPersonality: ['yes'],
  RestrictRealtime: ['yes'],
  RestrictSUIDSGID: ['yes'],
  RestrictNamespaces: ['yes'],
  ProtectClock: ['yes'],
  ProtectHostname: ['yes'],
  ProtectKernelTunables: ['yes'],
  ProtectKernelModules: ['yes'],
  ProtectKernelLogs: ['yes'],
  ProtectControlGroups: ['yes'],
  ProtectProc: ['invisible'],
  ProcSubset: ['pid'],
  RemoveIPC: ['yes'],
  UMask: ['0077'],
};

/** The hardening lines of any unit manage-apps renders (applications, tunnels, backups). */
export function hardenedLines(spec: HardeningSpec): string[] {
  const relaxed = new Map<string, Relaxation>(spec.relax.map((r) => [r.directive, r]));
  const out: string[] = [spec.header ?? '# Hardening (docs/render.md#hardening): relax one directive with service.hardening.relax and a reason.'];
  const directive = (name: UnitDirective, values: readonly string[]) => {
    const r = relaxed.get(name);
    if (r === undefined) {
      for (const v of values) out.push(`${name}=${v}`);
      return;
    }
    out.push(`# relaxed ${name} (service.hardening.relax): ${printable(r.reason)}`);
    if (r.value !== undefined) out.push(`${name}=${r.value}`);
  };
  const unit: UnitLines = { spec, relaxed, out, directive, lowPort: spec.ports.find((p) => p < 1024) };
  for (const name of UNIT_DIRECTIVES) {
    const lines = DIRECTIVES[name];
    if (typeof lines === 'function') lines(unit);
    else directive(name, lines);
  }
  return out;
}

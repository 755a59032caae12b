/**
 * `net tunnels`: what makes each declared tunnel real, per host, as files under the host's own
 * paths (`<host>/etc/...`):
 * - on the initiator: the unit (system `ssh -N`, Restart=always, never giving up) and the
 *   tunnel's ssh_config (its own key, a pinned known_hosts, BatchMode, ExitOnForwardFailure,
 *   keep-alives) — `ssh -G` reads it;
 * - on the far host: the sshd drop-in with one `Match User` block per tunnel account
 *   (forwarding of one kind only, exact PermitListen/PermitOpen, no tty, a no-op ForceCommand,
 *   ClientAlive keep-alives so a dead session frees its listening port), and the account's
 *   authorized_keys managed block: one line per tunnel restricted to exactly its forwarding.
 * Keys are generated on the initiator by `tunnels up`: without them the authorized_keys lines
 * are shown as comments, and no known_hosts is rendered (it is pinned from the far host's sshd).
 * Pure: same fleet and keys in, byte-identical text out.
 */
import type { FleetIndex } from '../analysis/topology.js';
import {
  CLIENT_ALIVE,
  CONNECT_TIMEOUT_S,
  INITIATOR_USER,
  isLoopback,
  RESTART_SEC,
  SERVER_ALIVE,
  SSHD_DROPIN,
  resolveTunnels,
  type Forward,
  type ResolvedTunnel,
} from '../tunnels/resolve.js';
import { hardenedLines } from './hardening.js';
import { byCodePoint, sortedBy, type RenderedFile, type RenderOutput } from './common.js';
import { defaultLocator, type Locator } from '../source/locator.js';

export const AUTHORIZED_KEYS_START = '# >>> manage-apps tunnels (managed block: do not edit by hand) >>>';
export const AUTHORIZED_KEYS_END = '# <<< manage-apps tunnels <<<';
const HEADER = '# Rendered by manage-apps';

export interface TunnelKeys {
  /** Public key (one line: "ssh-ed25519 AAAA…") of each tunnel, read from its initiator. */
  publicKeys?: ReadonlyMap<string, string>;
  /** known_hosts key parts ("ssh-ed25519 AAAA…") of each far host, read from its sshd over a checked connection. */
  hostKeys?: ReadonlyMap<string, readonly string[]>;
}

export const sshConfigPath = (t: ResolvedTunnel) => `${t.dir}/ssh_config`;
export const keyPath = (t: ResolvedTunnel) => `${t.dir}/id_ed25519`;
export const knownHostsPath = (t: ResolvedTunnel) => `${t.dir}/known_hosts`;
export const unitPath = (t: ResolvedTunnel) => `/etc/systemd/system/${t.unit}`;
export const farHome = (user: string) => `/var/lib/${user}`;
export const authorizedKeysPath = (user: string) => `${farHome(user)}/.ssh/authorized_keys`;

const endpoint = (host: string, port: number) => `${host.includes(':') ? `[${host}]` : host}:${port}`;

export function forwardText(t: ResolvedTunnel, f: Forward): string {
  return `${t.listenHost} ${endpoint(f.bind, f.listen)} → ${t.serviceHost} ${endpoint(f.targetHost, f.targetPort)}`;
}

export function tunnelUnit(t: ResolvedTunnel): string {
  return [
    `${HEADER}: tunnel ${t.name} (do not edit; \`manage-apps tunnels up\` installs it).`,
    '[Unit]',
    `Description=manage-apps tunnel ${t.name} (${t.direction}): ${t.forwards.map((f) => forwardText(t, f).replace('→', '->')).join(', ')}`,
    'Wants=network-online.target',
    'After=network-online.target',
    // Never give up: a tunnel that stops retrying protects nobody.
    'StartLimitIntervalSec=0',
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=/usr/bin/ssh -F ${sshConfigPath(t)} -N tunnel`,
    'Restart=always',
    `RestartSec=${RESTART_SEC}`,
    ...tunnelHardening(t),
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

/**
 * A tunnel's ssh client needs its network, its key and its config, read-only, and nothing else:
 * the rights of an application's unit (render/hardening.ts), run as the tunnel account. Two
 * differences, each for a reason: no PrivateUsers (ssh refuses a config file whose owner is
 * neither root nor its user, and root is unmapped in a private user namespace), and
 * CAP_NET_BIND_SERVICE when a forward listens on a port below 1024 on this host.
 */
export function tunnelHardening(t: ResolvedTunnel): string[] {
  return hardenedLines({
    header: `# Hardening (docs/render.md#hardening): ssh needs its network and reads ${t.dir}; it writes nothing.`,
    account: [`User=${INITIATOR_USER}`],
    writes: [],
    ports: t.direction === 'forward' ? t.forwards.map((f) => f.listen) : [],
    paths: [],
    noPrivateUsers: 'ssh refuses a config file owned by root when root is unmapped (a private user namespace)',
    relax: [],
  });
}

export function tunnelSshConfig(t: ResolvedTunnel): string {
  const forwards = t.forwards.map((f) =>
    t.direction === 'forward'
      ? `\tLocalForward ${endpoint(f.bind, f.listen)} ${endpoint(f.targetHost, f.targetPort)}`
      : `\tRemoteForward ${endpoint(f.bind, f.listen)} ${endpoint(f.targetHost, f.targetPort)}`,
  );
  return [
    `${HEADER}: tunnel ${t.name}, ${t.initiator} → ${t.far} (do not edit; \`manage-apps tunnels up\` installs it).`,
    'Host tunnel',
    `\tHostName ${t.connect.address}`,
    `\tPort ${t.connect.port}`,
    `\tUser ${t.farUser}`,
    `\tHostKeyAlias ${t.far}`,
    `\tIdentityFile ${keyPath(t)}`,
    '\tIdentitiesOnly yes',
    '\tIdentityAgent none',
    `\tUserKnownHostsFile ${knownHostsPath(t)}`,
    '\tGlobalKnownHostsFile /dev/null',
    '\tStrictHostKeyChecking yes',
    '\tUpdateHostKeys no',
    '\tCheckHostIP no',
    '\tBatchMode yes',
    '\tPasswordAuthentication no',
    '\tKbdInteractiveAuthentication no',
    '\tExitOnForwardFailure yes',
    `\tServerAliveInterval ${SERVER_ALIVE.interval}`,
    `\tServerAliveCountMax ${SERVER_ALIVE.count}`,
    `\tConnectTimeout ${CONNECT_TIMEOUT_S}`,
    '\tForwardAgent no',
    '\tForwardX11 no',
    '\tRequestTTY no',
    '\tControlMaster no',
    '\tControlPath none',
    ...forwards,
    '',
  ].join('\n');
}

/** The options of a tunnel's authorized_keys line: exactly its forwarding, nothing else. */
export function keyOptions(t: ResolvedTunnel): string {
  const permits = t.forwards.map((f) =>
    t.direction === 'reverse' ? `permitlisten="${endpoint(f.bind, f.listen)}"` : `permitopen="${endpoint(f.targetHost, f.targetPort)}"`,
  );
  return ['restrict', 'port-forwarding', ...permits, 'command="/bin/false"'].join(',');
}

export const keyComment = (t: ResolvedTunnel) => `manage-apps-tunnel:${t.name}@${t.initiator}`;

export function authorizedKeyLine(t: ResolvedTunnel, publicKey: string | undefined): string {
  if (publicKey === undefined)
    return `# ${t.name}: ${keyOptions(t)} <the key generated on ${t.initiator} by \`manage-apps tunnels up\`> ${keyComment(t)}`;
  return `${keyOptions(t)} ${publicKey} ${keyComment(t)}`;
}

export function authorizedKeysBlock(lines: readonly string[]): string {
  return `${AUTHORIZED_KEYS_START}\n${HEADER}: one line per tunnel that logs in here, each restricted to exactly its forwarding.\n${lines.map((l) => `${l}\n`).join('')}${AUTHORIZED_KEYS_END}\n`;
}

/** The far host's sshd drop-in: one Match block per tunnel account that logs in there. */
export function sshdDropIn(tunnels: readonly ResolvedTunnel[]): string {
  const byUser = new Map<string, ResolvedTunnel[]>();
  for (const t of tunnels) byUser.set(t.farUser, [...(byUser.get(t.farUser) ?? []), t]);
  const out = [`${HEADER}: the accounts tunnels log in as on this host (do not edit; \`manage-apps tunnels up\` installs it).`];
  for (const user of [...byUser.keys()].sort(byCodePoint)) {
    const list = byUser.get(user)!;
    const listens = [
      ...new Set(list.filter((t) => t.direction === 'reverse').flatMap((t) => t.forwards.map((f) => endpoint(f.bind, f.listen)))),
    ].sort(byCodePoint);
    const opens = [
      ...new Set(list.filter((t) => t.direction === 'forward').flatMap((t) => t.forwards.map((f) => endpoint(f.targetHost, f.targetPort)))),
    ].sort(byCodePoint);
    const allow = listens.length > 0 && opens.length > 0 ? 'yes' : listens.length > 0 ? 'remote' : 'local';
    const exposed = list.some((t) => t.direction === 'reverse' && t.forwards.some((f) => !isLoopback(f.bind)));
    out.push(
      `Match User ${user}`,
      '\tAuthenticationMethods publickey',
      '\tPasswordAuthentication no',
      '\tKbdInteractiveAuthentication no',
      `\tAllowTcpForwarding ${allow}`,
      `\tPermitListen ${listens.length > 0 ? listens.join(' ') : 'none'}`,
      `\tPermitOpen ${opens.length > 0 ? opens.join(' ') : 'none'}`,
      `\tGatewayPorts ${exposed ? 'clientspecified' : 'no'}`,
      '\tAllowAgentForwarding no',
      '\tAllowStreamLocalForwarding no',
      '\tX11Forwarding no',
      '\tPermitTTY no',
      '\tPermitTunnel no',
      '\tPermitUserRC no',
      '\tForceCommand /bin/false',
      `\tClientAliveInterval ${CLIENT_ALIVE.interval}`,
      `\tClientAliveCountMax ${CLIENT_ALIVE.count}`,
    );
  }
  return `${out.join('\n')}\n`;
}

export function knownHostsFile(t: ResolvedTunnel, keys: readonly string[]): string {
  return keys.map((k) => `${t.far} ${k}\n`).join('');
}

const onHost = (host: string, path: string) => `${host}${path}`;

/** Every file of every tunnel, by host. */
export function renderTunnels(index: FleetIndex, locator: Locator = defaultLocator(index.fleet.inventoryFile), keys: TunnelKeys = {}): RenderOutput {
  const resolution = resolveTunnels(index, locator);
  const files: RenderedFile[] = [];
  const tunnels = sortedBy(resolution.tunnels, (t) => t.name);
  for (const t of tunnels) {
    files.push({ path: onHost(t.initiator, unitPath(t)), content: tunnelUnit(t) });
    files.push({ path: onHost(t.initiator, sshConfigPath(t)), content: tunnelSshConfig(t) });
    const hostKeys = keys.hostKeys?.get(t.far);
    if (hostKeys !== undefined) files.push({ path: onHost(t.initiator, knownHostsPath(t)), content: knownHostsFile(t, hostKeys) });
  }
  const farHosts = [...new Set(tunnels.map((t) => t.far))].sort(byCodePoint);
  for (const far of farHosts) {
    const here = tunnels.filter((t) => t.far === far);
    files.push({ path: onHost(far, SSHD_DROPIN), content: sshdDropIn(here) });
    for (const user of [...new Set(here.map((t) => t.farUser))].sort(byCodePoint)) {
      const lines = here.filter((t) => t.farUser === user).map((t) => authorizedKeyLine(t, keys.publicKeys?.get(t.name)));
      files.push({ path: onHost(far, authorizedKeysPath(user)), content: authorizedKeysBlock(lines), mode: 0o600 });
    }
  }
  return { files: sortedBy(files, (f) => f.path), problems: resolution.problems, skipped: resolution.skipped };
}

/**
 * The one kernel setting a Caddy edge needs for its reloads to drop nothing.
 *
 * Caddy (2.6 and later, on Linux) takes a new config by opening a new listening socket on the same
 * port (SO_REUSEPORT) and closing the old one. The kernel resets every connection still waiting in
 * the closed socket's accept queue: under load, a client now and then gets ECONNRESET on a brand
 * new connection during `caddy reload` or a `POST /load`, even though Caddy itself lets requests in
 * flight finish. `net.ipv4.tcp_migrate_req = 1` (Linux 5.14 and later) makes the kernel hand those
 * queued connections to the new socket instead. It is per network namespace and costs nothing
 * elsewhere, so every script that makes Caddy reload sets it first, on the running kernel and in
 * a sysctl.d file so it holds after a reboot. A kernel without it is left alone.
 */
import { quote } from '../transport/quote.js';

export const EDGE_SYSCTL_FILE = '/etc/sysctl.d/60-manage-apps-edge.conf';
export const MIGRATE_REQ = '/proc/sys/net/ipv4/tcp_migrate_req';

const FILE_TEXT =
  '# manage-apps: a Caddy reload hands connections still queued on the old listener to the new one\n' +
  '# instead of resetting them (Linux 5.14+).\nnet.ipv4.tcp_migrate_req = 1\n';

/**
 * Shell that sets it, run before Caddy reloads. `sudo` is the prefix that runs a command as root
 * (`$SUDO` in scripts built on PRELUDE, '' in scripts that already run as root). Never fails the
 * script: a reload without it still works, it may only reset a queued connection.
 */
export function keepQueuedConnectionsStep(sudo: '$SUDO' | ''): string {
  const s = sudo === '' ? '' : `${sudo} `;
  return String.raw`# Caddy's reload closes its old SO_REUSEPORT listener: queued connections move to the new one.
if [ -e ${MIGRATE_REQ} ]; then
  [ "$(cat ${MIGRATE_REQ} 2>/dev/null)" = 1 ] || ${s}sh -c 'printf 1 > ${MIGRATE_REQ}' 2>/dev/null || :
  if ! ${s}grep -qsx 'net.ipv4.tcp_migrate_req = 1' ${EDGE_SYSCTL_FILE} && ${s}test -d /etc/sysctl.d && ! ${s}test -L /etc/sysctl.d && ! ${s}test -L ${EDGE_SYSCTL_FILE}; then
    ${s}sh -c 't=$(mktemp /etc/sysctl.d/.manage-apps-edge.XXXXXX) && printf "%s" "$1" > "$t" && chmod 644 "$t" && mv -fT "$t" "$2" || rm -f "$t"' sh ${quote(FILE_TEXT)} ${EDGE_SYSCTL_FILE} 2>/dev/null || :
  fi
fi
`;
}

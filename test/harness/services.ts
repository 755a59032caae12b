/**
 * Real services on a test host, for tests that carry traffic to them: a PostgreSQL cluster
 * (the machine's own server binaries, a fresh data directory in the host's tmpfs, trust auth on
 * loopback) and a small HTTP server (node), each as a transient systemd unit on the host.
 */
import type { TestFleet } from './test-fleet.js';

/** The PostgreSQL server binaries installed on this machine (Debian: /usr/lib/postgresql/<v>/bin). */
export const POSTGRES_BIN_GLOB = '/usr/lib/postgresql/*/bin';

export async function startPostgres(fleet: TestFleet, host: string, port: number, unit = 'ma-test-pg'): Promise<void> {
  const script = `set -e
bin=$(ls -d ${POSTGRES_BIN_GLOB} | sort -V | tail -n 1)
d=/var/lib/${unit}
rm -rf "$d"; mkdir -p "$d"; chown postgres:postgres "$d"
runuser -u postgres -- "$bin/initdb" -D "$d/data" --auth=trust -U postgres >/dev/null
systemd-run --quiet --unit ${unit} --uid postgres "$bin/postgres" -D "$d/data" -p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=/tmp
for i in $(seq 100); do pg_isready -q -h 127.0.0.1 -p ${port} && exit 0; sleep 0.1; done
echo "postgres did not start"; exit 1
`;
  const r = await fleet.ssh(host, script, { timeoutMs: 60_000 });
  if (r.exitCode !== 0) throw new Error(`cannot start PostgreSQL on ${host}: ${r.stdout}${r.stderr}`);
}

/** An HTTP server on 127.0.0.1:port that answers every request with `body`. */
export async function startHttp(fleet: TestFleet, host: string, port: number, body: string, unit = `ma-test-http-${port}`): Promise<void> {
  const js = `require('http').createServer((q, s) => s.end(${JSON.stringify(`${body}\n`)})).listen(${port}, '127.0.0.1')`;
  const r = await fleet.ssh(host, `systemd-run --quiet --unit ${unit} /usr/bin/node -e '${js.replace(/'/g, `'\\''`)}' && for i in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:${port}/ && exit 0; sleep 0.1; done; exit 1`);
  if (r.exitCode !== 0) throw new Error(`cannot start the HTTP server on ${host}: ${r.stdout}${r.stderr}`);
}

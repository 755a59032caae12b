/**
 * A real PostgreSQL 15 cluster on a test host. The host image masks every postgresql unit
 * (host-image.ts), so a cluster is made with Debian's `pg_createcluster` and run explicitly as a
 * transient unit (`systemd-run`, postgres in the foreground as the `postgres` user): systemd
 * supervises it like any service, and `pg_reload_conf()` reloads it.
 */
import { existsSync } from 'node:fs';
import type { TestFleet } from './test-fleet.js';

export const PG_VERSION = '15';
const PG_BIN = `/usr/lib/postgresql/${PG_VERSION}/bin`;

/** Why PostgreSQL tests cannot run here (undefined: they can, or CI=true, where they must). */
export function postgresSkipReason(): string | undefined {
  if (process.env.CI === 'true') return undefined;
  if (!existsSync(`${PG_BIN}/postgres`) || !existsSync('/usr/bin/pg_createcluster'))
    return `PostgreSQL ${PG_VERSION} not installed (apt-get install postgresql)`;
  return undefined;
}

export interface PostgresCluster {
  host: string;
  name: string;
  port: number;
  unit: string;
}

/**
 * Creates cluster `name` on `host` listening on `listen` (every address by default) at `port`
 * (local connections by peer authentication, network ones by `hostAuth`: scram-sha-256 by
 * default, as pg_hba.conf decides; `trust` for tests that only carry traffic), starts it and
 * waits until it accepts connections.
 */
export async function startPostgres(
  fleet: TestFleet,
  host: string,
  options: { name?: string; port?: number; listen?: string; hostAuth?: 'scram-sha-256' | 'trust' } = {},
): Promise<PostgresCluster> {
  const name = options.name ?? 'apps';
  const port = options.port ?? 5433;
  const listen = options.listen ?? '*';
  if (!/^[\w.:*,]+$/.test(listen)) throw new Error(`bad listen address ${JSON.stringify(listen)}`);
  const unit = `pg-${name}.service`;
  const script = [
    'set -e',
    `pg_createcluster ${PG_VERSION} ${name} -p ${port} --start-conf=manual -- --auth-local=peer --auth-host=${options.hostAuth ?? 'scram-sha-256'} >/dev/null`,
    `printf "listen_addresses = '${listen}'\\n" > /etc/postgresql/${PG_VERSION}/${name}/conf.d/listen.conf`,
    `systemd-run --quiet --unit=${unit} -p User=postgres -p Group=postgres -p RuntimeDirectory=postgresql -p RuntimeDirectoryPreserve=yes ${PG_BIN}/postgres -D /var/lib/postgresql/${PG_VERSION}/${name} -c config_file=/etc/postgresql/${PG_VERSION}/${name}/postgresql.conf`,
    `for i in $(seq 100); do pg_isready -q -p ${port} && exit 0; sleep 0.1; done`,
    `pg_isready -p ${port}; journalctl -u ${unit} -n 20 --no-pager; exit 1`,
  ].join('\n');
  const r = await fleet.ssh(host, script, { timeoutMs: 60_000 });
  if (r.exitCode !== 0) throw new Error(`PostgreSQL did not start on ${host}: ${r.stdout}${r.stderr}`);
  return { host, name, port, unit };
}

/** psql as the host's postgres account (peer authentication), tab-separated, unaligned. */
export async function psqlAsAdmin(
  fleet: TestFleet,
  cluster: PostgresCluster,
  sql: string,
  database = 'postgres',
  timeoutMs = 120_000,
): Promise<string> {
  const r = await fleet.ssh(
    cluster.host,
    `cd / && runuser -u postgres -- psql -X -q -A -t -v ON_ERROR_STOP=1 -p ${cluster.port} -d ${database} <<'MA_TEST_SQL'\n${sql}\nMA_TEST_SQL`,
    { timeoutMs },
  );
  if (r.exitCode !== 0) throw new Error(`psql on ${cluster.host} failed${r.timedOut ? ` (no answer within ${timeoutMs / 1000}s)` : ''}: ${r.stderr}`);
  return r.stdout.trim();
}

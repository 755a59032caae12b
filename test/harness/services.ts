/**
 * Real services on a test host, for tests that carry traffic to them: a small HTTP server
 * (node) as a transient systemd unit on the host. (PostgreSQL: postgres.ts.)
 */
import type { TestFleet } from './test-fleet.js';

/** An HTTP server on 127.0.0.1:port that answers every request with `body`. */
export async function startHttp(fleet: TestFleet, host: string, port: number, body: string, unit = `ma-test-http-${port}`): Promise<void> {
  const js = `require('http').createServer((q, s) => s.end(${JSON.stringify(`${body}\n`)})).listen(${port}, '127.0.0.1')`;
  const r = await fleet.ssh(
    host,
    `systemd-run --quiet --unit ${unit} /usr/bin/node -e '${js.replace(/'/g, `'\\''`)}' && for i in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:${port}/ && exit 0; sleep 0.1; done; exit 1`,
  );
  if (r.exitCode !== 0) throw new Error(`cannot start the HTTP server on ${host}: ${r.stdout}${r.stderr}`);
}

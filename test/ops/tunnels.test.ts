// Tunnels on real test hosts (issue 14): `tunnels up` makes a forward and a reverse tunnel real
// between two hosts, carrying a real PostgreSQL and a real HTTP server end to end; a second run
// changes nothing; `status` probes them in its one round trip per host; the restricted keys open
// no shell, run no command and forward nothing else; a killed ssh and a 30 s network cut heal by
// themselves (measured, printed); `impact --live` counts a tunnel observed down; and `tunnels up`
// killed or cut off at every round converges on a rerun (N/N fault points survived).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { packageRoot } from '../../src/package-root.js';
import { CLIENT_ALIVE, RESTART_SEC, SERVER_ALIVE } from '../../src/tunnels/resolve.js';
import { startPostgres } from '../harness/postgres.js';
import { startHttp } from '../harness/services.js';
import { realHostsSkipReason, TestFleet } from '../harness/test-fleet.js';
import { eventually, json, runCli, sleep, type CliRun } from './helpers.js';
import { fleetRoot } from './real-fleet.js';

const LAN = 'black'; // opens the reverse tunnel (seed 000: "initiated from black")
const EDGE = 'vps'; // uses both tunnels; opens the forward one
const PG_PORT = 25435;
const API_PORT = 18080;
const API_LOCAL = 18081;

interface Outcome {
  name: string;
  changes: string[];
  state: string | null;
  error?: string;
}
interface Run {
  ok: boolean;
  changed: number;
  tunnels: Outcome[];
  hosts: { host: string; changes: string[]; error?: string }[];
}
interface TunnelRow {
  name: string;
  verdict: string;
  reason?: string;
  state: { active: string; restarts: number | null } | null;
  probes: { kind: string; ok: boolean; port: number }[];
}

describe('tunnels on real hosts', { skip: realHostsSkipReason(), timeout: 900_000 }, () => {
  let fleet: TestFleet;
  let root = '';
  const freshControl = () => mkdtempSync(join(tmpdir(), 'manage-apps-tun-cm-'));
  let control = '';
  const args = (...a: string[]) => [...a, '--root', root, '--ssh-config', fleet.sshConfigPath, '--connect-timeout', '3'];
  const cli = (...a: string[]) => runCli(args(...a), { MANAGE_APPS_CONTROL_DIR: control });
  const on = async (host: string, cmd: string) => fleet.ssh(host, cmd, { timeoutMs: 20_000 });
  const out = async (host: string, cmd: string) => (await on(host, cmd)).stdout.trim();
  // End to end, from the side that uses the tunnels.
  const apiThrough = async () => (await on(EDGE, `curl -s --max-time 2 http://127.0.0.1:${API_LOCAL}/`)).stdout.trim() === 'hello from black';
  const pgThrough = async () =>
    (await on(EDGE, `psql -h 127.0.0.1 -p ${PG_PORT} -U postgres -Atc "select 'rows through the tunnel'"`)).stdout.trim() ===
    'rows through the tunnel';
  const bothFlow = async () => (await apiThrough()) && (await pgThrough());
  const tunnelsUp = async (...extra: string[]) => {
    const r = await cli('tunnels', 'up', '--json', ...extra);
    return { run: r, doc: json<Run>(r) };
  };

  const tunnelsUp2 = async (run: (...a: string[]) => Promise<CliRun>) => {
    const r = await run('tunnels', 'up', '--json');
    return { run: r, doc: json<Run>(r) };
  };

  before(async () => {
    fleet = await TestFleet.up({ names: [LAN, EDGE] });
    control = freshControl();
    await Promise.all([
      startPostgres(fleet, LAN, { name: 'lan', port: PG_PORT, listen: '127.0.0.1', hostAuth: 'trust' }),
      startHttp(fleet, LAN, API_PORT, 'hello from black', 'api'),
    ]);
    const address = (h: string) => fleet.host(h).address;
    root = await fleetRoot(fleet.hosts, {
      'api/.infra.yaml': `apiVersion: infra/v1\nproject: api\nprovider: bare-metal\nservice:\n  host: ${LAN}\n  port: ${API_PORT}\n  systemd_unit: api.service\n`,
      'web/.infra.yaml': `apiVersion: infra/v1\nproject: web\nprovider: bare-metal\nservice:\n  host: ${EDGE}\n  port: 3000\n  systemd_unit: web.service\n  depends_on: [api]\ndatabase:\n  cluster: quinn-pg\n  name: web\n  user: web\n`,
    });
    // Not on a mesh: the hosts reach each other only through these tunnels (so impact sees them).
    const inventory = {
      version: 1,
      hosts: Object.fromEntries(fleet.hosts.map((h) => [h.name, { alias: h.alias, address: h.address, provider: 'bare-metal', role: 'production' }])),
      clusters: { 'quinn-pg': { host: LAN, port: PG_PORT, engine: 'postgres', backup: { rpo: '1h', rto: '1h', method: 'dumps' } } },
      tunnels: [
        {
          name: 'quinn-db-reverse',
          from: EDGE,
          to: LAN,
          direction: 'reverse',
          ports: [PG_PORT],
          carries: 'quinn-pg',
          critical: true,
          connect: address(EDGE),
        },
        {
          name: 'api-forward',
          from: EDGE,
          to: LAN,
          direction: 'forward',
          forwards: [{ listen: API_LOCAL, target_port: API_PORT }],
          carries: 'api',
          connect: address(LAN),
        },
      ],
    };
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(root, 'mesh-hosts.json'), JSON.stringify(inventory, null, 2));
  });
  after(() => fleet?.down());

  test('--dry-run shows the rounds and touches nothing', async () => {
    const r = await cli('tunnels', 'up', '--dry-run');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /round 1 on black:\n {4}- ensure account ma-tunnel; generate \/etc\/manage-apps\/tunnels\/quinn-db-reverse\/id_ed25519/);
    assert.match(r.stdout, /round 3 on vps:/);
    assert.equal(await out(LAN, 'test -e /etc/manage-apps && echo yes || echo no'), 'no');
    assert.equal(await out(EDGE, 'test -e /etc/ssh/sshd_config.d/manage-apps-tunnels.conf && echo yes || echo no'), 'no');
  });

  test('tunnels up: the key is made on the host that opens the tunnel; traffic flows end to end (HTTP and PostgreSQL)', async () => {
    const { run, doc } = await tunnelsUp();
    assert.equal(run.status, 0, run.stdout + run.stderr);
    assert.ok(doc.ok);
    const reverse = doc.tunnels.find((t) => t.name === 'quinn-db-reverse')!;
    assert.ok(reverse.changes.includes('key generated on black'), JSON.stringify(reverse));
    assert.equal(reverse.state, 'active');
    await eventually('HTTP and PostgreSQL through the tunnels', 20_000, bothFlow);
    assert.equal(await out(EDGE, `pg_isready -h 127.0.0.1 -p ${PG_PORT}`), `127.0.0.1:${PG_PORT} - accepting connections`);
    // The private key exists only where the tunnel is opened; the far side has only its public half, restricted.
    const secret = await out(LAN, 'cat /etc/manage-apps/tunnels/quinn-db-reverse/id_ed25519');
    assert.match(secret, /BEGIN OPENSSH PRIVATE KEY/);
    assert.equal(await out(EDGE, 'ls /etc/manage-apps/tunnels/ 2>/dev/null'), 'api-forward');
    assert.ok(!run.stdout.includes(secret.split('\n')[1]!), 'no private key material in the output');
    const pub = await out(LAN, "ssh-keygen -y -f /etc/manage-apps/tunnels/quinn-db-reverse/id_ed25519 | cut -d' ' -f2");
    const line = await out(EDGE, `grep -F ${pub} /var/lib/ma-tunnel-listen/.ssh/authorized_keys`);
    assert.match(
      line,
      new RegExp(
        `^restrict,port-forwarding,permitlisten="127.0.0.1:${PG_PORT}",command="/bin/false" ssh-ed25519 ${pub.replace(/[+/]/g, '\\$&')} manage-apps-tunnel:quinn-db-reverse@black$`,
      ),
    );
    assert.equal(await out(LAN, 'stat -c %U:%a /etc/manage-apps/tunnels/quinn-db-reverse/id_ed25519'), 'ma-tunnel:600');
    // Pinned: the far host's own sshd key, under its inventory name.
    const hostKey = await out(EDGE, "cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub");
    assert.equal(await out(LAN, 'cat /etc/manage-apps/tunnels/quinn-db-reverse/known_hosts'), `vps ${hostKey}`);
  });

  test('a second tunnels up changes nothing and says so', async () => {
    const { doc } = await tunnelsUp();
    assert.equal(doc.changed, 0, JSON.stringify(doc));
    const human = await cli('tunnels', 'up');
    assert.match(human.stdout, /2 tunnels up: nothing changed/);
  });

  test('status: every tunnel with its unit, restarts and an end-to-end probe (pg_isready for the Postgres cluster)', async () => {
    const r = await cli('status', '--json');
    const rows = json<{ tunnels: TunnelRow[] }>(r).tunnels;
    assert.deepEqual(
      rows.map((t) => [t.name, t.verdict]),
      [
        ['api-forward', 'up'],
        ['quinn-db-reverse', 'up'],
      ],
      JSON.stringify(rows),
    );
    const pg = rows.find((t) => t.name === 'quinn-db-reverse')!;
    assert.deepEqual(
      pg.probes.map((p) => [p.kind, p.ok, p.port]),
      [
        ['tcp', true, PG_PORT],
        ['pg_isready', true, PG_PORT],
      ],
    );
    assert.equal(pg.state?.active, 'active');
    // The far end's target stops: the forward's listener still accepts, the probe sees through it.
    await on(LAN, 'systemctl stop api');
    const down = json<{ tunnels: TunnelRow[] }>(await cli('status', '--json')).tunnels.find((t) => t.name === 'api-forward')!;
    assert.equal(down.verdict, 'down');
    assert.match(down.reason ?? '', /accepted, then closed/);
    await startHttp(fleet, LAN, API_PORT, 'hello from black', 'api2');
  });

  test('the restricted keys: no shell, no command, no other forwarding (each attempted, each refused)', async () => {
    const base = (dir: string, user: string, far: string) =>
      `ssh -F /dev/null -o BatchMode=yes -o ConnectTimeout=5 -o HostKeyAlias=${far} -o UserKnownHostsFile=${dir}/known_hosts -i ${dir}/id_ed25519 -l ${user} ${fleet.host(far).address}`;
    const rev = base('/etc/manage-apps/tunnels/quinn-db-reverse', 'ma-tunnel-listen', EDGE);
    const fwd = base('/etc/manage-apps/tunnels/api-forward', 'ma-tunnel-open', LAN);
    const shell = await on(LAN, `timeout 10 ${rev} -tt </dev/null; echo "rc=$?"`);
    assert.doesNotMatch(shell.stdout, /\$ |# /, 'no prompt');
    assert.match(shell.stderr + shell.stdout, /PTY allocation request failed|rc=(1|255)/);
    const command = await on(LAN, `timeout 10 ${rev} 'touch /tmp/pwned; echo ran'; echo "rc=$?"`);
    assert.doesNotMatch(command.stdout, /^ran$/m);
    assert.equal(await out(EDGE, 'test -e /tmp/pwned && echo yes || echo no'), 'no');
    const otherListen = await on(LAN, `timeout 10 ${rev} -N -o ExitOnForwardFailure=yes -R 127.0.0.1:2222:localhost:22; echo "rc=$?"`);
    assert.match(otherListen.stderr, /remote port forwarding failed for listen port 2222/);
    // -L with either key: the channel is refused at the far end (no SSH banner comes back through it).
    for (const [host, cmd] of [
      [LAN, rev],
      [EDGE, fwd],
    ] as const) {
      const r = await on(
        host,
        `(timeout 4 ${cmd} -N -o ExitOnForwardFailure=yes -L 127.0.0.1:2223:localhost:22 >/dev/null 2>&1 &) ; sleep 1.5; timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/2223; head -c 7 <&3'; echo`,
      );
      assert.doesNotMatch(r.stdout, /SSH-2\.0/, `${host}: -L reached the far sshd`);
    }
    const fwdOther = await on(EDGE, `timeout 10 ${fwd} -N -o ExitOnForwardFailure=yes -R 127.0.0.1:2224:localhost:22; echo "rc=$?"`);
    assert.match(fwdOther.stderr, /remote port forwarding failed for listen port 2224/);
    const fwdCommand = await on(EDGE, `timeout 10 ${fwd} 'id'; echo "rc=$?"`);
    assert.doesNotMatch(fwdCommand.stdout, /uid=/);
  });

  test('killing the ssh process: systemd brings the tunnel back within its restart delay (measured)', async () => {
    const restarts = async () => Number(await out(LAN, 'systemctl show -p NRestarts --value manage-apps-tunnel-quinn-db-reverse'));
    const before = await restarts();
    await fleet.killUnit(LAN, 'manage-apps-tunnel-quinn-db-reverse.service');
    const t0 = Date.now();
    await eventually('PostgreSQL through the reverse tunnel again', 60_000, async () => (await restarts()) > before && (await pgThrough()));
    const ms = Date.now() - t0;
    console.log(`# tunnel back after kill -9 of ssh: ${(ms / 1000).toFixed(1)} s (RestartSec=${RESTART_SEC})`);
    await fleet.killUnit(EDGE, 'manage-apps-tunnel-api-forward.service');
    const t1 = Date.now();
    await eventually('HTTP through the forward tunnel again', 60_000, apiThrough);
    console.log(`# forward tunnel back after kill -9 of ssh: ${((Date.now() - t1) / 1000).toFixed(1)} s`);
  });

  test('a 30 s network cut: both tunnels come back after healing, though the far sshd may still hold the dead session (measured)', async () => {
    const listener = async () => (await out(EDGE, `ss -Hltnp 'sport = :${PG_PORT}' | grep -c sshd || true`)) !== '0';
    assert.ok(await listener());
    await fleet.cutNetwork(LAN);
    const cutAt = Date.now();
    await sleep(20_000);
    const heldAt20 = await listener();
    await sleep(10_000);
    const heldAtHeal = await listener();
    await fleet.healNetwork(LAN);
    const healedAt = Date.now();
    console.log(
      `# network of ${LAN} cut for ${((healedAt - cutAt) / 1000).toFixed(1)} s; ${EDGE}'s sshd still held 127.0.0.1:${PG_PORT} for the dead session at 20 s: ${heldAt20 ? 'yes' : 'no'}, at the heal: ${heldAtHeal ? 'yes' : 'no'}`,
    );
    const windowS = SERVER_ALIVE.interval * SERVER_ALIVE.count + CLIENT_ALIVE.interval * CLIENT_ALIVE.count + RESTART_SEC;
    await eventually('both tunnels carry traffic again', (windowS + 60) * 1000, bothFlow);
    const s = (Date.now() - healedAt) / 1000;
    console.log(
      `# both tunnels back ${s.toFixed(1)} s after healing (keep-alive window: ServerAlive ${SERVER_ALIVE.interval}x${SERVER_ALIVE.count} s on the opener, ClientAlive ${CLIENT_ALIVE.interval}x${CLIENT_ALIVE.count} s on the far sshd, RestartSec=${RESTART_SEC})`,
    );
    const rows = json<{ tunnels: TunnelRow[] }>(await cli('status', '--json')).tunnels;
    assert.ok(
      rows.every((t) => t.verdict === 'up'),
      JSON.stringify(rows),
    );
  });

  test('impact --live: a tunnel observed down counts as broken and the report says observed; tunnels down removes key and line', async () => {
    // Both down: either tunnel alone connects the two hosts (reachability is per host pair).
    const down = json<Run>(await cli('tunnels', 'down', '--json'));
    assert.ok(down.ok, JSON.stringify(down));
    assert.equal(await out(LAN, 'test -e /etc/manage-apps/tunnels/quinn-db-reverse && echo yes || echo no'), 'no');
    assert.equal(await out(EDGE, 'grep -c quinn-db-reverse /var/lib/ma-tunnel-listen/.ssh/authorized_keys || true'), '0');
    const r = await cli('impact', '--live', '--json');
    const doc = json<{
      tunnels: { name: string; basis: string; observed?: string }[];
      degraded: { id: string; failing: { to: string; state: string; route?: { observed_down?: string[] } }[] }[];
      live: { tunnels: { name: string; verdict: string }[] };
    }>(r);
    assert.deepEqual(
      doc.tunnels.map((t) => [t.name, t.basis]),
      [
        ['quinn-db-reverse', 'observed'],
        ['api-forward', 'observed'],
      ],
    );
    const web = doc.degraded.find((d) => d.id === 'web');
    assert.ok(web, JSON.stringify(doc));
    assert.deepEqual(
      web.failing.map((f) => [f.to, f.state, f.route?.observed_down]),
      [
        ['api', 'unreachable', ['api-forward']],
        ['quinn-pg', 'unreachable', ['quinn-db-reverse']],
      ],
    );
    const text = await cli('impact', '--live');
    assert.match(text.stdout, /tunnel quinn-db-reverse observed down/);
    assert.match(text.stdout, /uses quinn-db-reverse, observed down/);
    // Without --live nothing is assumed broken.
    assert.equal(json<{ tunnels: unknown[] }>(await cli('impact', LAN, '--json')).tunnels.length, 2);
    const { doc: up } = await tunnelsUp();
    assert.ok(up.ok && up.changed > 0);
    await eventually('traffic through the re-keyed tunnels', 20_000, bothFlow);
  });

  test('tunnels up killed or cut off at every round converges on a rerun', async () => {
    const clean = async () => {
      const script = `for u in manage-apps-tunnel-quinn-db-reverse manage-apps-tunnel-api-forward; do systemctl disable --now -q $u 2>/dev/null; done
rm -rf /etc/manage-apps /etc/systemd/system/manage-apps-tunnel-* /etc/ssh/sshd_config.d/manage-apps-tunnels.conf*
systemctl daemon-reload; systemctl reload ssh
for u in ma-tunnel ma-tunnel-listen ma-tunnel-open; do userdel $u 2>/dev/null; rm -rf /var/lib/$u; done; true`;
      await Promise.all([on(LAN, script), on(EDGE, script)]);
    };
    // One consistent state: per tunnel exactly its key pair and files on the opener (no leftovers),
    // and exactly one line for it on the far host, carrying that key. One ssh per host.
    const consistent = async (): Promise<string | undefined> => {
      const pair = [
        [LAN, 'quinn-db-reverse', EDGE, 'ma-tunnel-listen'],
        [EDGE, 'api-forward', LAN, 'ma-tunnel-open'],
      ] as const;
      const [lanOut, edgeOut] = await Promise.all(
        [LAN, EDGE].map((host) =>
          out(
            host,
            pair
              .map(([opener, name, far, user]) =>
                [
                  opener === host
                    ? `echo "files ${name} $(ls -A /etc/manage-apps/tunnels/${name} | tr '\n' ' ')"; echo "key ${name} $(ssh-keygen -y -f /etc/manage-apps/tunnels/${name}/id_ed25519 | cut -d' ' -f2)"`
                    : '',
                  far === host
                    ? `echo "lines ${name} $(grep -c 'manage-apps-tunnel:${name}@' /var/lib/${user}/.ssh/authorized_keys) $(grep 'manage-apps-tunnel:${name}@' /var/lib/${user}/.ssh/authorized_keys | cut -d' ' -f3)"`
                    : '',
                ]
                  .filter(Boolean)
                  .join('; '),
              )
              .join('; '),
          ),
        ),
      );
      const facts = new Map(
        `${lanOut}\n${edgeOut}`.split('\n').map((l) => {
          const [k, n, ...rest] = l.trim().split(' ');
          return [`${k} ${n}`, rest.join(' ')] as const;
        }),
      );
      for (const [, name] of pair) {
        if (facts.get(`files ${name}`) !== 'id_ed25519 id_ed25519.pub known_hosts ssh_config')
          return `${name}: the opener holds ${JSON.stringify(facts.get(`files ${name}`))}`;
        if (facts.get(`lines ${name}`) !== `1 ${facts.get(`key ${name}`)}`)
          return `${name}: the far host has ${JSON.stringify(facts.get(`lines ${name}`))} for key ${facts.get(`key ${name}`)}`;
      }
      return undefined;
    };
    const faults: { round: number; kind: 'kill' | 'cut'; host?: string; delayMs?: number }[] = [];
    for (const round of [1, 2, 3])
      faults.push({ round, kind: 'kill', delayMs: 150 }, { round, kind: 'cut', host: round === 2 ? LAN : round === 3 ? EDGE : LAN });
    let survived = 0;
    const failures: string[] = [];
    for (const f of faults) {
      const label = `round ${f.round}: ${f.kind === 'kill' ? 'CLI killed' : `network of ${f.host} cut`}`;
      const t0 = Date.now();
      await clean();
      const tClean = Date.now();
      const cm = freshControl();
      const child = spawn(process.execPath, [join(packageRoot(), 'bin/manage-apps.js'), ...args('tunnels', 'up', '--timeout', '6')], {
        env: { ...process.env, NO_COLOR: '1', MANAGE_APPS_CONTROL_DIR: cm },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      let faulted = false;
      const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
        stderr += chunk;
        if (faulted || !stderr.includes(`[${f.round}/3]`)) return;
        faulted = true;
        if (f.kind === 'kill') setTimeout(() => child.kill('SIGKILL'), f.delayMs);
        else void fleet.cutNetwork(f.host!);
      });
      child.stdout.resume();
      const code = await exited;
      if (f.kind === 'cut') await fleet.healNetwork(f.host!);
      if (!faulted) {
        failures.push(`${label}: the fault never fired (exit ${code}): ${stderr}`);
        continue;
      }
      control = freshControl();
      const tFault = Date.now();
      let rerun: CliRun | undefined;
      try {
        rerun = await cli('tunnels', 'up', '--json');
        const doc = json<Run>(rerun);
        const tRerun = Date.now();
        const third = json<Run>(await cli('tunnels', 'up', '--json'));
        const tThird = Date.now();
        const problem = !doc.ok
          ? `rerun failed: ${JSON.stringify(doc)}`
          : third.changed !== 0
            ? `a third run still changed ${third.changed} things`
            : await consistent();
        if (problem === undefined) await eventually(`${label}: traffic flows`, 30_000, bothFlow);
        console.log(
          `# ${label}: clean ${((tClean - t0) / 1000).toFixed(1)} s, faulted run ${((tFault - tClean) / 1000).toFixed(1)} s (exit ${code}), rerun ${((tRerun - tFault) / 1000).toFixed(1)} s, third run ${((tThird - tRerun) / 1000).toFixed(1)} s, checks ${((Date.now() - tThird) / 1000).toFixed(1)} s`,
        );
        if (problem !== undefined) failures.push(`${label}: ${problem}`);
        else survived++;
      } catch (error) {
        failures.push(`${label}: ${(error as Error).message} ${rerun?.stderr ?? ''}`);
      }
    }
    console.log(`# ${survived}/${faults.length} fault points survived`);
    assert.deepEqual(failures, []);
  });
  test('tunnel accounts are ones manage-apps makes; a published port is said (attacks on real hosts)', async () => {
    // A second fleet root: the same manifests, the inventory plus the attacker's tunnels.
    const { cpSync, readFileSync, writeFileSync } = await import('node:fs');
    const hostile = mkdtempSync(join(tmpdir(), 'manage-apps-tun-hostile-'));
    cpSync(root, hostile, { recursive: true });
    const base = JSON.parse(readFileSync(join(root, 'mesh-hosts.json'), 'utf8')) as { tunnels: Record<string, unknown>[] };
    const address = (h: string) => fleet.host(h).address;
    const withTunnels = (...extra: Record<string, unknown>[]) => {
      const text = JSON.stringify({ ...base, tunnels: [...base.tunnels, ...extra] }, null, 2);
      writeFileSync(join(hostile, 'mesh-hosts.json'), text);
      return text;
    };
    const lineOf = (text: string, needle: string) => text.split('\n').findIndex((l) => l.includes(needle)) + 1;
    const hcli = (...a: string[]) =>
      runCli([...a, '--root', hostile, '--ssh-config', fleet.sshConfigPath, '--connect-timeout', '3'], { MANAGE_APPS_CONTROL_DIR: control });
    type Prob = { file: string; line: number; rule: string; severity: string; message: string };
    const problemsOf = async () =>
      json<{ problems: Prob[] }>(await runCli(['validate', '--json', '--root', hostile])).problems.filter((p) => p.rule === 'tunnel');
    const dropIn = () =>
      out(
        EDGE,
        'cat /etc/ssh/sshd_config.d/manage-apps-tunnels.conf; echo; cat /etc/ssh/sshd_config.d/manage-apps-tunnels.conf 2>/dev/null | md5sum',
      );
    const reverse = (name: string, port: number, extra: Record<string, unknown>) => ({
      name,
      from: EDGE,
      to: LAN,
      direction: 'reverse',
      ports: [port],
      connect: address(EDGE),
      ...extra,
    });
    const results: [string, boolean, string][] = [];
    const attack = async (name: string, run: () => Promise<string | undefined>) => {
      const why = await run().catch((error: Error) => `threw: ${error.message}`);
      results.push([name, why === undefined, why ?? '']);
    };
    const dropInBefore = await dropIn();

    for (const user of ['root', 'admin']) {
      await attack(`ssh_user "${user}" (the far host's login user, not an account manage-apps makes)`, async () => {
        const text = withTunnels(reverse(`as-${user}`, 25501, { ssh_user: user }));
        const found = (await problemsOf()).find((p) => p.severity === 'error' && p.message.includes(`ssh_user "${user}"`));
        if (!found) return 'validate says nothing';
        if (!found.file.endsWith('mesh-hosts.json') || found.line !== lineOf(text, `"ssh_user": "${user}"`))
          return `not located at ssh_user: ${JSON.stringify(found)}`;
        const up = await hcli('tunnels', 'up', '--json');
        if (up.status !== 1) return `tunnels up exit ${up.status}`;
        if (/Match User (root|admin)/.test(await dropIn())) return 'a Match block names the account';
        return undefined;
      });
    }

    // An account with the prefix that manage-apps did not make: a service's own, with its own home.
    await on(
      LAN,
      'useradd --system --create-home --home-dir /var/lib/ma-tunnel-svc --shell /bin/sh ma-tunnel-svc && chmod 700 /var/lib/ma-tunnel-svc',
    );
    await attack('ssh_user names an existing account manage-apps did not make (its home would be chowned to root)', async () => {
      withTunnels({
        name: 'svc-tun',
        from: EDGE,
        to: LAN,
        direction: 'forward',
        forwards: [{ listen: 25502, target_port: API_PORT }],
        ssh_user: 'ma-tunnel-svc',
        connect: address(LAN),
      });
      const { run, doc } = await tunnelsUp2(hcli);
      const t = doc.tunnels.find((x) => x.name === 'svc-tun');
      if (run.status !== 1 || !/ma-tunnel-svc exists on .* manage-apps did not make it: refused/.test(t?.error ?? ''))
        return `not refused: exit ${run.status} ${JSON.stringify(t)}`;
      if ((await out(LAN, 'stat -c %U:%a /var/lib/ma-tunnel-svc')) !== 'ma-tunnel-svc:700') return 'its home changed owner or mode';
      if ((await out(LAN, 'test -e /var/lib/ma-tunnel-svc/.ssh && echo yes || echo no')) !== 'no') return 'root wrote into its home';
      if (/ma-tunnel-svc/.test(await out(LAN, 'cat /etc/ssh/sshd_config.d/manage-apps-tunnels.conf'))) return 'a Match block names it';
      // The other tunnels in the same run went on.
      if (!doc.tunnels.filter((x) => x.name !== 'svc-tun').every((x) => x.error === undefined && x.state === 'active'))
        return `the other tunnels failed: ${JSON.stringify(doc.tunnels)}`;
      return undefined;
    });

    // No account, but its home path is there already (another account's directory).
    await on(LAN, 'mkdir -p /var/lib/ma-tunnel-squat && chown nobody:nogroup /var/lib/ma-tunnel-squat && chmod 750 /var/lib/ma-tunnel-squat');
    await attack('the home of a new tunnel account exists already (another account owns it)', async () => {
      withTunnels({
        name: 'squat-tun',
        from: EDGE,
        to: LAN,
        direction: 'forward',
        forwards: [{ listen: 25503, target_port: API_PORT }],
        ssh_user: 'ma-tunnel-squat',
        connect: address(LAN),
      });
      const { run, doc } = await tunnelsUp2(hcli);
      const t = doc.tunnels.find((x) => x.name === 'squat-tun');
      if (run.status !== 1 || !/\/var\/lib\/ma-tunnel-squat exists .* refused/.test(t?.error ?? ''))
        return `not refused: exit ${run.status} ${JSON.stringify(t)}`;
      if ((await out(LAN, 'stat -c %U:%a /var/lib/ma-tunnel-squat')) !== 'nobody:750') return 'the directory changed owner or mode';
      if ((await out(LAN, 'id -u ma-tunnel-squat >/dev/null 2>&1 && echo yes || echo no')) !== 'no') return 'the account was made over it';
      return undefined;
    });

    // The service account plants a link where `tunnels down` writes its temporary file.
    await on(
      LAN,
      [
        'printf "root-owned secret\\n" > /etc/ma-victim && chmod 600 /etc/ma-victim',
        'mkdir -p /var/lib/ma-tunnel-svc/.ssh && printf "ssh-ed25519 AAAA x manage-apps-tunnel:svc-tun@vps\\n" > /var/lib/ma-tunnel-svc/.ssh/authorized_keys',
        'ln -sfn /etc/ma-victim /var/lib/ma-tunnel-svc/.ssh/authorized_keys.ma-tmp && chown -hR ma-tunnel-svc: /var/lib/ma-tunnel-svc/.ssh',
      ].join(' && '),
    );
    await attack('tunnels down through a link the service account planted in its .ssh', async () => {
      withTunnels({
        name: 'svc-tun',
        from: EDGE,
        to: LAN,
        direction: 'forward',
        forwards: [{ listen: 25502, target_port: API_PORT }],
        ssh_user: 'ma-tunnel-svc',
        connect: address(LAN),
      });
      await hcli('tunnels', 'down', 'svc-tun', '--json');
      const victim = await out(LAN, 'stat -c %U:%a /etc/ma-victim; cat /etc/ma-victim');
      return victim === 'root:600\nroot-owned secret' ? undefined : `the root-owned file changed: ${victim}`;
    });

    const refused = results.filter((r) => r[1]).length;
    console.log(`attacks refused: ${refused}/${results.length}`);
    for (const [name, ok, why] of results) if (!ok) console.log(`not refused: ${name}: ${why}`);
    // The far host's Match block is what it was: no account the attacker named was locked.
    assert.equal(await dropIn(), dropInBefore);
    await on(LAN, 'userdel ma-tunnel-svc; rm -rf /var/lib/ma-tunnel-svc /var/lib/ma-tunnel-squat /etc/ma-victim');

    // A port published to other hosts: a located warning in validate and in tunnels up's output, until acknowledged.
    const text = withTunnels({
      name: 'open-api',
      from: EDGE,
      to: LAN,
      direction: 'reverse',
      forwards: [{ listen: 25504, bind: '0.0.0.0', target_port: API_PORT }],
      connect: address(EDGE),
    });
    const warning = (await problemsOf()).find((p) => p.severity === 'warning' && p.message.includes('publishes port 25504'));
    assert.ok(warning, 'validate warns');
    assert.equal(warning.line, lineOf(text, '"bind": "0.0.0.0"'));
    const dry = await hcli('tunnels', 'up', 'open-api', '--dry-run');
    assert.match(dry.stdout, new RegExp(`mesh-hosts\\.json:${warning.line}:\\d+ tunnel "open-api" publishes port 25504 on vps at 0\\.0\\.0\\.0`));
    withTunnels({
      name: 'open-api',
      from: EDGE,
      to: LAN,
      direction: 'reverse',
      forwards: [{ listen: 25504, bind: '0.0.0.0', target_port: API_PORT, publish: 'the LAN printers post here' }],
      connect: address(EDGE),
    });
    assert.equal((await problemsOf()).filter((p) => p.message.includes('publishes')).length, 0);
    assert.doesNotMatch((await hcli('tunnels', 'up', 'open-api', '--dry-run')).stdout, /publishes/);
    rmSync(hostile, { recursive: true, force: true });
    assert.equal(refused, results.length);
  });
});

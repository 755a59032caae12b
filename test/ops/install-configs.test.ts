// `net caddy --apply` and `net wireguard --apply` on real test hosts: a real Caddy on an edge (the
// Debian package's caddy.service, first running the package's own Caddyfile), an app host behind it
// on the LAN, and two mesh hosts running a real (userspace, wireguard-go) WireGuard interface.
//
// The rendered file is checked on its host by its own tool, installed atomically with a .bak of the
// previous one and taken by the running service gracefully: Caddy through its admin endpoint (a
// request loop and a slow request in flight during the reload: none fails), WireGuard with `wg
// syncconf` (the interface keeps its index and its private key, the mesh keeps answering). A
// config the tool or the running service refuses leaves the file and the running config as they
// were, with the tool's located message. Then the CLI killed, or the host cut off, at each step of
// an apply: the file is the old one or the new one (never a part), the service is up and serving,
// and the next apply converges (N/N fault points survived).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { EDGE_SYSCTL_FILE, MIGRATE_REQ } from '../../src/hosts/edge-kernel.js';
import { loadFleet } from '../../src/load/fleet.js';
import { installConfigs, type InstalledConfig } from '../../src/ops/install-configs.js';
import { resolveSettings } from '../../src/ops/settings.js';
import { killWithChildren } from '../harness/faults.js';
import { ensureUpperDir, realHostsSkipReason, TestFleet, writeUpperFile } from '../harness/test-fleet.js';
import { applyFault } from './faults.js';
import { eventually, json, runCli, sleep, startCli } from './helpers.js';
import { fleetRoot } from './real-fleet.js';

const EDGE = 'e1';
const APP = 'a1';
const HUB = 'w1';
const SPOKE = 'w2';
const SHOP = 'shop.internal';
const BLOG = 'blog.internal';

/** A small HTTP app: `/slow` answers after 2 s (a request in flight during a reload). */
const APP_SERVER = `import http.server, sys, time
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == '/slow':
            time.sleep(2)
        body = (sys.argv[2] + '\\n').encode()
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(('0.0.0.0', int(sys.argv[1])), H).serve_forever()
`;

interface ApplyDoc {
  command: string;
  mode: string;
  dryRun: boolean;
  hosts: InstalledConfig[];
}

/** One HTTPS GET through the edge at `address`:443 for `site` (SNI and Host), Caddy's internal CA not checked. */
function httpsGet(address: string, site: string, path = '/', timeoutMs = 8000): Promise<{ ok: boolean; text: string }> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: address,
        port: 443,
        path,
        servername: site,
        headers: { host: site, connection: 'close' },
        rejectUnauthorized: false,
        timeout: timeoutMs,
      },
      (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ ok: res.statusCode === 200, text: `${res.statusCode} ${body.trim()}` }));
        res.on('error', (e) => resolve({ ok: false, text: e.message }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ ok: false, text: e.message }));
    req.end();
  });
}

/** GETs every 50 ms until stopped; the failures (non-200, connection errors) with their text. */
function httpsLoop(address: string, site: string) {
  let running = true;
  let sent = 0;
  const failures: string[] = [];
  const pending: Promise<void>[] = [];
  const ticker = (async () => {
    while (running) {
      sent++;
      pending.push(httpsGet(address, site).then((r) => void (r.ok ? undefined : failures.push(r.text))));
      await sleep(50);
    }
  })();
  return {
    async stop() {
      running = false;
      await ticker;
      await Promise.all(pending);
      return { sent, failures };
    },
  };
}

/** The last answer of `probe`, once it is `want` or after 10 s. */
async function waitFor(probe: () => Promise<string>, want: string): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const got = await probe();
    if (got === want || Date.now() > deadline) return got;
    await sleep(200);
  }
}

const wg = (args: string[], input?: string) => execFileSync('wg', args, { encoding: 'utf8', ...(input === undefined ? {} : { input }) }).trim();

describe(
  'rendered configs applied on real hosts (Caddy, WireGuard)',
  {
    skip:
      realHostsSkipReason() ??
      (process.env.CI === 'true' || (existsSync('/usr/bin/caddy') && existsSync('/usr/bin/wg-quick') && existsSync('/usr/bin/wireguard-go'))
        ? undefined
        : 'caddy, wireguard-tools and wireguard-go are needed'),
    timeout: 900_000,
  },
  () => {
    let fleet: TestFleet;
    let root = '';
    let control = '';
    const keys: Record<string, string> = {};
    const args = (...a: string[]) => [...a, '--root', root, '--ssh-config', fleet.sshConfigPath, '--connect-timeout', '2'];
    const cli = (...a: string[]) => runCli(args(...a), { MANAGE_APPS_CONTROL_DIR: control });
    const apply = async (what: 'caddy' | 'wireguard', ...a: string[]) => {
      const run = await cli('net', what, '--apply', '--json', ...a);
      return { run, doc: json<ApplyDoc>(run) };
    };
    const inHost = async (h: string, script: string) => (await fleet.exec(h, ['sh', '-c', script])).stdout.trim();
    const caddyfile = () => inHost(EDGE, 'cat /etc/caddy/Caddyfile');
    const served = (site: string, path = '/') => httpsGet(fleet.host(EDGE).address, site, path);
    const fresh = () => (control = mkdtempSync(join(tmpdir(), 'manage-apps-apply-cm-')));
    let packageCaddyfile = '';

    /** The manifests: the edge, the shop, and (withBlog) a second site. */
    const writeManifests = (withBlog: boolean) => {
      const blog = join(root, 'blog', '.infra.yaml');
      mkdirSync(join(root, 'blog'), { recursive: true });
      if (withBlog)
        writeFileSync(
          blog,
          `apiVersion: infra/v2\nproject: blog\nprovider: bare-metal\nservice:\n  host: ${APP}\n  port: 8082\n  command: python3 app.py\n  domains: [${BLOG}]\n`,
        );
      else rmSync(blog, { force: true });
    };
    /** The mesh inventory; `natted` makes the spoke keep its NAT mapping alive (a peer setting that changes in place). */
    const writeInventory = (natted: boolean) => {
      const lan = (h: string) => ({ alias: h, provider: 'bare-metal', role: 'production', lan: fleet.host(h).address });
      const inventory = {
        version: 1,
        mesh: { cidr: '10.77.0.0/24', hub: HUB, listen_port: 51820 },
        hosts: {
          [EDGE]: lan(EDGE),
          [APP]: lan(APP),
          [HUB]: { ...lan(HUB), mesh_ip: '10.77.0.1', wireguard: { public_key: keys[HUB], endpoint: `${fleet.host(HUB).address}:51820` } },
          [SPOKE]: { ...lan(SPOKE), mesh_ip: '10.77.0.2', wireguard: { public_key: keys[SPOKE], ...(natted ? { behind_nat: true } : {}) } },
        },
      };
      writeFileSync(join(root, 'mesh-hosts.json'), JSON.stringify(inventory, null, 2));
    };
    /** The spoke reaches the hub's sshd over the mesh (a TCP connection through wg0). */
    const meshAnswers = async () =>
      (await inHost(SPOKE, 'for i in 1 2 3; do timeout 4 bash -c "</dev/tcp/10.77.0.1/22" 2>/dev/null && { echo ok; break; }; done')) === 'ok';

    before(async () => {
      const privateKeys: Record<string, string> = {};
      for (const h of [HUB, SPOKE]) {
        privateKeys[h] = wg(['genkey']);
        keys[h] = wg(['pubkey'], `${privateKeys[h]}\n`);
      }
      fleet = await TestFleet.up(
        { names: [EDGE, APP, HUB, SPOKE] },
        {
          prepareHost: ({ name, upperDir }) => {
            if (name === APP) writeUpperFile(upperDir, 'srv/app.py', APP_SERVER);
            if (privateKeys[name]) {
              ensureUpperDir(upperDir, 'etc/wireguard', 0o700);
              writeUpperFile(upperDir, 'etc/wireguard/private.key', `${privateKeys[name]}\n`, 0o600);
            }
          },
        },
      );
      fresh();
      root = await fleetRoot(fleet.hosts, {
        'edge/.infra.yaml': `apiVersion: infra/v2\nproject: edge\nprovider: bare-metal\nservice:\n  host: ${EDGE}\n  port: 443\n  kind: edge\n  systemd_unit: caddy.service\n`,
        'shop/.infra.yaml': `apiVersion: infra/v2\nproject: shop\nprovider: bare-metal\nservice:\n  host: ${APP}\n  port: 8081\n  command: python3 app.py\n  domains: [${SHOP}]\n`,
      });
      writeInventory(false);
      for (const [unit, port, name] of [
        ['shop', 8081, 'shop'],
        ['blog', 8082, 'blog'],
      ] as const) {
        const r = await fleet.ssh(APP, `systemd-run --unit ${unit} python3 /srv/app.py ${port} ${name}`);
        assert.equal(r.exitCode, 0, r.stderr);
      }
      assert.equal(await inHost(EDGE, 'systemctl is-active caddy.service'), 'active', "the package's Caddy runs on the edge");
      packageCaddyfile = await caddyfile();
    });

    after(async () => {
      await fleet?.down();
      if (root) rmSync(root, { recursive: true, force: true });
    });

    test('--apply --dry-run checks the Caddyfile on the edge and installs nothing', async () => {
      const { run, doc } = await apply('caddy', '--dry-run');
      assert.equal(run.status, 0, run.stdout + run.stderr);
      assert.equal(doc.mode, 'apply');
      assert.equal(doc.dryRun, true);
      assert.deepEqual(
        doc.hosts.map((h) => [h.host, h.path, h.state]),
        [[EDGE, '/etc/caddy/Caddyfile', 'would-change']],
      );
      assert.equal(await caddyfile(), packageCaddyfile);
      assert.equal(await inHost(EDGE, 'ls -a /etc/caddy | grep -c manage-apps || true'), '0', 'no temporary file left');
      assert.equal(await inHost(EDGE, `cat ${MIGRATE_REQ}`), '0', 'a dry run leaves the kernel setting alone');
    });

    test("--apply installs the Caddyfile (the package's kept as .bak), Caddy takes it through its admin endpoint, and serves the site", async () => {
      const { run, doc } = await apply('caddy');
      assert.equal(run.status, 0, run.stdout + run.stderr);
      const [edge] = doc.hosts;
      assert.equal(edge?.state, 'changed', JSON.stringify(doc));
      assert.equal(edge?.reload, 'graceful');
      assert.equal(edge?.backup, '/etc/caddy/Caddyfile.bak');
      const rendered = json<{ files: { path: string; content: string }[] }>(await cli('net', 'caddy', '--json')).files[0]!.content;
      assert.equal(`${await caddyfile()}\n`, rendered);
      assert.equal(await inHost(EDGE, 'cat /etc/caddy/Caddyfile.bak'), packageCaddyfile);
      // The running Caddy now has the admin API on its socket (it was on localhost:2019 before).
      assert.equal(await inHost(EDGE, 'test -S /var/lib/caddy/admin.sock && echo socket'), 'socket');
      // Caddy's reload closes its old SO_REUSEPORT listener: the kernel now hands connections queued
      // on it to the new one (instead of resetting them), now and after a reboot (src/hosts/edge-kernel.ts).
      assert.equal(await inHost(EDGE, `cat ${MIGRATE_REQ}`), '1');
      assert.equal(
        await inHost(EDGE, `stat -c '%U %a' ${EDGE_SYSCTL_FILE} && grep -x 'net.ipv4.tcp_migrate_req = 1' ${EDGE_SYSCTL_FILE}`),
        'root 644\nnet.ipv4.tcp_migrate_req = 1',
      );
      assert.equal(await inHost(EDGE, "ls -a /etc/sysctl.d | grep -c '^[.]manage-apps-edge' || true"), '0', 'no temporary file left');
      await eventually('the edge serves the site over TLS', 20_000, async () => (await served(SHOP)).text === '200 shop');
      const again = await apply('caddy');
      assert.equal(again.run.status, 0);
      assert.equal(again.doc.hosts[0]?.state, 'unchanged');
      const human = await cli('net', 'caddy', '--apply');
      assert.match(human.stdout, /e1: \/etc\/caddy\/Caddyfile unchanged, reloaded gracefully\n✔ 0 hosts changed, 1 unchanged\./);
    });

    test('a changed Caddyfile is reloaded with requests in flight: none fails, the new site is served', async () => {
      writeManifests(true);
      try {
        const loop = httpsLoop(fleet.host(EDGE).address, SHOP);
        await sleep(500);
        const slow = served(SHOP, '/slow');
        await sleep(300);
        const { run, doc } = await apply('caddy');
        const slowAnswer = await slow;
        await sleep(500);
        const r = await loop.stop();
        console.log(
          `# net caddy --apply under load: ${r.sent} requests through the edge, ${r.failures.length} failed; a 2 s request in flight: ${slowAnswer.text}`,
        );
        assert.equal(run.status, 0, run.stdout + run.stderr);
        assert.equal(doc.hosts[0]?.state, 'changed');
        assert.deepEqual(r.failures, []);
        assert.equal(slowAnswer.text, '200 shop', 'the request in flight during the reload finished');
        await eventually('the new site is served', 20_000, async () => (await served(BLOG)).text === '200 blog');
      } finally {
        writeManifests(false);
      }
      assert.equal((await apply('caddy')).doc.hosts[0]?.state, 'changed');
    });

    test("a Caddyfile Caddy refuses (its check, or its load) leaves the file and the running config, with Caddy's located message", async () => {
      const loaded = await loadFleet({ root });
      const before = await caddyfile();
      const settings = { ...resolveSettings({ sshConfig: fleet.sshConfigPath, connectTimeoutS: 2, commandTimeoutMs: 60_000 }), dryRun: false };
      const base = { kind: 'caddy' as const, host: EDGE, label: 'e1.Caddyfile', target: '/etc/caddy/Caddyfile', mode: 0o644, unit: 'caddy.service' };
      // Refused by `caddy validate`: an unknown directive, located in the rendered file's own name.
      const [invalid] = await installConfigs(
        loaded.fleet,
        [{ ...base, content: `${before}\n\nbad.internal {\n\tnot_a_directive on\n}\n` }],
        settings,
      );
      assert.equal(invalid?.state, 'refused', JSON.stringify(invalid));
      assert.match(invalid!.message!, /e1\.Caddyfile:\d+: unrecognized directive: not_a_directive/);
      // Valid, but the running Caddy cannot load it (port 22 is sshd's): the previous file is put back.
      const [unloadable] = await installConfigs(
        loaded.fleet,
        [{ ...base, content: `${before}\n\nhttp://bad.internal:22 {\n\trespond "no"\n}\n` }],
        settings,
      );
      assert.equal(unloadable?.state, 'refused', JSON.stringify(unloadable));
      assert.match(unloadable!.message!, /Caddy refused to load it: .*(address already in use|bind)/);
      assert.equal(await caddyfile(), before, 'the file is the one that was there');
      // The running config still serves. Caddy 2.6 empties its certificate cache while it tries a
      // config, also one it then refuses (caddyserver/caddy#5589), so a TLS handshake right after it
      // may get Caddy's "internal error" alert until the certificates are loaded again: that, and
      // only that, may come first; the site must answer on its own within seconds.
      const first = await served(SHOP);
      if (first.text !== '200 shop') {
        assert.match(first.text, /EPROTO.*alert internal error/, 'the running config still serves');
        await eventually('the running config serves again', 10_000, async () => (await served(SHOP)).text === '200 shop');
      }
      assert.equal(await inHost(EDGE, 'ls -a /etc/caddy | grep -c manage-apps || true'), '0');
      // The CLI: a target that is a link is refused (exit 1), nothing written through it.
      await inHost(EDGE, 'cp /etc/caddy/Caddyfile /root/Caddyfile && ln -sf /root/Caddyfile /etc/caddy/Caddyfile');
      try {
        const r = await apply('caddy');
        assert.equal(r.run.status, 1);
        assert.equal(r.doc.hosts[0]?.state, 'refused');
        assert.match(r.doc.hosts[0]!.message!, /not a regular file/);
      } finally {
        await inHost(EDGE, 'mv -f /root/Caddyfile /etc/caddy/Caddyfile');
      }
    });

    test('net wireguard --apply: each mesh host gets its config; the mesh comes up; a changed peer is synced with the interface up', async (t) => {
      const first = await apply('wireguard');
      assert.equal(first.run.status, 0, first.run.stdout + first.run.stderr);
      assert.deepEqual(
        first.doc.hosts.map((h) => [h.host, h.path, h.state, h.reload]),
        [
          [HUB, '/etc/wireguard/wg0.conf', 'changed', 'down'],
          [SPOKE, '/etc/wireguard/wg0.conf', 'changed', 'down'],
        ],
      );
      assert.equal(await inHost(HUB, 'stat -c %a /etc/wireguard/wg0.conf'), '600');
      for (const h of [HUB, SPOKE]) {
        // Bringing the interface up is this test's own step, not what is under test (the installed
        // file is): wg-quick starting wireguard-go failed once in a full CI run at a load of 18
        // and passed alone. One more try, saying so, with the unit's journal if that fails too.
        let up = await fleet.ssh(h, 'systemctl start wg-quick@wg0.service');
        if (up.exitCode !== 0) {
          const journal = await fleet.ssh(h, 'journalctl -u wg-quick@wg0.service -n 30 --no-pager');
          t.diagnostic(`${h}: wg-quick@wg0 did not start at the first try; its journal:\n${journal.stdout}`);
          up = await fleet.ssh(h, 'systemctl reset-failed wg-quick@wg0.service; systemctl start wg-quick@wg0.service');
        }
        const journal = up.exitCode === 0 ? '' : (await fleet.ssh(h, 'journalctl -u wg-quick@wg0.service -n 30 --no-pager')).stdout;
        assert.equal(up.exitCode, 0, `${up.stderr}\n${journal}`);
      }
      assert.ok(await meshAnswers(), 'the spoke reaches the hub over the mesh');
      const index = await inHost(SPOKE, 'cat /sys/class/net/wg0/ifindex');
      writeInventory(true);
      try {
        let stop = false;
        let lost = 0;
        let tries = 0;
        const loop = (async () => {
          while (!stop) {
            tries++;
            if (!(await meshAnswers())) lost++;
          }
        })();
        const changed = await apply('wireguard');
        await sleep(500);
        stop = true;
        await loop;
        console.log(`# net wireguard --apply with the interface up: ${tries} connections over the mesh during it, ${lost} failed`);
        assert.equal(changed.run.status, 0, changed.run.stdout + changed.run.stderr);
        const spoke = changed.doc.hosts.find((h) => h.host === SPOKE)!;
        assert.deepEqual([spoke.state, spoke.reload, spoke.backup], ['changed', 'graceful', '/etc/wireguard/wg0.conf.bak']);
        assert.equal(changed.doc.hosts.find((h) => h.host === HUB)?.state, 'unchanged');
        assert.equal(lost, 0);
        assert.equal(await inHost(SPOKE, 'cat /sys/class/net/wg0/ifindex'), index, 'the interface was never taken down');
        assert.match(await inHost(SPOKE, 'wg show wg0 persistent-keepalive'), /\t25$/, 'the new peer setting is live');
        assert.equal(await inHost(SPOKE, 'wg show wg0 public-key'), keys[SPOKE], 'the interface kept its private key');
        assert.ok(await meshAnswers());
      } finally {
        writeInventory(false);
      }
      // Refused by wg-quick: the file and the interface stay as they were.
      const loaded = await loadFleet({ root });
      const before = await inHost(SPOKE, 'cat /etc/wireguard/wg0.conf');
      const [refused] = await installConfigs(
        loaded.fleet,
        [
          {
            kind: 'wireguard',
            host: SPOKE,
            label: 'w2.conf',
            target: '/etc/wireguard/wg0.conf',
            mode: 0o600,
            iface: 'wg0',
            content: `${before}\nNotAKey = 1\n`,
          },
        ],
        { ...resolveSettings({ sshConfig: fleet.sshConfigPath, connectTimeoutS: 2 }), dryRun: false },
      );
      assert.equal(refused?.state, 'refused', JSON.stringify(refused));
      assert.match(refused!.message!, /NotAKey/);
      assert.equal(await inHost(SPOKE, 'cat /etc/wireguard/wg0.conf'), before);
      assert.ok(await meshAnswers());
    });

    test('--apply killed or cut off at each of its steps: the old file or the new one, the service up, and the next run converges', async () => {
      // Each case flips one setting, so every run changes the file: Caddy (a second site), WireGuard (the spoke's keepalive).
      const cases = [
        { what: 'caddy' as const, host: EDGE, flip: (on: boolean) => writeManifests(on), read: () => caddyfile() },
        {
          what: 'wireguard' as const,
          host: SPOKE,
          flip: (on: boolean) => writeInventory(on),
          read: () => inHost(SPOKE, 'cat /etc/wireguard/wg0.conf'),
        },
      ];
      const failures: string[] = [];
      let points = 0;
      let survived = 0;
      for (const c of cases) {
        let on = false;
        /** The rendered file with the setting on or off (and the setting left so). */
        const fileOf = async (setting: boolean) => {
          c.flip(setting);
          const r = json<{ files: { path: string; content: string }[] }>(await cli('net', c.what, '--json', '--host', c.host));
          return r.files[0]!.content.trimEnd();
        };
        // From a known file (the setting off) to the other one: every step of a run that changes it.
        c.flip(false);
        assert.equal((await apply(c.what, '--host', c.host)).run.status, 0);
        c.flip(true);
        on = true;
        const reference = await cli('net', c.what, '--apply', '--host', c.host);
        assert.equal(reference.status, 0, reference.stderr);
        const steps = reference.stderr.split('\n').filter((l) => l.startsWith(`${c.host}: `) && !/: (changed|unchanged)/.test(l));
        assert.ok(steps.length >= 4, `steps: ${steps.join(' | ')}`);
        for (const line of steps) {
          for (const kind of ['kill', 'cut'] as const) {
            points++;
            const label = `${c.what} ${kind} at "${line}"`;
            const old = await fileOf(on);
            on = !on;
            const target = await fileOf(on);
            fresh();
            let fire: () => void = () => {};
            const fired = new Promise<'fired'>((resolve) => (fire = () => resolve('fired')));
            const run = startCli(
              args('net', c.what, '--apply', '--host', c.host, '--timeout', '6'),
              { MANAGE_APPS_CONTROL_DIR: control },
              (chunk) => {
                if (chunk.split('\n').includes(line)) fire();
              },
            );
            if ((await Promise.race([fired, run.done.then(() => 'ended' as const)])) !== 'fired') {
              failures.push(`${label}: the step never showed (${(await run.done).stderr})`);
              continue;
            }
            if (kind === 'kill') {
              killWithChildren(run.pid);
              await run.done;
            } else await applyFault(fleet, run, { kind: 'cut', host: c.host });
            // Whatever the host was doing finishes on its own: give it a moment, then look.
            await sleep(1500);
            const now = await c.read();
            const problems: string[] = [];
            const notes: string[] = [];
            if (now !== old && now !== target) problems.push(`the file is neither the old nor the new one:\n${now}`);
            if (c.what === 'caddy') {
              if ((await inHost(EDGE, 'systemctl is-active caddy.service')) !== 'active') problems.push('caddy is not active');
              // Serving again within seconds: a handshake right after a reload on a loaded machine has been
              // seen to fail once (Caddy's internal certificate), which a request loop through reloads never shows.
              const first = await served(SHOP);
              const shop = first.text === '200 shop' ? first.text : await waitFor(async () => (await served(SHOP)).text, '200 shop');
              if (shop !== '200 shop') problems.push(`the edge does not serve the shop: ${shop}`);
              else if (first.text !== '200 shop') notes.push(`one request failed first (${first.text.slice(0, 80)})`);
            } else if (!(await meshAnswers())) problems.push('the mesh does not answer');
            fresh();
            const rerun = await apply(c.what, '--host', c.host);
            const third = await apply(c.what, '--host', c.host);
            if (rerun.run.status !== 0) problems.push(`the rerun failed: ${rerun.run.stdout}`);
            if ((await c.read()) !== target) problems.push('after the rerun the file is not the new one');
            if (third.doc.hosts[0]?.state !== 'unchanged') problems.push(`a third run says ${third.doc.hosts[0]?.state}`);
            // A new site's certificate (Caddy's internal CA) is issued in the background after the reload.
            const blog = c.what === 'caddy' && on ? await waitFor(async () => (await served(BLOG)).text, '200 blog') : '200 blog';
            if (blog !== '200 blog') problems.push(`the new site is not served after the rerun: ${blog}`);
            if (c.what === 'wireguard' && !(await meshAnswers())) problems.push('the mesh does not answer after the rerun');
            console.log(
              `# ${label}: ${problems.length === 0 ? 'old or new, service up, converged' : problems.join('; ')}${notes.length > 0 ? ` (note: ${notes.join('; ')})` : ''}`,
            );
            if (problems.length === 0) survived++;
            else failures.push(`${label}: ${problems.join('; ')}`);
          }
        }
        c.flip(false);
        await apply(c.what, '--host', c.host);
      }
      console.log(`# ${survived}/${points} fault points survived`);
      assert.deepEqual(failures, []);
    });
  },
);

// drift on real test hosts: a fleet with systemd services (deployed releases), a scheduled job
// (its timer), a compose service (a real dockerd, its image in a real registry), a Caddy edge, an
// ssh tunnel and a provisioned PostgreSQL database. Right after deploy drift reports nothing;
// each change made by hand over ssh is reported with its verdict and nothing else is; the hosts
// are byte-identical (and no unit changed state) before and after drift.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { postgresSkipReason, startPostgres } from '../harness/postgres.js';
import { realHostsSkipReason, TestFleet } from '../harness/test-fleet.js';
import { DB_APP } from '../data/fixtures.js';
import {
  buildAndPush,
  dockerLogin,
  dockerSkipReason,
  prepareDockerHost,
  REGISTRY_PORT,
  waitForDocker,
  writeImageContexts,
  type ImageSpec,
} from '../harness/docker.js';
import { ensureUpperDir, writeUpperFile, type HostPreparation } from '../harness/test-fleet.js';
import { browserSkipReason, launchBrowser, startUi } from '../dashboard/browser.js';
import { eventually, json, runCli } from '../ops/helpers.js';
import { appSource } from '../ops/real-fleet.js';

const EDGE = 'edge';
const APP = 'app';
const DB = 'db';
const SITE = 'shop.internal';
const PG_PORT = 5433;
/** The registry runs on the database host (its docker-registry only, no dockerd); the compose service on the app host. */
const REGISTRY = `${DB}:${REGISTRY_PORT}`;
const PAY_PORT = 8084;

/** busybox httpd on port 80 serving /readyz, /livez and /version. */
const payImage = (version: string): ImageSpec => ({
  www: { readyz: 'ready\n', livez: 'alive\n', version: `${version}\n` },
  cmd: ['/bin/busybox', 'sh', '-c', 'exec /bin/busybox httpd -f -p 80 -h /www'],
});
const IMAGES: Record<string, ImageSpec> = { v1: payImage('v1'), v2: payImage('v2') };

/** The mesh: the database host is its hub, the app host a spoke (a real, userspace WireGuard interface on each). */
const MESH = { [DB]: '10.77.0.1', [APP]: '10.77.0.2' } as Record<string, string>;
const wg = (args: string[], input?: string) => execFileSync('wg', args, { encoding: 'utf8', ...(input === undefined ? {} : { input }) }).trim();
const meshKeys: Record<string, { private: string; public: string }> = {};

function prepareHost(h: HostPreparation): void {
  const key = meshKeys[h.name];
  if (key !== undefined) {
    ensureUpperDir(h.upperDir, 'etc/wireguard', 0o700);
    writeUpperFile(h.upperDir, 'etc/wireguard/private.key', `${key.private}\n`, 0o600);
  }
  if (h.name === APP) {
    prepareDockerHost(h.upperDir, { insecureRegistries: [REGISTRY] });
    writeImageContexts(h.upperDir, IMAGES);
  }
  // The database host serves the registry and runs no dockerd (its units stay masked).
  if (h.name === DB) prepareDockerHost(h.upperDir, { registry: true, leaveMasked: true });
}

interface Finding {
  id: string;
  host: string;
  kind: string;
  subject: string;
  verdict: string;
  owner: string | null;
  detail: string;
  properties: { name: string; declared: string | null; live: string | null }[];
  diff: string | null;
  adoptable: boolean;
}
interface DriftDoc {
  hosts: { host: string; reachable: boolean; compared: string[] }[];
  findings: Finding[];
  counts: Record<string, number>;
}

const skip =
  realHostsSkipReason() ??
  postgresSkipReason() ??
  (process.env.CI === 'true' ? undefined : (dockerSkipReason() ?? (existsSync('/usr/bin/caddy') ? undefined : 'caddy is not installed')));

/**
 * What drift must never change, byte for byte: every file the host has written since it was made
 * (its overlay's upper layer: path, mode, owner, size, mtime, sha256), its tmpfs mounts (/tmp,
 * /run), and the state of every unit. Left out: what changes on its own while the host runs
 * (the journal, PostgreSQL's data directory, Caddy's own storage).
 */
const CHANGES_BY_ITSELF = [
  /^var\/log\/journal\//,
  /^var\/lib\/postgresql\/\d+\/[^/]+\/(?!pg_hba|postgresql)/,
  /^var\/lib\/caddy\/\.local\/share\/caddy\//,
];
function upperSnapshot(dir: string): string {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const path = rel === '' ? name : `${rel}/${name}`;
      if (CHANGES_BY_ITSELF.some((r) => r.test(path))) continue;
      const st = lstatSync(join(dir, path));
      const head = `${path} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.size} ${st.mtimeMs}`;
      if (st.isDirectory()) {
        out.push(head);
        walk(path);
      } else if (st.isFile())
        out.push(
          `${head} ${createHash('sha256')
            .update(readFileSync(join(dir, path)))
            .digest('hex')}`,
        );
      else out.push(head);
    }
  };
  walk('');
  return out.join('\n');
}
const IN_HOST = String.raw`
for d in /tmp /run/systemd/system /run/manage-apps /etc/systemd/system; do [ -d "$d" ] && find "$d" -xdev \( -type f -o -type l \) -print0 2>/dev/null | sort -z | xargs -0 -r sha256sum 2>/dev/null; done
# An ssh login itself (pam_systemd) starts a session scope and the user's manager: not drift's doing.
login='^(session-[0-9]+[.]scope|user@[0-9]+[.]service|user-[0-9]+[.]slice|user-runtime-dir@[0-9]+[.]service|run-user-[0-9]+[.]mount|systemd-oomd[.]service) '
systemctl list-units --all --no-legend --plain 2>/dev/null | awk '{print $1, $3, $4}' | grep -Ev "$login" | sort
for u in $(systemctl list-units --type=service --state=running --no-legend --plain | awk '{print $1 " "}' | grep -Ev "$login"); do systemctl show -p Id,MainPID,NRestarts,ActiveEnterTimestampMonotonic "$u"; done
`;

describe(
  'drift on a real fleet (systemd services, a timer, a compose service, a Caddy edge, a tunnel, a provisioned database)',
  { skip, timeout: 900_000 },
  () => {
    let fleet: TestFleet;
    let root = '';
    let controlDir = '';
    const env = () => ({ MANAGE_APPS_CONTROL_DIR: controlDir });
    const cli = (...a: string[]) => runCli([...a, '--root', root, '--ssh-config', fleet.sshConfigPath, '--connect-timeout', '5'], env());
    const on = async (h: string, script: string) => {
      const r = await fleet.exec(h, ['sh', '-c', script]);
      assert.equal(r.exitCode, 0, `${h}: ${script}\n${r.stdout}${r.stderr}`);
      return r.stdout;
    };
    const drift = async () => {
      const r = await cli('drift', '--json');
      assert.ok(r.status === 0 || r.status === 1, r.stdout + r.stderr);
      const doc = json<DriftDoc>(r);
      assert.equal(r.status, doc.findings.length === 0 ? 0 : 1, 'exit 0 without drift, 1 with');
      return doc;
    };
    const brief = (doc: DriftDoc) => doc.findings.map((f) => `${f.host} ${f.kind} ${f.subject}: ${f.verdict}`).sort();
    const show = (doc: DriftDoc) => doc.findings.map((f) => `${f.id} ${f.verdict}: ${f.detail}${f.diff ? `\n${f.diff}` : ''}`).join('\n');

    before(async () => {
      const reason = dockerSkipReason();
      if (reason) throw new Error(`Docker on test hosts: ${reason}`);
      for (const h of Object.keys(MESH)) {
        const key = wg(['genkey']);
        meshKeys[h] = { private: key, public: wg(['pubkey'], `${key}\n`) };
      }
      fleet = await TestFleet.up({ names: [EDGE, APP, DB] }, { prepareHost });
      controlDir = mkdtempSync(join(tmpdir(), 'manage-apps-cm-'));
      root = mkdtempSync(join(tmpdir(), 'manage-apps-drift-'));
      await Promise.all([
        startPostgres(fleet, DB, { name: 'apps', port: PG_PORT }),
        on(APP, 'useradd -r ledger'),
        // Only the edge runs Caddy (the test hosts' image starts it everywhere).
        on(APP, 'systemctl disable --now caddy.service'),
        on(DB, 'systemctl disable --now caddy.service'),
        // The compose service's image: built on the app host, pushed to the registry on the database host.
        (async () => {
          await Promise.all([
            waitForDocker(fleet, APP),
            on(DB, `for i in $(seq 1 300); do curl -s -o /dev/null http://127.0.0.1:${REGISTRY_PORT}/v2/ && exit 0; sleep 0.1; done; exit 1`),
          ]);
          await dockerLogin(fleet, APP, REGISTRY);
          for (const v of Object.keys(IMAGES)) await buildAndPush(fleet, APP, v, `${REGISTRY}/pay:${v}`);
        })(),
      ]);
      const address = (h: string) => fleet.host(h).address;
      const inventory = {
        version: 1,
        hosts: Object.fromEntries(
          fleet.hosts.map((h) => [
            h.name,
            {
              alias: h.alias,
              address: h.address,
              provider: 'bare-metal',
              role: 'production',
              lan: h.address,
              ...(MESH[h.name] === undefined
                ? {}
                : {
                    mesh_ip: MESH[h.name],
                    wireguard: { public_key: meshKeys[h.name]!.public, ...(h.name === DB ? { endpoint: `${h.address}:51820` } : {}) },
                  }),
            },
          ]),
        ),
        mesh: { cidr: '10.77.0.0/24', hub: DB, listen_port: 51820 },
        // The cluster's backup: its unit and timer (`backups install`), dumps kept on the edge.
        clusters: { apps: { host: DB, port: PG_PORT, engine: 'postgres', backup: { rpo: '1h', rto: '1h', method: 'pg_dump', target: EDGE } } },
        tunnels: [
          { name: 'pg-forward', from: APP, to: DB, direction: 'forward', forwards: [{ listen: 15433, target_port: PG_PORT }], connect: address(DB) },
        ],
      };
      const files: Record<string, string> = {
        'mesh-hosts.json': JSON.stringify(inventory, null, 2),
        'edge/.infra.yaml': `apiVersion: infra/v2\nproject: edge\nprovider: bare-metal\nservice:\n  host: ${EDGE}\n  port: 443\n  kind: edge\n  systemd_unit: caddy.service\n`,
        'shop/.infra.yaml': `apiVersion: infra/v2\nproject: shop\nprovider: bare-metal\nservice:\n  host: ${APP}\n  port: 8081\n  command: node server.mjs\n  artifact: app\n  domains: [${SITE}]\n  health: { timeout: 8s }\n`,
        'shop/app/server.mjs': appSource({ version: 'v1' }),
        // A service without a domain: its port can change without the edge noticing (the adopt case).
        'worker/.infra.yaml': `# the worker\napiVersion: infra/v2\nproject: worker\nprovider: bare-metal\nservice:\n  host: ${APP}\n  port: 8082 # its own port\n  command: node server.mjs\n  artifact: app\n  health: { timeout: 8s }\n`,
        'worker/app/server.mjs': appSource({ version: 'w1' }),
        'ledger/.infra.yaml': `apiVersion: infra/v2\nproject: ledger\nprovider: bare-metal\ndatabase:\n  cluster: apps\n  name: ledger_db\n  user: ledger_app\nservice:\n  host: ${APP}\n  port: 8083\n  command: node server.mjs\n  artifact: app\n  user: ledger\n  env_file: /etc/ledger/env\n  health: { timeout: 8s }\n`,
        'ledger/app/server.mjs': DB_APP,
        // A scheduled job: its unit and its timer.
        'sweep/.infra.yaml': `apiVersion: infra/v2\nproject: sweep\nprovider: bare-metal\nservice:\n  host: ${APP}\n  kind: worker\n  command: ./job.sh\n  artifact: job\n  schedule:\n    calendar: hourly\n    timeout: 60\n`,
        'sweep/job/job.sh': '#!/bin/sh\necho swept\n',
        // A compose service: its image pinned by digest at deploy.
        'pay/.infra.yaml': `apiVersion: infra/v2\nproject: pay\nprovider: bare-metal\nservice:\n  host: ${APP}\n  port: ${PAY_PORT}\n  health: { readiness: /readyz, liveness: /livez, timeout: 8s }\n  compose:\n    file: compose.yml\n    service: app\n    image: ${REGISTRY}/pay\n    tag: v1\n`,
        'pay/compose.yml': `services:\n  app:\n    image: ${REGISTRY}/pay:latest\n    ports: ["${PAY_PORT}:80"]\n    restart: unless-stopped\n    init: true\n`,
        // The registry the compose service pulls from (docker-registry, installed outside manage-apps): its port is declared.
        'registry/.infra.yaml': `apiVersion: infra/v2\nproject: registry\nprovider: bare-metal\nservice:\n  host: ${DB}\n  port: ${REGISTRY_PORT}\n  systemd_unit: docker-registry.service\n  health: { readiness: /, liveness: / }\n`,
      };
      for (const [path, content] of Object.entries(files)) {
        await mkdir(join(root, path, '..'), { recursive: true });
        await writeFile(join(root, path), content, { mode: path.endsWith('.sh') ? 0o755 : 0o644 });
      }
      // The edge: the Caddyfile `net caddy` renders, installed by `net caddy --apply`; then the databases, the tunnel, the services.
      // The mesh first: the database's clients reach it over the mesh.
      const mesh = await cli('net', 'wireguard', '--apply');
      assert.equal(mesh.status, 0, `net wireguard --apply: ${mesh.stdout}${mesh.stderr}`);
      await Promise.all(Object.keys(MESH).map((h) => on(h, 'systemctl start wg-quick@wg0.service')));
      for (const step of [
        ['backups', 'install'],
        ['net', 'caddy', '--apply'],
        ['db', 'provision'],
        // One backup run: status counts a backup that never ran as a problem.
        ['backups', 'run'],
        ['tunnels', 'up'],
        ['deploy', '--all'],
      ]) {
        const r = await cli(...step);
        assert.equal(r.status, 0, `${step.join(' ')}: ${r.stdout}${r.stderr}`);
      }
      await eventually(
        'the edge serves the site',
        30_000,
        async () =>
          (await fleet.exec(EDGE, ['sh', '-c', `curl -sk --max-time 2 --resolve ${SITE}:443:127.0.0.1 https://${SITE}/`])).stdout.trim() === 'v1',
      );
    });

    after(async () => {
      await fleet?.down();
      for (const d of [root, controlDir]) if (d) rmSync(d, { recursive: true, force: true });
    });

    test('a freshly deployed fleet: zero findings, and drift changes nothing on any host', async () => {
      const snapshot = () => Promise.all(fleet.hosts.map(async (h) => `${upperSnapshot(fleet.upperDir(h.name))}\n${await on(h.name, IN_HOST)}`));
      const before = await snapshot();
      const doc = await drift();
      const after = await snapshot();
      assert.deepEqual(brief(doc), [], show(doc));
      assert.deepEqual(doc.hosts.map((h) => [h.host, h.reachable]).sort(), [
        [APP, true],
        [DB, true],
        [EDGE, true],
      ]);
      assert.deepEqual(doc.hosts.find((h) => h.host === APP)!.compared, [
        'units',
        'releases',
        'compose',
        'tunnels',
        'env files',
        'wireguard',
        'ports',
      ]);
      assert.deepEqual(doc.hosts.find((h) => h.host === EDGE)!.compared, ['caddy', 'ports']);
      assert.deepEqual(doc.hosts.find((h) => h.host === DB)!.compared, ['units', 'tunnels', 'pg_hba', 'wireguard', 'ports']);
      fleet.hosts.forEach((h, i) => {
        const was = new Set(before[i]!.split('\n'));
        const is = new Set(after[i]!.split('\n'));
        const changes = [...[...was].filter((l) => !is.has(l)).map((l) => `- ${l}`), ...[...is].filter((l) => !was.has(l)).map((l) => `+ ${l}`)];
        assert.deepEqual(changes, [], `${h.name} changed while drift ran`);
      });
      console.log(
        `zero findings on ${doc.hosts.length} hosts; ${fleet.hosts.length}/${fleet.hosts.length} hosts byte-identical (files and unit states) before and after drift`,
      );
    });

    test('each change made by hand is reported with its verdict, and nothing else is', async () => {
      const admin = "curl -fsS --unix-socket /var/lib/caddy/admin.sock -H 'Host: '";
      await Promise.all([
        // A unit's ExecStart edited by hand during an incident.
        on(APP, `sed -i 's|^ExecStart=.*|ExecStart=/usr/bin/node --inspect server.mjs|' /etc/systemd/system/shop.service`),
        // A drop-in added to another unit.
        on(
          APP,
          `mkdir -p /etc/systemd/system/ledger.service.d && printf '[Service]\\nEnvironment=DEBUG=1\\n' > /etc/systemd/system/ledger.service.d/debug.conf`,
        ),
        // A listener no manifest declares.
        on(APP, `systemd-run --unit=stray-listener /usr/bin/node -e "require('net').createServer().listen(9876)" >/dev/null 2>&1`),
        // The tunnel's unit deleted.
        on(APP, 'rm /etc/systemd/system/manage-apps-tunnel-pg-forward.service'),
        // A declared timer deleted (and systemd told).
        on(APP, 'systemctl disable --now sweep.timer 2>/dev/null; rm /etc/systemd/system/sweep.timer && systemctl daemon-reload'),
        // The compose service's image re-tagged and its container recreated by hand, from the compose file alone (no pin).
        on(
          APP,
          `docker tag ${REGISTRY}/pay:v2 ${REGISTRY}/pay:latest && docker-compose -p pay --project-directory /srv/pay/current -f /srv/pay/current/compose.yml up -d --no-deps app 2>&1`,
        ),
        // A route added to Caddy through its admin API.
        on(
          EDGE,
          `s=$(${admin} http://caddy/config/apps/http/servers/ | node -e 'let t="";process.stdin.on("data",d=>t+=d).on("end",()=>console.log(Object.keys(JSON.parse(t))[0]))') && ${admin} -H 'Content-Type: application/json' -X POST -d '{"match":[{"host":["extra.internal"]}],"handle":[{"handler":"static_response","body":"hi"}]}' "http://caddy/config/apps/http/servers/$s/routes/"`,
        ),
        // A mesh peer widened on the interface itself (wg set), the config file left as it was.
        on(DB, `wg set wg0 peer ${meshKeys[APP]!.public} allowed-ips ${MESH[APP]}/32,10.77.9.0/24`),
        // The tunnel's authorized_keys line widened (its permitopen restriction dropped).
        on(DB, `sed -i 's/,permitopen="[^"]*"//' /var/lib/ma-tunnel-open/.ssh/authorized_keys`),
        // pg_hba.conf: a line inside the managed block changed, and one outside it naming the managed database.
        on(
          DB,
          `f=$(runuser -u postgres -- psql -p ${PG_PORT} -XAtc 'SHOW hba_file'); sed -i '/^# BEGIN manage-apps/,/^# END manage-apps/s|/32 |/24 |' "$f" && sed -i '1i host ledger_db all 0.0.0.0/0 trust' "$f" && sed -i '1i host all all 192.0.2.0/24 reject' "$f"`,
        ),
      ]);
      await eventually(
        'the stray listener listens',
        10_000,
        async () => (await fleet.exec(APP, ['sh', '-c', 'ss -Hltn | grep -q :9876'])).exitCode === 0,
      );
      const doc = await drift();
      console.log(show(doc));
      const hba = doc.findings.find((f) => f.kind === 'pg_hba' && f.verdict === 'extra')?.subject ?? '';
      assert.deepEqual(
        brief(doc),
        [
          `${APP} drop-in /etc/systemd/system/ledger.service.d/debug.conf: extra`,
          `${APP} port 9876: extra`,
          `${APP} unit /etc/systemd/system/manage-apps-tunnel-pg-forward.service: missing`,
          `${APP} unit /etc/systemd/system/sweep.timer: missing`,
          `${APP} image pay_app_1: edited on host`,
          `${APP} unit /etc/systemd/system/shop.service: edited on host`,
          `${DB} authorized-keys /var/lib/ma-tunnel-open/.ssh/authorized_keys: edited on host`,
          `${DB} wireguard wg0 peer ${meshKeys[APP]!.public}: edited on host`,
          `${DB} pg_hba ${hba}: extra`,
          `${DB} pg_hba ${hba.replace(/:\d+$/, '')}: edited on host`,
          `${EDGE} caddy route extra.internal: extra`,
        ].sort(),
        show(doc),
      );
      const exec = doc.findings.find((f) => f.subject === '/etc/systemd/system/shop.service')!;
      assert.deepEqual(
        exec.properties.map((p) => p.name),
        ['[Service] ExecStart'],
      );
      assert.match(exec.diff ?? '', /^\+ExecStart=\/usr\/bin\/node --inspect server\.mjs$/m);
      const image = doc.findings.find((f) => f.kind === 'image')!;
      assert.match(image.properties.find((p) => p.name === 'image')?.declared ?? '', new RegExp(`^${REGISTRY}/pay@sha256:[0-9a-f]{64}$`));
      assert.equal(image.properties.find((p) => p.name === 'image')?.live, `${REGISTRY}/pay:latest`);
      assert.equal(image.adoptable, true, 'an image tag a manifest can say');
      assert.match(hba, /:2$/, 'the line outside the block that names the database (line 2), not the unrelated one (line 1)');
      assert.equal(doc.findings.find((f) => f.kind === 'port')!.adoptable, false, 'a process no manifest runs: nothing to adopt');

      // status --drift and the dashboard show the same findings (the same use case).
      const ids = doc.findings.map((f) => f.id).sort();
      const status = await cli('status', '--drift', '--json');
      assert.equal(status.status, 1, 'drift makes status exit 1');
      assert.deepEqual(
        json<{ drift: DriftDoc }>(status)
          .drift.findings.map((f) => f.id)
          .sort(),
        ids,
      );
      const ui = await startUi(['--root', root, '--ssh-config', fleet.sshConfigPath, '--interval', '60'], env());
      try {
        const api = json<DriftDoc>({ status: 0, stdout: await (await fetch(`${ui.url}api/drift`)).text(), stderr: '', ms: 0 });
        assert.deepEqual(api.findings.map((f) => f.id).sort(), ids);
        const browser = browserSkipReason() === undefined ? await launchBrowser() : undefined;
        if (browser !== undefined)
          try {
            const page = await browser.context.newPage();
            await page.goto(ui.url);
            await page.waitForSelector('html[data-ready="1"]');
            await page.click('nav [data-tab="drift"]');
            await page.click('#drift-check');
            await page.waitForSelector('#drift-table', { timeout: 60_000 });
            const shown = await page.$$eval('#drift-table tr[data-finding]', (rows) => rows.map((r) => r.getAttribute('data-finding') ?? '').sort());
            assert.deepEqual(shown, ids);
            console.log(`the dashboard's Drift tab shows the same ${shown.length} findings`);
          } finally {
            await browser.close();
          }
        else console.log(`dashboard page not checked in a browser: ${browserSkipReason()}`);
      } finally {
        await ui.stop();
      }
    });

    test('reapply puts back what manage-apps installs, says what it cannot, and every service stays healthy', async () => {
      const dry = await cli('reapply', '--dry-run', '--json');
      assert.equal(dry.status, 1, dry.stdout + dry.stderr);
      const plan = json<{ plan: { step: string }[]; steps: unknown[]; after: unknown }>(dry);
      assert.deepEqual(plan.steps, [], 'a dry run does nothing');
      assert.equal(plan.after, null);
      assert.deepEqual(
        plan.plan.map((p) => p.step).sort(),
        [
          'db provision apps',
          'deploy ledger',
          'deploy pay',
          'deploy shop',
          'deploy sweep',
          `net caddy --apply on ${EDGE}`,
          `net wireguard --apply on ${DB}`,
          'tunnels up pg-forward',
        ].sort(),
      );
      const r = await cli('reapply', '--json');
      const doc = json<{ left: { id: string; why: string }[]; steps: { step: string; ok: boolean; detail: string }[]; after: DriftDoc }>(r);
      console.log(doc.steps.map((s) => `${s.ok ? 'ok' : 'FAILED'} ${s.step}: ${s.detail}`).join('\n'));
      assert.ok(
        doc.steps.every((s) => s.ok),
        JSON.stringify(doc.steps),
      );
      // What no path of manage-apps puts back: a process it did not start, the operator's line outside the managed block.
      assert.deepEqual(
        doc.left.map((l) => l.id).sort(),
        [`${APP}/port/9876`, `${DB}/pg_hba/${doc.left.find((l) => l.id.startsWith(`${DB}/pg_hba/`))?.id.split('/pg_hba/')[1]}`].sort(),
      );
      assert.equal(r.status, 1, 'findings are left');
      assert.deepEqual(brief(doc.after).length, 2, show(doc.after));
      // The operator takes care of those two; then nothing is left.
      await Promise.all([
        on(APP, 'systemctl stop stray-listener.service'),
        on(DB, `f=$(runuser -u postgres -- psql -p ${PG_PORT} -XAtc 'SHOW hba_file'); sed -i '2d' "$f"`),
      ]);
      const after = await drift();
      assert.deepEqual(brief(after), [], show(after));
      const status = await cli('status', '--json');
      assert.equal(status.status, 0, status.stdout + status.stderr);
      // The compose service runs its pinned image again, and serves.
      assert.match(await on(APP, `docker inspect --format '{{.Config.Image}}' pay_app_1`), new RegExp(`^${REGISTRY}/pay@sha256:`));
      assert.equal((await on(APP, `curl -fsS --max-time 5 http://127.0.0.1:${PAY_PORT}/version`)).trim(), 'v1');
      assert.equal((await on(APP, 'systemctl is-enabled sweep.timer')).trim(), 'enabled');
      // The drop-in was set aside, not deleted.
      assert.match(await on(APP, 'ls /var/lib/manage-apps/set-aside/*/'), /%etc%systemd%system%ledger\.service\.d%debug\.conf/);
    });

    test("adopt writes a service's live port into its manifest, comments and formatting kept; then drift reports nothing", async () => {
      await on(APP, 'sed -i s/8082/8092/g /etc/systemd/system/worker.service && systemctl daemon-reload && systemctl restart worker.service');
      await eventually(
        'worker listens on 8092',
        15_000,
        async () => (await fleet.exec(APP, ['sh', '-c', 'ss -Hltn | grep -q :8092'])).exitCode === 0,
      );
      const doc = await drift();
      assert.deepEqual(brief(doc), [`${APP} port 8092: extra`, `${APP} unit /etc/systemd/system/worker.service: edited on host`], show(doc));
      const port = doc.findings.find((f) => f.kind === 'port')!;
      assert.equal(port.owner, 'worker');
      assert.equal(port.adoptable, true);
      // Something a manifest cannot say is refused, plainly.
      const refused = await cli('adopt', doc.findings.find((f) => f.kind === 'unit')!.id, '--json');
      assert.equal(refused.status, 1);
      assert.match(json<{ reason: string }>(refused).reason, /cannot be said in a manifest/);
      const before = readFileSync(join(root, 'worker/.infra.yaml'), 'utf8');
      const r = await cli('adopt', port.id, '--json');
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.equal(readFileSync(join(root, 'worker/.infra.yaml'), 'utf8'), before.replace('port: 8082 # its own port', 'port: 8092 # its own port'));
      const after = await drift();
      assert.deepEqual(brief(after), [], show(after));
      const status = await cli('status', 'worker', '--json');
      assert.equal(status.status, 0, status.stdout + status.stderr);
    });

    test('a unit disabled, or enabled only until the next boot, by hand is reported as systemd names its state', async () => {
      const enabled = () =>
        drift().then((doc) => doc.findings.filter((f) => f.kind === 'unit-enabled').map((f) => `${f.subject} ${f.properties[0]?.live}`));
      await on(APP, 'systemctl disable worker.service 2>&1');
      assert.equal((await on(APP, 'systemctl is-enabled worker.service || true')).trim(), 'disabled');
      assert.deepEqual(await enabled(), ['worker.service disabled']);
      await on(APP, 'systemctl enable --runtime worker.service 2>&1');
      assert.equal((await on(APP, 'systemctl is-enabled worker.service || true')).trim(), 'enabled-runtime');
      assert.deepEqual(await enabled(), ['worker.service enabled-runtime']);
      await on(APP, 'systemctl enable worker.service 2>&1');
      assert.deepEqual(brief(await drift()), []);
    });
  },
);

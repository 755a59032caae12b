// Tenants from templates on real test hosts: an edge host with a real Caddy (internal CA) and an
// app host; a site template (one instance per tenant) and a shared assistant at ai.{org}.{tld};
// two tenants live. `tenants add` of a third: its site and ai. route answer through the edge over
// TLS with its own config in the answer, while a request loop against the other two sees 0
// failed requests; `remove` takes it away with the same 0 failures; a clashing tenant is a
// located error and nothing is touched. Then the CLI killed and the hosts' networks cut at each
// step of `add`: never a route to nothing, the other tenants unharmed (outside a cut of the edge
// itself), and the tenant ends fully live (add again) or fully absent (remove).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { realHostsSkipReason, TestFleet } from '../harness/test-fleet.js';
import { cutUntil, killWithChildren } from '../harness/faults.js';
import { eventually, json, runCli, sleep, startCli, type CliRun } from '../ops/helpers.js';
import { fleetRoot } from '../ops/real-fleet.js';

const EDGE = 'e1';
const APP = 'a1';
// After a cut of the edge heals, requests that began during it are the cut's, not the CLI's.
const AFTER_HEAL_MS = 3000;

const SITE = `import { createServer } from 'node:http';
createServer((req, res) => {
  if (req.url === '/readyz' || req.url === '/livez') { res.writeHead(200); res.end('ready\\n'); return; }
  res.writeHead(200); res.end('site ' + process.env.TENANT + ' ' + process.env.BRAND_NAME + '\\n');
}).listen(Number(process.env.PORT));
`;
const ASSISTANT = `import { createServer } from 'node:http';
createServer((req, res) => {
  if (req.url === '/readyz' || req.url === '/livez') { res.writeHead(200); res.end('ready\\n'); return; }
  res.writeHead(200); res.end('ai ' + req.headers['x-tenant'] + '\\n');
}).listen(Number(process.env.PORT));
`;

interface Answer {
  status: number | null;
  text: string;
}

/** One GET through the edge over TLS, the name as SNI and Host (Caddy's internal CA: not verified here). */
function httpsGet(address: string, name: string, timeoutMs = 5000): Promise<Answer> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: address,
        port: 443,
        path: '/',
        servername: name,
        headers: { host: name, connection: 'close' },
        rejectUnauthorized: false,
        timeout: timeoutMs,
      },
      (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? null, text: body.trim() }));
        res.on('error', (e) => resolve({ status: null, text: e.message }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ status: null, text: e.message }));
    req.end();
  });
}

interface LoopResult {
  sent: number;
  failures: { sentAt: number; text: string }[];
}

/** GETs to each name in turn every `everyMs` until stopped: a failure is a non-200 or an answer that is not the tenant's. */
function requestLoop(address: string, expected: Record<string, string>, everyMs = 40): { stop(): Promise<LoopResult> } {
  let running = true;
  let sent = 0;
  const failures: LoopResult['failures'] = [];
  const pending: Promise<void>[] = [];
  const names = Object.keys(expected);
  const ticker = (async () => {
    while (running) {
      const name = names[sent % names.length]!;
      sent++;
      const sentAt = Date.now();
      pending.push(
        httpsGet(address, name).then((a) => {
          if (a.status !== 200 || a.text !== expected[name]) failures.push({ sentAt, text: `${name}: ${a.status ?? ''} ${a.text}` });
        }),
      );
      await sleep(everyMs);
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

const OTHERS = {
  'alpha.internal': 'site alpha Alpha',
  'ai.alpha.internal': 'ai alpha',
  'bravo.internal': 'site bravo Bravo',
  'ai.bravo.internal': 'ai bravo',
};

describe(
  'tenants add/remove on a real Caddy edge and an app host',
  {
    skip: realHostsSkipReason() ?? (existsSync('/usr/bin/caddy') || process.env.CI === 'true' ? undefined : 'caddy is not installed'),
    timeout: 1_500_000,
  },
  () => {
    let fleet: TestFleet;
    let root = '';
    let control = '';
    const args = (...a: string[]) => [...a, '--root', root, '--ssh-config', fleet.sshConfigPath, '--connect-timeout', '3', '--timeout', '20'];
    const cli = (...a: string[]) => runCli(args(...a), { MANAGE_APPS_CONTROL_DIR: control });
    const edge = () => fleet.host(EDGE).address;
    const inHost = async (h: string, script: string) => (await fleet.ssh(h, script, { timeoutMs: 60_000 })).stdout.trim();
    const addCharlie = [
      'tenants',
      'add',
      'charlie',
      '--kind',
      'org',
      '--tld',
      'internal',
      '--surface',
      'site',
      '--surface',
      'ai',
      '--config',
      'BRAND_NAME=Charlie',
    ];

    /** What the edge and the app host say of charlie: is it routed, does it answer, does its instance run. */
    async function charlie() {
      const site = await httpsGet(edge(), 'charlie.internal');
      const ai = await httpsGet(edge(), 'ai.charlie.internal');
      const caddyfile = await inHost(EDGE, 'cat /etc/caddy/Caddyfile');
      const unit = await inHost(APP, 'systemctl is-active org-site-charlie.service || true');
      // Enabled would start it again at the next boot, with no route to it.
      const enabled = await inHost(APP, 'systemctl is-enabled org-site-charlie.service 2>/dev/null || true');
      return {
        site,
        ai,
        routed: /charlie\.internal/.test(caddyfile),
        unit,
        enabled,
        declared: /^ {2}charlie:/m.test(readFileSync(join(root, 'tenants.yaml'), 'utf8')),
      };
    }
    const fullyLive = (c: Awaited<ReturnType<typeof charlie>>) =>
      c.routed && c.declared && c.unit === 'active' && c.site.text === 'site charlie Charlie' && c.ai.text === 'ai charlie';
    const fullyAbsent = (c: Awaited<ReturnType<typeof charlie>>) =>
      !c.routed && !c.declared && c.unit !== 'active' && c.enabled !== 'enabled' && c.site.status !== 200 && c.ai.status !== 200;

    before(async () => {
      fleet = await TestFleet.up({ names: [EDGE, APP] });
      control = mkdtempSync(join(tmpdir(), 'manage-apps-tenants-cm-'));
      root = await fleetRoot(fleet.hosts, {
        'edge/.infra.yaml': `apiVersion: infra/v2\nproject: edge\nprovider: bare-metal\nservice:\n  host: ${EDGE}\n  port: 443\n  kind: edge\n  systemd_unit: caddy.service\n`,
        'org-site/.infra.yaml': `apiVersion: infra/v2\nproject: org-site\nprovider: bare-metal\nservice:\n  host: ${APP}\n  command: node server.mjs\n  artifact: dist\n  domains: ["{org}.{tld}"]\n  health: { timeout: 20s }\n  tenants:\n    surface: site\n    instances:\n      ports: [7401, 7499]\n`,
        'org-site/dist/server.mjs': SITE,
        'assistant/.infra.yaml': `apiVersion: infra/v2\nproject: assistant\nprovider: bare-metal\nservice:\n  host: ${APP}\n  port: 7300\n  command: node server.mjs\n  artifact: dist\n  domains: ["ai.{org}.{tld}"]\n  tenants:\n    surface: ai\n`,
        'assistant/dist/server.mjs': ASSISTANT,
        'mesh-hosts.json': JSON.stringify({
          version: 1,
          hosts: Object.fromEntries(fleet.hosts.map((h) => [h.name, { alias: h.alias, lan: h.address, provider: 'bare-metal', role: 'production' }])),
        }),
        'tenants.yaml': [
          '# The brands this fleet serves.',
          'tenants:',
          '  alpha:',
          '    kind: org',
          '    tlds: [internal]',
          '    surfaces: [site, ai]',
          '    config:',
          '      BRAND_NAME: Alpha',
          '    ports:',
          '      org-site: 7401',
          '  bravo:',
          '    kind: person',
          '    tlds: [internal]',
          '    surfaces: [site, ai]',
          '    config:',
          '      BRAND_NAME: Bravo',
          '    ports:',
          '      org-site: 7402',
          '',
        ].join('\n'),
      });
      const valid = await runCli(['validate', '--root', root]);
      assert.equal(valid.status, 0, valid.stdout + valid.stderr);
      const deployed = await cli('deploy', 'assistant', 'org-site-alpha', 'org-site-bravo');
      assert.equal(deployed.status, 0, deployed.stdout + deployed.stderr);
      const applied = await cli('net', 'caddy', '--apply');
      assert.equal(applied.status, 0, applied.stdout + applied.stderr);
      await eventually('the two tenants answer through the edge', 60_000, async () => {
        for (const [name, body] of Object.entries(OTHERS)) if ((await httpsGet(edge(), name)).text !== body) return false;
        return true;
      });
    });

    after(async () => {
      await fleet?.down();
      for (const d of [root, control]) if (d) rmSync(d, { recursive: true, force: true });
    });

    test('add a third tenant: its site and ai. answer through the edge over TLS with its own config; 0 failed requests for the others', async () => {
      const loop = requestLoop(edge(), OTHERS);
      const added = await cli(...addCharlie, '--json');
      const r = await loop.stop();
      console.log(`tenants add: ${r.sent} requests to the other two tenants through the edge, ${r.failures.length} failed`);
      const doc = json<{ ok: boolean; steps: { step: string; state: string }[]; probes: { ok: boolean }[] }>(added);
      assert.equal(added.status, 0, added.stdout + added.stderr);
      assert.deepEqual(
        doc.steps.map((s) => `${s.step}:${s.state}`),
        ['check:ok', 'dns:ok', 'declare:changed', 'deploy:ok', 'edge:changed', 'probe:ok', 'record:ok'],
      );
      assert.equal(doc.probes.length, 2);
      assert.equal(
        r.failures.length,
        0,
        r.failures
          .slice(0, 5)
          .map((f) => f.text)
          .join(' | '),
      );
      assert.ok(r.sent >= 20);
      const c = await charlie();
      assert.ok(fullyLive(c), JSON.stringify(c));
      // The instance runs as its own unit on its own port, with the tenant's config as its environment.
      assert.equal(
        await inHost(
          APP,
          'systemctl show -p Environment --value org-site-charlie.service | tr " " "\\n" | grep -E "^(PORT|TENANT|BRAND_NAME)=" | sort | tr "\\n" " "',
        ),
        'BRAND_NAME=Charlie PORT=7403 TENANT=charlie',
      );
      // Again: nothing to do, still live.
      const again = await cli('tenants', 'add', 'charlie', '--json');
      assert.equal(again.status, 0, again.stdout);
      assert.deepEqual(
        json<{ steps: { step: string; state: string }[] }>(again)
          .steps.filter((s) => s.step === 'declare' || s.step === 'edge')
          .map((s) => s.state),
        ['unchanged', 'unchanged'],
      );
      const status = await runCli(['tenants', 'status', '--json', '--root', root]);
      assert.equal(status.status, 0, status.stdout);
    });

    test('remove it: its routes gone, then its instance; 0 failed requests for the others', async () => {
      const loop = requestLoop(edge(), OTHERS);
      const removed = await cli('tenants', 'remove', 'charlie', '--json');
      const r = await loop.stop();
      console.log(`tenants remove: ${r.sent} requests to the other two tenants through the edge, ${r.failures.length} failed`);
      assert.equal(removed.status, 0, removed.stdout + removed.stderr);
      assert.equal(
        r.failures.length,
        0,
        r.failures
          .slice(0, 5)
          .map((f) => f.text)
          .join(' | '),
      );
      const c = await charlie();
      assert.ok(fullyAbsent(c), JSON.stringify(c));
      const again = await cli('tenants', 'remove', 'charlie');
      assert.equal(again.status, 0, again.stdout + again.stderr);
    });

    test('a tenant whose name another has is a located error, and nothing is touched', async () => {
      const before = readFileSync(join(root, 'tenants.yaml'), 'utf8');
      const caddyBefore = await inHost(EDGE, 'sha256sum /etc/caddy/Caddyfile');
      // Slug "ai" under alpha.internal: its site would be ai.alpha.internal, alpha's assistant route.
      const clash = await cli('tenants', 'add', 'ai', '--kind', 'person', '--tld', 'alpha.internal', '--surface', 'site', '--json');
      assert.equal(clash.status, 1, clash.stdout + clash.stderr);
      const doc = json<{ problems: { rule: string; file: string; line: number; message: string }[] }>(clash);
      assert.equal(doc.problems[0]?.rule, 'domain_unique');
      assert.equal(doc.problems[0]?.file, 'tenants.yaml');
      assert.match(doc.problems[0]?.message ?? '', /ai\.alpha\.internal/);
      assert.equal(readFileSync(join(root, 'tenants.yaml'), 'utf8'), before);
      assert.equal(await inHost(EDGE, 'sha256sum /etc/caddy/Caddyfile'), caddyBefore);
      assert.equal(await inHost(APP, 'systemctl is-active org-site-ai.service || true'), 'inactive');
    });

    test('the CLI killed and the networks cut at each step of add: never a route to nothing; the tenant ends fully live or fully absent', async () => {
      // Where the fault strikes: the first stderr line matching, then the fault.
      const points: { name: string; at: RegExp; fault: 'kill' | typeof EDGE | typeof APP }[] = [
        { name: 'checked, nothing written', at: /^check: ok/m, fault: 'kill' },
        { name: 'declared, before the deploy', at: /^declare: changed/m, fault: 'kill' },
        { name: 'declared, during the deploy', at: /^declare: changed/m, fault: APP },
        { name: 'deployed, before the edge', at: /^deploy: ok/m, fault: 'kill' },
        { name: 'deployed, during the edge install', at: /^deploy: ok/m, fault: EDGE },
        { name: 'during the edge install', at: /^e1: /m, fault: 'kill' },
        { name: 'edge reloaded, before the probes', at: /^edge: changed/m, fault: 'kill' },
        { name: 'edge reloaded, during the probes', at: /^edge: changed/m, fault: EDGE },
      ];
      let survived = 0;
      const report: string[] = [];
      for (const point of points) {
        const label = `${point.fault === 'kill' ? 'CLI killed' : `${point.fault} cut`}: ${point.name}`;
        const loop = requestLoop(edge(), OTHERS);
        let stderr = '';
        let struck: Promise<unknown> | undefined;
        let resolveStruck: () => void = () => {};
        const hit = new Promise<void>((r) => (resolveStruck = r));
        const run = startCli(args(...addCharlie), { MANAGE_APPS_CONTROL_DIR: control }, (chunk) => {
          stderr += chunk;
          if (struck === undefined && point.at.test(stderr)) {
            struck = Promise.resolve();
            resolveStruck();
          }
        });
        let cutBackAt = 0;
        const faulted = (async (): Promise<CliRun> => {
          await Promise.race([hit, run.done]);
          if (struck === undefined) return run.done;
          if (point.fault === 'kill') {
            killWithChildren(run.pid);
            return run.done;
          }
          const result = await cutUntil(fleet, point.fault, run.done);
          cutBackAt = Date.now();
          return result;
        })();
        const result = await faulted;
        await sleep(point.fault === EDGE ? AFTER_HEAL_MS : 500);
        // Right after the fault: a route exists only to an instance that answers.
        const now = await charlie();
        const routeToNothing = now.routed && (now.site.status === 502 || now.ai.status === 502 || now.unit !== 'active');
        const r = await loop.stop();
        const failures = r.failures.filter((f) => cutBackAt === 0 || f.sentAt > cutBackAt);
        // Then: the same add again finishes it (fully live), remove takes it away (fully absent).
        const finished = await cli(...addCharlie);
        const live = await charlie();
        const removed = await cli('tenants', 'remove', 'charlie');
        const absent = await charlie();
        const ok =
          struck !== undefined &&
          !routeToNothing &&
          failures.length === 0 &&
          finished.status === 0 &&
          fullyLive(live) &&
          removed.status === 0 &&
          fullyAbsent(absent);
        if (ok) survived++;
        report.push(
          `${ok ? 'ok  ' : 'FAIL'} ${label}: exit ${result.status}, right after: ${now.routed ? 'routed' : 'not routed'}/${now.unit}, site ${now.site.status ?? 'no answer'}; ` +
            `${r.sent} requests to the others, ${failures.length} failed${cutBackAt ? ` (${r.failures.length - failures.length} during the cut)` : ''}; add again ${finished.status}, remove ${removed.status}` +
            (ok
              ? ''
              : ` | ${JSON.stringify({ struck: struck !== undefined, now, live, absent, failures: failures.slice(0, 3), finished: finished.stdout.slice(-400) })}`),
        );
      }
      for (const line of report) console.log(`# ${line}`);
      console.log(`${survived}/${points.length} fault points survived`);
      assert.equal(survived, points.length, report.join('\n'));
    });
  },
);

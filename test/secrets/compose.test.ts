// Secrets of a Compose service on real test hosts (a real dockerd and docker-compose on the
// service's host, a real registry on another): the container reads its secrets from the env file
// its override lists (env_file) and answers their hash on /secret-hash (computed at start, never
// the value). `secrets push` and `secrets push --rotate` recreate the container through its gate
// (`up -d`, which reads the env file again); a value that fails the gate puts the env file and the
// container back on the values before; `secrets revert` recreates it on the values before too.
// Then the fault matrix of this path: the CLI SIGKILLed, or the host's network cut, at each step of
// a push and of a revert; each time the host holds the old or the new value consistently (the env
// file `current` points at, its keyed fingerprint, and what the container answers). ps is
// sampled here and on both hosts throughout.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { composeFleet } from '../harness/compose-fleet.js';
import { dockerSkipReason, REGISTRY_PORT, type ImageSpec } from '../harness/docker.js';
import { realHostsSkipReason, type TestFleet } from '../harness/test-fleet.js';
import { applyFault } from '../ops/faults.js';
import { eventually, json, runCli, sleep, startCli, type CliRun } from '../ops/helpers.js';
import { fleetRoot } from '../ops/real-fleet.js';
import { hashOf, makePassStore, newValue, passInsert, sampleArgv } from './helpers.js';

const REG = 'sreg';
const WEB = 'sweb';
const REGISTRY = `${REG}:${REGISTRY_PORT}`;
const PORT = 8085;
const DIR = '/var/lib/manage-apps/secrets/prod/shop';
const B = '/bin/busybox';

/** Computes the hash of SHARED and SHOP_OWN at start; ready after 1.5 s unless SHARED starts with "bad". */
const HASH_APP: ImageSpec = {
  www: { readyz: 'ready\n', livez: 'alive\n' },
  cmd: [
    B,
    'sh',
    '-c',
    `${B} mkdir -p /tmp/w; ${B} cp /www/livez /tmp/w/; printf '%s\\n%s' "$SHARED" "$SHOP_OWN" | ${B} sha256sum | ${B} cut -d' ' -f1 > /tmp/w/secret-hash; ` +
      `case "$SHARED" in bad*) ;; *) (${B} sleep 1.5; ${B} cp /www/readyz /tmp/w/) & ;; esac; exec ${B} httpd -f -p 80 -h /tmp/w`,
  ],
};

const skip = realHostsSkipReason() ?? (process.env['CI'] === 'true' ? undefined : dockerSkipReason());

describe('secrets of a Compose service on real hosts (dockerd, docker-compose, a registry)', { skip, timeout: 1_500_000 }, () => {
  let fleet: TestFleet;
  let root = '';
  let work = '';
  let controlDir = '';
  let passEnv: NodeJS.ProcessEnv = {};
  let shared = '';
  const own = newValue('own');
  const seenValues: string[] = [own];
  const args = (...a: string[]) => [...a, '--root', root, '--ssh-config', fleet.sshConfigPath, '--connect-timeout', '2', '--timeout', '4'];
  const env = () => ({ ...passEnv, MANAGE_APPS_CONTROL_DIR: controlDir, SHOP_OWN_VALUE: own });
  const cli = (...a: string[]) => runCli(args(...a), env());
  const inHost = async (script: string) => (await fleet.exec(WEB, ['sh', '-c', script])).stdout.trim();
  const setShared = (value: string) => {
    shared = value;
    seenValues.push(value);
    passInsert(passEnv, 'fleet/shared', value);
  };
  const served = async (): Promise<string | undefined> => {
    try {
      const res = await fetch(`http://${fleet.host(WEB).address}:${PORT}/secret-hash`, { signal: AbortSignal.timeout(3000) });
      return res.ok ? (await res.text()).trim() : undefined;
    } catch {
      return undefined;
    }
  };
  const ready = async () => {
    try {
      return (await fetch(`http://${fleet.host(WEB).address}:${PORT}/readyz`, { signal: AbortSignal.timeout(3000) })).ok;
    } catch {
      return false;
    }
  };
  const container = () => inHost("docker inspect --format '{{.Id}}' shop_app_1 2>/dev/null || true");
  const currentGen = () => inHost(`readlink ${DIR}/current || true`);
  const noValueIn = (run: CliRun) => {
    for (const v of seenValues) assert.ok(!run.stdout.includes(v) && !run.stderr.includes(v), 'a value in the output');
  };
  let sampler: { stop: () => Promise<string[]> };

  before(async () => {
    fleet = (await composeFleet({ registry: REG, docker: [WEB], images: { hashapp: HASH_APP }, refOf: (registry) => `${registry}/hashapp:1` })).fleet;
    work = mkdtempSync(join(tmpdir(), 'manage-apps-secrets-compose-'));
    controlDir = mkdtempSync(join(tmpdir(), 'manage-apps-cm-'));
    passEnv = makePassStore(work);
    setShared(newValue('shared'));
    root = await fleetRoot(fleet.hosts, {
      'shop/.infra.yaml':
        `apiVersion: infra/v2\nproject: shop\nprovider: bare-metal\nservice:\n  host: ${WEB}\n  port: ${PORT}\n` +
        '  health: { readiness: /readyz, liveness: /livez, timeout: 10s }\n  compose:\n    file: compose.yml\n    service: app\n' +
        '  secrets:\n    SHARED: { pass: fleet/shared }\n    SHOP_OWN: { env: SHOP_OWN_VALUE }\n',
      'shop/compose.yml': `services:\n  app:\n    image: ${REGISTRY}/hashapp:1\n    ports: ["${PORT}:80"]\n    restart: unless-stopped\n    init: true\n`,
    });
    sampler = sampleArgv(fleet, [WEB]);
  });

  after(async () => {
    const seen = sampler === undefined ? [] : await sampler.stop();
    await fleet?.down();
    for (const dir of [root, work, controlDir]) if (dir) rmSync(dir, { recursive: true, force: true });
    assert.ok(seen.length > 10, `ps was sampled ${seen.length} times`);
    for (const v of seenValues)
      for (const s of seen) {
        assert.ok(!s.includes(v), 'a secret value appeared in a process argv');
        assert.ok(!s.includes(Buffer.from(v).toString('base64')), 'a base64 secret value appeared in a process argv');
      }
  });

  test('deploy: the container reads the env file its override lists', async () => {
    const run = await cli('deploy', 'shop', '--json');
    assert.equal(run.status, 0, run.stdout + run.stderr);
    noValueIn(run);
    assert.equal(await served(), hashOf(shared, own));
    assert.equal(await inHost(`stat -c '%U %a' ${DIR}/current/secrets.env`), 'root 600');
  });

  test('push and --rotate recreate the container through its gate; it answers the new hash', async () => {
    for (const rotate of [false, true]) {
      const was = await container();
      setShared(newValue(rotate ? 'rot' : 'push'));
      const run = await cli('secrets', 'push', ...(rotate ? ['--rotate', 'SHARED'] : []), '--json');
      assert.equal(run.status, 0, run.stdout + run.stderr);
      noValueIn(run);
      const doc = json<{ services: { id: string; outcome: string; changed: string[]; restart: { outcome: string; ok: boolean } | null }[] }>(run);
      assert.deepEqual(
        doc.services.map((s) => [s.id, s.outcome, s.changed, s.restart]),
        [['shop', 'delivered', ['SHARED'], { outcome: 'restarted', ok: true }]],
      );
      assert.equal(await served(), hashOf(shared, own));
      assert.notEqual(await container(), was, 'the container was recreated');
      const st = await cli('secrets', 'status');
      assert.equal(st.status, 0, st.stdout + st.stderr);
    }
  });

  test('a value that fails the gate: the env file and the container go back to the values before', async () => {
    const good = shared;
    setShared(newValue('bad'));
    const run = await cli('secrets', 'push', '--rotate', 'SHARED', '--ready-timeout', '5');
    assert.equal(run.status, 1, run.stdout + run.stderr);
    assert.match(run.stdout, /shop failed its readiness gate with the new value of SHARED/);
    assert.match(run.stdout, /runs the values before again/);
    noValueIn(run);
    assert.equal(await served(), hashOf(good, own));
    assert.ok(await ready());
    assert.equal(await inHost(`sed -n 's/^SHARED=//p' ${DIR}/current/secrets.env | tr -d '\\n' | sha256sum | cut -d' ' -f1`), hashOf(good));
    setShared(good);
  });

  test('revert recreates the container on the values before', async () => {
    const before = shared;
    setShared(newValue('next'));
    assert.equal((await cli('secrets', 'push')).status, 0);
    assert.equal(await served(), hashOf(shared, own));
    const was = await container();
    const rev = await cli('secrets', 'revert', 'shop', '--json');
    assert.equal(rev.status, 0, rev.stdout + rev.stderr);
    const doc = json<{ services: { id: string; state: string }[]; restarts: { id: string; outcome: string; ok: boolean }[] }>(rev);
    assert.deepEqual(
      doc.services.map((s) => [s.id, s.state]),
      [['shop', 'done']],
    );
    assert.deepEqual(doc.restarts, [{ id: 'shop', outcome: 'restarted', ok: true }]);
    assert.equal(await served(), hashOf(before, own));
    assert.notEqual(await container(), was);
    // The store still holds the newer value: stale until pushed again.
    assert.equal((await cli('secrets', 'status')).status, 1);
    assert.equal((await cli('secrets', 'push')).status, 0);
    assert.equal(await served(), hashOf(shared, own));
  });

  /**
   * The host settled: the script manage-apps started there (`sh -s`) has ended — a CLI killed or cut
   * off leaves it running to the end, and compose takes seconds to recreate a container, during
   * which the old one still answers — and the container answers the same twice.
   */
  const scriptRuns = async () => (await inHost("pgrep -f '^sh -s$' || true")) !== '';
  async function holds(oldValue: string, newValue: string): Promise<{ value?: 'old' | 'new'; problem?: string }> {
    await eventually('shop settled', 90_000, async () => {
      if ((await scriptRuns()) || !(await ready())) return undefined;
      const a = await served();
      await sleep(1500);
      return a !== undefined && !(await scriptRuns()) && (await served()) === a && (await ready()) ? a : undefined;
    });
    const facts = new Map(
      (
        await inHost(
          `d=${DIR}; echo "cur=$(readlink $d/current)"; echo "junk=$(ls -A $d | grep -v -e '^current$' -e '^previous$' -e '^g\\.' | tr '\\n' ' ')"; ` +
            `echo "salt=$(head -n 1 /var/lib/manage-apps/secrets/salt)"; echo "fp=$(base64 -w0 $d/current/fingerprints)"; echo "env=$(base64 -w0 $d/current/secrets.env)"`,
        )
      )
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const),
    );
    const b64 = (k: string) => Buffer.from(facts.get(k) ?? '', 'base64').toString('utf8');
    const problems: string[] = [];
    if (!/^g\.[0-9a-z]+$/.test(facts.get('cur') ?? '')) problems.push(`current is ${JSON.stringify(facts.get('cur'))}`);
    if ((facts.get('junk') ?? '').trim() !== '') problems.push(`left beside the generations: ${facts.get('junk')}`);
    const fpText = b64('fp');
    const fp = fpText
      .split('\n')
      .find((l) => l.startsWith('SHARED\t'))
      ?.split('\t')[2];
    if (!fpText.startsWith('# manage-apps secret fingerprints v1\n') || !fpText.endsWith('\n')) problems.push('the fingerprints file is not whole');
    const inFile = /^SHARED=(.*)$/m.exec(b64('env'))?.[1];
    const value = inFile === oldValue ? 'old' : inFile === newValue ? 'new' : undefined;
    if (value === undefined || inFile === undefined) problems.push('the env file holds neither the old nor the new value (torn?)');
    else {
      const hmac = `hmac-sha256:${createHmac('sha256', Buffer.from(facts.get('salt') ?? '', 'hex'))
        .update(inFile)
        .digest('hex')}`;
      if (fp !== hmac) problems.push(`the fingerprint does not match the ${value} value in the env file`);
      if ((await served()) !== hashOf(inFile, own)) problems.push(`the container does not serve the ${value} value the env file holds`);
    }
    return problems.length > 0 ? { problem: problems.join('; ') } : { value: value! };
  }

  test('kill the CLI and cut the network at each step of a push and of a revert: the env file, fingerprint and container agree', async () => {
    type Point = 'when it says it is delivering' | 'right after the switch' | 'during the gate';
    const plan: { command: 'push' | 'revert'; point: Point }[] = [
      { command: 'push', point: 'when it says it is delivering' },
      { command: 'push', point: 'right after the switch' },
      { command: 'push', point: 'during the gate' },
      { command: 'revert', point: 'right after the switch' },
      { command: 'revert', point: 'during the gate' },
    ];
    const outcomes: { label: string; problem?: string; note: string }[] = [];
    for (const { command, point } of plan)
      for (const fault of ['kill', 'cut'] as const) {
        // A revert goes from the store's value back to the one before: push a new one first.
        let oldValue = shared;
        setShared(newValue(command));
        let newOne = shared;
        if (command === 'revert') {
          const pushed = await cli('secrets', 'push');
          assert.equal(pushed.status, 0, pushed.stdout + pushed.stderr);
          [oldValue, newOne] = [shared, oldValue];
        }
        const was = { gen: await currentGen(), container: await container() };
        let delivering = false;
        const run = startCli(args('secrets', command, ...(command === 'revert' ? ['shop'] : []), '--ready-timeout', '8'), env(), (chunk) => {
          if (/delivering /.test(chunk)) delivering = true;
        });
        await eventually(`${command}: ${point}`, 60_000, async () => {
          if (point === 'when it says it is delivering') return delivering;
          if (point === 'right after the switch') return (await currentGen()) !== was.gen;
          return (await currentGen()) !== was.gen && (await container()) !== was.container;
        });
        const { result, at } = await applyFault(fleet, run, fault === 'kill' ? { kind: 'kill' } : { kind: 'cut', host: WEB });
        const exitS = ((Date.now() - at) / 1000).toFixed(1);
        const problems: string[] = [];
        const h = await holds(oldValue, newOne);
        if (h.problem) problems.push(h.problem);
        // The next push converges the host on the store's value.
        const next = await cli('secrets', 'push');
        if (next.status !== 0) problems.push(`the next push failed: ${next.stdout}${next.stderr}`);
        if ((await served()) !== hashOf(shared, own)) problems.push("not on the store's value after the next push");
        const status = await cli('secrets', 'status');
        if (status.status !== 0) problems.push(`status after the next push: exit ${status.status}: ${status.stdout}`);
        outcomes.push({
          label: `${fault === 'kill' ? 'SIGKILL' : `network cut (${WEB})`} ${command} ${point}`,
          ...(problems.length > 0 ? { problem: problems.join('; ') } : {}),
          note: `CLI exit ${result.status ?? 'signal'} ${exitS}s after the fault; then ${h.value ?? '?'}`,
        });
      }
    for (const o of outcomes) console.log(`  ${o.problem ? '✖' : '✔'} ${o.label}: ${o.problem ?? 'consistent'} — ${o.note}`);
    const survived = outcomes.filter((o) => !o.problem).length;
    console.log(`${survived}/${outcomes.length} fault points survived`);
    assert.equal(outcomes.length, plan.length * 2);
    assert.equal(
      survived,
      outcomes.length,
      outcomes
        .filter((o) => o.problem)
        .map((o) => `${o.label}: ${o.problem}`)
        .join('\n'),
    );
  });
});

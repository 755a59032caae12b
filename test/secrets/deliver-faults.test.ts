// The fault matrix of secrets delivery on two real test hosts: the CLI is SIGKILLed, or a host's
// network is cut until the CLI gives up, at each step of `secrets push` and of a rotation
// (`secrets push --rotate`, host by host). Every case ends with each host holding either the old
// or the new value, consistently: what the service answers on /secret-hash, the value in the file
// `current` points at (decrypted by systemd-creds for a credential) and its keyed fingerprint
// agree, the fingerprints file is whole, and nothing half-made is left beside the generations.
// The next push then converges both hosts. ps is sampled here and on both hosts throughout.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { realHostsSkipReason, TestFleet } from '../harness/test-fleet.js';
import { applyFault } from '../ops/faults.js';
import { eventually, runCli, sleep, startCli } from '../ops/helpers.js';
import { fleetRoot } from '../ops/real-fleet.js';
import { hashOf, makePassStore, newValue, passInsert, sampleArgv, SECRET_APP } from './helpers.js';

const FA = 'fa';
const FB = 'fb';
interface ServiceOnHost {
  host: string;
  project: string;
  port: number;
  /** How SHARED reaches it. */
  shared: 'credential' | 'env';
  /** Its own secret's name and value (delivered as env). */
  own: string;
}

type Point =
  | 'before the write'
  | 'right after the switch on the first host'
  | 'during the first host’s gate'
  | 'between the hosts'
  | 'right after the switch on the second host';

describe('secrets delivery under faults on two real hosts', { skip: realHostsSkipReason(), timeout: 1_500_000 }, () => {
  let fleet: TestFleet;
  let root = '';
  let work = '';
  let controlDir = '';
  let passEnv: NodeJS.ProcessEnv = {};
  const seenValues: string[] = [];
  let shared = '';
  const own: Record<string, string> = {};
  const services: ServiceOnHost[] = [
    { host: FA, project: 'api', port: 8091, shared: 'credential', own: 'API_OWN' },
    { host: FB, project: 'web', port: 8092, shared: 'env', own: 'WEB_OWN' },
  ];
  const env = () => ({ ...passEnv, MANAGE_APPS_CONTROL_DIR: controlDir, WEB_OWN_VALUE: own['WEB_OWN']! });
  const args = (...a: string[]) => [...a, '--root', root, '--ssh-config', fleet.sshConfigPath, '--connect-timeout', '2', '--timeout', '4'];
  const cli = (...a: string[]) => runCli(args(...a), env());
  const inHost = async (h: string, script: string) => (await fleet.exec(h, ['sh', '-c', script])).stdout.trim();
  const dirOf = (s: ServiceOnHost) => `/var/lib/manage-apps/secrets/prod/${s.project}`;
  const served = async (s: ServiceOnHost): Promise<string | undefined> => {
    try {
      const res = await fetch(`http://${fleet.host(s.host).address}:${s.port}/secret-hash`, { signal: AbortSignal.timeout(3000) });
      return res.ok ? (await res.text()).trim() : undefined;
    } catch {
      return undefined;
    }
  };
  const mainPid = (s: ServiceOnHost) => inHost(s.host, `systemctl show -p MainPID --value ${s.project}.service`);
  const currentGen = (s: ServiceOnHost) => inHost(s.host, `readlink ${dirOf(s)}/current || true`);
  const setShared = (value: string) => {
    shared = value;
    seenValues.push(value);
    passInsert(passEnv, 'fleet/shared', value);
  };
  let sampler: { stop: () => Promise<string[]> };

  /** Waits until the host has finished what it was doing: the unit active, the service answering the same hash twice. */
  async function settle(s: ServiceOnHost): Promise<string> {
    return eventually(`${s.host}: ${s.project} settled`, 60_000, async () => {
      if ((await inHost(s.host, `systemctl is-active ${s.project}.service`)) !== 'active') return undefined;
      const a = await served(s);
      if (a === undefined) return undefined;
      await sleep(1500);
      return (await served(s)) === a && (await inHost(s.host, `systemctl is-active ${s.project}.service`)) === 'active' ? a : undefined;
    });
  }

  /** Old or new, or why the host is not consistent. */
  async function holds(s: ServiceOnHost, oldValue: string, newValue: string): Promise<{ value?: 'old' | 'new'; problem?: string }> {
    const d = dirOf(s);
    const facts = new Map(
      (
        await inHost(
          s.host,
          `d=${d}; echo "cur=$(readlink $d/current)"; echo "junk=$(ls -A $d | grep -v -e '^current$' -e '^previous$' -e '^g\\.' | tr '\\n' ' ')"; ` +
            `echo "gens=$(ls -d $d/g.* 2>/dev/null | wc -l)"; echo "salt=$(head -n 1 /var/lib/manage-apps/secrets/salt)"; ` +
            `echo "fp=$(base64 -w0 $d/current/fingerprints)"; echo "env=$(base64 -w0 $d/current/secrets.env 2>/dev/null)"; ` +
            `echo "cred=$(systemd-creds decrypt --name=SHARED $d/current/SHARED.cred - 2>/dev/null | base64 -w0)"`,
        )
      )
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const),
    );
    const problems: string[] = [];
    const b64 = (k: string) => Buffer.from(facts.get(k) ?? '', 'base64').toString('utf8');
    if (!/^g\.[0-9a-z]+$/.test(facts.get('cur') ?? '')) problems.push(`current is ${JSON.stringify(facts.get('cur'))}`);
    if ((facts.get('junk') ?? '').trim() !== '') problems.push(`left beside the generations: ${facts.get('junk')}`);
    if (Number(facts.get('gens')) > 2) problems.push(`${facts.get('gens')} generations (current and previous at most)`);
    const fpLines = b64('fp').split('\n');
    const fps = new Map(
      fpLines
        .slice(1)
        .filter(Boolean)
        .map((l) => {
          const [name, , fp] = l.split('\t');
          return [name!, fp!] as const;
        }),
    );
    if (fpLines[0] !== '# manage-apps secret fingerprints v1' || !fps.has('SHARED') || !fps.has(s.own) || !b64('fp').endsWith('\n'))
      problems.push('the fingerprints file is not whole');
    const envLines = new Map(
      b64('env')
        .split('\n')
        .filter(Boolean)
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const),
    );
    const inFile = s.shared === 'credential' ? b64('cred') : envLines.get('SHARED');
    const hmac = (v: string) =>
      `hmac-sha256:${createHmac('sha256', Buffer.from(facts.get('salt') ?? '', 'hex'))
        .update(v)
        .digest('hex')}`;
    const value = inFile === oldValue ? 'old' : inFile === newValue ? 'new' : undefined;
    if (value === undefined) problems.push('the file holds neither the old nor the new value (torn?)');
    else {
      if (fps.get('SHARED') !== hmac(inFile!)) problems.push(`the fingerprint does not match the ${value} value in the file`);
      if (envLines.get(s.own) !== own[s.own]) problems.push(`${s.own} in the env file is not the service's own value`);
      const answer = await served(s);
      if (answer !== hashOf(inFile!, own[s.own]!)) problems.push(`the service does not serve the ${value} value the file holds`);
    }
    return problems.length > 0 ? { problem: problems.join('; ') } : { value: value! };
  }

  before(async () => {
    fleet = await TestFleet.up({ names: [FA, FB] });
    work = mkdtempSync(join(tmpdir(), 'manage-apps-secrets-faults-'));
    controlDir = mkdtempSync(join(tmpdir(), 'manage-apps-cm-'));
    passEnv = makePassStore(work);
    setShared(newValue('shared'));
    own['API_OWN'] = newValue('api');
    own['WEB_OWN'] = newValue('web');
    seenValues.push(own['API_OWN'], own['WEB_OWN']);
    mkdirSync(join(work, '.vault'), { mode: 0o700 });
    const vaultFile = join(work, '.vault', 'api_own');
    writeFileSync(vaultFile, `${own['API_OWN']}\n`, { mode: 0o600 });
    const manifest = (s: ServiceOnHost, ownSource: string) =>
      `apiVersion: infra/v2\nproject: ${s.project}\nprovider: bare-metal\nservice:\n  host: ${s.host}\n  port: ${s.port}\n` +
      `  command: /usr/bin/env SECRET_NAMES=SHARED,${s.own} START_DELAY_MS=2500 node server.mjs\n  artifact: app\n  health: { timeout: 10s }\n  secrets:\n` +
      `    SHARED: { pass: fleet/shared${s.shared === 'env' ? ', as: env' : ''} }\n    ${s.own}: { ${ownSource}, as: env }\n`;
    root = await fleetRoot(fleet.hosts, {
      'api/.infra.yaml': manifest(services[0]!, `file: ${vaultFile}`),
      'api/app/server.mjs': SECRET_APP,
      'web/.infra.yaml': manifest(services[1]!, 'env: WEB_OWN_VALUE'),
      'web/app/server.mjs': SECRET_APP,
    });
    sampler = sampleArgv(fleet, [FA, FB]);
    const deploy = await cli('deploy', 'api', 'web');
    assert.equal(deploy.status, 0, deploy.stdout + deploy.stderr);
    for (const s of services) assert.equal(await served(s), hashOf(shared, own[s.own]!));
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

  test('kill the CLI and cut the network at each step of a push and of a rotation: each host holds the old or the new value, consistently', async () => {
    const [first, second] = services as [ServiceOnHost, ServiceOnHost];
    const plan: { command: 'push' | 'rotate'; point: Point; cut: string }[] = [
      { command: 'push', point: 'before the write', cut: FA },
      { command: 'push', point: 'right after the switch on the first host', cut: FA },
      { command: 'push', point: 'during the first host’s gate', cut: FA },
      { command: 'rotate', point: 'right after the switch on the first host', cut: FA },
      { command: 'rotate', point: 'during the first host’s gate', cut: FA },
      { command: 'rotate', point: 'between the hosts', cut: FB },
      { command: 'rotate', point: 'right after the switch on the second host', cut: FB },
    ];
    const outcomes: { label: string; problem?: string; note: string }[] = [];

    for (const { command, point, cut } of plan)
      for (const fault of ['kill', 'cut'] as const) {
        const oldValue = shared;
        setShared(newValue(command));
        const before = { gen: await currentGen(first), gen2: await currentGen(second), pid: await mainPid(first) };
        let delivering = false;
        const run = startCli(
          args('secrets', 'push', ...(command === 'rotate' ? ['--rotate', 'SHARED'] : []), '--ready-timeout', '8'),
          env(),
          (chunk) => {
            if (/delivering /.test(chunk)) delivering = true;
          },
        );
        await eventually(`${command}: ${point}`, 60_000, async () => {
          switch (point) {
            case 'before the write':
              return delivering;
            case 'right after the switch on the first host':
              return (await currentGen(first)) !== before.gen;
            case 'during the first host’s gate':
              return (await currentGen(first)) !== before.gen && (await mainPid(first)) !== before.pid;
            case 'between the hosts':
              return (await served(first)) === hashOf(shared, own[first.own]!);
            case 'right after the switch on the second host':
              return (await currentGen(second)) !== before.gen2;
          }
        });
        const { result, at } = await applyFault(fleet, run, fault === 'kill' ? { kind: 'kill' } : { kind: 'cut', host: cut });
        const exitS = ((Date.now() - at) / 1000).toFixed(1);
        const held: string[] = [];
        const problems: string[] = [];
        for (const s of services) {
          await settle(s);
          const h = await holds(s, oldValue, shared);
          if (h.problem) problems.push(`${s.host}: ${h.problem}`);
          else held.push(`${s.host} ${h.value}`);
        }
        // The next push converges both hosts on the store's value.
        const next = await cli('secrets', 'push');
        if (next.status !== 0) problems.push(`the next push failed: ${next.stdout}${next.stderr}`);
        for (const s of services)
          if ((await served(s)) !== hashOf(shared, own[s.own]!)) problems.push(`${s.host}: not on the store's value after the next push`);
        const status = await cli('secrets', 'status');
        if (status.status !== 0) problems.push(`status after the next push: exit ${status.status}: ${status.stdout}`);
        outcomes.push({
          label: `${fault === 'kill' ? 'SIGKILL' : `network cut (${cut})`} ${command === 'rotate' ? '--rotate' : 'push'} ${point}`,
          ...(problems.length > 0 ? { problem: problems.join('; ') } : {}),
          note: `CLI exit ${result.status ?? 'signal'} ${exitS}s after the fault; then ${held.join(', ')}`,
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

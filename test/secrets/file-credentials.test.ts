// Credentials on a host whose systemd is older than 250 (no systemd-creds, no encrypted
// credentials): the inventory gives "systemd": 249 for the host, so its unit loads the credential
// with LoadCredential= from a root-only plain file (0400 in a 0700 directory) that `secrets push`
// writes. The test host runs a newer systemd: the inventory's version forces the path an old one
// takes (LoadCredential= itself is the same directive since 247). The unit is checked with the
// host's real `systemd-analyze verify`; the service answers the hash of what it read from
// $CREDENTIALS_DIRECTORY. Then the fault matrix of this path: the CLI is SIGKILLed, or the host's
// network is cut, at each step of a push and of a rotation; each time the host holds the old or the
// new value consistently (service, file and fingerprint agree). ps is sampled here and on the host.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { realHostsSkipReason, TestFleet } from '../harness/test-fleet.js';
import { applyFault } from '../ops/faults.js';
import { eventually, json, runCli, sleep, startCli, type CliRun } from '../ops/helpers.js';
import { fleetRoot } from '../ops/real-fleet.js';
import { hashOf, makePassStore, newValue, passInsert, sampleArgv, SECRET_APP } from './helpers.js';

const H = 'old1';
const PORT = 8093;
const DIR = '/var/lib/manage-apps/secrets/prod/api';

describe('credentials as root-only files for a systemd older than 250, on a real host', { skip: realHostsSkipReason(), timeout: 1_200_000 }, () => {
  let fleet: TestFleet;
  let root = '';
  let work = '';
  let controlDir = '';
  let passEnv: NodeJS.ProcessEnv = {};
  let shared = '';
  let own = '';
  const seenValues: string[] = [];
  const args = (...a: string[]) => [...a, '--root', root, '--ssh-config', fleet.sshConfigPath, '--connect-timeout', '2', '--timeout', '4'];
  const env = () => ({ ...passEnv, MANAGE_APPS_CONTROL_DIR: controlDir });
  const cli = (...a: string[]) => runCli(args(...a), env());
  const inHost = async (script: string) => (await fleet.exec(H, ['sh', '-c', script])).stdout.trim();
  const setShared = (value: string) => {
    shared = value;
    seenValues.push(value);
    passInsert(passEnv, 'fleet/shared', value);
  };
  const served = async (): Promise<string | undefined> => {
    try {
      const res = await fetch(`http://${fleet.host(H).address}:${PORT}/secret-hash`, { signal: AbortSignal.timeout(3000) });
      return res.ok ? (await res.text()).trim() : undefined;
    } catch {
      return undefined;
    }
  };
  const noValueIn = (run: CliRun) => {
    for (const v of seenValues) assert.ok(!run.stdout.includes(v) && !run.stderr.includes(v), 'a value in the output');
  };
  const currentGen = () => inHost(`readlink ${DIR}/current || true`);
  const mainPid = () => inHost('systemctl show -p MainPID --value api.service');
  let sampler: { stop: () => Promise<string[]> };

  before(async () => {
    fleet = await TestFleet.up({ names: [H] });
    work = mkdtempSync(join(tmpdir(), 'manage-apps-secrets-file-'));
    controlDir = mkdtempSync(join(tmpdir(), 'manage-apps-cm-'));
    passEnv = makePassStore(work);
    setShared(newValue('shared'));
    own = newValue('own');
    seenValues.push(own);
    mkdirSync(join(work, '.vault'), { mode: 0o700 });
    const vaultFile = join(work, '.vault', 'api_own');
    writeFileSync(vaultFile, `${own}\n`, { mode: 0o600 });
    root = await fleetRoot(fleet.hosts, {
      'api/.infra.yaml':
        `apiVersion: infra/v2\nproject: api\nprovider: bare-metal\nservice:\n  host: ${H}\n  port: ${PORT}\n` +
        '  command: /usr/bin/env SECRET_NAMES=SHARED,API_OWN START_DELAY_MS=2500 node server.mjs\n  artifact: app\n  health: { timeout: 10s }\n' +
        `  secrets:\n    SHARED: { pass: fleet/shared }\n    API_OWN: { file: ${vaultFile}, as: env }\n`,
      'api/app/server.mjs': SECRET_APP,
    });
    // The inventory says the host's systemd is 249: what an older host declares.
    const inventoryPath = join(root, 'mesh-hosts.json');
    const inventory = JSON.parse(readFileSync(inventoryPath, 'utf8')) as { hosts: Record<string, Record<string, unknown>> };
    inventory.hosts[H]!['systemd'] = 249;
    writeFileSync(inventoryPath, JSON.stringify(inventory, null, 2));
    sampler = sampleArgv(fleet, [H]);
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

  test('deploy: the unit loads the credential with LoadCredential= (systemd-analyze verify passes), a root-only 0400 file in a 0700 directory', async () => {
    // What `units` prints is what deploy installs: the inventory's version decides the directive.
    const units = await runCli(['units', '--root', root], env());
    assert.equal(units.status, 0, units.stdout + units.stderr);
    assert.match(units.stdout, new RegExp(`^LoadCredential=SHARED:${DIR}/current/credentials/SHARED$`, 'm'));
    const run = await cli('deploy', 'api', '--json');
    assert.equal(run.status, 0, run.stdout + run.stderr);
    noValueIn(run);
    assert.equal(await served(), hashOf(shared, own));
    const unit = await inHost('cat /etc/systemd/system/api.service');
    assert.match(unit, new RegExp(`^LoadCredential=SHARED:${DIR}/current/credentials/SHARED$`, 'm'));
    assert.doesNotMatch(unit, /LoadCredentialEncrypted=/);
    // The host's own systemd-analyze: the unit as installed is one systemd accepts.
    const verify = await fleet.exec(H, ['systemd-analyze', 'verify', '/etc/systemd/system/api.service']);
    assert.equal(verify.exitCode, 0, verify.stdout + verify.stderr);
    assert.equal(verify.stderr.trim(), '', verify.stderr);
    assert.deepEqual((await inHost(`stat -c '%U %a %F' ${DIR}/current/ ${DIR}/current/credentials ${DIR}/current/credentials/SHARED`)).split('\n'), [
      'root 711 directory',
      'root 700 directory',
      'root 400 regular file',
    ]);
    assert.equal(await inHost(`ls ${DIR}/current/ | grep -c '\\.cred$' || true`), '0');
    const fps = await inHost(`cat ${DIR}/current/fingerprints`);
    assert.match(fps, /^SHARED\tcredential\thmac-sha256:[0-9a-f]{64}$/m);
    const st = await cli('secrets', 'status', '--json');
    assert.equal(st.status, 0, st.stdout + st.stderr);
    assert.equal(json<{ summary: { current: number } }>(st).summary.current, 2);
    // drift finds the plain credential file its fingerprints record (else: "lacks SHARED").
    const drift = await cli('drift', 'api', '--json');
    const findings = json<{ findings: { kind: string; detail: string }[] }>(drift).findings;
    assert.deepEqual(
      findings.filter((f) => f.kind === 'secrets' || f.kind === 'env-file'),
      [],
      drift.stdout,
    );
    const journal = await inHost('journalctl -u api.service --no-pager -o cat');
    for (const v of seenValues) assert.ok(!journal.includes(v), 'a value in the journal');
  });

  test('rotation through the gate, and a value that fails the gate leaves the service on the old one', async () => {
    setShared(newValue('rot'));
    const rot = await cli('secrets', 'push', '--rotate', 'SHARED', '--json');
    assert.equal(rot.status, 0, rot.stdout + rot.stderr);
    noValueIn(rot);
    assert.equal(await served(), hashOf(shared, own));
    const good = shared;
    setShared(newValue('bad'));
    const bad = await cli('secrets', 'push', '--rotate', 'SHARED', '--ready-timeout', '6');
    assert.equal(bad.status, 1, bad.stdout + bad.stderr);
    assert.match(bad.stdout, /api failed its readiness gate with the new value of SHARED/);
    assert.equal(await served(), hashOf(good, own));
    assert.equal(await inHost(`cat ${DIR}/current/credentials/SHARED | sha256sum | cut -d' ' -f1`), hashOf(good));
    setShared(good);
  });

  /** The host settled, then whether it holds the old or the new value consistently. */
  async function holds(oldValue: string, newValue: string): Promise<{ value?: 'old' | 'new'; problem?: string }> {
    await eventually('api settled', 60_000, async () => {
      if ((await inHost('systemctl is-active api.service')) !== 'active') return undefined;
      const a = await served();
      if (a === undefined) return undefined;
      await sleep(1500);
      return (await served()) === a ? a : undefined;
    });
    const facts = new Map(
      (
        await inHost(
          `d=${DIR}; echo "cur=$(readlink $d/current)"; echo "junk=$(ls -A $d | grep -v -e '^current$' -e '^previous$' -e '^g\\.' | tr '\\n' ' ')"; ` +
            `echo "salt=$(head -n 1 /var/lib/manage-apps/secrets/salt)"; echo "fp=$(base64 -w0 $d/current/fingerprints)"; ` +
            `echo "file=$(base64 -w0 $d/current/credentials/SHARED)"; echo "mode=$(stat -c '%U %a' $d/current/credentials/SHARED $d/current/credentials | tr '\\n' ' ')"`,
        )
      )
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const),
    );
    const b64 = (k: string) => Buffer.from(facts.get(k) ?? '', 'base64').toString('utf8');
    const problems: string[] = [];
    if (!/^g\.[0-9a-z]+$/.test(facts.get('cur') ?? '')) problems.push(`current is ${JSON.stringify(facts.get('cur'))}`);
    if ((facts.get('junk') ?? '').trim() !== '') problems.push(`left beside the generations: ${facts.get('junk')}`);
    if ((facts.get('mode') ?? '').trim() !== 'root 400 root 700') problems.push(`modes ${facts.get('mode')}`);
    const fpLines = b64('fp').split('\n');
    const fp = fpLines.find((l) => l.startsWith('SHARED\t'))?.split('\t')[2];
    if (fpLines[0] !== '# manage-apps secret fingerprints v1' || !b64('fp').endsWith('\n')) problems.push('the fingerprints file is not whole');
    const inFile = b64('file');
    const value = inFile === oldValue ? 'old' : inFile === newValue ? 'new' : undefined;
    if (value === undefined) problems.push('the file holds neither the old nor the new value (torn?)');
    else {
      const hmac = `hmac-sha256:${createHmac('sha256', Buffer.from(facts.get('salt') ?? '', 'hex'))
        .update(inFile)
        .digest('hex')}`;
      if (fp !== hmac) problems.push(`the fingerprint does not match the ${value} value in the file`);
      if ((await served()) !== hashOf(inFile, own)) problems.push(`the service does not serve the ${value} value the file holds`);
    }
    return problems.length > 0 ? { problem: problems.join('; ') } : { value: value! };
  }

  test('kill the CLI and cut the network at each step of a push and a rotation of a file credential: old or new, consistently', async () => {
    type Point = 'when it says it is delivering' | 'right after the switch' | 'during the gate';
    const plan: { command: 'push' | 'rotate'; point: Point }[] = [
      { command: 'push', point: 'when it says it is delivering' },
      { command: 'push', point: 'right after the switch' },
      { command: 'push', point: 'during the gate' },
      { command: 'rotate', point: 'right after the switch' },
      { command: 'rotate', point: 'during the gate' },
    ];
    const outcomes: { label: string; problem?: string; note: string }[] = [];
    for (const { command, point } of plan)
      for (const fault of ['kill', 'cut'] as const) {
        const oldValue = shared;
        setShared(newValue(command));
        const was = { gen: await currentGen(), pid: await mainPid() };
        let delivering = false;
        const run = startCli(
          args('secrets', 'push', ...(command === 'rotate' ? ['--rotate', 'SHARED'] : []), '--ready-timeout', '8'),
          env(),
          (chunk) => {
            if (/delivering /.test(chunk)) delivering = true;
          },
        );
        await eventually(`${command}: ${point}`, 60_000, async () => {
          if (point === 'when it says it is delivering') return delivering;
          if (point === 'right after the switch') return (await currentGen()) !== was.gen;
          return (await currentGen()) !== was.gen && (await mainPid()) !== was.pid;
        });
        const { result, at } = await applyFault(fleet, run, fault === 'kill' ? { kind: 'kill' } : { kind: 'cut', host: H });
        const exitS = ((Date.now() - at) / 1000).toFixed(1);
        const problems: string[] = [];
        const h = await holds(oldValue, shared);
        if (h.problem) problems.push(h.problem);
        const next = await cli('secrets', 'push');
        if (next.status !== 0) problems.push(`the next push failed: ${next.stdout}${next.stderr}`);
        if ((await served()) !== hashOf(shared, own)) problems.push("not on the store's value after the next push");
        const status = await cli('secrets', 'status');
        if (status.status !== 0) problems.push(`status after the next push: exit ${status.status}: ${status.stdout}`);
        outcomes.push({
          label: `${fault === 'kill' ? 'SIGKILL' : `network cut (${H})`} ${command === 'rotate' ? '--rotate' : 'push'} ${point}`,
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

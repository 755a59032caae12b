// Secrets from the operator's own store on two real test hosts: a pass store with a GPG key made
// here (no passphrase, its own GNUPGHOME), a ~/.vault-style 0600 file and an env variable; two
// services sharing one secret, each with its own; one reads systemd credentials, the other env
// variables. The services answer a hash of what they read on /secret-hash (never the value).
// ps is sampled here and on both hosts throughout: no value ever appears in a process's argv.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { realHostsSkipReason, TestFleet } from '../harness/test-fleet.js';
import { json, runCli, type CliRun } from '../ops/helpers.js';
import { fleetRoot } from '../ops/real-fleet.js';
import { hashOf, makePassStore, newValue, passInsert, sampleArgv, SECRET_APP } from './helpers.js';

const H1 = 'sec1';
const H2 = 'sec2';

describe('secrets on two real hosts', { skip: realHostsSkipReason(), timeout: 900_000 }, () => {
  let fleet: TestFleet;
  let root = '';
  let work = '';
  let controlDir = '';
  let passEnv: NodeJS.ProcessEnv = {};
  let vaultFile = '';
  const values: Record<string, string> = {};
  const all: string[] = [];
  const set = (name: string, value: string) => {
    values[name] = value;
    all.push(value);
  };
  const env = () => ({ ...passEnv, MANAGE_APPS_CONTROL_DIR: controlDir, WEB_OWN_VALUE: values['WEB_OWN']! });
  const cli = (...a: string[]) => runCli([...a, '--root', root, '--ssh-config', fleet.sshConfigPath], env());
  const served = async (host: string, port: number) => {
    const res = await fetch(`http://${fleet.host(host).address}:${port}/secret-hash`, { signal: AbortSignal.timeout(5000) });
    return (await res.text()).trim();
  };
  const noValueIn = (run: CliRun) => {
    for (const v of all) {
      assert.ok(!run.stdout.includes(v), 'a value in stdout');
      assert.ok(!run.stderr.includes(v), 'a value in stderr');
    }
  };
  let sampler: { stop: () => Promise<string[]> };

  before(async () => {
    fleet = await TestFleet.up({ names: [H1, H2] });
    work = mkdtempSync(join(tmpdir(), 'manage-apps-secrets-'));
    controlDir = mkdtempSync(join(tmpdir(), 'manage-apps-cm-'));
    passEnv = makePassStore(work);
    set('SHARED', newValue('shared'));
    set('API_OWN', newValue('api'));
    set('WEB_OWN', newValue('web'));
    passInsert(passEnv, 'fleet/shared', values['SHARED']!);
    mkdirSync(join(work, '.vault'), { mode: 0o700 });
    vaultFile = join(work, '.vault', 'api_own');
    writeFileSync(vaultFile, `${values['API_OWN']}\n`, { mode: 0o600 });
    const manifest = (project: string, host: string, port: number, secrets: string, names: string) =>
      `apiVersion: infra/v2\nproject: ${project}\nprovider: bare-metal\nservice:\n  host: ${host}\n  port: ${port}\n  command: /usr/bin/env SECRET_NAMES=${names} node server.mjs\n  artifact: app\n  health: { timeout: 8s }\n  secrets:\n${secrets}`;
    root = await fleetRoot(fleet.hosts, {
      'api/.infra.yaml': manifest(
        'api',
        H1,
        8081,
        `    SHARED: { pass: fleet/shared, as: env }\n    API_OWN: { file: ${vaultFile}, as: env }\n    API_SIGNING: { file: ${vaultFile} }\n`,
        // api serves the hash of what it reads from $CREDENTIALS_DIRECTORY/API_SIGNING (the same vault
        // file as API_OWN, so the same value): the credential reaches the service through systemd.
        'SHARED,API_SIGNING',
      ),
      'api/app/server.mjs': SECRET_APP,
      'web/.infra.yaml': manifest(
        'web',
        H2,
        8082,
        '    SHARED: { pass: fleet/shared, as: env }\n    WEB_OWN: { env: WEB_OWN_VALUE, as: env }\n',
        'SHARED,WEB_OWN',
      ),
      'web/app/server.mjs': SECRET_APP,
    });
    sampler = sampleArgv(fleet, [H1, H2]);
  });

  after(async () => {
    const seen = sampler === undefined ? [] : await sampler.stop();
    await fleet?.down();
    for (const dir of [root, work, controlDir]) if (dir) rmSync(dir, { recursive: true, force: true });
    // Checked last: every ps sample taken during all of the tests.
    assert.ok(seen.length > 10, `ps was sampled ${seen.length} times`);
    for (const v of all)
      for (const s of seen) {
        assert.ok(!s.includes(v), 'a secret value appeared in a process argv');
        assert.ok(!s.includes(Buffer.from(v).toString('base64')), 'a base64 secret value appeared in a process argv');
      }
  });

  test('validate is clean; push --dry-run names what would be delivered and touches nothing', async () => {
    const v = await runCli(['validate', '--root', root], env());
    assert.equal(v.status, 0, v.stdout + v.stderr);
    const run = await cli('secrets', 'push', '--dry-run', '--json');
    assert.equal(run.status, 0, run.stdout + run.stderr);
    const doc = json<{ services: { id: string; outcome: string; changed: string[] }[] }>(run);
    assert.deepEqual(
      doc.services.map((s) => [s.id, s.outcome, s.changed]),
      [
        ['api', 'would-deliver', ['API_OWN', 'API_SIGNING', 'SHARED']],
        ['web', 'would-deliver', ['SHARED', 'WEB_OWN']],
      ],
    );
    assert.equal((await fleet.ssh(H1, 'test -e /var/lib/manage-apps/secrets && echo yes || echo no')).stdout.trim(), 'no');
    noValueIn(run);
  });

  test('deploy delivers before current switches: credentials on one host, an env file on the other', async () => {
    const run = await cli('deploy', 'api', 'web', '--json');
    assert.equal(run.status, 0, run.stdout + run.stderr);
    noValueIn(run);
    assert.equal(await served(H1, 8081), hashOf(values['SHARED']!, values['API_OWN']!));
    assert.equal(await served(H2, 8082), hashOf(values['SHARED']!, values['WEB_OWN']!));
    // What the hosts hold: an encrypted credential (not the value), a 0600 env file, root-only fingerprints.
    const d1 = '/var/lib/manage-apps/secrets/prod/api/current';
    const cred = await fleet.ssh(H1, `stat -c '%U %a' ${d1}/API_SIGNING.cred; cat ${d1}/API_SIGNING.cred`);
    assert.match(cred.stdout, /^root 600\n/);
    assert.ok(!cred.stdout.includes(values['API_OWN']!), 'the credential is encrypted on the host');
    // The service answered the credential's hash above; systemd's own decryption on the host agrees.
    const decrypted = await fleet.ssh(H1, `systemd-creds decrypt --name=API_SIGNING ${d1}/API_SIGNING.cred - | sha256sum`);
    assert.equal(decrypted.stdout.split(' ')[0], hashOf(values['API_OWN']!));
    const unit = await fleet.ssh(H1, 'cat /etc/systemd/system/api.service');
    assert.match(unit.stdout, /LoadCredentialEncrypted=API_SIGNING:\/var\/lib\/manage-apps\/secrets\/prod\/api\/current\/API_SIGNING\.cred/);
    assert.match(unit.stdout, /EnvironmentFile=-\/var\/lib\/manage-apps\/secrets\/prod\/api\/current\/secrets\.env/);
    const envFile = await fleet.ssh(
      H2,
      "stat -c '%U %a' /var/lib/manage-apps/secrets/prod/web/current/secrets.env /var/lib/manage-apps/secrets/prod/web/current/fingerprints /var/lib/manage-apps/secrets/salt",
    );
    assert.deepEqual(envFile.stdout.trim().split('\n'), ['root 600', 'root 600', 'root 600']);
    const fps = await fleet.ssh(H2, 'cat /var/lib/manage-apps/secrets/prod/web/current/fingerprints');
    assert.match(
      fps.stdout,
      /^# manage-apps secret fingerprints v1\nSHARED\tenv\thmac-sha256:[0-9a-f]{64}\nWEB_OWN\tenv\thmac-sha256:[0-9a-f]{64}\n$/,
    );
    // The journal of the unit holds no value either.
    for (const [h, u] of [
      [H1, 'api.service'],
      [H2, 'web.service'],
    ] as const) {
      const j = await fleet.ssh(h, `journalctl -u ${u} --no-pager -o cat`);
      for (const v of all) assert.ok(!j.stdout.includes(v), `${u}'s journal`);
    }
    const st = await cli('secrets', 'status', '--json');
    assert.equal(st.status, 0, st.stdout + st.stderr);
    assert.equal(json<{ summary: { current: number } }>(st).summary.current, 5);
  });

  test('a changed store value is stale on exactly the services that use it; a rotation delivers it, each restart gated', async () => {
    set('SHARED', newValue('shared2'));
    passInsert(passEnv, 'fleet/shared', values['SHARED']!);
    const st = await cli('secrets', 'status', '--json');
    assert.equal(st.status, 1, st.stdout + st.stderr);
    const rows = json<{ services: { id: string; secrets: { name: string; state: string }[] }[] }>(st).services;
    assert.deepEqual(
      rows.map((r) => [r.id, r.secrets.map((s) => `${s.name}:${s.state}`)]),
      [
        ['api', ['API_OWN:current', 'API_SIGNING:current', 'SHARED:stale']],
        ['web', ['SHARED:stale', 'WEB_OWN:current']],
      ],
    );
    const text = await cli('secrets', 'status');
    assert.match(text.stdout, /SHARED\s+stale/);
    noValueIn(text);
    // The plain status says the same in its own round trip, and exits 1.
    const all = await cli('status', '--json');
    assert.equal(all.status, 1, all.stdout + all.stderr);
    const viaStatus = json<{ secrets: { services: { id: string; secrets: { name: string; state: string }[] }[]; summary: { stale: number } } }>(
      all,
    ).secrets;
    assert.deepEqual(
      viaStatus.services.map((r) => [r.id, r.secrets.map((s) => `${s.name}:${s.state}`)]),
      rows.map((r) => [r.id, r.secrets.map((s) => `${s.name}:${s.state}`)]),
    );
    assert.equal(viaStatus.summary.stale, 2);
    const statusText = await cli('status');
    assert.match(statusText.stdout, /api +SHARED stale, 2 current/);
    assert.match(statusText.stdout, /Secrets: 2 stale/);
    noValueIn(statusText);
    const rot = await cli('secrets', 'push', '--rotate', 'SHARED', '--json');
    assert.equal(rot.status, 0, rot.stdout + rot.stderr);
    noValueIn(rot);
    const doc = json<{ services: { id: string; outcome: string; restart: { outcome: string; ok: boolean } | null }[] }>(rot);
    assert.deepEqual(
      doc.services.map((s) => [s.id, s.outcome, s.restart?.ok]),
      [
        ['api', 'delivered', true],
        ['web', 'delivered', true],
      ],
    );
    assert.equal(await served(H1, 8081), hashOf(values['SHARED']!, values['API_OWN']!));
    assert.equal(await served(H2, 8082), hashOf(values['SHARED']!, values['WEB_OWN']!));
    assert.equal((await cli('secrets', 'status')).status, 0);
    // API_SIGNING did not change: the host copied its encrypted file into the new generation
    // rather than encrypting it again (systemd-creds picks a fresh IV each time: a new
    // encryption would differ byte for byte).
    const kept = await fleet.ssh(H1, 'cd /var/lib/manage-apps/secrets/prod/api && sha256sum previous/API_SIGNING.cred current/API_SIGNING.cred');
    const [a, b] = kept.stdout
      .trim()
      .split('\n')
      .map((l) => l.split(' ')[0]);
    assert.ok(a !== undefined && a.length === 64 && a === b, kept.stdout + kept.stderr);
  });

  test('revert goes back to the values before with one command; confirm forgets them', async () => {
    const before = values['SHARED']!;
    const older = all[0]!; // the first SHARED
    const rev = await cli('secrets', 'revert', 'api', '--json');
    assert.equal(rev.status, 0, rev.stdout + rev.stderr);
    assert.equal(await served(H1, 8081), hashOf(older, values['API_OWN']!));
    const st = await cli('secrets', 'status', 'api', '--json');
    assert.equal(st.status, 1);
    // Forward again, then confirm: nothing is kept to go back to.
    assert.equal((await cli('secrets', 'revert', 'api')).status, 0);
    assert.equal(await served(H1, 8081), hashOf(before, values['API_OWN']!));
    assert.equal((await cli('secrets', 'confirm')).status, 0);
    assert.equal((await fleet.ssh(H1, 'test -e /var/lib/manage-apps/secrets/prod/api/previous && echo kept || echo gone')).stdout.trim(), 'gone');
  });

  test('a value that fails the gate: said plainly, the host runs the values before, the next host is not touched', async () => {
    const good = values['SHARED']!;
    set('SHARED', newValue('bad'));
    passInsert(passEnv, 'fleet/shared', values['SHARED']!);
    const rot = await cli('secrets', 'push', '--rotate', 'SHARED', '--ready-timeout', '4');
    assert.equal(rot.status, 1, rot.stdout + rot.stderr);
    assert.match(rot.stdout, /api failed its readiness gate with the new value of SHARED/);
    assert.match(rot.stdout, /runs the values before again/);
    assert.match(rot.stdout, /not reached \(stopped at the failed gate\): sec2/);
    noValueIn(rot);
    assert.equal(await served(H1, 8081), hashOf(good, values['API_OWN']!));
    assert.equal(await served(H2, 8082), hashOf(good, values['WEB_OWN']!));
    set('SHARED', good);
    passInsert(passEnv, 'fleet/shared', good);
  });

  test('a secret that cannot be resolved stops the deploy of the service that needs it before anything switches; the other goes on', async () => {
    const release = async () => (await fleet.ssh(H1, 'readlink /srv/api/current')).stdout.trim();
    const was = await release();
    chmodSync(vaultFile, 0o644);
    const run = await cli('deploy', 'api', 'web', '--json');
    assert.equal(run.status, 1, run.stdout + run.stderr);
    const deploys = json<{ deploys: { id: string; ok: boolean; reason?: string }[] }>(run).deploys;
    const api = deploys.find((d) => d.id === 'api')!;
    assert.equal(api.ok, false);
    assert.match(api.reason!, /API_OWN \(.*api_own has mode 0644: a secret file must be 0600 or 0400 \(chmod 600 /);
    assert.equal(deploys.find((d) => d.id === 'web')!.ok, true);
    assert.equal(await release(), was);
    const st = await cli('secrets', 'status', 'api', '--json');
    assert.equal(st.status, 1);
    assert.equal(json<{ summary: { unresolvable: number } }>(st).summary.unresolvable, 2);
    chmodSync(vaultFile, 0o600);
  });
});

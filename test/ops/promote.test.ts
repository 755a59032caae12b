// Promotion with evidence on real test hosts (docs/promotion.md): a project with `preview` on
// one host and `prod` on another. `promote` refuses before the observation window, without a
// valid approval (none, a key not in allowed_signers, one for another release, one already
// used), when preview's bits were changed by hand, after an automatic revert fired in preview,
// a rolled-back release without --force --reason, and a stateful service without a recent
// drill. The full path deploy → observe → approve → promote serves in prod the same content
// digest under the same release id; `ledger verify` holds, and fails naming the line when any
// byte of an old line changes. Then the CLI is killed and the network cut at each step of a
// promotion: prod ends on one consistent release and no ledger record claims what did not happen.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { liveRecord } from '../../src/promotion/history.js';
import { appendRecords, LEDGER_FILE, readLedger } from '../../src/promotion/ledger.js';
import { signStatement, statementText } from '../../src/promotion/signature.js';
import { postgresSkipReason, psqlAsAdmin, startPostgres } from '../harness/postgres.js';
import { realHostsSkipReason, TestFleet } from '../harness/test-fleet.js';
import { applyFault, type Fault } from './faults.js';
import { eventually, json, runCli, sleep, startCli } from './helpers.js';
import { artifactDir, fleetRoot } from './real-fleet.js';

const PREVIEW = 'pv';
const PROD = 'pd';
const PORT = 8080;
const OBSERVE_S = 10;
const PG_PORT = 5433;
const WINDOW = ['--ready-timeout', '5', '--revert-margin', '2'];

interface Gate {
  gate: string;
  ok: boolean;
  detail: string;
  fix?: string;
}
interface Promoted {
  outcome: string;
  reason?: string;
  gates: Gate[];
  source: { release: string | null; content: string | null };
  deploy?: { release: string | null; content?: string; outcome: string };
  observation: { verdict: string; samples: unknown[] } | null;
}

describe(
  'promote on real hosts: the same bits, observed, approved, recorded',
  { skip: realHostsSkipReason() ?? postgresSkipReason(), timeout: 900_000 },
  () => {
    let fleet: TestFleet;
    let root = '';
    let work = '';
    let controlDir = '';
    let alice = '';
    let mallory = '';
    const art: Record<string, string> = {};
    const env = () => ({ MANAGE_APPS_CONTROL_DIR: controlDir });
    const args = (...a: string[]) => [...a, '--root', root, '--ssh-config', fleet.sshConfigPath, '--connect-timeout', '2'];
    const cli = (...a: string[]) => runCli(args(...a), env());
    /** Commands that reach no host (validate, approve, ledger) take no ssh flags. */
    const local = (...a: string[]) => runCli([...a, '--root', root], env());
    const deployPreview = async (version: string) => {
      const r = await cli('deploy', 'shop:preview', '--artifact', art[version]!, '--json', ...WINDOW);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      return json<{ deploys: { release: string; content: string }[] }>(r).deploys[0]!;
    };
    const promote = async (...extra: string[]) => {
      const r = await cli('promote', 'shop', '--to', 'prod', '--json', ...WINDOW, ...extra);
      return { status: r.status, doc: json<Promoted>(r), raw: r };
    };
    const approve = (key: string, ...extra: string[]) => local('approve', 'shop', '--to', 'prod', '--key', key, '--json', ...extra);
    const inHost = async (h: string, script: string) => (await fleet.exec(h, ['sh', '-c', script])).stdout.trim();
    const current = (h: string) => inHost(h, `c=$(readlink /srv/shop/current); echo "\${c#releases/}"`);
    const served = async (h: string) => {
      try {
        const res = await fetch(`http://${fleet.host(h).address}:${PORT}/`, { signal: AbortSignal.timeout(3000) });
        return (await res.text()).trim();
      } catch (error) {
        return `no answer (${(error as Error).message})`;
      }
    };
    const refusedAt = (p: { status: number | null; doc: Promoted }, gate: string) => {
      assert.equal(p.status, 1, JSON.stringify(p.doc));
      assert.equal(p.doc.outcome, 'refused', JSON.stringify(p.doc));
      const failed = p.doc.gates.find((g) => !g.ok);
      assert.equal(failed?.gate, gate, JSON.stringify(p.doc.gates));
      return failed!;
    };

    before(async () => {
      fleet = await TestFleet.up({ names: [PREVIEW, PROD] });
      work = mkdtempSync(join(tmpdir(), 'manage-apps-promote-'));
      controlDir = mkdtempSync(join(tmpdir(), 'manage-apps-cm-'));
      for (const v of ['v1', 'v2', 'v3', 'v4', 'v5', 'v6', 'v7', 'v8', 'v9', 'v10', 'v11', 'v12']) art[v] = await artifactDir(work, { version: v });
      art['notready'] = await artifactDir(work, { version: 'notready', notReady: 'database not reachable' });
      const service = (host: string, env?: string, extra = '') =>
        `apiVersion: infra/v2\nproject: %P%\n${env ? `environment: ${env}\n` : ''}provider: bare-metal\nservice:\n  host: ${host}\n  port: %PORT%\n  command: node server.mjs\n  health: { timeout: 5s }\n  keep_releases: 10\n${extra}`;
      const promotion = `promotion:\n  path: [preview, prod]\n  observe: ${OBSERVE_S}s\n  approve: [prod]\n`;
      root = await fleetRoot(fleet.hosts, {
        'shop/.infra.yaml': service(PROD).replace('%P%', 'shop').replace('%PORT%', String(PORT)) + promotion,
        'shop/.infra.preview.yaml': service(PREVIEW, 'preview').replace('%P%', 'shop').replace('%PORT%', String(PORT)),
        'vault/.infra.yaml':
          service(PROD, undefined, '  stateful: true\n  env_file: /etc/vault/env\n').replace('%P%', 'vault').replace('%PORT%', '8090') +
          'database: { cluster: main, name: vault, user: vault }\npromotion:\n  path: [preview, prod]\n  observe: 1s\n',
        'vault/.infra.preview.yaml': service(PREVIEW, 'preview', '  stateful: true\n').replace('%P%', 'vault').replace('%PORT%', '8090'),
      });
      const inventory = JSON.parse(readFileSync(join(root, 'mesh-hosts.json'), 'utf8')) as { hosts: Record<string, { address?: string }> } & Record<
        string,
        unknown
      >;
      // Addresses: the cluster host reaches the backup target by it.
      for (const h of [PREVIEW, PROD]) inventory.hosts[h]!.address = fleet.host(h).address;
      inventory['clusters'] = {
        main: {
          host: PROD,
          port: PG_PORT,
          engine: 'postgres',
          backup: { rpo: '1d', rto: '1h', method: 'pg_dump to a restic repository', target: PREVIEW, drill: '7d' },
        },
      };
      writeFileSync(join(root, 'mesh-hosts.json'), JSON.stringify(inventory, null, 2));
      alice = join(work, 'alice');
      mallory = join(work, 'mallory');
      for (const k of [alice, mallory]) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', k, '-f', k]);
      writeFileSync(join(root, 'allowed_signers'), `alice@example.org ${readFileSync(`${alice}.pub`, 'utf8')}`);
      const validate = await local('validate', '--json');
      assert.equal(validate.status, 0, validate.stdout);
    });

    after(async () => {
      await fleet?.down();
      for (const d of [root, work, controlDir]) if (d) rmSync(d, { recursive: true, force: true });
    });

    let v1 = { release: '', content: '' };

    test('refused before the window, then without an approval; a key not in allowed_signers and one for another release do not count', async () => {
      v1 = await deployPreview('v1');
      assert.match(v1.content, /^[0-9a-f]{64}$/);
      const early = await promote();
      const g = refusedAt(early, 'observed');
      assert.match(g.detail, new RegExp(`has served \\d+s in preview; the window is ${OBSERVE_S}s`));
      assert.match(g.fix ?? '', /--wait/);

      const noApproval = await promote('--wait');
      assert.equal(noApproval.doc.observation?.verdict, 'passed', JSON.stringify(noApproval.doc));
      assert.match(refusedAt(noApproval, 'approval').detail, /no approval recorded/);
      assert.match(refusedAt(noApproval, 'approval').fix ?? '', /manage-apps approve shop --to prod/);

      // A key that is not in allowed_signers: approve refuses it, and a line appended by hand does not count.
      const outsider = await approve(mallory);
      assert.equal(outsider.status, 1, outsider.stdout + outsider.stderr);
      assert.match(outsider.stderr + outsider.stdout, /not in .*allowed_signers/);
      const forge = async (key: string, release: string) => {
        const head = readLedger(root).head;
        const time = new Date().toISOString();
        const what = { project: 'shop', from: 'preview', to: 'prod', release, content: v1.content, image_digest: null };
        const signature = await signStatement(statementText({ ...what, ledger_head: head, time }), key);
        appendRecords(root, () => [
          {
            kind: 'approval',
            project: 'shop',
            env: 'prod',
            from: 'preview',
            release,
            content: v1.content,
            image_digest: null,
            time,
            signature,
            signer: { principal: 'alice@example.org', fingerprint: 'SHA256:x' },
          },
        ]);
      };
      await forge(mallory, v1.release);
      assert.match(refusedAt(await promote(), 'approval').detail, /not in .*allowed_signers/);
      await forge(alice, '20261206T000000000Z-0badc0de');
      assert.match(refusedAt(await promote(), 'approval').detail, /approves 20261206T000000000Z-0badc0de \(release differ\)/);
    });

    test('deploy → observe → approve → promote: prod serves the same content under the same release id; a replayed approval is refused', async () => {
      const approved = await approve(alice);
      assert.equal(approved.status, 0, approved.stdout + approved.stderr);
      const a = json<{ signer: { principal: string; fingerprint: string }; release: string }>(approved);
      assert.equal(a.signer.principal, 'alice@example.org');
      assert.match(a.signer.fingerprint, /^SHA256:/);
      assert.equal(a.release, v1.release);
      const done = await promote();
      assert.equal(done.status, 0, JSON.stringify(done.doc));
      assert.equal(done.doc.outcome, 'promoted');
      assert.equal(done.doc.deploy?.release, v1.release);
      assert.equal(done.doc.deploy?.content, v1.content);
      assert.equal(await current(PROD), v1.release);
      assert.equal(await served(PROD), 'v1');
      // The bits on the two hosts, hashed there the same way independently of manage-apps.
      const tree = (h: string) =>
        inHost(h, `cd /srv/shop/current/ && find . -path ./.manage-apps -prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum`);
      assert.equal(await tree(PROD), await tree(PREVIEW));

      const replay = await promote();
      assert.match(refusedAt(replay, 'approval').detail, /already used by a promotion/);

      const verify = await local('ledger', 'verify', '--json');
      assert.equal(verify.status, 1, 'the forged approval by a key outside allowed_signers is named');
      assert.match(json<{ broken: { message: string } }>(verify).broken.message, /signature does not verify/);
      const view = json<{
        environments: {
          env: string;
          release: string;
          because: { kind: string };
          evidence: { approval: { signer: { principal: string } } | null; observation: unknown };
        }[];
      }>(await local('ledger', 'shop', '--json'));
      const prod = view.environments.find((e) => e.env === 'prod')!;
      assert.equal(prod.release, v1.release);
      assert.equal(prod.because.kind, 'promotion');
      assert.equal(prod.evidence.approval?.signer.principal, 'alice@example.org');
      assert.notEqual(prod.evidence.observation, null);

      // releases shows the same facts beside the release: promoted from preview, approved by alice.
      const rel = await cli('releases', 'shop:prod', '--json');
      assert.equal(rel.status, 0, rel.stdout + rel.stderr);
      const row = json<{
        services: { releases: { id: string; ledger?: { kind: string; from: string | null; approved_by: { principal: string } | null }[] }[] }[];
      }>(rel).services[0]!.releases.find((r) => r.id === v1.release)!;
      const promoted = row.ledger?.at(-1);
      assert.equal(promoted?.kind, 'promotion');
      assert.equal(promoted?.from, 'preview');
      assert.equal(promoted?.approved_by?.principal, 'alice@example.org');
      assert.match((await cli('releases', 'shop:prod')).stdout, /promoted from preview, approved by alice@example\.org, line \d+/);
    });

    test("preview's bits changed by hand: refused", async () => {
      await deployPreview('v2');
      await sleep(OBSERVE_S * 1000);
      await inHost(PREVIEW, `echo tampered >> /srv/shop/current/server.mjs`);
      const g = refusedAt(await promote(), 'same-bits');
      assert.match(g.detail, /preview's bits were changed/);
    });

    test('an automatic revert fired in preview: refused, and the revert is recorded', async () => {
      const good = await deployPreview('v3');
      const doomed = startCli(args('deploy', 'shop:preview', '--artifact', art['notready']!, ...WINDOW), env());
      await eventually('switched', 30_000, async () => (await current(PREVIEW)) !== good.release);
      process.kill(doomed.pid, 'SIGKILL');
      await doomed.done;
      await eventually('the host reverted', 40_000, async () => (await current(PREVIEW)) === good.release);
      const g = refusedAt(await promote(), 'observed');
      assert.match(g.detail, /an automatic revert fired in preview/);
      assert.ok(readLedger(root).records.some((r) => r.kind === 'revert' && r.env === 'preview'));
    });

    test('rollback in prod goes back to the previously promoted release; promoting the rolled-back release again needs --force --reason', async () => {
      const v4 = await deployPreview('v4');
      await sleep(OBSERVE_S * 1000);
      assert.equal((await approve(alice)).status, 0);
      const done = await promote();
      assert.equal(done.doc.outcome, 'promoted', JSON.stringify(done.doc));
      assert.equal(await served(PROD), 'v4');
      const back = await cli('rollback', 'shop', '--env', 'prod', '--json', ...WINDOW);
      assert.equal(back.status, 0, back.stdout + back.stderr);
      assert.equal(await current(PROD), v1.release);
      assert.equal(liveRecord(readLedger(root).records, 'shop', 'prod')?.['release'], v1.release);
      assert.equal((await approve(alice)).status, 0);
      const again = await promote();
      assert.match(refusedAt(again, 'rolled-back').detail, new RegExp(`${v4.release} was rolled back out of prod`));
      const forced = await promote('--force', '--reason', 'the bad config was fixed in the env file');
      assert.equal(forced.doc.outcome, 'promoted', JSON.stringify(forced.doc));
      assert.equal(await served(PROD), 'v4');
      const last = liveRecord(readLedger(root).records, 'shop', 'prod')!;
      assert.equal(last['forced'], 'the bad config was fixed in the env file');
    });

    test('a stateful service without a recent restore drill is refused, naming the drill to run; a real `backups drill` lets it through', async () => {
      const r = await cli('deploy', 'vault:preview', '--artifact', art['v1']!, '--json', ...WINDOW);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      await sleep(1500);
      const p = await cli('promote', 'vault', '--to', 'prod', '--json');
      const doc = json<Promoted>(p);
      const g = doc.gates.find((x) => !x.ok);
      assert.equal(g?.gate, 'drill', JSON.stringify(doc));
      assert.match(g!.detail, /main: no drill yet/);
      assert.equal(g!.fix, 'manage-apps backups drill main');
      // A real drill: the cluster on prod's host backed up with pg_dump into restic on preview's host, restored there into a throw-away cluster.
      const pg = await startPostgres(fleet, PROD, { name: 'vaultpg', port: PG_PORT });
      for (const step of [
        ['db', 'provision'],
        ['backups', 'install'],
        ['backups', 'run', 'main'],
        ['backups', 'drill', 'main'],
      ]) {
        const run = await cli(...step, '--json');
        assert.equal(run.status, 0, `${step.join(' ')}: ${run.stdout}${run.stderr}`);
      }
      assert.equal(await psqlAsAdmin(fleet, pg, "SELECT count(*) FROM pg_database WHERE datname = 'vault'"), '1');
      const drill = readFileSync(join(root, 'backup-evidence.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { kind: string; cluster: string; ok: boolean; time: string })
        .filter((e) => e.kind === 'drill')
        .at(-1)!;
      assert.equal(drill.ok, true);
      assert.equal(drill.cluster, 'main');
      const dry = json<Promoted>(await cli('promote', 'vault', '--to', 'prod', '--dry-run', '--json'));
      assert.equal(dry.outcome, 'planned', JSON.stringify(dry));
      const passed = dry.gates.find((x) => x.gate === 'drill');
      assert.ok(passed?.ok, JSON.stringify(dry.gates));
      assert.match(passed!.detail, /^main: /);
    });

    test('editing any byte of an old ledger line makes ledger verify exit 1 naming the line', async () => {
      const path = join(root, LEDGER_FILE);
      const original = readFileSync(path, 'utf8');
      const lines = original.split('\n');
      try {
        lines[1] = lines[1]!.replace('"env":"preview"', '"env":"previes"');
        writeFileSync(path, lines.join('\n'));
        const r = await local('ledger', 'verify');
        assert.equal(r.status, 1);
        assert.match(r.stdout, /line 2 was changed/);
      } finally {
        writeFileSync(path, original);
      }
    });

    test('faults at each step of a promotion: prod ends on one consistent release; the record a crash lost between the host and the ledger is added back, once, by ledger verify --repair', async () => {
      type Point = {
        name: string;
        /** undefined: no fault, the CLI ends by itself (the ledger stays locked until it gives up). */
        fault?: Fault;
        when: (stderr: () => string) => Promise<void>;
        /** Hold the ledger's lock from when the promotion starts fetching: its host change happens, its append cannot. */
        lockLedger?: boolean;
      };
      const lockPath = join(root, `${LEDGER_FILE}.lock`);
      const holdLock = async () =>
        eventually('the ledger lock', 30_000, async () => {
          try {
            writeFileSync(lockPath, `${process.pid}@${hostname()}\n`, { flag: 'wx' });
            return true;
          } catch {
            return false;
          }
        });
      const switchedProd = (before: string) => async () => {
        await eventually('prod switched', 60_000, async () => (await current(PROD)) !== before);
      };
      const confirmedProd = (release: () => string) => async () => {
        await eventually(
          'prod confirmed',
          90_000,
          async () =>
            (await inHost(PROD, `c=$(readlink /srv/shop/current); test -e /srv/shop/.revert/armed && echo armed || echo "\${c#releases/}"`)) ===
            release(),
        );
      };
      const saw = async (text: string, stderr: () => string): Promise<void> => {
        await eventually(`"${text}"`, 60_000, async () => stderr().includes(text));
      };
      let fresh = { release: '', content: '' };
      const points: Point[] = [
        { name: 'kill while observing', fault: { kind: 'kill' }, when: (e) => saw('observing', e) },
        { name: 'cut preview while observing', fault: { kind: 'cut', host: PREVIEW }, when: (e) => saw('observing', e) },
        { name: 'kill while fetching from preview', fault: { kind: 'kill' }, when: (e) => saw('fetching', e) },
        { name: 'cut prod while shipping', fault: { kind: 'cut', host: PROD }, when: (e) => saw('fetching', e) },
        { name: 'kill after the switch in prod', fault: { kind: 'kill' }, when: () => switchedProd(currentProd)() },
        { name: 'cut prod after the switch', fault: { kind: 'cut', host: PROD }, when: () => switchedProd(currentProd)() },
        {
          name: 'kill after prod confirmed, before the ledger append',
          fault: { kind: 'kill' },
          lockLedger: true,
          when: () => confirmedProd(() => fresh.release)(),
        },
        {
          name: 'cut prod after it confirmed, before the ledger append',
          fault: { kind: 'cut', host: PROD },
          lockLedger: true,
          when: () => confirmedProd(() => fresh.release)(),
        },
        { name: 'the ledger stays locked until the append gives up', lockLedger: true, when: () => confirmedProd(() => fresh.release)() },
      ];
      let currentProd = await current(PROD);
      let survived = 0;
      let recovered = 0;
      const versions = ['v5', 'v6', 'v7', 'v8', 'v9', 'v10', 'v11', 'v12', 'v1'];
      for (const [i, point] of points.entries()) {
        currentProd = await current(PROD);
        fresh = await deployPreview(versions[i]!);
        assert.equal((await approve(alice)).status, 0);
        let stderr = '';
        const run = startCli(
          args('promote', 'shop', '--to', 'prod', '--wait', '--observe', '8s', '--reason', 'a window long enough to fault', ...WINDOW),
          env(),
          (c) => (stderr += c),
        );
        if (point.lockLedger) {
          await saw('fetching', () => stderr);
          await holdLock();
        }
        try {
          await point.when(() => stderr);
          if (point.fault !== undefined) await applyFault(fleet, run, point.fault);
          else await run.done;
        } finally {
          if (point.lockLedger) rmSync(lockPath, { force: true });
        }
        // The host's own revert settles a switch nobody confirmed.
        await eventually(
          'prod settled',
          60_000,
          async () => (await inHost(PROD, 'test -e /srv/shop/.revert/armed && echo armed || echo clear')) === 'clear',
        );
        const problems: string[] = [];
        // What the ledger said before the repair: never false, at most missing what the host finished after the CLI died.
        const before = liveRecord(readLedger(root).records, 'shop', 'prod')?.['release'];
        const live = await current(PROD);
        if (before !== live && !(live === fresh.release && before === currentProd))
          problems.push(`before the repair the ledger says prod is at ${String(before)}, prod is at ${live}`);
        const repair = await cli('ledger', 'verify', '--repair', '--json');
        const repaired = json<{ pending: { action: string; detail: string; line?: number }[] }>(repair);
        if (repaired.pending.some((p) => p.action === 'keep')) problems.push(`still pending: ${JSON.stringify(repaired.pending)}`);
        if (repaired.pending.some((p) => p.action === 'append')) recovered++;
        const count = readLedger(root).records.length;
        const again = json<{ pending: unknown[] }>(await cli('ledger', 'verify', '--repair', '--json'));
        if (again.pending.length !== 0 || readLedger(root).records.length !== count) problems.push('a second repair changed something');
        const answer = await served(PROD);
        const version = await inHost(PROD, `cat /srv/shop/current/VERSION`);
        const ledger = readLedger(root);
        const recorded = liveRecord(ledger.records, 'shop', 'prod');
        if (ledger.broken !== undefined) problems.push(`ledger: ${ledger.broken.message}`);
        if (answer !== version) problems.push(`prod serves ${answer}, current is ${version}`);
        if (live !== currentProd && live !== fresh.release)
          problems.push(`prod is at ${live}, neither before (${currentProd}) nor the promoted ${fresh.release}`);
        // After the repair the ledger says exactly what prod runs.
        if (recorded?.['release'] !== live) problems.push(`the ledger says prod is at ${String(recorded?.['release'])}, prod is at ${live}`);
        if (point.lockLedger && !(live === fresh.release && recorded?.['intent'] !== undefined && recorded['recovered'] !== undefined))
          problems.push(`the promotion confirmed in prod was not recovered: ${JSON.stringify(recorded)}`);
        if (problems.length === 0) survived++;
        else console.log(`${point.name}: ${problems.join('; ')}`);
        await sleep(500);
      }
      console.log(`${survived}/${points.length} fault points survived (${recovered} lost record(s) added back by ledger verify --repair)`);
      assert.equal(survived, points.length);
      assert.ok(recovered >= 3, 'the three promotions cut off from the ledger were recovered');
    });
  },
);

// `backups run` cut at every step, on real test hosts (PostgreSQL on `db`, restic on `bk`):
// the CLI killed (with its ssh clients), and separately the cluster host's network cut (from
// the target and the operator alike), while pg_dump streams, while restic stores, after every
// dump landed but before the catalog entry, and while the target writes the catalog. After
// each: the catalog points only at complete dumps, a drill of its newest entry passes, and the
// next run succeeds and leaves nothing partial behind (no temporary file, no uncataloged
// snapshot, no lock, no receiver left running).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { postgresSkipReason, psqlAsAdmin, startPostgres } from '../harness/postgres.js';
import { realHostsSkipReason, TestFleet } from '../harness/test-fleet.js';
import { json, runCli, sleep, startCli } from '../ops/helpers.js';
import { dataRoot } from './fixtures.js';
import { killWithChildren } from '../harness/faults.js';

const skip =
  realHostsSkipReason() ??
  postgresSkipReason() ??
  (process.env.CI !== 'true' &&
  !(() => {
    try {
      return readFileSync('/usr/bin/restic').length > 0;
    } catch {
      return false;
    }
  })()
    ? 'restic not installed (apt-get install restic)'
    : undefined);

const BASE = '/var/backups/manage-apps/apps';
const STATE = '/var/lib/manage-apps/backup/apps';
const RESTIC = `RESTIC_REPOSITORY=${BASE}/restic RESTIC_PASSWORD_FILE=${BASE}/restic.pass RESTIC_CACHE_DIR=${BASE}/.cache restic`;
/** On a host: wait for a process matching the pattern, let it run a moment, then freeze it (SIGSTOP); prints its pid. */
const freezeWhenRunning = (pattern: string) =>
  `for i in $(seq 3000); do p=$(pgrep -f -- '${pattern}' | head -n 1); if [ -n "$p" ]; then sleep 0.1; kill -STOP "$p" && echo "$p" && exit 0; fi; sleep 0.01; done; exit 1`;

type Step = 'dump' | 'restic' | 'landed' | 'catalog';

describe(
  'backups run cut at every step: the previous backup stays restorable, the catalog consistent, partial dumps pruned',
  { skip, timeout: 900_000 },
  () => {
    let fleet: TestFleet;
    let root = '';
    const env = () => ({ MANAGE_APPS_CONTROL_DIR: mkdtempSync(join(tmpdir(), 'manage-apps-cm-')) });
    const cli = (...a: string[]) => runCli([...a, '--root', root, '--ssh-config', fleet.sshConfigPath], env());
    const catalog = async () =>
      (await fleet.ssh('bk', `cat ${BASE}/catalog.jsonl`)).stdout
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { id: string; databases: { name: string; restic_snapshot: string }[] });
    const snapshots = async () =>
      (JSON.parse((await fleet.ssh('bk', `${RESTIC} snapshots --json --quiet`)).stdout) as { short_id: string }[]).map((s) => s.short_id);
    const unitState = async () =>
      (await fleet.exec('db', ['systemctl', 'show', '-p', 'ActiveState', '--value', 'manage-apps-backup@apps.service'])).stdout.trim();

    before(async () => {
      fleet = await TestFleet.up({ names: ['db', 'bk'] });
      const pg = await startPostgres(fleet, 'db', { name: 'apps', port: 5433 });
      root = await dataRoot(
        fleet,
        { apps: { host: 'db', port: 5433, backup: { rpo: '1h', rto: '1h', method: 'pg_dump to a restic repository', target: 'bk', drill: '7d' } } },
        [],
      );
      await mkdir(join(root, 'shop'));
      await writeFile(
        join(root, 'shop', '.infra.yaml'),
        'apiVersion: infra/v2\nproject: shop\nprovider: bare-metal\ndatabase: { cluster: apps, name: shop_db, user: shop_app, check: "SELECT count(*) = 120000 FROM events" }\n',
      );
      const prov = await cli('db', 'provision');
      assert.equal(prov.status, 0, prov.stdout + prov.stderr);
      // Enough data that a dump streams for a while (random text: it does not compress away).
      await psqlAsAdmin(
        fleet,
        pg,
        'CREATE TABLE events AS SELECT g AS id, md5(random()::text) || md5(random()::text) || md5(random()::text) AS payload FROM generate_series(1, 120000) g;',
        'shop_db',
      );
      const first = await cli('backups', 'run');
      assert.equal(first.status, 0, first.stdout + first.stderr);
    });
    after(() => fleet?.down());

    /** Holds the run at the step; resolves once it is held there, with how to let it go on. */
    async function holdAt(step: Step): Promise<{ held: Promise<void>; release: () => Promise<void> }> {
      if (step === 'dump' || step === 'restic') {
        const host = step === 'dump' ? 'db' : 'bk';
        const frozen = fleet.ssh(host, freezeWhenRunning(step === 'dump' ? '[p]g_dump -Fc -Z' : '[r]estic backup --quiet'), { timeoutMs: 60_000 });
        let pid = '';
        return {
          held: frozen.then((r) => {
            pid = r.stdout.trim();
            if (!/^\d+$/.test(pid)) throw new Error(`${step}: never caught running (${r.stderr})`);
          }),
          // Through the host's namespaces: works while its network is cut.
          release: async () => void (await fleet.exec(host, ['kill', '-CONT', pid])),
        };
      }
      const [host, dir, word] = step === 'landed' ? ['db', STATE, 'landed'] : ['bk', BASE, 'commit'];
      await fleet.ssh(host, `rm -f ${dir}/held; echo ${word} > ${dir}/hold`);
      return {
        held: (async () => {
          for (let i = 0; i < 600; i++) {
            if ((await fleet.exec(host, ['test', '-e', `${dir}/held`])).exitCode === 0) return;
            await sleep(100);
          }
          throw new Error(`${step}: the run never reached the hold point`);
        })(),
        release: async () => void (await fleet.exec(host, ['rm', '-f', `${dir}/hold`])),
      };
    }

    test('the CLI killed, and the cluster host cut off, at each step: N/N fault points survived', async () => {
      const steps: Step[] = ['dump', 'restic', 'landed', 'catalog'];
      let survived = 0;
      let total = 0;
      for (const fault of ['kill', 'cut'] as const) {
        for (const step of steps) {
          total++;
          const t0 = Date.now();
          const problems: string[] = [];
          const before = (await catalog()).map((e) => e.id);
          const hold = await holdAt(step);
          const running = startCli(['backups', 'run', '--json', '--root', root, '--ssh-config', fleet.sshConfigPath], env());
          await hold.held;
          if (fault === 'kill') {
            killWithChildren(running.pid);
            await hold.release();
          } else {
            await fleet.cutNetwork('db');
            await hold.release();
          }
          // The run on the host ends by itself either way (finished, or its ssh to the target gave up).
          for (let i = 0; i < 900 && ['active', 'activating', 'deactivating'].includes(await unitState()); i++) await sleep(100);
          if (fault === 'cut') await fleet.healNetwork('db');
          const tEnded = Date.now();
          const cliRun = await Promise.race([running.done, sleep(30_000).then(() => null)]);
          if (cliRun === null) {
            killWithChildren(running.pid);
            await running.done;
          }
          // The catalog: the previous entries, plus at most this run's; each entry's dumps all in the repository.
          const after = await catalog();
          if (
            after
              .slice(0, before.length)
              .map((e) => e.id)
              .join() !== before.join() ||
            after.length > before.length + 1
          )
            problems.push(`catalog changed beyond one new entry: ${before.length} → ${after.length}`);
          const snaps = await snapshots();
          for (const e of after)
            for (const d of e.databases)
              if (!snaps.includes(d.restic_snapshot.slice(0, 8)))
                problems.push(`catalog entry ${e.id} points at a missing snapshot ${d.restic_snapshot}`);
          // The newest cataloged backup restores, row counts and the check query included.
          const drill = await cli('backups', 'drill', '--json');
          const d = drill.status === 0 ? json<{ drills: { ok: boolean; backup_id: string; reason?: string }[] }>(drill).drills[0]! : undefined;
          if (!d?.ok || d.backup_id !== after.at(-1)!.id) problems.push(`drill: ${d?.reason ?? drill.stdout.slice(0, 300)}`);
          // The next run succeeds and prunes what this one left.
          const next = await cli('backups', 'run', '--json');
          if (next.status !== 0) problems.push(`next run: ${next.stdout.slice(0, 300)}`);
          const leftovers = await fleet.ssh(
            'bk',
            `ls -A ${BASE} | grep -c '^\\.store\\.'; ${RESTIC} list locks --no-lock --quiet | wc -l; pgrep -fc '[b]ackup-receive apps' || true`,
          );
          const [tmp, locks, receivers] = leftovers.stdout.trim().split('\n');
          if (tmp !== '0' || locks !== '0' || receivers !== '0')
            problems.push(`left behind: ${tmp} temporary files, ${locks} locks, ${receivers} receivers`);
          const cataloged = new Set((await catalog()).flatMap((e) => e.databases.map((x) => x.restic_snapshot.slice(0, 8))));
          const orphans = (await snapshots()).filter((s) => !cataloged.has(s));
          if (orphans.length > 0) problems.push(`snapshots not in the catalog after the next run: ${orphans.join(', ')}`);
          if (problems.length === 0) survived++;
          console.log(
            `fault ${fault} at ${step}: ${problems.length === 0 ? 'survived' : problems.join('; ')} (${((Date.now() - t0) / 1000).toFixed(1)} s; run ended ${((tEnded - t0) / 1000).toFixed(1)}, drill ${(drill.ms / 1000).toFixed(1)}, next ${(next.ms / 1000).toFixed(1)})`,
          );
        }
      }
      console.log(`backups run: ${survived}/${total} fault points survived`);
      assert.equal(survived, total);
    });
  },
);

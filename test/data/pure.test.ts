// The data layer's pure parts: the pg_hba.conf managed block, SCRAM verifiers, env values,
// drill verdicts. (The real-host tests check them against a real PostgreSQL.)
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareRowCounts } from '../../src/data/backup.js';
import { drillIntervalMs, drillStatus, type EvidenceRecord } from '../../src/data/evidence.js';
import { envValues } from '../../src/data/envfile.js';
import { HBA_BEGIN, HBA_END, withManagedBlock } from '../../src/data/hba.js';
import { generatePassword, scramVerifier, verifierMatches } from '../../src/data/scram.js';

const OPERATOR = '# operator rules\nlocal all postgres peer\nhost all all 0.0.0.0/0 reject  \n\n# trailing comment';

test('hba: the block is appended once, replaced in place, and everything outside it is kept byte for byte', () => {
  const first = withManagedBlock(OPERATOR, [
    { database: 'b_db', user: 'b', address: '10.0.0.3/32' },
    { database: 'a_db', user: 'a', address: '10.0.0.3/32' },
  ]);
  assert.ok(first.changed);
  assert.ok(
    first.content.startsWith(
      `${OPERATOR}\n${HBA_BEGIN}\nhost    "a_db" "a" 10.0.0.3/32 scram-sha-256\nhost    "b_db" "b" 10.0.0.3/32 scram-sha-256\n${HBA_END}\n`,
    ),
  );
  const again = withManagedBlock(first.content, [
    { database: 'a_db', user: 'a', address: '10.0.0.3/32' },
    { database: 'b_db', user: 'b', address: '10.0.0.3/32' },
  ]);
  assert.equal(again.changed, false);
  const edited = `${first.content}host all all ::1/128 trust\n`;
  const moved = withManagedBlock(edited, [{ database: 'a_db', user: 'a', address: '127.0.0.1/32' }]);
  assert.equal(
    moved.content,
    edited.replace(
      /host +"a_db" "a" 10\.0\.0\.3\/32 scram-sha-256\nhost +"b_db" "b" 10\.0\.0\.3\/32 scram-sha-256/,
      'host    "a_db" "a" 127.0.0.1/32 scram-sha-256',
    ),
  );
  assert.throws(() => withManagedBlock(`${OPERATOR}\n${HBA_BEGIN}\nhost x y 1.2.3.4/32 md5\n`, []), /without its end marker/);
});

test('scram: a verifier matches its password only; passwords are 32 letters and digits', () => {
  const pw = generatePassword();
  assert.match(pw, /^[A-Za-z0-9]{32}$/);
  assert.notEqual(generatePassword(), pw);
  const v = scramVerifier(pw);
  assert.match(v, /^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
  assert.ok(!v.includes(pw));
  assert.ok(verifierMatches(v, pw));
  assert.ok(!verifierMatches(v, `${pw}x`));
  assert.ok(!verifierMatches('md5abc', pw));
  assert.ok(!verifierMatches('', pw));
  // RFC 7677's test vector (user "user", password "pencil"): PostgreSQL stores the same keys.
  const salt = Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64');
  assert.equal(
    scramVerifier('pencil', salt, 4096),
    'SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=',
  );
});

test('env values: DATABASE_URL and the PG* set agree; IPv6 hosts are bracketed', () => {
  const v = envValues({ host: '10.0.0.2', port: 5433, database: 'a_db', user: 'a', password: 'Secret42' });
  assert.deepEqual(v, {
    DATABASE_URL: 'postgresql://a:Secret42@10.0.0.2:5433/a_db',
    PGHOST: '10.0.0.2',
    PGPORT: '5433',
    PGDATABASE: 'a_db',
    PGUSER: 'a',
    PGPASSWORD: 'Secret42',
  });
  assert.equal(envValues({ host: 'fd00::2', port: 5432, database: 'd', user: 'u', password: 'p' }).DATABASE_URL, 'postgresql://u:p@[fd00::2]:5432/d');
});

test('drill verdicts: never, ok, stale, failed, missed', () => {
  const policy = { rpo: '15m', rto: '1h', drill: 'weekly' };
  const now = Date.parse('2026-11-26T00:00:00Z');
  const drill = (time: string, extra: Partial<EvidenceRecord> = {}): EvidenceRecord => ({
    kind: 'drill',
    time,
    cluster: 'pg',
    ok: true,
    achieved: { rpo_s: 60, rto_s: 30 },
    met: { rpo: true, rto: true },
    ...extra,
  });
  assert.equal(drillIntervalMs('weekly'), 7 * 86_400_000);
  assert.equal(drillIntervalMs('sometimes'), undefined);
  assert.equal(drillStatus('pg', policy, [], now).verdict, 'never');
  assert.equal(drillStatus('pg', { ...policy, drill: null }, [], now).verdict, 'not-declared');
  assert.equal(drillStatus('pg', policy, [drill('2026-11-25T00:00:00Z')], now).verdict, 'ok');
  assert.equal(drillStatus('pg', policy, [drill('2026-11-01T00:00:00Z')], now).verdict, 'stale');
  assert.equal(drillStatus('pg', policy, [drill('2026-11-25T00:00:00Z', { ok: false, reason: 'boom' })], now).verdict, 'failed');
  assert.equal(drillStatus('pg', policy, [drill('2026-11-25T00:00:00Z', { met: { rpo: true, rto: false } })], now).verdict, 'missed');
  assert.equal(drillStatus('pg', policy, [drill('2026-11-25T00:00:00Z', { cluster: 'other' })], now).verdict, 'never');
});

test('backup runs: ok, failed with the reason, a run that never wrote its end, running, overdue against the RPO, never', async () => {
  const { judgeRuns, parseBackupRuns } = await import('../../src/data/backup-runs.js');
  const plan = {
    cluster: { name: 'apps' },
    host: { name: 'db' },
    target: { name: 'bk' },
    policy: { rpo: '15m', rto: '1h', method: 'restic' },
  } as unknown as import('../../src/data/backup.js').BackupPlan;
  const ok =
    '{"id":"R1","cluster":"apps","ok":true,"time":"2026-11-26T01:00:00Z","duration_ms":30000,"databases":[{"name":"a_db","bytes":100},{"name":"b_db","bytes":23}]}';
  const host = (files: Record<string, string>, service: Record<string, string> = { ActiveState: 'inactive', Result: 'success' }) =>
    parseBackupRuns(
      [
        '@@bkt\tapps\tLoadState=loaded',
        '@@bkt\tapps\tActiveState=active',
        '@@bkt\tapps\tNextElapseUSecRealtime=@1795660000',
        ...Object.entries(service).map(([k, v]) => `@@bks\tapps\t${k}=${v}`),
        ...Object.entries(files).map(([f, t]) => `@@bkf\tapps\t${f}\t${t}`),
      ].join('\n'),
    ).get('apps');
  const at = (iso: string) => Date.parse(iso);
  const good = judgeRuns(
    plan,
    host({ running: '{"id":"R1","time":"2026-11-26T01:00:00Z"}', last: ok, 'last-ok': ok }),
    undefined,
    at('2026-11-26T01:10:00Z'),
  );
  assert.equal(good.verdict, 'ok', good.message);
  assert.deepEqual(
    [good.last_run?.outcome, good.last_run?.bytes, good.last_ok?.age_s, good.timer.installed, good.timer.period_s],
    ['ok', 123, 600, true, 900],
  );
  // 15m RPO + grace (max(60 s, 10 %) + the run's 30 s): 1,020 s.
  assert.equal(judgeRuns(plan, host({ last: ok, 'last-ok': ok }), undefined, at('2026-11-26T01:17:00Z')).verdict, 'ok');
  const late = judgeRuns(plan, host({ last: ok, 'last-ok': ok }), undefined, at('2026-11-26T01:18:00Z'));
  assert.equal(late.verdict, 'overdue');
  assert.match(late.message, /older than the declared RPO \(15m\)/);
  const bad = '{"id":"R2","cluster":"apps","ok":false,"error":"the target 10.0.0.2 did not accept the backup (init)","time":"2026-11-26T01:15:00Z"}';
  const failed = judgeRuns(
    plan,
    host({ running: '{"id":"R2","time":"2026-11-26T01:15:00Z"}', last: bad, 'last-ok': ok }, { ActiveState: 'failed', Result: 'exit-code' }),
    undefined,
    at('2026-11-26T01:16:00Z'),
  );
  assert.equal(failed.verdict, 'failed');
  assert.match(failed.message, /failed: the target 10\.0\.0\.2 did not accept the backup \(init\); the newest good backup is R1/);
  const killed = judgeRuns(
    plan,
    host({ running: '{"id":"R3","time":"2026-11-26T01:15:00Z"}', last: ok, 'last-ok': ok }, { ActiveState: 'failed', Result: 'signal' }),
    undefined,
    at('2026-11-26T01:16:00Z'),
  );
  assert.equal(killed.verdict, 'failed');
  assert.match(killed.last_run?.reason ?? '', /stopped before it finished \(systemd: signal\)/);
  const running = judgeRuns(
    plan,
    host({ running: '{"id":"R4","time":"2026-11-26T01:15:00Z"}', last: ok, 'last-ok': ok }, { ActiveState: 'active', Result: 'success' }),
    undefined,
    at('2026-11-26T01:16:00Z'),
  );
  assert.equal(running.verdict, 'running');
  assert.equal(judgeRuns(plan, host({}), undefined).verdict, 'never');
  const noConfig = judgeRuns(
    plan,
    host(
      { running: '{"id":"R1","time":"2026-11-26T01:00:00Z"}', last: ok, 'last-ok': ok },
      { ActiveState: 'failed', Result: 'exit-code', ExecMainStartTimestamp: `@${at('2026-11-26T01:14:00Z') / 1000}` },
    ),
    undefined,
    at('2026-11-26T01:15:00Z'),
  );
  assert.equal(noConfig.verdict, 'failed');
  assert.match(noConfig.message, /the unit failed \(systemd: exit-code\) before the backup started/);
  assert.equal(judgeRuns(plan, undefined, 'connect timeout').verdict, 'unreachable');
});

test('check query verdicts: a row whose first column is not false, 0, NULL or empty passes', async () => {
  const { judgeCheck } = await import('../../src/data/backup.js');
  const rec = (rc: string, rows: string, value: string, err = '') => ['check', 'a_db', rc, rows, value, err];
  assert.equal(judgeCheck('q', rec('0', '1', 't')).ok, true);
  assert.equal(judgeCheck('q', rec('0', '3', '42')).ok, true);
  assert.equal(judgeCheck('q', rec('0', '1', 'f')).reason, 'the check query returned "f"');
  assert.equal(judgeCheck('q', rec('0', '1', '0')).reason, 'the check query returned "0"');
  assert.equal(judgeCheck('q', rec('0', '1', '')).reason, 'the check query returned NULL or empty');
  assert.equal(judgeCheck('q', rec('0', '0', '')).reason, 'the check query returned no rows');
  assert.equal(
    judgeCheck('q', rec('3', '0', '', 'ERROR:  canceling statement due to statement timeout')).reason,
    'the check query failed: ERROR:  canceling statement due to statement timeout',
  );
  assert.equal(judgeCheck('q', undefined).reason, 'the check query did not run');
});

test('row counts compared exactly: a changed count, a missing table and an extra one, in the words of each side', () => {
  const words = { expected: 'rows on s1', actual: 'on t1', extra: 'on t1 only' };
  assert.deepEqual(compareRowCounts({ 'public.a': 3, 'public.b': 0 }, { 'public.a': 3, 'public.b': 0 }, words), []);
  assert.deepEqual(compareRowCounts({ 'public.a': 3, 'public.b': 1 }, { 'public.a': 2, 'public.c': 0 }, words), [
    'public.a: 3 rows on s1, 2 on t1',
    'public.b: 1 rows on s1, no table on t1',
    'public.c: on t1 only',
  ]);
  assert.deepEqual(compareRowCounts({ 'public.a': 1 }, null, words), ['public.a: 1 rows on s1, no table on t1']);
});

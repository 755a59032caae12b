// The data layer's pure parts: the pg_hba.conf managed block, SCRAM verifiers, env values,
// drill verdicts. (The real-host tests check them against a real PostgreSQL.)
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { drillIntervalMs, drillStatus, type EvidenceRecord } from '../../src/data/evidence.js';
import { envValues } from '../../src/data/envfile.js';
import { HBA_BEGIN, HBA_END, withManagedBlock } from '../../src/data/hba.js';
import { generatePassword, scramVerifier, verifierMatches } from '../../src/data/scram.js';

const OPERATOR = '# operator rules\nlocal all postgres peer\nhost all all 0.0.0.0/0 reject  \n\n# trailing comment';

test('hba: the block is appended once, replaced in place, and everything outside it is kept byte for byte', () => {
  const first = withManagedBlock(OPERATOR, [{ database: 'b_db', user: 'b', address: '10.0.0.3/32' }, { database: 'a_db', user: 'a', address: '10.0.0.3/32' }]);
  assert.ok(first.changed);
  assert.ok(first.content.startsWith(`${OPERATOR}\n${HBA_BEGIN}\nhost    a_db a 10.0.0.3/32 scram-sha-256\nhost    b_db b 10.0.0.3/32 scram-sha-256\n${HBA_END}\n`));
  const again = withManagedBlock(first.content, [{ database: 'a_db', user: 'a', address: '10.0.0.3/32' }, { database: 'b_db', user: 'b', address: '10.0.0.3/32' }]);
  assert.equal(again.changed, false);
  const edited = `${first.content}host all all ::1/128 trust\n`;
  const moved = withManagedBlock(edited, [{ database: 'a_db', user: 'a', address: '127.0.0.1/32' }]);
  assert.equal(moved.content, edited.replace(/host +a_db a 10\.0\.0\.3\/32 scram-sha-256\nhost +b_db b 10\.0\.0\.3\/32 scram-sha-256/, 'host    a_db a 127.0.0.1/32 scram-sha-256'));
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
  assert.equal(scramVerifier('pencil', salt, 4096), 'SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=');
});

test('env values: DATABASE_URL and the PG* set agree; IPv6 hosts are bracketed', () => {
  const v = envValues({ host: '10.0.0.2', port: 5433, database: 'a_db', user: 'a', password: 'Secret42' });
  assert.deepEqual(v, { DATABASE_URL: 'postgresql://a:Secret42@10.0.0.2:5433/a_db', PGHOST: '10.0.0.2', PGPORT: '5433', PGDATABASE: 'a_db', PGUSER: 'a', PGPASSWORD: 'Secret42' });
  assert.equal(envValues({ host: 'fd00::2', port: 5432, database: 'd', user: 'u', password: 'p' }).DATABASE_URL, 'postgresql://u:p@[fd00::2]:5432/d');
});

test('drill verdicts: never, ok, stale, failed, missed', () => {
  const policy = { rpo: '15m', rto: '1h', drill: 'weekly' };
  const now = Date.parse('2026-11-26T00:00:00Z');
  const drill = (time: string, extra: Partial<EvidenceRecord> = {}): EvidenceRecord => ({ kind: 'drill', time, cluster: 'pg', ok: true, achieved: { rpo_s: 60, rto_s: 30 }, met: { rpo: true, rto: true }, ...extra });
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

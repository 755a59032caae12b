// The copy of each release that passed its gate, kept on the operator's machine for `recover`:
// the same bytes (a directory as a tar, an archive as it is), the newest three per service, the
// newest first; a torn record is no release.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { resolveArtifact, releaseId } from '../../src/ops/artifact.js';
import { KEEP_PER_SERVICE, keptArchive, keptReleases, keepRelease } from '../../src/ops/kept-releases.js';

const work = mkdtempSync(join(tmpdir(), 'manage-apps-kept-'));
after(() => rmSync(work, { recursive: true, force: true }));

test('a directory is kept as a tar of its files, 0600, with its record; the newest three per service, newest first', async () => {
  const state = join(work, 'state');
  const app = join(work, 'app');
  mkdirSync(app);
  const ids: string[] = [];
  for (let v = 1; v <= 5; v++) {
    writeFileSync(join(app, 'VERSION'), `v${v}\n`);
    const artifact = await resolveArtifact(app, work);
    const release = releaseId(artifact.hash, new Date(Date.UTC(2026, 11, 6, 12, 0, v)));
    ids.push(release);
    const kept = await keepRelease(
      state,
      { service: 'shop', host: 's1', release, content: null, image: null, at: new Date().toISOString() },
      artifact,
    );
    assert.equal(kept.kind, 'tar');
  }
  const kept = await keptReleases(state, 'shop');
  assert.equal(KEEP_PER_SERVICE, 3);
  assert.deepEqual(
    kept.map((k) => k.release),
    ids.slice(2).reverse(),
  );
  const newest = keptArchive(state, kept[0]!);
  assert.equal(statSync(newest).mode & 0o777, 0o600);
  assert.equal(execFileSync('tar', ['-xOf', newest, './VERSION'], { encoding: 'utf8' }), 'v5\n');
  assert.equal(readdirSync(join(state, 'releases', 'shop')).length, 2 * KEEP_PER_SERVICE, 'older copies pruned');
});

test('an archive is kept byte for byte; a torn record is skipped; an unknown service has none', async () => {
  const state = join(work, 'state2');
  const tgz = join(work, 'app.tar.gz');
  execFileSync('tar', ['-czf', tgz, '-C', work, 'app']);
  const artifact = await resolveArtifact(tgz, work);
  const kept = await keepRelease(state, { service: 'api:dev', host: 'h', release: 'r1', content: null, image: null, at: 'now' }, artifact);
  assert.equal(kept.kind, 'tar.gz');
  assert.deepEqual(readFileSync(keptArchive(state, kept)), readFileSync(tgz));
  writeFileSync(join(state, 'releases', 'api.dev', 'r2.json'), '{"release": "r2", "serv');
  assert.deepEqual(
    (await keptReleases(state, 'api:dev')).map((k) => k.release),
    ['r1'],
  );
  assert.deepEqual(await keptReleases(state, 'nothing'), []);
});

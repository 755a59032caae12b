// The plan of a recovery, on the example fleet: drain's waves, where each release and each
// database would come from, the edits, what cannot be recovered and why (exit 1), nothing
// written, and the lost host never contacted (ssh is an argv recorder here: no host of the
// example fleet exists).
import assert from 'node:assert/strict';
import { chmodSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { packageRoot } from '../../../src/package-root.js';
import { resolveArtifact } from '../../../src/ops/artifact.js';
import { keepRelease } from '../../../src/ops/kept-releases.js';
import { json, runCli } from '../helpers.js';
import type { RecoverDocument } from '../../../src/app/recover.js';

let root = '';
let bin = '';
const log = () => join(bin, 'argv.log');
const env = () => ({ PATH: `${bin}:${process.env.PATH ?? ''}` });

before(() => {
  root = mkdtempSync(join(tmpdir(), 'manage-apps-recover-plan-'));
  cpSync(join(packageRoot(), 'examples', 'fleet'), root, { recursive: true });
  bin = mkdtempSync(join(tmpdir(), 'manage-apps-recover-ssh-'));
  // Records every ssh the CLI starts, and answers as ssh does for a host that cannot be reached.
  writeFileSync(
    join(bin, 'ssh'),
    `#!/bin/sh\nprintf '%s\\n' "$*" >> ${JSON.stringify(log())}\necho "ssh: connect to host: No route to host" >&2\nexit 255\n`,
  );
  chmodSync(join(bin, 'ssh'), 0o755);
});
after(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(bin, { recursive: true, force: true });
});

test('recover --dry-run: drain waves, sources, edits, what cannot be recovered; nothing written; the lost host never asked', async () => {
  const manifest = readFileSync(join(root, 'projects', 'ai-copilot', '.infra.yaml'), 'utf8');
  // A release of ai-copilot that passed its gate on black, kept on this machine.
  const app = mkdtempSync(join(tmpdir(), 'manage-apps-recover-app-'));
  writeFileSync(join(app, 'server.mjs'), '');
  await keepRelease(
    join(root, '.state'),
    { service: 'ai-copilot', host: 'black', release: '20261206T120000000Z-0a0b0c0d', content: null, image: null, at: '2026-12-06T12:00:00.000Z' },
    await resolveArtifact(app, app),
  );
  rmSync(app, { recursive: true, force: true });
  const r = await runCli(['recover', 'black', '--to', 'apricot', '--dry-run', '--json', '--root', root], env());
  assert.equal(r.status, 1, r.stderr);
  const d = json<RecoverDocument>(r);
  assert.equal(d.action, 'plan');
  assert.equal(d.lost, 'black');
  const drain = json<{ waves: { items: { name: string }[] }[] }>(await runCli(['drain', 'black', '--to', 'apricot', '--json', '--root', root]));
  assert.deepEqual(
    d.waves.map((w) => w.items.map((i) => i.name).sort()),
    drain.waves.map((w) => w.items.map((i) => i.name).sort()),
    "drain's waves",
  );
  const items = d.waves.flatMap((w) => w.items);
  const copilot = items.find((i) => i.name === 'ai-copilot')!;
  assert.equal(copilot.source.kind, 'kept-release');
  assert.equal(copilot.source.release, '20261206T120000000Z-0a0b0c0d');
  assert.equal(copilot.blocked, null);
  const sso = items.find((i) => i.name === 'sso')!;
  assert.equal(sso.source.kind, 'none');
  assert.match(sso.blocked ?? '', /no release of sso was kept on this machine.*its only copy was on black/);
  const pg = items.find((i) => i.name === 'platform-pg')!;
  assert.equal(pg.source.kind, 'backup');
  assert.equal(pg.source.backup_host, 'apricot');
  assert.match(pg.blocked ?? '', /no backup to restore: target apricot: .*No route to host/);
  assert.match(items.find((i) => i.name === 'minio-cold')!.blocked ?? '', /not driven/);
  // Within a wave, a database comes before the services.
  const first = d.waves[0]!.items.map((i) => i.kind);
  assert.deepEqual(first, [...first].sort());
  assert.ok(d.edits.some((e) => e.file === 'projects/ai-copilot/.infra.yaml' && e.after === e.before.replace('black', 'apricot')));
  assert.ok(d.edits.some((e) => e.field === 'clusters.platform-pg.host'));
  assert.ok(d.warnings.some((w) => /if black comes back/.test(w)));
  assert.equal(readFileSync(join(root, 'projects', 'ai-copilot', '.infra.yaml'), 'utf8'), manifest);
  assert.equal(existsSync(join(root, '.state', 'recover')), false, 'no journal');
  const calls = readFileSync(log(), 'utf8');
  assert.match(calls, /apricot/, 'the backup host was asked for its catalog');
  assert.doesNotMatch(calls, /black/, 'the lost host was never contacted');
  const text = await runCli(['recover', 'black', '--to', 'apricot', '--dry-run', '--root', root], env());
  assert.match(text.stdout, /Recovery plan: black \(lost\) → apricot/);
  assert.match(text.stdout, /from: release 20261206T120000000Z-0a0b0c0d, deployed on black/);
});

test('bad input: an unknown host, the same host, --abort with nothing under way (exit 2)', async () => {
  for (const a of [
    ['recover', 'nowhere', '--to', 'apricot'],
    ['recover', 'black', '--to', 'nowhere'],
    ['recover', 'black', '--to', 'black'],
    ['recover', 'black', '--to', 'apricot', '--abort'],
  ]) {
    const r = await runCli([...a, '--root', root], env());
    assert.equal(r.status, 2, `${a.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.doesNotMatch(r.stderr, /at .*\.js:\d+/, 'no stack trace');
  }
});

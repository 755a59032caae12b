// The plan of a move, on the example fleet (no host is reached): drain waves carried into the
// move, each service's steps, the repository's edits (one line each, comments kept), what cannot
// move yet and why (exit 1), the shape of --json; a move of one stateless service plans clean.
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { packageRoot } from '../../../src/package-root.js';
import { json, runCli } from '../helpers.js';
import type { MoveDocument } from '../../../src/app/move.js';

let root = '';
before(() => {
  root = mkdtempSync(join(tmpdir(), 'manage-apps-move-plan-'));
  cpSync(join(packageRoot(), 'examples', 'fleet'), root, { recursive: true });
});
after(() => rmSync(root, { recursive: true, force: true }));

test('drain --execute --dry-run: the drain waves, every step and edit, what cannot move; nothing written', async () => {
  const before = readFileSync(join(root, 'projects', 'sso', '.infra.yaml'), 'utf8');
  const r = await runCli(['drain', 'black', '--to', 'apricot', '--execute', '--dry-run', '--json', '--root', root]);
  assert.equal(r.status, 1, r.stderr);
  const d = json<MoveDocument>(r);
  assert.equal(d.mode, 'drain');
  assert.equal(d.action, 'plan');
  const drain = json<{ waves: { items: { name: string }[] }[] }>(await runCli(['drain', 'black', '--to', 'apricot', '--json', '--root', root]));
  assert.deepEqual(
    d.waves.map((w) => w.items.map((i) => i.name)),
    drain.waves.map((w) => w.items.map((i) => i.name)),
    'the waves of `drain`',
  );
  const sso = d.waves.flatMap((w) => w.items).find((i) => i.name === 'sso')!;
  assert.deepEqual(sso.edges, ['vps-0']);
  assert.match(sso.steps.join('\n'), /vps-0 routes sso\.cocotte\.io to 10\.9\.0\.13:3050 instead of 10\.9\.0\.11:3050/);
  assert.match(sso.blocked ?? '', /database cluster platform-pg runs beside it/);
  const edit = d.edits.find((e) => e.file === 'projects/sso/.infra.yaml')!;
  assert.equal(edit.field, 'service.host');
  assert.equal(before.split('\n')[edit.line - 1], edit.before);
  assert.equal(edit.after, edit.before.replace('black', 'apricot'));
  // The inventory: each cluster on the drained host, and the tunnels that end there.
  const cluster = d.edits.find((e) => e.field === 'clusters.platform-pg.host')!;
  assert.equal(cluster.file, 'mesh-hosts.json');
  assert.match(cluster.after, /"host": "apricot"/);
  assert.ok(d.summary.blocked > 0);
  assert.equal(readFileSync(join(root, 'projects', 'sso', '.infra.yaml'), 'utf8'), before);
  assert.equal(existsSync(join(root, '.state', 'moves')), false, 'no journal');
});

test('move of one stateless service: planned clean (exit 0), with the env file copied and the edit shown', async () => {
  const r = await runCli(['move', 'ai-copilot', '--to', 'apricot', '--dry-run', '--root', root]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /Move plan → apricot \(dry run: nothing was touched\)/);
  assert.match(r.stdout, /copy \/etc\/ai-copilot\/env from black to apricot/);
  assert.match(r.stdout, /- host: black\n\s+\+ host: apricot/);
});

test('bad input: an unknown target host, --abort with no move under way', async () => {
  const a = await runCli(['move', 'ai-copilot', '--to', 'nowhere', '--root', root]);
  assert.equal(a.status, 2);
  assert.match(a.stderr, /--to nowhere: no such host/);
  const b = await runCli(['move', 'ai-copilot', '--to', 'apricot', '--abort', '--root', root]);
  assert.equal(b.status, 2);
  assert.match(b.stderr, /no move to apricot is under way/);
});

test('a database cluster moves with its writers only when every project using it moves: else both say why', async () => {
  const r = await runCli(['drain', 'black', '--to', 'apricot', '--execute', '--dry-run', '--json', '--root', root]);
  const d = json<MoveDocument>(r);
  const cluster = d.waves.flatMap((w) => w.items).find((i) => i.kind === 'cluster' && i.name === 'platform-pg')!;
  assert.equal(cluster.how, 'database');
  assert.ok(cluster.writers.length > 1, 'several projects write to platform-pg');
  assert.match(cluster.blocked ?? '', /platform is written by platform-api, which moves in another wave/);
  assert.match(cluster.steps.join('\n'), /freeze: stop .* on black; their roles NOLOGIN/);
  assert.equal(cluster.databases, null);
});

test('drain --execute --dry-run: a tunnel ending on the drained host is re-pointed after its wave, with its steps and edit', async () => {
  const r = await runCli(['drain', 'black', '--to', 'apricot', '--execute', '--dry-run', '--json', '--root', root]);
  const d = json<MoveDocument>(r);
  const t = d.tunnels.find((x) => x.name === 'quinn-db-reverse')!;
  assert.deepEqual(t.after, { from: 'vps-0', to: 'apricot' });
  assert.equal(t.state, 'pending');
  assert.deepEqual(t.done, []);
  // After the wave of what it carries (the cluster quinn-pg).
  assert.equal(t.wave, d.waves.find((w) => w.items.some((i) => i.kind === 'cluster' && i.name === 'quinn-pg'))?.wave);
  assert.deepEqual(
    t.steps.map((s) => s.split(':')[0]),
    ['down', 'up', 'edit'],
  );
  assert.match(t.steps[0]!, /^down: on black only, the end it leaves: its unit stopped and removed with its key/);
  const edit = d.edits.find((e) => e.field === 'tunnels.0.to')!;
  assert.deepEqual([edit.file, edit.from, edit.to], ['mesh-hosts.json', 'black', 'apricot']);
  // `move` re-points only the tunnels carrying what it moves: ai-copilot carries none.
  const m = json<MoveDocument>(await runCli(['move', 'ai-copilot', '--to', 'apricot', '--dry-run', '--json', '--root', root]));
  assert.deepEqual(m.tunnels, []);
});

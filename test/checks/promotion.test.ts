// Promotion paths (docs/promotion.md): resolved from a project's own `promotion` over the
// inventory's fleet-wide default, and located errors for a path naming an environment the
// project has no manifest for, approval asked for the first environment or one off the path,
// and two manifests of one project that disagree.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadTree } from '../helpers/tree.js';

const inventory = (promotion?: object) =>
  JSON.stringify({
    version: 1,
    hosts: { a: { provider: 'bare-metal', role: 'production' }, b: { provider: 'bare-metal', role: 'staging' } },
    ...(promotion ? { promotion } : {}),
  });
const manifest = (project: string, env: string, host: string, port: number, extra = '') =>
  `apiVersion: infra/v2\nproject: ${project}\n${env === 'prod' ? '' : `environment: ${env}\n`}provider: bare-metal\nservice:\n  host: ${host}\n  port: ${port}\n  command: node server.mjs\n${extra}`;

test('a project declares its path; the inventory default applies where it fits, field by field', async () => {
  const loaded = await loadTree({
    'mesh-hosts.json': inventory({ path: ['dev', 'preview', 'prod'], observe: '15m', approve: ['prod'] }),
    'web/.infra.yaml': manifest('web', 'prod', 'a', 8001),
    'web/.infra.preview.yaml': manifest('web', 'preview', 'b', 8001),
    'api/.infra.yaml': manifest('api', 'prod', 'a', 8002, 'promotion:\n  path: [preview, prod]\n  observe: 30s\n  drill: weekly\n'),
    'api/.infra.preview.yaml': manifest('api', 'preview', 'b', 8002),
    'solo/.infra.yaml': manifest('solo', 'prod', 'a', 8003),
  });
  assert.deepEqual(
    loaded.problems.filter((p) => p.rule === 'promotion'),
    [],
  );
  const byProject = new Map((loaded.fleet.promotions ?? []).map((p) => [p.project, p]));
  assert.deepEqual(byProject.get('web'), {
    project: 'web',
    path: ['preview', 'prod'],
    observeMs: 900_000,
    drill: null,
    approve: ['prod'],
    declared: 'mesh-hosts.json',
  });
  assert.deepEqual(byProject.get('api'), {
    project: 'api',
    path: ['preview', 'prod'],
    observeMs: 30_000,
    drill: 'weekly',
    approve: ['prod'],
    declared: 'api/.infra.yaml',
  });
  assert.equal(byProject.has('solo'), false, 'one environment: nothing to promote');
});

test('located errors: an environment without a manifest, approval for the first or an unknown one, disagreeing manifests', async () => {
  const loaded = await loadTree({
    'mesh-hosts.json': inventory({ path: ['preview', 'prod'], approve: ['staging'] }),
    'web/.infra.yaml': manifest('web', 'prod', 'a', 8001, 'promotion:\n  path: [staging, prod]\n  approve: [staging, qa]\n'),
    'api/.infra.yaml': manifest('api', 'prod', 'a', 8002, 'promotion:\n  path: [preview, prod]\n'),
    'api/.infra.preview.yaml': manifest('api', 'preview', 'b', 8002, 'promotion:\n  path: [preview, prod]\n  observe: 1m\n'),
  });
  const found = loaded.problems.filter((p) => p.rule === 'promotion').map((p) => `${p.file}:${p.line} ${p.message}`);
  assert.ok(
    found.some((m) => /^web\/\.infra\.yaml:9 web: promotion.path names staging, but the project has no manifest for it/.test(m)),
    found.join('\n'),
  );
  assert.ok(
    found.some((m) => /^web\/\.infra\.yaml:10 promotion.approve names staging, the first environment/.test(m)),
    found.join('\n'),
  );
  assert.ok(
    found.some((m) => /^web\/\.infra\.yaml:10 promotion.approve names qa, which is not on the path/.test(m)),
    found.join('\n'),
  );
  assert.ok(
    found.some((m) => /^mesh-hosts\.json:\d+ promotion.approve names staging, which is not on the path/.test(m)),
    found.join('\n'),
  );
  assert.ok(
    found.some((m) => /^api\/\.infra(\.preview)?\.yaml:\d+ api: this promotion differs from the one in api\/\.infra(\.preview)?\.yaml/.test(m)),
    found.join('\n'),
  );
  assert.equal(found.length, 5, found.join('\n'));
});

test('the schema refuses a one-environment path and an unknown word for the drill interval', async () => {
  const loaded = await loadTree({
    'mesh-hosts.json': inventory(),
    'web/.infra.yaml': manifest('web', 'prod', 'a', 8001, 'promotion:\n  path: [prod]\n  drill: fortnightly\n'),
  });
  const schema = loaded.problems.filter((p) => p.rule === 'schema' && p.file === 'web/.infra.yaml');
  assert.ok(schema.length >= 2, JSON.stringify(loaded.problems));
});

/** service.secrets: declarations reach the model; every mistake is a located `secrets` problem, never echoing a value. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cli, inventory, loadTree, makeTree, removeTree } from '../helpers/tree.js';

const manifest = (project: string, secrets: string, extra = '') =>
  `apiVersion: infra/v2\nproject: ${project}\nprovider: bare-metal\nservice:\n  host: core\n  port: ${project === 'api' ? 3030 : 3040}\n  command: node server.js\n${extra}  secrets:\n${secrets}`;

async function problemsOf(files: Record<string, string>) {
  const loaded = await loadTree({ 'mesh-hosts.json': inventory(), ...files });
  return loaded;
}

test('declared secrets load clean and reach the model with their source and delivery', async () => {
  const loaded = await problemsOf({
    'api/.infra.yaml': manifest(
      'api',
      [
        '    AUTH_SECRET: { file: ~/.vault/auth_secret }',
        '    OPENROUTER_API_KEY: { pass: cogni/openrouter }',
        '    LITELLM_MASTER_KEY: { env: LITELLM_MASTER_KEY, as: env }',
        '    GHCR_DEPLOY_TOKEN: { command: op read op://deploy/ghcr/token }',
        '',
      ].join('\n'),
    ),
  });
  assert.deepEqual(loaded.problems, []);
  assert.deepEqual(loaded.fleet.services[0]!.secrets, [
    { name: 'AUTH_SECRET', source: { kind: 'file', ref: '~/.vault/auth_secret' }, delivery: 'credential' },
    { name: 'GHCR_DEPLOY_TOKEN', source: { kind: 'command', ref: 'op read op://deploy/ghcr/token' }, delivery: 'credential' },
    { name: 'LITELLM_MASTER_KEY', source: { kind: 'env', ref: 'LITELLM_MASTER_KEY' }, delivery: 'env' },
    { name: 'OPENROUTER_API_KEY', source: { kind: 'pass', ref: 'cogni/openrouter' }, delivery: 'credential' },
  ]);
});

test('a service without a rendered unit gets its secrets as env variables; as: credential there is located', async () => {
  const loaded = await problemsOf({
    'api/.infra.yaml': `apiVersion: infra/v2\nproject: api\nprovider: bare-metal\nservice:\n  host: core\n  port: 3030\n  systemd_unit: api.service\n  secrets:\n    A: { env: A }\n    B: { env: B, as: credential }\n`,
  });
  const p = loaded.problems.filter((x) => x.rule === 'secrets');
  assert.deepEqual(
    p.map((x) => [x.line, x.column]),
    [[10, 22]],
  );
  assert.match(p[0]!.message, /a credential needs a unit manage-apps renders/);
  const clean = await problemsOf({
    'api/.infra.yaml': `apiVersion: infra/v2\nproject: api\nprovider: bare-metal\nservice:\n  host: core\n  port: 3030\n  systemd_unit: api.service\n  secrets:\n    A: { env: A }\n`,
  });
  assert.deepEqual(clean.problems, []);
  assert.equal(clean.fleet.services[0]?.secrets?.[0]?.delivery, 'env');
});

test('unknown source, unsafe name, two sources, no source and a value in the manifest are located; the value is never shown', async () => {
  const value = 'hunter2-the-actual-value';
  const loaded = await problemsOf({
    'api/.infra.yaml': manifest(
      'api',
      [
        '    AUTH_SECRET: { vault: secret/auth }', // line 9: unknown source
        '    "bad-name": { env: X }', // line 10: unsafe name
        '    TWO: { env: A, pass: b }', // line 11: two sources
        '    NONE: { as: env }', // line 12: no source
        `    LITERAL: ${value}`, // line 13: a value
        `    INLINE: { value: ${value} }`, // line 14: a value under a key
        '    PASSY: { pas: x/y }', // line 15: a typo
        '    PATHY: { file: relative/path }', // line 16
        '    DASH: { pass: -x/y }', // line 17: an option to pass
        '',
      ].join('\n'),
    ),
  });
  const p = loaded.problems.filter((x) => x.rule === 'secrets');
  assert.deepEqual(
    p.map((x) => x.line),
    [9, 10, 11, 12, 13, 14, 15, 16, 17],
  );
  assert.match(p[0]!.message, /"vault" is not a secret source/);
  assert.match(p[1]!.message, /is not a plain name/);
  assert.match(p[2]!.message, /names 2 sources/);
  assert.match(p[3]!.message, /names no source/);
  assert.match(p[4]!.message, /value written into the manifest/);
  assert.equal(p[4]!.redact, true);
  assert.match(p[5]!.message, /value written into the manifest/);
  assert.match(p[6]!.hint!, /did you mean pass\?/);
  assert.match(p[7]!.message, /not an absolute path or one under ~\//);
  assert.match(p[8]!.message, /not a plain pass entry/);
  for (const x of loaded.problems) assert.doesNotMatch(`${x.message} ${x.hint ?? ''}`, /hunter2/);
  // A secret-looking key under service.secrets is a name, not a secret_in_manifest finding.
  assert.equal(
    loaded.problems.some((x) => x.rule === 'secret_in_manifest' && x.line === 9),
    false,
  );
});

test('one secret with two sources in two services is reported at both; the same source is fine', async () => {
  const loaded = await problemsOf({
    'api/.infra.yaml': manifest('api', '    SHARED: { pass: fleet/shared }\n    OWN: { file: ~/.vault/api }\n'),
    'web/.infra.yaml': manifest('web', '    SHARED: { file: ~/.vault/shared }\n    OWN2: { pass: fleet/shared }\n'),
    'ok/.infra.yaml': manifest('ok', '    SHARED: { pass: fleet/shared }\n').replace('3040', '3050'),
  });
  const p = loaded.problems.filter((x) => x.rule === 'secrets');
  assert.deepEqual(p.map((x) => `${x.file}:${x.line}`).sort(), ['api/.infra.yaml:9', 'ok/.infra.yaml:9', 'web/.infra.yaml:9']);
  assert.match(
    p.find((x) => x.file === 'web/.infra.yaml')!.message,
    /web: secret SHARED comes from file ~\/\.vault\/shared here, but from another source in api \(pass fleet\/shared\)/,
  );
});

test('validate exits 1 on a value in service.secrets and masks its line', async () => {
  const root = await makeTree({ 'mesh-hosts.json': inventory(), 'api/.infra.yaml': manifest('api', '    AUTH_SECRET: s3cr3t-value-in-git\n') });
  try {
    const r = cli(['validate', '--root', root]);
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stdout + r.stderr, /api\/\.infra\.yaml:9:\d+/);
    assert.doesNotMatch(r.stdout + r.stderr, /s3cr3t-value-in-git/);
    const j = cli(['validate', '--root', root, '--json']);
    assert.doesNotMatch(j.stdout, /s3cr3t-value-in-git/);
  } finally {
    await removeTree(root);
  }
});

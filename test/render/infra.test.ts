/**
 * infra render: golden main.tf.json, keys and tags, located problems, idempotent
 * --write, and terraform's own offline checks:
 *
 * 1. `terraform validate` on the real file without `init`: terraform loads and
 *    decodes the whole configuration (JSON syntax, block types, meta-arguments,
 *    moved/lifecycle/variable/validation blocks, expression syntax) before it
 *    needs the provider; the only diagnostic left must be the missing provider.
 * 2. A shim of the same file where each digitalocean_droplet becomes the built-in
 *    terraform_data (the DO name, which is ForceNew, goes to triggers_replace) and
 *    the ssh-key data source a terraform_data: terraform init/validate/plan/apply
 *    run offline on it and check the references, for_each keys, count from
 *    var.runners (default 0, validation), and that a rename with its moved block
 *    and ignore_changes destroys nothing.
 *
 * What no offline check covers: the DigitalOcean provider's attribute names and
 * values (its schema is only available from the registry).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { infraRender } from '../../src/cli/commands/render/infra-render.js';
import type { Fleet } from '../../src/fleet/model.js';
import { dropletKey, renderOpenTofu, safeTag, literal } from '../../src/render/opentofu.js';
import { matchesNaming } from '../../src/fleet/model.js';
import { copyFixture, expectGolden, FIXTURE, loadFixture, removeDir, requireTool, run, tempDir } from './helpers.js';

type Json = Record<string, any>;

async function rendered(fleet?: Fleet): Promise<{ text: string; json: Json }> {
  const out = renderOpenTofu(fleet ?? (await loadFixture()).loaded.fleet);
  assert.deepEqual(out.problems, []);
  const text = out.files[0]!.content;
  return { text, json: JSON.parse(text) as Json };
}

test('infra: golden main.tf.json; for_each over stable keys, ignore_changes name, moved from previous names, runners default 0', async () => {
  const { text, json } = await rendered();
  await expectGolden('infra/main.tf.json', text);
  const droplet = json['resource']['digitalocean_droplet']['droplet'];
  assert.equal(droplet['for_each'], '${local.droplets}');
  assert.deepEqual(droplet['lifecycle'], { ignore_changes: ['name', 'ssh_keys'] });
  assert.deepEqual(droplet['ssh_keys'], ['${data.digitalocean_ssh_key.fleet.id}'], "standing droplets get the fleet's key");
  assert.deepEqual(Object.keys(json['locals']['droplets']), ['com_example_ct_forge', 'com_example_dns']);
  assert.equal(json['locals']['droplets']['com_example_dns']['region'], 'ams3');
  assert.equal(json['locals']['droplets']['com_example_ct_forge']['region'], 'nyc3');
  assert.deepEqual(json['moved'], [
    { from: 'digitalocean_droplet.droplet["com_example_forge"]', to: 'digitalocean_droplet.droplet["com_example_ct_forge"]' },
  ]);
  assert.equal(json['variable']['runners']['default'], 0);
  const runner = json['resource']['digitalocean_droplet']['runner'];
  assert.equal(runner['count'], '${var.runners}');
  assert.deepEqual(runner['ssh_keys'], ['${data.digitalocean_ssh_key.fleet.id}']);
  assert.deepEqual(json['data'], { digitalocean_ssh_key: { fleet: { name: 'fleet-key' } } });
  assert.equal(runner['name'], 'com.example.ci-runners-${count.index}', "runners follow the inventory's droplet_naming");
  assert.deepEqual(json['provider'], { digitalocean: {} });
  assert.doesNotMatch(text, /token"\s*:/i);
  // Every tag is a valid DigitalOcean tag: no dots.
  const allTags = [...Object.values(json['locals']['droplets']).flatMap((d) => (d as Json)['tags'] as string[]), ...(runner['tags'] as string[])];
  for (const tag of allTags) assert.match(tag, /^[A-Za-z0-9:_-]{1,255}$/);
  assert.ok(allTags.includes('producer:ct'));
});

test('infra: deterministic (two loads, reversed droplet order give the same bytes)', async () => {
  const a = await rendered();
  const { loaded } = await loadFixture();
  const b = await rendered({ ...loaded.fleet, droplets: [...loaded.fleet.droplets].reverse() });
  assert.equal(b.text, a.text);
});

test('infra: keys, tags and literals are derived safely', () => {
  assert.equal(dropletKey('com.example.ct.forge'), 'com_example_ct_forge');
  assert.equal(safeTag('project:my.app'), 'project:my-app');
  assert.equal(safeTag('role: web server!'), 'role:-web-server');
  assert.equal(safeTag('...'), 'untagged');
  assert.equal(safeTag('x'.repeat(300)).length, 255);
  assert.equal(literal('ubuntu-${file("/etc/passwd")}-%{if}'), 'ubuntu-$${file("/etc/passwd")}-%%{if}');
});

test("infra: runners are named by the inventory's convention (seed 001 droplet_naming), with the producer from the pool", async () => {
  const { loaded } = await loadFixture();
  const fleet = loaded.fleet;
  const naming = fleet.conventions!.droplet_naming!;
  const runnerOf = (f: Fleet) => (JSON.parse(renderOpenTofu(f).files[0]!.content) as Json)['resource']['digitalocean_droplet']['runner'];
  const pool = fleet.runnerPools[0]!;
  // The pool's producer, or the first word of its name when that is one of the convention's producers.
  const withProducer = runnerOf({ ...fleet, runnerPools: [{ ...pool, producer: 'ct' }] });
  assert.equal(withProducer['name'], 'com.example.ct.ci-runners-${count.index}');
  assert.ok((withProducer['tags'] as string[]).includes('producer:ct'));
  assert.equal(runnerOf({ ...fleet, runnerPools: [{ ...pool, name: 'mc-forge-runner' }] })['name'], 'com.example.mc.forge-runner-${count.index}');
  // Every name the pool can take matches the must-rule, and another prefix follows the inventory.
  for (const n of [0, 1, 9, 10, 250]) assert.ok(matchesNaming(`com.example.ct.ci-runners-${n}`, naming.prefix, naming.producers));
  const other = runnerOf({
    ...fleet,
    conventions: { droplet_naming: { prefix: 'org.acme', producers: ['ops'] } },
    runnerPools: [{ ...pool, producer: 'ops' }],
  });
  assert.equal(other['name'], 'org.acme.ops.ci-runners-${count.index}');
  // Without a convention the pool name stays as it is; a producer outside the convention is a located error.
  const { conventions: _unused, ...bare } = fleet;
  assert.equal(runnerOf(bare as Fleet)['name'], 'ci-runners-${count.index}');
  const bad = renderOpenTofu({ ...fleet, runnerPools: [{ ...pool, producer: 'zz' }] });
  assert.deepEqual(bad.files, []);
  assert.match(bad.problems[0]!.message, /runner pool producer "zz" is not one of the fleet's producers \(ct, mc\)/);
});

test("infra: the fleet's ssh key (inventory conventions.ssh_key) on standing droplets and runners; the pool may name its own", async () => {
  const { loaded } = await loadFixture();
  const fleet: Fleet = { ...loaded.fleet, conventions: { ...loaded.fleet.conventions, ssh_key: 'ops-fleet' } };
  const json = JSON.parse(renderOpenTofu(fleet).files[0]!.content) as Json;
  assert.deepEqual(json['data'], { digitalocean_ssh_key: { fleet: { name: 'ops-fleet' }, runner: { name: 'fleet-key' } } });
  assert.deepEqual(json['resource']['digitalocean_droplet']['droplet']['ssh_keys'], ['${data.digitalocean_ssh_key.fleet.id}']);
  assert.deepEqual(json['resource']['digitalocean_droplet']['runner']['ssh_keys'], ['${data.digitalocean_ssh_key.runner.id}']);
  const noKey = renderOpenTofu({ ...loaded.fleet, runnerPools: [] });
  const droplet = (JSON.parse(noKey.files[0]!.content) as Json)['resource']['digitalocean_droplet']['droplet'];
  assert.equal(droplet['ssh_keys'], undefined);
  assert.deepEqual(
    noKey.problems.map((p) => [p.severity, p.message]),
    [['warning', 'the droplets get no ssh key: nobody could log in to them']],
  );
});

test("infra: a previous name that is another droplet's name, and a second runner pool, are located errors", async () => {
  const root = await copyFixture({
    '.infra.yaml': (await readFile(join(FIXTURE, '.infra.yaml'), 'utf8')).replace(
      'previous_names: [com.example.forge]',
      'previous_names: [com.example.forge, com.example.dns]',
    ),
    'pool2/.infra.yaml': 'apiVersion: infra/v2\nproject: pool2\nprovider: digitalocean\nrunner_pool:\n  name: more-runners\n',
  });
  try {
    const r = await infraRender({ root });
    assert.equal(r.exitCode, 1);
    const json = r.json as { files: unknown[]; problems: { file: string; line: number; message: string }[] };
    assert.deepEqual(json.files, []);
    assert.deepEqual(
      json.problems.map((p) => `${p.file}:${p.line} ${p.message}`),
      [
        '.infra.yaml:9 previous name "com.example.dns" of "com.example.ct.forge" is the current name of droplet "com.example.dns"',
        'pool2/.infra.yaml:5 a second runner pool "more-runners" (the first is "ci-runners" in .infra.yaml)',
      ],
    );
  } finally {
    await removeDir(root);
  }
});

test('infra --write --out: main.tf.json written once, unchanged after; --check', async () => {
  const dir = await tempDir();
  try {
    assert.equal((await infraRender({ root: FIXTURE, write: true, out: dir })).exitCode, 0);
    const path = join(dir, 'main.tf.json');
    const mtime = (await stat(path)).mtimeMs;
    const again = await infraRender({ root: FIXTURE, write: true, out: dir });
    assert.deepEqual((again.json as { files: unknown[] }).files, [{ path, status: 'unchanged' }]);
    assert.equal((await stat(path)).mtimeMs, mtime);
    assert.equal((await infraRender({ root: FIXTURE, check: true, out: dir })).exitCode, 0);
    await writeFile(path, '{}\n');
    assert.equal((await infraRender({ root: FIXTURE, check: true, out: dir })).exitCode, 1);
  } finally {
    await removeDir(dir);
  }
});

/** Terraform offline: no provider download, no checkpoint call, no CLI config from the machine. */
async function terraformEnv(dir: string): Promise<NodeJS.ProcessEnv> {
  const rc = join(dir, 'terraformrc');
  await writeFile(rc, '');
  return { ...process.env, TF_CLI_CONFIG_FILE: rc, CHECKPOINT_DISABLE: '1', TF_IN_AUTOMATION: '1', TF_INPUT: '0', NO_COLOR: '1' };
}

function tf(terraform: string, dir: string, env: NodeJS.ProcessEnv, args: string[]) {
  return run(terraform, [`-chdir=${dir}`, ...args], { env });
}

/** The DigitalOcean resources as built-in terraform_data, keeping every meta-argument and reference. */
export function shim(doc: Json, options: { ignoreName?: boolean; ignoreKeys?: boolean; forceNew?: 'name' | 'ssh_keys' } = {}): Json {
  const rewrite = (value: unknown): unknown => {
    if (typeof value === 'string')
      return value
        .replace(/data\.digitalocean_ssh_key\.(\w+)\.id/g, 'terraform_data.ssh_key_$1.id')
        .replace(/digitalocean_droplet\./g, 'terraform_data.')
        .replace(/\.ipv4_address/g, '.id');
    if (Array.isArray(value)) return value.map(rewrite);
    if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, rewrite(v)]));
    return value;
  };
  const out: Json = rewrite(structuredClone(doc)) as Json;
  delete out['terraform']['required_providers'];
  delete out['provider'];
  const resources: Json = {};
  for (const [name, body] of Object.entries(out['resource']?.['digitalocean_droplet'] ?? {}) as [string, Json][]) {
    // name and ssh_keys are ForceNew at DigitalOcean. terraform_data has one ForceNew attribute
    // (triggers_replace), and ignore_changes cannot pick a part of it: a shim models one of them.
    const forceNew = options.forceNew ?? 'name';
    const { for_each, count, lifecycle, ...attributes } = body;
    const { [forceNew]: replacing, ...inputs } = attributes;
    const r: Json = { input: inputs, triggers_replace: replacing ?? null };
    if (for_each !== undefined) r['for_each'] = for_each;
    if (count !== undefined) r['count'] = count;
    const ignored = ((lifecycle?.ignore_changes ?? []) as string[]).filter(
      (a) => a === forceNew && (a !== 'name' || options.ignoreName !== false) && (a !== 'ssh_keys' || options.ignoreKeys !== false),
    );
    if (ignored.length > 0) r['lifecycle'] = { ignore_changes: ['triggers_replace'] };
    resources[name] = r;
  }
  for (const [name, body] of Object.entries(out['data']?.['digitalocean_ssh_key'] ?? {}) as [string, Json][])
    resources[`ssh_key_${name}`] = { input: body };
  delete out['data'];
  out['resource'] = { terraform_data: resources };
  return out;
}

function planSummary(stdout: string): string {
  return /Plan: \d+ to add, \d+ to change, \d+ to destroy\.|No changes\./.exec(stdout)?.[0] ?? stdout;
}

test('terraform validate (no init) loads the real main.tf.json: only the provider download is missing', async (t: TestContext) => {
  const terraform = requireTool(t, 'terraform', 'HashiCorp terraform >= 1.6 on PATH; no registry here ships it', { installable: false });
  if (!terraform) return;
  const dir = await tempDir();
  try {
    const env = await terraformEnv(dir);
    const { text, json } = await rendered();
    await writeFile(join(dir, 'main.tf.json'), text);
    const r = tf(terraform, dir, env, ['validate', '-json']);
    const diagnostics = (JSON.parse(r.stdout) as { diagnostics: { summary: string; detail: string }[] }).diagnostics;
    assert.deepEqual(
      diagnostics.map((d) => d.summary),
      ['Missing required provider'],
      r.stdout,
    );
    assert.match(diagnostics[0]!.detail, /digitalocean\/digitalocean/);
    // Control: the check is not vacuous: a broken moved address is caught before the provider.
    const broken = structuredClone(json);
    broken['moved'][0]['from'] = 'digitalocean_droplet.droplet[';
    await writeFile(join(dir, 'main.tf.json'), JSON.stringify(broken));
    const bad = JSON.parse(tf(terraform, dir, env, ['validate', '-json']).stdout) as { diagnostics: { summary: string }[] };
    assert.ok(
      bad.diagnostics.some((d) => d.summary !== 'Missing required provider'),
      JSON.stringify(bad),
    );
  } finally {
    await removeDir(dir);
  }
});

test('terraform init/validate/plan/apply offline on the terraform_data shim: keys, var.runners, and a rename that destroys nothing', async (t: TestContext) => {
  const terraform = requireTool(t, 'terraform', 'HashiCorp terraform >= 1.6 on PATH; no registry here ships it', { installable: false });
  if (!terraform) return;
  const dir = await tempDir();
  const oldRoot = await copyFixture({
    '.infra.yaml': (await readFile(join(FIXTURE, '.infra.yaml'), 'utf8'))
      .replace('name: com.example.ct.forge', 'name: com.example.forge')
      .replace('    previous_names: [com.example.forge]\n', ''),
  });
  try {
    const env = await terraformEnv(dir);
    const current = shim((await rendered()).json);
    await writeFile(join(dir, 'main.tf.json'), `${JSON.stringify(current, null, 2)}\n`);
    const init = tf(terraform, dir, env, ['init', '-no-color', '-backend=false', '-input=false']);
    assert.equal(init.status, 0, init.stdout + init.stderr);
    const validate = tf(terraform, dir, env, ['validate', '-no-color']);
    assert.equal(validate.status, 0, validate.stdout + validate.stderr);

    const plan = (...args: string[]) => tf(terraform, dir, env, ['plan', '-no-color', '-input=false', '-lock=false', ...args]);
    const zero = plan();
    assert.equal(zero.status, 0, zero.stderr);
    assert.match(zero.stdout, /terraform_data\.droplet\["com_example_ct_forge"\] will be created/);
    assert.match(zero.stdout, /terraform_data\.droplet\["com_example_dns"\] will be created/);
    assert.doesNotMatch(zero.stdout, /terraform_data\.runner\[/);
    const three = plan('-var', 'runners=3');
    assert.equal(three.status, 0, three.stderr);
    assert.match(three.stdout, /terraform_data\.runner\[2\] will be created/);
    assert.doesNotMatch(three.stdout, /terraform_data\.runner\[3\]/);
    for (const bad of ['-1', '1.5']) {
      const r = plan('-var', `runners=${bad}`);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /runners is a whole number, 0 or more/);
    }

    // State as the old name left it, then the current rendering: moved + ignore_changes = nothing destroyed.
    const { loaded } = await loadFixture(oldRoot);
    const before = shim((await rendered(loaded.fleet)).json);
    assert.equal(before['moved'], undefined);
    await writeFile(join(dir, 'main.tf.json'), JSON.stringify(before));
    const apply = tf(terraform, dir, env, ['apply', '-no-color', '-auto-approve', '-input=false', '-lock=false']);
    assert.equal(apply.status, 0, apply.stdout + apply.stderr);
    await writeFile(join(dir, 'main.tf.json'), JSON.stringify(current));
    const renamed = plan();
    assert.equal(renamed.status, 0, renamed.stderr);
    assert.match(renamed.stdout, /terraform_data\.droplet\["com_example_forge"\] has moved to terraform_data\.droplet\["com_example_ct_forge"\]/);
    assert.equal(planSummary(renamed.stdout), 'Plan: 0 to add, 0 to change, 0 to destroy.');
    // Controls: without the moved block, or without ignore_changes, the same rename would replace the droplet.
    await writeFile(join(dir, 'main.tf.json'), JSON.stringify({ ...current, moved: undefined }));
    assert.match(planSummary(plan().stdout), /1 to destroy/);
    await writeFile(join(dir, 'main.tf.json'), JSON.stringify(shim((await rendered()).json, { ignoreName: false })));
    assert.match(planSummary(plan().stdout), /1 to add, 0 to change, 1 to destroy/);

    // The fleet's key added to droplets that were created without one: ForceNew at DigitalOcean,
    // so ignore_changes keeps them (the key's data source is all that is added); control: without it, both are replaced.
    const { loaded: keyless } = await loadFixture();
    // Rendered with a warning (no key at all), which rendered() would refuse.
    const withoutKey = shim(JSON.parse(renderOpenTofu({ ...keyless.fleet, runnerPools: [] }).files[0]!.content) as Json, { forceNew: 'ssh_keys' });
    assert.equal(withoutKey['resource']['terraform_data']['ssh_key_fleet'], undefined);
    const withKey = shim(
      (await rendered({ ...keyless.fleet, runnerPools: [], conventions: { ...keyless.fleet.conventions, ssh_key: 'fleet-key' } })).json,
      { forceNew: 'ssh_keys' },
    );
    const fresh = await tempDir();
    try {
      const at = (args: string[]) => tf(terraform, fresh, env, args);
      await writeFile(join(fresh, 'main.tf.json'), JSON.stringify(withoutKey));
      assert.equal(at(['init', '-no-color', '-backend=false', '-input=false']).status, 0);
      const applied = at(['apply', '-no-color', '-auto-approve', '-input=false', '-lock=false']);
      assert.equal(applied.status, 0, applied.stdout + applied.stderr);
      await writeFile(join(fresh, 'main.tf.json'), JSON.stringify(withKey));
      const keyed = at(['plan', '-no-color', '-input=false', '-lock=false']);
      assert.equal(planSummary(keyed.stdout), 'Plan: 1 to add, 0 to change, 0 to destroy.', keyed.stdout);
      assert.match(keyed.stdout, /terraform_data\.ssh_key_fleet will be created/);
      await writeFile(
        join(fresh, 'main.tf.json'),
        JSON.stringify(
          shim((await rendered({ ...keyless.fleet, runnerPools: [], conventions: { ...keyless.fleet.conventions, ssh_key: 'fleet-key' } })).json, {
            forceNew: 'ssh_keys',
            ignoreKeys: false,
          }),
        ),
      );
      assert.equal(planSummary(at(['plan', '-no-color', '-input=false', '-lock=false']).stdout), 'Plan: 3 to add, 0 to change, 2 to destroy.');
    } finally {
      await removeDir(fresh);
    }
  } finally {
    await removeDir(dir);
    await removeDir(oldRoot);
  }
});

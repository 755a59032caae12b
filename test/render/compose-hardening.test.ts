/**
 * The Compose side of the hardening (render/compose-hardening.ts): what the override adds, what
 * the compose file keeps, what a relaxation leaves out; and docker-compose itself (`config`,
 * which merges the files without a daemon) reading the compose file with the override.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ComposeService, Service } from '../../src/fleet/model.js';
import { COMPOSE_USER, composeHardening } from '../../src/render/compose-hardening.js';
import { parseCompose } from '../../src/manifest/compose.js';
import { removeDir, requireTool, run, tempDir } from './helpers.js';

function service(compose: Partial<ComposeService>, relax: Service['hardening'] = undefined): Service {
  return {
    id: 'shop',
    project: 'shop',
    environment: 'prod',
    provider: 'bare-metal',
    host: 'web',
    kind: 'app',
    health: { readiness: '/readyz', liveness: '/livez', timeoutMs: 1000 },
    domains: [],
    directory: '/srv/shop',
    keepReleases: 5,
    stateful: false,
    dependsOn: [],
    supervisor: 'compose',
    apiVersion: 'infra/v2',
    manifest: 'shop/.infra.yaml',
    projectDir: '/x/shop',
    compose: {
      file: 'compose.yml',
      path: '/x/shop/compose.yml',
      bundleDir: '/x/shop',
      fileInBundle: 'compose.yml',
      service: 'app',
      project: 'shop',
      published: [8080],
      networkHost: false,
      declares: [],
      tmpfs: [],
      ...compose,
    },
    ...(relax === undefined ? {} : { hardening: relax }),
  };
}

test('the compose file says which hardening keys it sets itself, and its tmpfs mounts', () => {
  const read = parseCompose(
    'compose.yml',
    'services:\n  app:\n    image: x\n    user: "1000"\n    tmpfs: /run\n  other:\n    image: y\n    read_only: false\n',
    'app',
  );
  assert.ok(read.ok);
  assert.deepEqual([read.facts.declares, read.facts.tmpfs], [['user'], ['/run']]);
  const other = parseCompose('compose.yml', 'services:\n  other:\n    image: y\n    read_only: false\n', 'other');
  assert.ok(other.ok);
  assert.deepEqual(other.facts.declares, ['read_only']);
});

const keys = (lines: string[]) => lines.map((l) => l.trim()).filter((l) => !l.startsWith('#'));

test('a Compose service gets a read-only root with a /tmp, no capabilities, no new privileges and a non-root user', () => {
  assert.deepEqual(keys(composeHardening(service({}))), [
    'read_only: true',
    'tmpfs: ["/tmp"]',
    'cap_drop: [ALL]',
    'security_opt: ["no-new-privileges:true"]',
    `user: "${COMPOSE_USER}"`,
  ]);
  // What the compose file sets itself stays as written; a /tmp it mounts is not mounted twice.
  assert.deepEqual(keys(composeHardening(service({ declares: ['user', 'read_only'] }))), [
    'cap_drop: [ALL]',
    'security_opt: ["no-new-privileges:true"]',
  ]);
  assert.deepEqual(keys(composeHardening(service({ tmpfs: ['/tmp:size=64m'] }))), [
    'read_only: true',
    'cap_drop: [ALL]',
    'security_opt: ["no-new-privileges:true"]',
    `user: "${COMPOSE_USER}"`,
  ]);
  const relaxed = composeHardening(
    service(
      {},
      {
        relax: [
          { directive: 'read_only', reason: 'writes /var/cache/nginx' },
          { directive: 'user', reason: 'the image drops root itself' },
        ],
      },
    ),
  );
  assert.deepEqual(keys(relaxed), ['cap_drop: [ALL]', 'security_opt: ["no-new-privileges:true"]']);
  assert.ok(relaxed.includes('    # relaxed read_only (service.hardening.relax): writes /var/cache/nginx'));
});

test('docker-compose merges the override: the hardening reaches the service, the file keeps its own cap_add and volumes', async (t) => {
  const compose = requireTool(t, 'docker-compose', 'apt-get install docker-compose');
  if (!compose) return;
  const dir = await tempDir();
  try {
    await writeFile(
      join(dir, 'compose.yml'),
      'version: "3.7"\nservices:\n  app:\n    image: reg:5000/shop:1\n    cap_add: [CHOWN]\n    volumes: ["data:/data"]\n    ports: ["8080:80"]\nvolumes:\n  data: {}\n',
    );
    const lines = composeHardening(service({}));
    await writeFile(
      join(dir, 'override.yml'),
      `version: "3.7"\nservices:\n  "app":\n    image: "reg:5000/shop@sha256:${'a'.repeat(64)}"\n${lines.join('\n')}\n`,
    );
    const r = run(compose, ['-p', 'shop', '-f', join(dir, 'compose.yml'), '-f', join(dir, 'override.yml'), 'config']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    for (const want of [
      /read_only: true/,
      /cap_drop:\n\s+- ALL/,
      /cap_add:\n\s+- CHOWN/,
      /security_opt:\n\s+- no-new-privileges:true/,
      /user: 65534:65534/,
      /tmpfs:\n\s+- \/tmp/,
      /- data:\/data/,
    ]) {
      assert.match(r.stdout, want);
    }
  } finally {
    await removeDir(dir);
  }
});

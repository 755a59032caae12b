// What an application's manifest makes manage-apps ship or run (issue 20, item 9): an artifact or
// a compose bundle outside the project (a `..` path, an absolute one, a symbolic link inside the
// project pointing out, a link on the way) and image references docker would read as options.
// Each is a located `validate` error and is refused by `deploy` on a real test host: nothing from
// outside the project reaches the host, which is checked there.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { realHostsSkipReason, TestFleet } from '../harness/test-fleet.js';
import { json, runCli } from '../ops/helpers.js';
import { fleetRoot } from '../ops/real-fleet.js';

const HOST = 'alpha';

interface Prob {
  file: string;
  line: number;
  rule: string;
  message: string;
}

describe('a manifest ships nothing from outside its project', { skip: realHostsSkipReason(), timeout: 300_000 }, () => {
  let fleet: TestFleet;
  let root = '';
  let secrets = '';
  let control = '';
  let port = 8200;
  const app = (project: string, service: string) =>
    `apiVersion: infra/v2\nproject: ${project}\nprovider: bare-metal\nservice:\n  host: ${HOST}\n  port: ${port++}\n  command: node server.mjs\n${service}`;
  const compose = (project: string, published: number, service: string) =>
    `apiVersion: infra/v2\nproject: ${project}\nprovider: bare-metal\nservice:\n  host: ${HOST}\n  port: ${published}\n${service}`;

  before(async () => {
    fleet = await TestFleet.up({ names: [HOST] });
    control = mkdtempSync(join(tmpdir(), 'manage-apps-cm-'));
    // The operator's own files beside the fleet: what an escaping path would ship.
    secrets = mkdtempSync(join(tmpdir(), 'operator-secrets-'));
    writeFileSync(join(secrets, 'id_ed25519'), 'OPERATOR PRIVATE KEY\n');
    root = await fleetRoot(fleet.hosts, {
      'dotdot/.infra.yaml': app('dotdot', '  artifact: ../../../operator-secrets\n'),
      'absolute/.infra.yaml': app('absolute', `  artifact: ${secrets}\n`),
      'linked/.infra.yaml': app('linked', '  artifact: dist\n'),
      'via-parent/.infra.yaml': app('via-parent', '  artifact: build/out\n'),
      'fine/.infra.yaml': app('fine', '  artifact: dist\n'),
      'fine/dist/server.mjs': 'console.log(1)\n',
      'bundle-link/.infra.yaml': compose(
        'bundle-link',
        8300,
        '  compose:\n    file: deploy/compose.yml\n    service: web\n    image: ghcr.io/acme/web\n    tag: v1\n',
      ),
      'dash-image/.infra.yaml': compose(
        'dash-image',
        8301,
        '  compose:\n    file: compose.yml\n    service: web\n    image: --privileged/web\n    tag: v1\n',
      ),
      'dash-image/compose.yml': 'services:\n  web:\n    image: ghcr.io/acme/web:v1\n    ports: ["8301:80"]\n',
      'dash-file-image/.infra.yaml': compose('dash-file-image', 8302, '  compose:\n    file: compose.yml\n    service: web\n    tag: v1\n'),
      'dash-file-image/compose.yml': 'services:\n  web:\n    image: "--add-host=x:1/web:v1"\n    ports: ["8302:80"]\n',
    });
    mkdirSync(join(secrets, 'out'));
    writeFileSync(join(secrets, 'out', 'id_ed25519'), 'OPERATOR PRIVATE KEY\n');
    symlinkSync(secrets, join(root, 'linked', 'dist'));
    symlinkSync(secrets, join(root, 'via-parent', 'build'));
    mkdirSync(join(secrets, 'deploy'));
    writeFileSync(join(secrets, 'deploy', 'compose.yml'), 'services:\n  web:\n    image: ghcr.io/acme/web:v1\n    ports: ["8300:80"]\n');
    symlinkSync(join(secrets, 'deploy'), join(root, 'bundle-link', 'deploy'));
  });

  after(async () => {
    await fleet?.down();
    for (const d of [root, secrets, control]) if (d) rmSync(d, { recursive: true, force: true });
  });

  test('each is a located validate error and deploy refuses it; a path inside the project still deploys', async () => {
    const doc = json<{ problems: Prob[] }>(await runCli(['validate', '--json', '--root', root]));
    const found = (project: string) => doc.problems.find((p) => p.rule === 'project_path' && p.file.startsWith(`${project}/`));
    const attacks: { project: string; field: string; why: RegExp }[] = [
      { project: 'dotdot', field: 'artifact', why: /leads out of the project's directory/ },
      { project: 'absolute', field: 'artifact', why: /is an absolute path/ },
      { project: 'linked', field: 'artifact', why: /through a symbolic link/ },
      { project: 'via-parent', field: 'artifact', why: /through a symbolic link/ },
      { project: 'bundle-link', field: 'file', why: /through a symbolic link/ },
      { project: 'dash-image', field: 'image', why: /starts with "-": docker would read it as an option/ },
      { project: 'dash-file-image', field: 'file', why: /starts with "-": docker would read it as an option/ },
    ];
    let refused = 0;
    for (const a of attacks) {
      const p = found(a.project);
      const manifest = `${a.project}/.infra.yaml`;
      const { readFileSync } = await import('node:fs');
      const line =
        readFileSync(join(root, manifest), 'utf8')
          .split('\n')
          .findIndex((l) => l.trimStart().startsWith(`${a.field}:`)) + 1;
      const located = p !== undefined && p.file === manifest && p.line === line && a.why.test(p.message);
      const run = await runCli(['deploy', a.project, '--json', '--root', root, '--ssh-config', fleet.sshConfigPath], {
        MANAGE_APPS_CONTROL_DIR: control,
      });
      const onHost = (
        await fleet.ssh(HOST, `test -e /srv/${a.project} && echo shipped; grep -rl 'OPERATOR PRIVATE KEY' /srv 2>/dev/null; true`)
      ).stdout.trim();
      const ok = located && run.status !== 0 && run.status !== null && onHost === '' && !run.stderr.includes('    at ');
      if (ok) refused++;
      else
        console.log(
          `not refused: ${a.project}: ${JSON.stringify(p)} (line ${line}); deploy exit ${run.status} ${run.stdout.slice(0, 600)} ${run.stderr.slice(0, 300)}; on the host: ${onHost}`,
        );
    }
    console.log(`attacks refused: ${refused}/${attacks.length}`);
    assert.equal(refused, attacks.length);
    assert.equal(found('fine'), undefined);
    const fine = await runCli(['deploy', 'fine', '--dry-run', '--json', '--root', root, '--ssh-config', fleet.sshConfigPath], {
      MANAGE_APPS_CONTROL_DIR: control,
    });
    assert.match(fine.stdout, /"strategy": "release"/, fine.stdout + fine.stderr);
    // The operator may still ship anything on purpose.
    const chosen = await runCli(
      ['deploy', 'dotdot', '--dry-run', '--artifact', join(root, 'fine', 'dist'), '--json', '--root', root, '--ssh-config', fleet.sshConfigPath],
      { MANAGE_APPS_CONTROL_DIR: control },
    );
    assert.match(chosen.stdout, /"strategy": "release"/, chosen.stdout + chosen.stderr);
  });
});

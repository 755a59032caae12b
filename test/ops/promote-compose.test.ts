// Promotion of a compose service on real test hosts (docs/promotion.md): `preview` on one host
// (which also runs a real registry with htpasswd auth), `prod` on another, each with its own
// dockerd. Preview deploys a tag; the registry's tag is then moved to another build. `promote`
// still ships exactly the digest that passed preview's gate: prod pulls `repo@sha256:…` (no tag
// reaches prod's Docker), the ledger records that digest and verifies. A preview re-pinned by
// hand to the re-tagged image (another digest), or a container started by hand from it, is
// refused, naming both digests.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { liveRecord } from '../../src/promotion/history.js';
import { readLedger } from '../../src/promotion/ledger.js';
import {
  buildAndPush,
  dockerLogin,
  dockerSkipReason,
  prepareDockerHost,
  REGISTRY_PORT,
  waitForDocker,
  writeImageContexts,
  type ImageSpec,
} from '../harness/docker.js';
import { realHostsSkipReason, TestFleet, type HostPreparation } from '../harness/test-fleet.js';
import { json, runCli, sleep } from './helpers.js';
import { fleetRoot } from './real-fleet.js';

const PREVIEW = 'pv';
const PROD = 'pd';
const REGISTRY = `${PREVIEW}:${REGISTRY_PORT}`;
const REPO = `${REGISTRY}/shop`;
const OBSERVE_S = 2;
const WINDOW = ['--ready-timeout', '8', '--revert-margin', '4'];

const app = (version: string): ImageSpec => ({
  www: { readyz: 'ready\n', livez: 'alive\n', version: `${version}\n` },
  cmd: ['/bin/busybox', 'sh', '-c', `echo "app ${version} starting"; exec /bin/busybox httpd -f -v -p 80 -h /www`],
});
const IMAGES: Record<string, ImageSpec> = { v1: app('v1'), v2: app('v2') };
const COMPOSE = `services:\n  app:\n    image: ${REPO}:latest\n    ports: ["8080:80"]\n    restart: unless-stopped\n    init: true\n`;

interface Gate {
  gate: string;
  ok: boolean;
  detail: string;
}
interface Promoted {
  outcome: string;
  reason?: string;
  gates: Gate[];
  source: { release: string | null; image_digest: string | null };
  deploy?: { release: string | null; outcome: string; image?: { ref: string; digest: string | null } };
}

function prepare(h: HostPreparation): void {
  prepareDockerHost(h.upperDir, { registry: h.name === PREVIEW, insecureRegistries: [REGISTRY] });
  if (h.name === PREVIEW) writeImageContexts(h.upperDir, IMAGES);
}

const skip = realHostsSkipReason() ?? (process.env['CI'] === 'true' ? undefined : dockerSkipReason());

describe('promote a compose service on real hosts: the digest that passed preview, never a tag', { skip, timeout: 900_000 }, () => {
  let fleet: TestFleet;
  let root = '';
  let controlDir = '';
  const digests: Record<string, string> = {};
  const env = () => ({ MANAGE_APPS_CONTROL_DIR: controlDir });
  const cli = (...a: string[]) => runCli([...a, '--root', root, '--ssh-config', fleet.sshConfigPath, '--connect-timeout', '3'], env());
  const on = async (h: string, cmd: string) => {
    const r = await fleet.ssh(h, cmd, { timeoutMs: 120_000 });
    assert.equal(r.exitCode, 0, `${h}: ${cmd}: ${r.stdout}${r.stderr}`);
    return r.stdout.trim();
  };
  const served = async (h: string) => {
    const res = await fetch(`http://${fleet.host(h).address}:8080/version`, { signal: AbortSignal.timeout(5000) });
    return (await res.text()).trim();
  };
  const promote = async () => {
    const r = await cli('promote', 'shop', '--to', 'prod', '--json', ...WINDOW);
    return { status: r.status, doc: json<Promoted>(r), raw: r };
  };
  const refusedAt = (p: { status: number | null; doc: Promoted }, gate: string) => {
    assert.equal(p.status, 1, JSON.stringify(p.doc));
    assert.equal(p.doc.outcome, 'refused', JSON.stringify(p.doc));
    const failed = p.doc.gates.find((g) => !g.ok);
    assert.equal(failed?.gate, gate, JSON.stringify(p.doc.gates));
    return failed!;
  };

  before(async () => {
    const reason = dockerSkipReason();
    if (reason) throw new Error(`Docker on test hosts: ${reason}`);
    fleet = await TestFleet.up({ names: [PREVIEW, PROD] }, { prepareHost: prepare });
    controlDir = mkdtempSync(join(tmpdir(), 'manage-apps-cm-'));
    await Promise.all([waitForDocker(fleet, PREVIEW, { registry: true }), waitForDocker(fleet, PROD)]);
    await Promise.all([dockerLogin(fleet, PREVIEW, REGISTRY), dockerLogin(fleet, PROD, REGISTRY)]);
    digests['v1'] = await buildAndPush(fleet, PREVIEW, 'v1', `${REPO}:preview-v1`);
    const service = (host: string, tag: string) =>
      `provider: bare-metal\nservice:\n  host: ${host}\n  port: 8080\n  health: { readiness: /readyz, liveness: /livez, timeout: 8s }\n  keep_releases: 4\n  compose:\n    file: deploy/compose.yml\n    service: app\n    image: ${REPO}\n    tag: "${tag}"\n`;
    // prod's tag template needs a git checkout the root is not: a promotion that fell back to a tag would fail.
    root = await fleetRoot(fleet.hosts, {
      'shop/.infra.yaml': `apiVersion: infra/v2\nproject: shop\n${service(PROD, 'prod-{short_sha}')}promotion:\n  path: [preview, prod]\n  observe: ${OBSERVE_S}s\n`,
      'shop/.infra.preview.yaml': `apiVersion: infra/v2\nproject: shop\nenvironment: preview\n${service(PREVIEW, 'preview-v1')}`,
      'shop/deploy/compose.yml': COMPOSE,
    });
    const validate = await runCli(['validate', '--root', root, '--json']);
    assert.equal(validate.status, 0, validate.stdout);
  });

  after(async () => {
    await fleet?.down();
    for (const d of [root, controlDir]) if (d) rmSync(d, { recursive: true, force: true });
  });

  let release = '';
  test('the tag moves in the registry after preview passed: prod still pulls and runs the digest that passed, never a tag', async () => {
    const d = await cli('deploy', 'shop:preview', '--json', ...WINDOW);
    assert.equal(d.status, 0, d.stdout + d.stderr);
    const deployed = json<{ deploys: { release: string; image: { ref: string; digest: string } }[] }>(d).deploys[0]!;
    release = deployed.release;
    assert.equal(deployed.image.digest, `${REPO}@${digests['v1']}`);
    // Someone pushes another build under the same tag: the registry's preview-v1 now names another digest.
    digests['v2'] = await buildAndPush(fleet, PREVIEW, 'v2', `${REPO}:preview-v1`);
    assert.notEqual(digests['v2'], digests['v1']);
    await sleep(OBSERVE_S * 1000);

    const p = await promote();
    assert.equal(p.status, 0, JSON.stringify(p.doc));
    assert.equal(p.doc.outcome, 'promoted');
    assert.ok(p.doc.gates.find((g) => g.gate === 'same-image')?.ok, JSON.stringify(p.doc.gates));
    assert.deepEqual(p.doc.deploy?.image, { ref: `${REPO}@${digests['v1']}`, digest: `${REPO}@${digests['v1']}` });
    assert.equal(p.doc.deploy?.release, release);
    assert.equal(await served(PROD), 'v1');
    assert.equal(await on(PROD, `docker inspect --format '{{.Config.Image}}' shop_app_1`), `${REPO}@${digests['v1']}`);
    // Prod's Docker holds the image by digest only: no tag of the repository ever reached it.
    assert.equal(await on(PROD, `docker image ls --format '{{.Repository}}:{{.Tag}}' ${REPO}`), `${REPO}:<none>`);
    assert.equal(await on(PROD, `docker image ls --digests --format '{{.Digest}}' ${REPO}`), digests['v1']);
    assert.equal(await on(PROD, `cat /srv/shop/releases/${release}/.manage-apps/ref`), `${REPO}@${digests['v1']}`);

    const ledger = readLedger(root);
    assert.equal(ledger.broken, undefined);
    const promoted = liveRecord(ledger.records, 'shop', 'prod')!;
    assert.equal(promoted.kind, 'promotion');
    assert.equal(promoted['image_digest'], `${REPO}@${digests['v1']}`);
    assert.equal((promoted['source'] as { image_digest: string }).image_digest, `${REPO}@${digests['v1']}`);
    const verify = await runCli(['ledger', 'verify', '--root', root]);
    assert.equal(verify.status, 0, verify.stdout + verify.stderr);
  });

  test('preview re-pinned by hand to the re-tagged image (another digest) is refused; so is a container started by hand from it', async () => {
    const rel = `/srv/shop/releases/${release}/.manage-apps`;
    const up = `p=$(docker ps --filter publish=8080 --format '{{.Label "com.docker.compose.project"}}') && cd /srv/shop/current && docker-compose -p "$p" --project-directory /srv/shop/current -f compose.yml -f .manage-apps/compose.override.yml up -d --no-deps --no-build app 2>&1`;
    await on(
      PREVIEW,
      `docker pull -q ${REPO}:preview-v1 >/dev/null && cp ${rel}/image /tmp/image.good && cp ${rel}/compose.override.yml /tmp/override.good`,
    );
    // The release re-pinned to the re-tagged build's digest, and its container recreated from it.
    await on(
      PREVIEW,
      `printf '%s\\n' '${REPO}@${digests['v2']}' > ${rel}/image && sed -i 's|${digests['v1']}|${digests['v2']}|' ${rel}/compose.override.yml && ${up}`,
    );
    assert.equal(await served(PREVIEW), 'v2');
    const repinned = refusedAt(await promote(), 'same-image');
    assert.match(repinned.detail, new RegExp(`pins ${REPO}@${digests['v2']}, but it passed its gate with ${REPO}@${digests['v1']}`));

    // The release's records put back, but the container still runs the re-tagged image.
    await on(PREVIEW, `cp /tmp/image.good ${rel}/image && cp /tmp/override.good ${rel}/compose.override.yml`);
    const byHand = refusedAt(await promote(), 'same-image');
    assert.match(byHand.detail, new RegExp(`container runs ${REPO}@${digests['v2']}, not ${REPO}@${digests['v1']}`));
    assert.equal(await served(PROD), 'v1', 'prod untouched');
    assert.equal(liveRecord(readLedger(root).records, 'shop', 'prod')?.['release'], release);
  });
});

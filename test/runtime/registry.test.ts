// The runtime registry: every runtime module is registered under the supervisor it says, has
// every part of the interface (src/runtime/runtime.ts), and its part of a host's status script
// runs under a real sh and reports each of its services. The services come from a real fleet
// (manifests, inventory, fleet/build.ts), so the model and the registry agree on supervisors.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { loadFleet } from '../../src/load/fleet.js';
import type { Service } from '../../src/fleet/model.js';
import { packageRoot } from '../../src/package-root.js';
import { hostStatusScript, parseHostStatus } from '../../src/runtime/host-status-script.js';
import { byRuntime, RUNTIMES, runtimeOf } from '../../src/runtime/registry.js';
import { RUNTIME_PARTS, type Runtime } from '../../src/runtime/runtime.js';
import type { RuntimeService } from '../../src/runtime/types.js';
import { LocalTransport } from '../../src/transport/local.js';
import { fileSafe, sh } from '../../src/transport/quote.js';

const dir = mkdtempSync(join(tmpdir(), 'manage-apps-registry-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function write(path: string, text: string): void {
  mkdirSync(dirname(join(dir, path)), { recursive: true });
  writeFileSync(join(dir, path), text);
}

/** One service of every runtime: a unit on a server, a process on this machine, a compose service. */
async function fleet(): Promise<Service[]> {
  write(
    'mesh-hosts.json',
    JSON.stringify({
      hosts: {
        web: { address: '127.0.0.1', port: 1, provider: 'bare-metal', role: 'production' },
        laptop: { provider: 'local', role: 'production', local: true },
      },
    }),
  );
  write(
    'api/.infra.yaml',
    'apiVersion: infra/v2\nproject: api\nprovider: bare-metal\nservice:\n  host: web\n  port: 18090\n  command: node server.js\n',
  );
  write(
    'dev/.infra.yaml',
    'apiVersion: infra/v2\nproject: dev\nprovider: local\nservice:\n  host: laptop\n  port: 18091\n  command: node server.js\n',
  );
  write(
    'shop/.infra.yaml',
    'apiVersion: infra/v2\nproject: shop\nprovider: bare-metal\nservice:\n  host: web\n  port: 18092\n  compose:\n    file: compose.yml\n    service: app\n',
  );
  write('shop/compose.yml', 'services:\n  app:\n    image: busybox:1\n    ports: ["18092:80"]\n');
  const loaded = await loadFleet({ root: dir });
  assert.deepEqual(
    loaded.problems.filter((p) => p.severity === 'error'),
    [],
  );
  return loaded.fleet.services;
}

/** The runtime view, as ops/context.ts builds it (the shared fields, then the runtime's own). */
function view(service: Service): RuntimeService {
  const common: RuntimeService = {
    id: service.id,
    key: fileSafe(service.id),
    readiness: service.health.readiness,
    liveness: service.health.liveness,
  };
  if (service.unit !== undefined) common.unit = service.unit;
  if (service.port !== undefined) common.port = service.port;
  return runtimeOf(service).view(service, common, { remote: false, state: sh`${join(dir, 'state')}` });
}

test('every runtime module is registered, under the supervisor it says', async () => {
  const runtimeDir = join(packageRoot(), 'src/runtime');
  const declared: string[] = [];
  for (const file of readdirSync(runtimeDir).filter((f) => f.endsWith('.ts'))) {
    for (const m of readFileSync(join(runtimeDir, file), 'utf8').matchAll(/^export const (\w+): Runtime<'(\w+)'>/gm)) {
      // The module as compiled with this test (the same instance the registry imports).
      const module = (await import(new URL(`../../src/runtime/${file.replace(/\.ts$/, '.js')}`, import.meta.url).href)) as Record<string, unknown>;
      const registered = (RUNTIMES as Record<string, Runtime>)[m[2]!];
      assert.ok(registered !== undefined, `src/runtime/${file} declares the runtime ${m[1]} for "${m[2]}", but registry.ts has no such line`);
      assert.equal(module[m[1]!], registered, `registry.ts registers ${m[1]} of src/runtime/${file} under "${m[2]}"`);
      declared.push(m[2]!);
    }
  }
  assert.deepEqual(declared.sort(), Object.keys(RUNTIMES).sort(), 'every registered runtime comes from one module of src/runtime');
  for (const [supervisor, runtime] of Object.entries(RUNTIMES)) assert.equal(runtime.supervisor, supervisor);
});

test('every registered runtime has every part of the interface', () => {
  for (const runtime of Object.values(RUNTIMES) as Runtime[]) {
    for (const part of RUNTIME_PARTS) {
      const value = runtime[part];
      assert.notEqual(value, undefined, `the ${runtime.supervisor} runtime has no ${part}`);
      if (
        [
          'view',
          'statusPart',
          'probed',
          'parseStatus',
          'noStateReason',
          'statusLabel',
          'declaredLabel',
          'lifecycle',
          'diagnosisScript',
          'logs',
        ].includes(part)
      )
        assert.equal(typeof value, 'function', `${runtime.supervisor}.${part}`);
    }
    // Without releases, deploy and releases must still say why there are none.
    if (runtime.releases === undefined) {
      assert.equal(typeof runtime.noDeploy, 'string', `the ${runtime.supervisor} runtime ships no releases and deploy cannot say why`);
      assert.equal(typeof runtime.noReleases, 'string', `the ${runtime.supervisor} runtime ships no releases and releases cannot say why`);
    } else {
      assert.equal(typeof runtime.releases.activatable, 'function', `${runtime.supervisor}.releases.activatable`);
      assert.equal(typeof runtime.releases.activation, 'function', `${runtime.supervisor}.releases.activation`);
    }
  }
});

test("each runtime's part of a host's status runs under sh and reports each of its services", async () => {
  const services = await fleet();
  const groups = byRuntime(services);
  assert.deepEqual(
    groups.map((g) => [g.runtime.supervisor, g.items.map((s) => s.id)]),
    [
      ['systemd', ['api']],
      ['pid', ['dev']],
      ['compose', ['shop']],
    ],
  );
  const local = new LocalTransport('laptop');
  for (const { runtime, items } of groups) {
    const input = { groups: [{ runtime, services: items.map(view) }] };
    const script = hostStatusScript(input);
    const r = await local.script(script, { timeoutMs: 30_000 });
    assert.equal(r.unreachable, undefined);
    const report = parseHostStatus(input, r.stdout);
    assert.ok(report.hostname, `${runtime.supervisor}: the host line`);
    assert.deepEqual(
      report.services.map((s) => s.id),
      items.map((s) => s.id),
      `${runtime.supervisor}: one row per service`,
    );
    // Nothing listens on these ports: each probe reads as no answer, attributed to its service.
    for (const row of report.services)
      assert.deepEqual(row.health?.readiness, { path: '/readyz', status: 0, ok: false }, `${runtime.supervisor}: ${row.id}`);
    for (const s of items) {
      const rs = view(s);
      const logs = runtime.logs(rs, 5, false);
      assert.ok('script' in logs && logs.script.length > 0, `${runtime.supervisor}: a logs script`);
      assert.match(runtime.diagnosisScript(rs, { since: 1_700_000_000 }) ?? '', /@@begin\\tstatus/, `${runtime.supervisor}: a diagnosis`);
      assert.ok(runtime.noStateReason(s).length > 0);
    }
  }
});

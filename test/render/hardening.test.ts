/**
 * The hardening of every unit manage-apps renders (render/hardening.ts): what a unit gets, how a
 * service relaxes one directive, and systemd's own judge, `systemd-analyze security
 * --offline=yes <file>`, scoring every unit rendered for the example fleet and the seed-000-like
 * fixture (their swap templates, the tunnel units, the backup unit) at 2.5 or below.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadFleet } from '../../src/load/fleet.js';
import type { Service } from '../../src/fleet/model.js';
import { packageRoot } from '../../src/package-root.js';
import { dynamicUserName, jitRuntime, unitStem } from '../../src/render/hardening.js';
import { renderUnit, renderUnits, swapTemplateName } from '../../src/render/systemd-unit.js';
import { renderTunnels, tunnelUnit } from '../../src/render/tunnels.js';
import { FleetIndex } from '../../src/analysis/topology.js';
import { backupUnit } from '../../src/data/backup-scripts.js';
import type { ResolvedTunnel } from '../../src/tunnels/resolve.js';
import { loadFixture, removeDir, requireTool, run, tempDir } from './helpers.js';

/** The exposure systemd-analyze gives a unit file (0 = locked down … 10 = wide open). */
function exposure(analyze: string, path: string): number {
  const r = run(analyze, ['security', '--offline=yes', path]);
  const m = /Overall exposure level for \S+: (\d+\.\d+)/.exec(r.stdout);
  assert.ok(m, `${path}: no exposure level in ${r.stdout}${r.stderr}`);
  return Number(m[1]);
}

const lines = (text: string) => text.split('\n');

function service(base: Service, changes: Partial<Service>): Service {
  return { ...base, ...changes };
}

test('a unit runs as its declared user, else as a dynamic user named after its unit; every directive is set', async () => {
  const { loaded } = await loadFixture();
  const api = loaded.fleet.services.find((s) => s.id === 'api')!;
  const declared = lines(renderUnit(api, undefined));
  assert.ok(declared.includes('User=api'));
  assert.ok(!declared.includes('DynamicUser=yes'));
  const dynamic = lines(renderUnit(service(api, { runAs: undefined }), undefined));
  assert.ok(dynamic.includes('DynamicUser=yes'));
  assert.ok(dynamic.includes('User=app-api'));
  for (const line of [
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    'ProtectHome=yes',
    'PrivateTmp=yes',
    'PrivateDevices=yes',
    'PrivateUsers=yes',
    'PrivateMounts=yes',
    'CapabilityBoundingSet=',
    'AmbientCapabilities=',
    'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6',
    'SystemCallFilter=@system-service',
    'SystemCallFilter=~@privileged @resources',
    'SystemCallErrorNumber=EPERM',
    'SystemCallArchitectures=native',
    'LockPersonality=yes',
    'RestrictRealtime=yes',
    'RestrictSUIDSGID=yes',
    'RestrictNamespaces=yes',
    'ProtectClock=yes',
    'ProtectHostname=yes',
    'ProtectKernelTunables=yes',
    'ProtectKernelModules=yes',
    'ProtectKernelLogs=yes',
    'ProtectControlGroups=yes',
    'ProtectProc=invisible',
    'ProcSubset=pid',
    'RemoveIPC=yes',
    'UMask=0077',
  ]) {
    assert.ok(dynamic.includes(line), line);
  }
  // node's JIT needs writable+executable memory: the unit says why it is not denied.
  assert.ok(dynamic.some((l) => l.startsWith('# MemoryDenyWriteExecute= is not set: node')));
  assert.ok(lines(renderUnit(service(api, { command: './bin/api' }), undefined)).includes('MemoryDenyWriteExecute=yes'));
  // A system account's name never becomes the dynamic user (systemd would run it as that account).
  assert.equal(dynamicUserName('postgres.service'), 'app-postgres');
  assert.equal(dynamicUserName('api@8001.service'), 'app-api');
  assert.equal(dynamicUserName('api@.service'), 'app-api');
  assert.match(dynamicUserName('quinn.hotel-scout.service'), /^app-quinn-hotel-scout-[0-9a-f]{8}$/);
  assert.notEqual(dynamicUserName('a.b.service'), dynamicUserName('a-b.service'));
  assert.ok(dynamicUserName(`${'x'.repeat(60)}.service`).length <= 31);
  assert.equal(unitStem('api-preview.service'), 'api-preview');
  for (const [command, jit] of [
    ['node server.js', 'node'],
    ['/usr/bin/node dist/x.js', 'node'],
    ["sh -c 'cd app && npm start'", 'npm'],
    ['java -jar app.jar', 'java'],
    ['python3 -m app', undefined],
    ['./bin/nodes', undefined],
  ] as const) {
    assert.equal(jitRuntime(command), jit, command);
  }
});

test('state, writes, ports below 1024, home directories and swap templates', async () => {
  const { loaded } = await loadFixture();
  const api = service(
    loaded.fleet.services.find((s) => s.id === 'api')!,
    { runAs: undefined },
  );
  const stateful = lines(renderUnit(service(api, { stateful: true }), undefined));
  assert.ok(stateful.includes('StateDirectory=api') && stateful.includes('StateDirectoryMode=0700'));
  const named = lines(
    renderUnit(service(api, { hardening: { state_directory: 'quinn/data', read_write_paths: ['/srv/uploads', '/var/spool/api'] } }), undefined),
  );
  assert.ok(named.includes('StateDirectory=quinn/data'));
  assert.ok(named.includes('ReadWritePaths=/srv/uploads /var/spool/api'));
  const low = lines(renderUnit(service(api, { port: 443 }), undefined));
  assert.ok(low.includes('CapabilityBoundingSet=CAP_NET_BIND_SERVICE') && low.includes('AmbientCapabilities=CAP_NET_BIND_SERVICE'));
  assert.ok(!low.includes('PrivateUsers=yes'));
  assert.ok(low.some((l) => l.startsWith('# PrivateUsers= is not set: binding port 443')));
  const home = lines(renderUnit(service(api, { directory: '/home/deploy/api' }), undefined));
  assert.ok(home.includes('ProtectHome=read-only') && !home.includes('ProtectHome=yes'));
  // A swap's template: both instances share the dynamic user and the state; a low port of either counts.
  const swap = renderUnit(service(api, { stateful: true, port: 8001, swapPorts: [8001, 8002], unit: 'api.service' }), undefined, {
    template: 'swap',
  });
  assert.ok(lines(swap).includes('User=app-api') && lines(swap).includes('StateDirectory=api'));
  assert.ok(lines(swap).includes('Environment=PORT=%i') && lines(swap).includes(`WorkingDirectory=${api.directory}/.swap/%i`));
  assert.equal(swapTemplateName('api.service'), 'api@.service');
  assert.ok(
    lines(renderUnit(service(api, { port: 80, swapPorts: [80, 8080] }), undefined, { template: 'swap' })).includes(
      'AmbientCapabilities=CAP_NET_BIND_SERVICE',
    ),
  );
});

test('a relaxed directive is left out or set to its declared value, under its reason', async () => {
  const { loaded } = await loadFixture();
  const api = service(
    loaded.fleet.services.find((s) => s.id === 'api')!,
    { runAs: undefined },
  );
  const text = renderUnit(
    service(api, {
      hardening: {
        relax: [
          { directive: 'PrivateDevices', reason: 'needs /dev/nvidia0 for CUDA' },
          { directive: 'RestrictAddressFamilies', value: 'AF_UNIX AF_INET AF_INET6 AF_NETLINK', reason: 'lists network interfaces' },
          { directive: 'SystemCallFilter', reason: 'a legacy binary' },
          { directive: 'DynamicUser', reason: 'writes /etc/legacy.conf as root' },
        ],
      },
    }),
    undefined,
  );
  const ls = lines(text);
  assert.ok(ls.includes('# relaxed PrivateDevices (service.hardening.relax): needs /dev/nvidia0 for CUDA'));
  assert.ok(!ls.includes('PrivateDevices=yes'));
  assert.ok(ls.includes('# relaxed RestrictAddressFamilies (service.hardening.relax): lists network interfaces'));
  assert.ok(ls.includes('RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK'));
  assert.ok(!ls.some((l) => l.startsWith('SystemCallFilter=') || l.startsWith('SystemCallErrorNumber=')));
  assert.ok(!ls.includes('DynamicUser=yes') && !ls.some((l) => l.startsWith('User=')));
  // Everything else stays.
  assert.ok(ls.includes('ProtectSystem=strict') && ls.includes('NoNewPrivileges=yes'));
});

test('every unit rendered for the example fleet and the seed-000-like fixture scores 2.5 or below on systemd-analyze security', async (t) => {
  const analyze = requireTool(t, 'systemd-analyze', 'apt-get install systemd');
  if (!analyze) return;
  const dir = await tempDir();
  try {
    const scores: [string, number][] = [];
    const score = async (name: string, text: string) => {
      const path = join(dir, name);
      await mkdir(join(path, '..'), { recursive: true });
      await writeFile(path, text);
      scores.push([name, exposure(analyze, path)]);
    };
    for (const root of ['examples/fleet', 'test/fixtures/five-hosts']) {
      const loaded = await loadFleet({ root: join(packageRoot(), root) });
      const units = renderUnits(loaded.fleet);
      assert.deepEqual(units.problems, [], root);
      assert.ok(units.files.length >= 9, `${root}: ${units.files.length} units`);
      for (const f of units.files) await score(`${root}/${f.path}`, f.content);
      // Each as deploy's swap template too, and without a declared user, and on a port below 1024.
      for (const s of loaded.fleet.services.filter((x) => x.command !== undefined && x.supervisor === 'systemd' && x.port !== undefined)) {
        const host = loaded.fleet.hosts.find((h) => h.name === s.host);
        const unit = s.unit!;
        await score(
          `${root}/${s.host}/${swapTemplateName(unit)}`,
          renderUnit(service(s, { swapPorts: [s.port!, s.port! + 1] }), host, { template: 'swap' }),
        );
        await score(`${root}/${s.host}/low-port-${unit}`, renderUnit(service(s, { port: 443, runAs: undefined }), host));
      }
      const tunnels = renderTunnels(new FleetIndex(loaded.fleet));
      for (const f of tunnels.files.filter((x) => x.path.endsWith('.service'))) await score(`${root}/${f.path}`, f.content);
    }
    const lowTunnel = tunnelUnit({
      name: 'smtp',
      direction: 'forward',
      dir: '/etc/manage-apps/tunnels/smtp',
      listenHost: 'a',
      serviceHost: 'b',
      unit: 'manage-apps-tunnel-smtp.service',
      forwards: [{ bind: '127.0.0.1', listen: 25, targetHost: '127.0.0.1', targetPort: 25 }],
    } as unknown as ResolvedTunnel);
    await score('tunnel/manage-apps-tunnel-smtp.service', lowTunnel);
    await score('backup/manage-apps-backup@.service', backupUnit());
    const width = Math.max(...scores.map(([n]) => n.length));
    t.diagnostic(
      `systemd-analyze security --offline=yes, ${scores.length} units:\n${scores.map(([n, s]) => `${n.padEnd(width)}  ${s.toFixed(1)}`).join('\n')}`,
    );
    console.log(
      `exposure (systemd-analyze security --offline=yes): ${scores.length} units, worst ${Math.max(...scores.map(([, s]) => s)).toFixed(1)}, best ${Math.min(...scores.map(([, s]) => s)).toFixed(1)}`,
    );
    for (const [name, s] of scores) assert.ok(s <= 2.5, `${name} scores ${s} (more than 2.5)`);
    assert.ok(
      scores.some(([n]) => n.includes('tunnel')),
      'tunnel units were scored',
    );
  } finally {
    await removeDir(dir);
  }
});

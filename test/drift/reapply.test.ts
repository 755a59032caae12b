// Which path puts each kind of finding back, and what reapply leaves (said, never skipped).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planReapply } from '../../src/drift/reapply.js';
import type { Finding } from '../../src/drift/types.js';

const f = (host: string, kind: Finding['kind'], subject: string, verdict: Finding['verdict'], owner: string | null, adoptable = false): Finding => ({
  id: `${host}/${kind}/${subject}`,
  host,
  kind,
  subject,
  verdict,
  owner,
  detail: '',
  properties: [],
  diff: null,
  adoptable,
});

test('each finding goes to the path that installs it; the rest is left with a reason', () => {
  const findings = [
    f('app', 'unit', '/etc/systemd/system/shop.service', 'edited on host', 'shop'),
    f('app', 'drop-in', '/etc/systemd/system/ledger.service.d/debug.conf', 'extra', 'ledger'),
    f('app', 'drop-in', '/usr/lib/systemd/system/ledger.service.d/x.conf', 'extra', 'ledger'),
    f('app', 'unit', '/etc/systemd/system/manage-apps-tunnel-t1.service', 'missing', 'tunnel t1'),
    f('app', 'unit', '/etc/systemd/system/old.service', 'extra', null),
    f('db', 'tunnel-file', '/etc/ssh/sshd_config.d/manage-apps-tunnels.conf', 'changed', 'tunnels'),
    f('db', 'pg_hba', '/etc/postgresql/15/apps/pg_hba.conf', 'edited on host', 'cluster apps'),
    f('db', 'pg_hba', '/etc/postgresql/15/apps/pg_hba.conf:3', 'extra', 'cluster apps'),
    f('edge', 'caddy', 'route x.internal', 'extra', 'edge'),
    f('app', 'port', '9876', 'extra', null),
    f('app', 'port', '8092', 'extra', 'worker', true),
    f('gone', 'host', 'gone', 'unknown', null),
  ];
  const plan = planReapply(findings, new Set(['shop', 'ledger', 'worker']), new Map([['db', ['t1', 't2']]]));
  assert.deepEqual(plan.deploy, ['shop', 'ledger']);
  assert.deepEqual(plan.tunnels, ['t1', 't2']);
  assert.deepEqual(plan.clusters, ['apps']);
  assert.deepEqual(plan.caddy, ['edge']);
  assert.deepEqual([...plan.setAside], [['app', ['/etc/systemd/system/ledger.service.d/debug.conf']]]);
  assert.deepEqual(
    plan.left.map((l) => l.id),
    [
      'app/drop-in//usr/lib/systemd/system/ledger.service.d/x.conf',
      'app/unit//etc/systemd/system/old.service',
      'db/pg_hba//etc/postgresql/15/apps/pg_hba.conf:3',
      'app/port/9876',
      'app/port/8092',
      'gone/host/gone',
    ],
  );
  assert.match(plan.left.find((l) => l.id === 'app/port/8092')!.why, /manage-apps adopt app\/port\/8092/);
});

test('a Caddyfile that is not the rendered one and a route added live: both put back by installing the rendered file', () => {
  const plan = planReapply(
    [f('edge', 'caddy', '/etc/caddy/Caddyfile', 'changed', 'edge'), f('edge', 'caddy', 'route x.internal', 'extra', 'edge')],
    new Set(),
    new Map(),
  );
  assert.deepEqual(plan.caddy, ['edge']);
  assert.deepEqual([...plan.by.values()], ['net caddy --apply on edge', 'net caddy --apply on edge']);
  assert.deepEqual(plan.left, []);
});

test('a WireGuard file or peer, a backup unit and an env file go to the paths that install them; a secrets generation and a down interface are left', () => {
  const plan = planReapply(
    [
      f('db', 'wireguard', '/etc/wireguard/wg0.conf', 'edited on host', 'mesh wg0'),
      f('app', 'wireguard', 'wg0 peer AAA=', 'edited on host', 'mesh wg0'),
      f('app', 'wireguard', 'wg0', 'missing', 'mesh wg0'),
      f('db', 'unit', '/etc/systemd/system/manage-apps-backup@apps.timer', 'missing', 'backup apps'),
      f('db', 'unit-enabled', 'manage-apps-backup@.service', 'changed', 'backup apps, logs'),
      f('app', 'env-file', '/etc/ledger/env', 'changed', 'ledger'),
      f('app', 'env-file', '/var/lib/manage-apps/secrets/prod/shop/current/secrets.env', 'extra', 'shop'),
    ],
    new Set(['ledger', 'shop']),
    new Map(),
  );
  assert.deepEqual(plan.wireguard, ['db', 'app']);
  assert.deepEqual(plan.backups, ['apps', 'logs']);
  assert.deepEqual(plan.envFiles, ['ledger']);
  assert.deepEqual(plan.deploy, [], 'a backup unit is not a service to deploy');
  assert.deepEqual(
    plan.left.map((l) => l.id),
    ['app/wireguard/wg0', 'app/env-file//var/lib/manage-apps/secrets/prod/shop/current/secrets.env'],
  );
});

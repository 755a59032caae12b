/** drain: the register, provider-first waves (seed 003's), identity and secrets last, and what cannot move. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { coreVerdict, nameKind } from '../../src/analysis/core.js';
import { planDrain, type DrainPlan } from '../../src/analysis/drain.js';
import { cli, cliJson, indexOf, loadFixture, tunnel } from './helpers.js';

const waveOf = (plan: DrainPlan, name: string) => plan.register.find((r) => r.name === name)?.wave;

test('seed 003: draining coulombcore onto railiance01 puts identity and secrets (OpenBao) in the last wave', async () => {
  const { index } = await loadFixture('legacy-exit');
  const plan = planDrain(index, 'coulombcore', 'railiance01');
  assert.equal(plan.ok, true);
  const last = plan.waves[plan.waves.length - 1]!;
  assert.deepEqual(last.items.map((i) => i.name).sort(), ['identity', 'identity-pg', 'openbao']);
  assert.match(last.label, /identity and secrets/);
  // Providers first within a tier: a thing moves after what it relies on on this host
  // ("GitOps follows forge move": eso-argocd after gitea).
  for (const row of plan.register) {
    for (const consumer of row.consumers) {
      const c = plan.register.find((r) => r.name === consumer);
      if (c && row.core === null && c.core === null && row.kind === 'service')
        assert.ok(c.wave > row.wave, `${row.name} (wave ${row.wave}) before its consumer ${consumer} (wave ${c.wave})`);
    }
  }
  assert.ok(waveOf(plan, 'eso-argocd')! > waveOf(plan, 'gitea')!);
  // "CNPG databases … migrate with workload": state-hub-pg, used by state-hub alone, moves with it.
  assert.equal(waveOf(plan, 'state-hub-pg'), waveOf(plan, 'state-hub'));
  // The shared database goes after the ordinary services, before identity.
  assert.equal(plan.register.find((r) => r.name === 'coulombcore-pg')?.core?.reason, 'shared-database');
  assert.ok(waveOf(plan, 'coulombcore-pg')! > waveOf(plan, 'gitea')!);
  assert.ok(waveOf(plan, 'coulombcore-pg')! < last.wave);
  // The register: current, target, owner for every row; a missing owner is a warning.
  const sh = plan.register.find((r) => r.name === 'state-hub')!;
  assert.deepEqual(
    [sh.kind, sh.current, sh.target, sh.owner, sh.consumers],
    ['service', 'coulombcore', 'railiance01', 'custodian', ['activity-core']],
  );
  assert.ok(plan.warnings.some((w) => w.kind === 'no_owner' && w.items?.includes('inter-hub')));
  // railiance01 reaches coulombcore only through the workstation: said, as the drain relies on it.
  assert.ok(plan.warnings.some((w) => w.kind === 'through_workstation' && /through workstation/.test(w.message)));
  assert.ok(plan.tunnels.some((t) => t.name === 'state-hub-primary' && /workstation → railiance01/.test(t.suggestion)));
});

test('seed 003 re-homed: the drain needs no workstation', async () => {
  const { index } = await loadFixture('legacy-exit-rehomed');
  const plan = planDrain(index, 'coulombcore', 'railiance01');
  assert.equal(
    plan.warnings.some((w) => w.kind === 'through_workstation'),
    false,
  );
  // Its tunnels run railiance01 → coulombcore only: what stays behind cannot call what moved
  // ahead of it (eso-argocd → gitea), which the plan says rather than hides.
  assert.ok(
    plan.warnings.some(
      (w) =>
        w.kind === 'during_drain' &&
        /coulombcore cannot reach railiance01: while the drain runs, what is left behind reaches what has moved \(eso-argocd → gitea/.test(w.message),
    ),
  );
});

test('drain: a frozen target, a non-production target, a taken port and a cycle cannot move (exit 1)', async () => {
  const { index } = await loadFixture('legacy-exit');
  const back = planDrain(index, 'railiance01', 'coulombcore');
  assert.equal(back.ok, false);
  assert.ok(back.blocked.some((b) => b.name === 'activity-core' && b.reason === 'target_frozen'));
  assert.ok(
    back.warnings.some(
      (w) =>
        w.kind === 'through_workstation' &&
        /railiance01 reaches coulombcore only through workstation \(workstation\): while the drain runs, what is left behind reaches what has moved \(activity-core → temporal/.test(
          w.message,
        ),
    ),
  );

  const fleet = indexOf({
    hosts: ['old', 'new', { name: 'box', role: 'dev' }],
    clusters: [{ name: 'pg', host: 'new', port: 5432 }],
    services: [
      { project: 'a', host: 'old', port: 8000, dependsOn: ['b'] },
      { project: 'b', host: 'old', port: 8001, dependsOn: ['a'] },
      { project: 'c', host: 'old', port: 5432 },
      { project: 'd', host: 'old', port: 9000, environment: 'dev' },
    ],
    mesh: { cidr: '10.9.0.0/24', topology: 'full-mesh', listenPort: 51820, interface: 'wg0' },
  });
  const plan = planDrain(fleet, 'old', 'new');
  const reasons = (name: string) => plan.register.find((r) => r.name === name)?.blocked.map((b) => b.reason);
  assert.deepEqual(reasons('a'), ['cycle']);
  assert.deepEqual(reasons('b'), ['cycle']);
  assert.equal(waveOf(plan, 'a'), waveOf(plan, 'b'));
  assert.deepEqual(reasons('c'), ['port_taken']);
  assert.match(plan.register.find((r) => r.name === 'c')!.blocked[0]!.message, /already taken by cluster "pg"/);
  assert.deepEqual(reasons('d:dev'), []);
  const toDev = planDrain(fleet, 'old', 'box');
  assert.deepEqual(
    toDev.register.find((r) => r.name === 'c')?.blocked.map((b) => b.reason),
    ['target_not_production'],
  );
  assert.deepEqual(toDev.register.find((r) => r.name === 'd:dev')?.blocked, []);
});

test('drain: production consumers elsewhere must reach the target, and the target what the moved thing needs', () => {
  const index = indexOf({
    hosts: ['old', 'new', 'edge', 'data'],
    services: [
      { project: 'api', host: 'old', dependsOn: ['store'] },
      { project: 'web', host: 'edge', dependsOn: ['api'] },
      { project: 'store', host: 'data' },
    ],
    tunnels: [tunnel('edge-old', 'edge', 'old'), tunnel('old-data', 'old', 'data'), tunnel('new-old', 'new', 'old')],
  });
  const plan = planDrain(index, 'old', 'new');
  const messages = plan.register.find((r) => r.name === 'api')!.blocked.map((b) => `${b.reason}: ${b.message}`);
  assert.ok(
    messages.some((m) => /^unreachable: its consumer web on edge cannot reach new/.test(m)),
    messages.join('\n'),
  );
  // new reaches data only through old: that route ends with the drain.
  assert.ok(
    messages.some((m) => /^unreachable: new cannot reach store on data, which it relies on once old is gone/.test(m)),
    messages.join('\n'),
  );
  const fixed = indexOf({
    hosts: ['old', 'new', 'edge', 'data'],
    services: [
      { project: 'api', host: 'old', dependsOn: ['store'] },
      { project: 'web', host: 'edge', dependsOn: ['api'] },
      { project: 'store', host: 'data' },
    ],
    tunnels: [tunnel('edge-new', 'edge', 'new'), tunnel('new-data', 'new', 'data')],
  });
  assert.equal(planDrain(fixed, 'old', 'new').ok, true);
});

test('drain: providers first, most relied on first within a wave; many dependants go later', () => {
  const index = indexOf({
    hosts: ['old', 'new', 'other'],
    services: [
      { project: 'leaf', host: 'old', dependsOn: ['mid'] },
      { project: 'mid', host: 'old', dependsOn: ['base'] },
      { project: 'base', host: 'old' },
      { project: 'popular', host: 'old' },
      ...['u1', 'u2', 'u3', 'u4', 'u5'].map((p) => ({ project: p, host: 'other', dependsOn: ['popular'] })),
    ],
    mesh: { cidr: '10.9.0.0/24', topology: 'full-mesh', listenPort: 51820, interface: 'wg0' },
  });
  const plan = planDrain(index, 'old', 'new');
  assert.deepEqual(
    plan.waves.map((w) => w.items.map((i) => i.name)),
    [['base'], ['mid'], ['leaf'], ['popular']],
  );
  assert.equal(plan.register.find((r) => r.name === 'popular')?.core?.reason, 'many-dependants');
});

test('core heuristic: identity and secrets by name or owner, shared databases, many dependants', () => {
  for (const n of ['identity', 'keycloak', 'authelia', 'lldap', 'sso', 'flex-auth', 'privacyidea']) assert.equal(nameKind(n), 'identity', n);
  for (const n of ['openbao', 'vault', 'secrets-store']) assert.equal(nameKind(n), 'secrets', n);
  for (const n of ['author-api', 'gitea', 'state-hub', 'ssonic']) assert.equal(nameKind(n), undefined, n);
  assert.equal(nameKind('login-api', 'identity-team'), 'identity');
  const index = indexOf({
    hosts: ['h'],
    clusters: [
      { name: 'pg', host: 'h' },
      { name: 'small', host: 'h', port: 5433 },
    ],
    services: [
      { project: 'a', host: 'h', database: 'pg' },
      { project: 'b', host: 'h', database: 'pg' },
      { project: 'c', host: 'h', database: 'pg' },
      { project: 'd', host: 'h', database: 'small' },
    ],
  });
  assert.equal(coreVerdict(index, 'c:pg', 3)?.reason, 'shared-database');
  assert.equal(coreVerdict(index, 'c:small', 1), undefined);
  assert.equal(coreVerdict(index, 's:a', 5)?.reason, 'many-dependants');
  assert.equal(coreVerdict(index, 's:a', 4), undefined);
});

test('CLI: drain --json shape; --to is required; unknown or identical hosts are usage errors', () => {
  const { status, json } = cliJson<DrainPlan>(['drain', 'coulombcore', '--to', 'railiance01', '--root', 'test/fixtures/legacy-exit']);
  assert.equal(status, 0);
  assert.deepEqual(Object.keys(json), ['host', 'to', 'register', 'waves', 'tunnels', 'warnings', 'blocked', 'ok', 'problems']);
  assert.deepEqual(Object.keys(json.register[0]!), [
    'kind',
    'name',
    'project',
    'environment',
    'port',
    'owner',
    'production',
    'current',
    'target',
    'consumers',
    'dependants',
    'core',
    'wave',
    'blocked',
  ]);
  const human = cli(['drain', 'coulombcore', '--to', 'railiance01', '--root', 'test/fixtures/legacy-exit']);
  assert.match(human.stdout, /Dependency register/);
  assert.match(human.stdout, /identity-pg \(db\), openbao, identity {2}← identity and secrets/);
  assert.equal(cli(['drain', 'railiance01', '--to', 'coulombcore', '--root', 'test/fixtures/legacy-exit']).status, 1);
  assert.equal(cli(['drain', 'coulombcore', '--root', 'test/fixtures/legacy-exit']).status, 2);
  const typo = cli(['drain', 'coulombcore', '--to', 'railiance1', '--root', 'test/fixtures/legacy-exit']);
  assert.equal(typo.status, 2);
  assert.match(typo.stderr, /did you mean "railiance01"/);
  assert.equal(cli(['drain', 'coulombcore', '--to', 'coulombcore', '--root', 'test/fixtures/legacy-exit']).status, 2);
});

test('"only through a workstation" is said only when every route needs one, naming each that offers one', () => {
  // api depends on auth, both on old: the drain moves api first, and it must reach auth on old meanwhile.
  const spec = {
    hosts: [
      { name: 'prod1', meshIp: '10.9.0.2' },
      { name: 'old' },
      { name: 'ws', role: 'workstation' as const },
      { name: 'devbox', role: 'dev' as const },
    ],
    services: [
      { project: 'auth', host: 'old', port: 3001 },
      { project: 'api', host: 'old', port: 3000, dependsOn: ['auth'] },
    ],
    tunnels: [tunnel('p1-ws', 'prod1', 'ws'), tunnel('ws-old', 'ws', 'old'), tunnel('p1-dev', 'prod1', 'devbox'), tunnel('dev-old', 'devbox', 'old')],
  };
  const through = (s: typeof spec) => planDrain(indexOf(s), 'old', 'prod1').warnings.filter((w) => w.kind === 'through_workstation');
  const both = through(spec);
  assert.equal(both.length, 1);
  assert.match(both[0]!.message, /prod1 reaches old only through one of ws, devbox \(workstation or dev hosts\)/);
  // A production relay as well: a route needs no personal host, so no warning.
  const relayed = {
    ...spec,
    hosts: [...spec.hosts, { name: 'relay' }],
    tunnels: [...spec.tunnels, tunnel('p1-relay', 'prod1', 'relay'), tunnel('relay-old', 'relay', 'old')],
  };
  assert.deepEqual(through(relayed), []);
});

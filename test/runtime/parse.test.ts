// The parsers of what host scripts print: systemctl show blocks, probes, gates, diagnoses.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDiagnosis, parseGate, parseProbes, records, sections } from '../../src/runtime/shell.js';
import { hostStatusScript, parseHostStatus } from '../../src/runtime/host-status-script.js';
import { pid } from '../../src/runtime/pid.js';
import { systemd } from '../../src/runtime/systemd.js';
import { parseShow, parseTimestamp } from '../../src/runtime/systemd-units.js';
import type { RuntimeService } from '../../src/runtime/types.js';
import { raw } from '../../src/transport/quote.js';

const api: RuntimeService = { id: 'api', key: 'api', unit: 'api.service', port: 3000, readiness: '/readyz', liveness: '/livez' };
const worker: RuntimeService = { id: 'worker', key: 'worker', unit: 'worker.service', readiness: '/readyz', liveness: '/livez' };

test('records and sections ignore anything a login shell may print', () => {
  const out = 'Welcome to host!\n@@host\th1\t1700000000\nnoise\n@@begin\tshow\nA=1\n\nB=2\n@@end\n@@gate\tready\t200\t350\n';
  assert.deepEqual(records(out), [['host', 'h1', '1700000000'], ['begin', 'show'], ['end'], ['gate', 'ready', '200', '350']]);
  assert.equal(sections(out).get('show'), 'A=1\n\nB=2');
});

test('parseTimestamp: unix and local forms, empty for never', () => {
  assert.equal(parseTimestamp('@1700000000'), '2023-11-14T22:13:20.000Z');
  assert.equal(parseTimestamp('Sun 2024-11-24 13:53:00 UTC'), '2024-11-24T13:53:00.000Z');
  assert.equal(parseTimestamp(''), null);
  assert.equal(parseTimestamp('@0'), null);
  assert.equal(parseTimestamp('n/a'), null);
});

test('status script output → unit state and health per service, in the order asked', () => {
  const out = [
    '@@host\th1\t1700000000',
    '@@begin\tshow',
    'MainPID=73\nResult=success\nNRestarts=2\nExecMainStatus=0\nId=api.service\nLoadState=loaded\nActiveState=active\nSubState=running\nActiveEnterTimestamp=@1700000000',
    '',
    'MainPID=0\nResult=exit-code\nNRestarts=0\nExecMainStatus=1\nId=worker.service\nLoadState=loaded\nActiveState=failed\nSubState=failed\nActiveEnterTimestamp=',
    '@@end',
    '@@begin\tprobes',
    '3000 /readyz 200',
    '3000 /livez 503',
    '@@end',
  ].join('\n');
  const report = parseHostStatus({ groups: [{ runtime: systemd, services: [api, worker] }] }, out);
  assert.equal(report.hostname, 'h1');
  assert.deepEqual(report.services[0], {
    id: 'api',
    state: { load: 'loaded', active: 'active', sub: 'running', since: '2023-11-14T22:13:20.000Z', restarts: 2, pid: 73 },
    health: { readiness: { path: '/readyz', status: 200, ok: true }, liveness: { path: '/livez', status: 503, ok: false } },
  });
  assert.equal(report.services[1]?.state?.active, 'failed');
  assert.equal(report.services[1]?.health, null, 'a worker without a port has no health');
});

test('one status script per host: one systemctl show for all units, one probe pass', () => {
  const script = hostStatusScript({ groups: [{ runtime: systemd, services: [api, worker, { ...api, id: 'b', unit: 'b.service', port: 3001 }] }] });
  assert.equal(script.match(/systemctl show --timestamp=unix/g)?.length, 1);
  assert.match(script, /ma_probe_all 2 3000 \/readyz 3000 \/livez 3001 \/readyz 3001 \/livez/);
  const both = hostStatusScript({
    groups: [
      { runtime: systemd, services: [api] },
      { runtime: pid, services: [{ ...api, id: 'dev', key: 'dev', unit: undefined as never, state: raw('/tmp/x') }] },
    ],
  });
  assert.match(both, /@@pid/);
  const parsed = parseHostStatus(
    {
      groups: [
        { runtime: systemd, services: [api] },
        { runtime: pid, services: [{ id: 'dev', key: 'dev', port: 3002, readiness: '/readyz', liveness: '/livez' }] },
      ],
    },
    '@@host\th\t1\n@@pid\tdev\trunning\t42\t1700000000\n@@begin\tprobes\n3002 /readyz 200\n3002 /livez 200\n@@end\n',
  );
  assert.deepEqual(parsed.services[1]?.state, {
    load: 'pid-file',
    active: 'active',
    sub: 'running',
    since: '2023-11-14T22:13:20.000Z',
    restarts: null,
    pid: 42,
  });
});

test('parseShow and parseProbes tolerate junk', () => {
  assert.deepEqual(
    parseShow('\n\nA=1\nB==2\n\n\nC=\n').map((m) => Object.fromEntries(m)),
    [{ A: '1', B: '=2' }, { C: '' }],
  );
  assert.deepEqual(
    [...parseProbes('3000 /readyz 200\ngarbage\n3000 /x?y=1 000\n')],
    [
      ['3000 /readyz', 200],
      ['3000 /x?y=1', 0],
    ],
  );
});

test('parseGate and parseDiagnosis', () => {
  assert.deepEqual(parseGate('@@before\tactive\n@@gate\tcrashed\tthe main process exited (exit-code, exit status 3)\t812\n'), {
    outcome: 'crashed',
    detail: 'the main process exited (exit-code, exit status 3)',
    elapsedMs: 812,
  });
  assert.equal(parseGate('ssh: oops').outcome, 'unknown');
  const d = parseDiagnosis(
    '@@begin\tstatus\n* web.service\n@@begin\tjournal\n-- No entries --\nline 1\nline 2\n@@begin\treadiness\nHTTP/1.1 503 x\n\nbody\n@@end\n',
  );
  assert.deepEqual(d, { status: '* web.service', journal: ['line 1', 'line 2'], readiness: 'HTTP/1.1 503 x\n\nbody' });
});

// Remote commands are built from validated names and POSIX single-quoted arguments: hostile
// strings (quotes, $(), backticks, newlines, ;) arrive as literal data — locally with sh and
// dash, and on a real test host over ssh (both as an ssh command line and as a script on stdin).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { UsageError } from '../../src/errors.js';
import { fileSafe, quote, raw, sh, validName } from '../../src/transport/quote.js';
import { SshTransport } from '../../src/transport/ssh.js';
import { realHostsSkipReason, TestFleet } from '../harness/test-fleet.js';

const HOSTILE = [
  "'",
  '"',
  '$(id)',
  '`id`',
  '\n',
  ';',
  '\\',
  '$HOME',
  '*',
  ' ',
  '\t',
  '!',
  '#',
  '~',
  '-n',
  '%s',
  '&&',
  '|',
  '>',
  '<',
  '${IFS}',
  "'\\''",
  '\r',
  'é',
  '\u{1F600}',
];

/** Arbitrary strings, often made of shell-significant pieces; never NUL (it cannot travel in argv). */
const hostileString = fc
  .array(fc.oneof(fc.string({ unit: 'binary', maxLength: 12 }), fc.constantFrom(...HOSTILE)), { maxLength: 8 })
  .map((parts) => parts.join('').replace(/\0/g, ''));

function printed(shell: string, s: string): Buffer {
  const out = spawnSync(shell, ['-c', `printf %s ${quote(s)}`], { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', LC_ALL: 'C' } });
  assert.equal(out.status, 0, out.stderr.toString());
  return out.stdout;
}

test('quote: examples', () => {
  assert.equal(quote('plain-name_1.2'), 'plain-name_1.2');
  assert.equal(quote(''), "''");
  assert.equal(quote("it's"), `'it'\\''s'`);
  assert.equal(quote('$(rm -rf /)'), "'$(rm -rf /)'");
  assert.equal(quote('a=b'), "'a=b'", 'an assignment-looking word is quoted');
  assert.throws(() => quote('a\0b'), UsageError);
});

test('quote: for arbitrary strings, sh -c "printf %s <quoted>" prints exactly the string (sh and dash)', () => {
  const shells = ['sh', ...(spawnSync('dash', ['-c', 'true']).status === 0 ? ['dash'] : [])];
  fc.assert(
    fc.property(hostileString, (s) => {
      for (const shell of shells) assert.deepEqual(printed(shell, s), Buffer.from(s, 'utf8'), `${shell}: ${JSON.stringify(s)}`);
    }),
    { numRuns: 300 },
  );
});

test('sh``: interpolations are quoted, arrays become words, Shell values are kept', () => {
  const unit = 'a b.service';
  assert.equal(sh`systemctl show -- ${unit}`.text, "systemctl show -- 'a b.service'");
  assert.equal(sh`ls ${['x', "y'z"]} ${raw('"$HOME"')}`.text, `ls x 'y'\\''z' "$HOME"`);
  assert.equal(sh`sleep ${2}`.text, 'sleep 2');
  fc.assert(
    fc.property(fc.array(hostileString, { maxLength: 4 }), (words) => {
      const out = spawnSync('sh', ['-c', sh`printf '%s\\0' ${words}`.text]).stdout.toString('utf8');
      assert.deepEqual(words.length === 0 ? [''] : out.split('\0').slice(0, -1), words.length === 0 ? [''] : words);
    }),
    { numRuns: 100 },
  );
});

test('validName: plain names pass, anything a shell or a path could misread is refused', () => {
  for (const ok of ['quinn-api', 'sso', 'a.b_c-1']) assert.equal(validName('project', ok), ok);
  for (const bad of ['', '-rf', 'a b', 'a;b', '$(x)', '../x', 'a/b', "a'b", 'é']) assert.throws(() => validName('project', bad), UsageError, bad);
  assert.equal(validName('unit', 'quinn.hotel-scout.timer'), 'quinn.hotel-scout.timer');
  assert.equal(validName('unit', 'getty@tty1.service'), 'getty@tty1.service');
  for (const bad of ['x', 'x.service;reboot', '-x.service', 'a b.service', '../x.service'])
    assert.throws(() => validName('unit', bad), UsageError, bad);
  assert.equal(validName('path', '/srv/app'), '/srv/app');
  for (const bad of ['srv', '/srv/../etc', '/srv/a\nb']) assert.throws(() => validName('path', bad), UsageError, bad);
  assert.equal(validName('http path', '/readyz?full=1'), '/readyz?full=1');
  for (const bad of ['readyz', '/a b', '/x`id`', '/x"']) assert.throws(() => validName('http path', bad), UsageError, bad);
  assert.equal(fileSafe('platform-api:dev'), 'platform-api.dev');
});

describe('quoting through a real host over ssh', { skip: realHostsSkipReason(), timeout: 180_000 }, () => {
  let fleet: TestFleet | undefined;
  let ssh: SshTransport;
  before(async () => {
    fleet = await TestFleet.up({ count: 1 });
    ssh = new SshTransport('host1', fleet.hosts[0]!.alias, { configFile: fleet.sshConfigPath, connectTimeoutS: 5 });
  });
  after(async () => {
    await fleet?.down();
  });

  test('as an ssh command line: hostile strings arrive as literal data', async () => {
    await fc.assert(
      fc.asyncProperty(hostileString, async (s) => {
        const r = await ssh.command(sh`printf %s ${s}`, { timeoutMs: 20_000 });
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, s);
      }),
      { numRuns: 40 },
    );
  });

  test('as a script on stdin: hostile strings arrive as literal data', async () => {
    const samples = fc.sample(hostileString, 60);
    const script = samples.map((s, i) => sh`printf '@@%s:%s\\0' ${i} ${s}`.text).join('\n');
    const r = await ssh.script(script, { timeoutMs: 20_000 });
    assert.equal(r.code, 0, r.stderr);
    const got = r.stdout
      .split('\0')
      .slice(0, -1)
      .map((rec) => rec.replace(/^@@\d+:/, ''));
    assert.deepEqual(got, samples);
  });
});

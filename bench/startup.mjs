#!/usr/bin/env node
/**
 * Benchmark (not a test): the CLI's start-up, this tree against another revision, in one run.
 *
 *   npm run build && node bench/startup.mjs [--against REV] [--reps 21]
 *
 * Builds REV (default: the first parent of HEAD) into a temporary directory (git archive, this
 * tree's node_modules linked, tsc), then times, alternating so that a change in the machine's
 * load falls on both, each of:
 *   - `manage-apps --version` (node, the launcher and the command table: nothing else loads);
 *   - `manage-apps status --root examples/fleet --json`: the status path as a user starts it,
 *     on the example fleet: its ssh hosts have names that do not resolve (ssh fails at once) and
 *     `laptop` is this machine (a local status script), so it measures the CLI's own cost, not a
 *     network;
 * against the floor `node -e 0`. Prints medians and the ratios (this tree / REV, each / floor).
 * Timings never fail the process; it exits 2 when REV does not build.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const repo = fileURLToPath(new URL('..', import.meta.url));
const { values: args } = parseArgs({ options: { against: { type: 'string', default: 'HEAD~1' }, reps: { type: 'string', default: '21' } } });
const REPS = Number(args.reps);
const now = () => Number(process.hrtime.bigint()) / 1e6;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const rev = execFileSync('git', ['-C', repo, 'rev-parse', '--short', args.against], { encoding: 'utf8' }).trim();
const head = execFileSync('git', ['-C', repo, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
const tmp = mkdtempSync(join(os.tmpdir(), 'manage-apps-bench-startup-'));
try {
  execFileSync('sh', ['-c', `git -C "$1" archive "$2" | tar -x -C "$3"`, 'sh', repo, rev, tmp]);
  symlinkSync(join(repo, 'node_modules'), join(tmp, 'node_modules'));
  const built = spawnSync('sh', ['-c', 'node node_modules/typescript/bin/tsc -p tsconfig.json && node scripts/compile-schemas.mjs'], {
    cwd: tmp,
    encoding: 'utf8',
  });
  if (built.status !== 0) {
    console.error(`bench/startup: ${rev} does not build:\n${built.stdout}${built.stderr}`);
    process.exit(2);
  }
  const example = join(repo, 'examples', 'fleet');
  const cases = [
    ['--version', ['--version']],
    ['status --root examples/fleet --json', ['status', '--root', example, '--json']],
  ];
  const bins = { this: join(repo, 'bin', 'manage-apps.js'), before: join(tmp, 'bin', 'manage-apps.js') };
  const time = (argv) => {
    const t0 = now();
    const r = spawnSync(process.execPath, argv, { encoding: 'utf8', env: { ...process.env, MANAGE_APPS_CACHE: '0' } });
    const ms = now() - t0;
    // status exits 1 here (hosts unreachable): anything but a usage error or a crash counts.
    if (r.status === null || r.status > 1) throw new Error(`node ${argv.join(' ')} exited ${r.status}: ${r.stderr.slice(0, 400)}`);
    return ms;
  };
  const floor = [];
  const rows = [];
  for (const [label, argv] of cases) {
    const t = { this: [], before: [] };
    for (let i = 0; i < REPS + 1; i++) {
      const a = time([bins.before, ...argv]);
      const b = time([bins.this, ...argv]);
      const f = time(['-e', '0']);
      // The first round warms the file cache: not counted.
      if (i === 0) continue;
      t.before.push(a);
      t.this.push(b);
      floor.push(f);
    }
    rows.push([label, median(t.before), median(t.this)]);
  }
  const fl = median(floor);
  console.log(`manage-apps start-up: ${head} (this tree) against ${rev}; node ${process.version}, ${os.cpus().length} CPUs; medians of ${REPS}`);
  console.log(`floor: node -e 0  ${fl.toFixed(0)} ms`);
  for (const [label, before, after] of rows)
    console.log(
      `${label.padEnd(38)} ${rev}: ${before.toFixed(0)} ms (${(before / fl).toFixed(2)}× floor)   this: ${after.toFixed(0)} ms (${(after / fl).toFixed(2)}× floor)   this/${rev}: ${(after / before).toFixed(2)}`,
    );
  console.log(
    `load average after: ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

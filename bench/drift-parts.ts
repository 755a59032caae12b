/**
 * Benchmark (not a test): where `drift`'s own time goes, without any host. The fleet of
 * bench/drift.ts (hosts × services, written into a temporary directory), then, in one process
 * each run: importing the drift use case, loading the fleet (`prepare`: parse, schema, rules),
 * building the declared state of every host (`declare`) and each host's script (`driftScript`),
 * all from dist/ as the CLI runs them. Each run is a fresh node process: the imports are cold as
 * in the CLI.
 *
 *   npm run build && npx tsc -p tsconfig.test.json && node .build-test/bench/drift-parts.js [--hosts 10] [--services 5] [--reps 5]
 *
 * Prints the median of each part and node's own start (`node -e 0`), and one JSON line.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { packageRoot } from '../src/package-root.js';
import { fmt, median, run, runMain } from './lib/measure.js';

const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '10' },
    services: { type: 'string', default: '5' },
    reps: { type: 'string', default: '5' },
    child: { type: 'string' },
  },
});

/** One run, in this process: the parts' durations (ms) as JSON on stdout. */
async function child(root: string): Promise<number> {
  // The CLI's own build (dist/, with its precompiled schema validators), as bin/manage-apps.js runs it.
  const dist = (path: string) => import(pathToFileURL(join(packageRoot(), 'dist', path)).href);
  const t0 = performance.now();
  const { prepare } = (await dist('app/prepare.js')) as typeof import('../src/app/prepare.js');
  const { resolveSettings } = (await dist('ops/settings.js')) as typeof import('../src/ops/settings.js');
  const { declare } = (await dist('drift/declared.js')) as typeof import('../src/drift/declared.js');
  const { driftScript } = (await dist('drift/host-script.js')) as typeof import('../src/drift/host-script.js');
  await dist('app/drift.js');
  const t1 = performance.now();
  const { loaded, selection } = await prepare({ root }, { targets: [] }, resolveSettings({}));
  const t2 = performance.now();
  const declared = declare(
    loaded.fleet,
    selection.services,
    loaded.fleet.hosts.map((h) => h.name),
  );
  const t3 = performance.now();
  for (const h of declared.hosts) driftScript({ declared: h, released: [], composed: [] });
  const t4 = performance.now();
  console.log(JSON.stringify({ imports: t1 - t0, load: t2 - t1, declare: t3 - t2, scripts: t4 - t3 }));
  return 0;
}

async function main(): Promise<number> {
  if (values.child !== undefined) return child(values.child);
  const hosts = Number(values.hosts);
  const services = Number(values.services);
  const reps = Number(values.reps);
  const root = mkdtempSync(join(tmpdir(), 'manage-apps-bench-drift-parts-'));
  try {
    writeFileSync(
      join(root, 'mesh-hosts.json'),
      JSON.stringify({
        version: 1,
        hosts: Object.fromEntries(
          Array.from({ length: hosts }, (_, i) => [
            `h${i + 1}`,
            { alias: `h${i + 1}`, address: `10.0.0.${i + 1}`, provider: 'bare-metal', role: 'production' },
          ]),
        ),
      }),
    );
    for (let i = 1; i <= hosts; i++)
      for (let j = 1; j <= services; j++) {
        const project = `h${i}-app${j}`;
        mkdirSync(join(root, project, 'app'), { recursive: true });
        writeFileSync(join(root, project, 'app', 'tiny-http.mjs'), '');
        writeFileSync(
          join(root, project, '.infra.yaml'),
          `apiVersion: infra/v2\nproject: ${project}\nprovider: bare-metal\nservice:\n  host: h${i}\n  port: ${9000 + j}\n  command: node tiny-http.mjs\n  artifact: app\n  health: { timeout: 30s }\n`,
        );
      }
    const parts: Record<string, number[]> = { imports: [], load: [], declare: [], scripts: [], node: [] };
    for (let r = 0; r < reps; r++) {
      const out = await run(process.execPath, [process.argv[1]!, '--child', root]);
      if (out.status !== 0) throw new Error(`a run failed: ${out.stderr}`);
      const got = JSON.parse(out.stdout) as Record<string, number>;
      for (const [k, v] of Object.entries(got)) parts[k]!.push(v);
      parts['node']!.push((await run(process.execPath, ['-e', '0'])).ms);
    }
    const m = Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, median(v)])) as Record<string, number>;
    console.log(
      [
        `drift's own work, ${hosts} hosts × ${services} services, median of ${reps} fresh processes`,
        `  node -e 0 ${fmt(m['node']!)}   imports ${fmt(m['imports']!)}   loading the fleet ${fmt(m['load']!)}   declare ${fmt(m['declare']!)}   host scripts ${fmt(m['scripts']!)}`,
      ].join('\n'),
    );
    console.log(JSON.stringify({ hosts, services, reps, medians_ms: m }));
    return 0;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

runMain(main);

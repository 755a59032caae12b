#!/usr/bin/env node
// Bundles the compiled CLI (dist/main.js and everything it imports, dynamic imports included) into
// a few files under dist/bundle/ with esbuild, after tsc (npm run build). Node then reads, resolves
// and links about fifty files for a command instead of some hundred and fifty: each command still
// loads only its own code (a dynamic import becomes a chunk of its own). npm packages stay outside
// (imported from node_modules as before). bin/manage-apps.js runs the bundle when it is at least
// as new as dist/main.js, else dist/ itself: a bare `tsc` never leaves the CLI on stale code.
//
// dist/bundle sits one directory below dist/ like every compiled module, so paths a module
// makes from its own URL (dist/schemas/*.validate.cjs, see src/source/schema-check.ts) hold.
import { rmSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const outdir = join(root, 'dist', 'bundle');
rmSync(outdir, { recursive: true, force: true });
// A checkout whose node_modules predates esbuild (installed before it was a devDependency) still
// builds: without a bundle the launcher runs dist/. test/package/launcher.test.ts fails when the
// bundle is missing, so a test run (CI: npm ci installs esbuild) never passes without it.
let esbuild;
try {
  esbuild = await import('esbuild');
} catch (error) {
  if (error?.code !== 'ERR_MODULE_NOT_FOUND') throw error;
  console.error('scripts/bundle.mjs: esbuild is not installed (npm install): no dist/bundle, the CLI runs dist/ as it is');
  process.exit(0);
}
await esbuild.build({
  entryPoints: [join(root, 'dist', 'main.js')],
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // npm packages are bundled too (node resolves and reads one chunk instead of some fifty files
  // of commander, diff, fdir, picomatch, p-limit): all but ajv, which the precompiled schema
  // validators (dist/schemas/*.validate.cjs) require at run time, and elkjs (the graph layout:
  // large, and loaded only by the commands that draw).
  external: ['ajv', 'ajv/*', 'elkjs', 'elkjs/*'],
  // The CommonJS packages among them require node's own modules: give the chunks a require.
  banner: { js: "import { createRequire as __bundleRequire } from 'node:module'; const require = __bundleRequire(import.meta.url);" },
  // Maps back through dist/'s own maps to src/ (not shipped: package.json leaves out dist/**/*.map).
  sourcemap: 'linked',
  logLevel: 'warning',
});

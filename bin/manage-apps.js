#!/usr/bin/env node
// Thin launcher: all logic lives in the compiled CLI. It runs the bundle of dist/
// (scripts/bundle.mjs: fewer files for node to load) when the bundle is at least as new as
// dist/main.js, else dist/ itself (a bare `tsc` since: never stale code). Before importing either,
// it hands a read-only command to the background process when one of this build runs
// (`manage-apps daemon start`, src/daemon/client.ts): with none, that costs a stat.
import { pathToFileURL } from 'node:url';
import { cliEntry } from '../dist/daemon/place.js';
import { runThroughDaemon } from '../dist/daemon/client.js';

const argv = process.argv.slice(2);
const entry = cliEntry();
const served = await runThroughDaemon(argv, entry);
if (served !== undefined) process.exitCode = served;
else {
  const { main } = await import(pathToFileURL(entry).href);
  process.exitCode = await main(argv);
}

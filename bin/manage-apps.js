#!/usr/bin/env node
// Thin launcher: all logic lives in the compiled CLI so start-up stays one import away. It runs
// the bundle of dist/ (scripts/bundle.mjs: fewer files for node to load) when the bundle is at
// least as new as dist/main.js, else dist/ itself (a bare `tsc` since: never stale code).
import { statSync } from 'node:fs';

const mtime = (name) => statSync(new URL(name, import.meta.url), { throwIfNoEntry: false })?.mtimeMs ?? -1;
const bundled = mtime('../dist/bundle/main.js') >= mtime('../dist/main.js');
const { main } = await import(bundled ? '../dist/bundle/main.js' : '../dist/main.js');

process.exitCode = await main(process.argv.slice(2));

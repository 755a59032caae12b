#!/usr/bin/env node
// Thin launcher: all logic lives in the compiled CLI so start-up stays one import away.
import { main } from '../dist/main.js';

process.exitCode = await main(process.argv.slice(2));

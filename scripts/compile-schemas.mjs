#!/usr/bin/env node
// Precompiles schemas/*.schema.json into dist/schemas/<name>.validate.cjs (ajv standalone code, the same options as
// src/source/schema-check.ts) so the CLI does not compile them on every run. Run after tsc (npm run build).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const require = createRequire(join(root, 'package.json'));
const Ajv2020 = require('ajv/dist/2020').default;
const standaloneCode = require('ajv/dist/standalone').default;
mkdirSync(join(root, 'dist', 'schemas'), { recursive: true });
for (const name of ['infra-v1', 'infra-v2', 'mesh-hosts', 'tenants']) {
  const ajv = new Ajv2020({ allErrors: true, verbose: true, strict: false, useDefaults: false, code: { source: true } });
  const validate = ajv.compile(JSON.parse(readFileSync(join(root, 'schemas', `${name}.schema.json`), 'utf8')));
  writeFileSync(join(root, 'dist', 'schemas', `${name}.validate.cjs`), standaloneCode(ajv, validate));
}

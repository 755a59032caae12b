#!/usr/bin/env node
// Before `npm pack` builds dist/ again (prepare): no compiled file of a source that was renamed or
// removed since the last build may ship in the tarball.
import { rmSync } from 'node:fs';

rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });

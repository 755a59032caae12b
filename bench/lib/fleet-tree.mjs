/**
 * Deterministic generator of a realistic project tree for benchmarks:
 * nested org/team/project directories with source files, node_modules, .git
 * and dist folders (which discovery skips), .infra.yaml / .infra.dev.yaml
 * manifests (infra/v2 and infra/v1) and a mesh-hosts.json that together form a
 * fleet `loadFleet` accepts without a single problem.
 *
 * Same options → byte-identical tree (a seeded PRNG, no clock, no randomness).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** mulberry32: tiny, fast, good enough to vary a tree. */
export function prng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: (list) => list[Math.floor(next() * list.length)],
    chance: (p) => next() < p,
  };
}

const WORDS = [
  'billing',
  'search',
  'auth',
  'mail',
  'ledger',
  'catalog',
  'media',
  'notify',
  'report',
  'gateway',
  'profile',
  'orders',
  'inventory',
  'pricing',
  'chat',
  'feed',
  'upload',
  'geo',
  'metrics',
  'scheduler',
];
const SUFFIXES = ['api', 'web', 'worker', 'sync', 'svc', 'jobs', 'cron', 'hub'];
const SRC_DIRS = ['lib', 'routes', 'models', 'utils', 'handlers', 'services', 'db', 'config'];
const NPM_PACKAGES = [
  'lodash',
  'express',
  'debug',
  'ms',
  'chalk',
  'semver',
  'yaml',
  'zod',
  'pino',
  'undici',
  'commander',
  'dotenv',
  'uuid',
  'ws',
  'qs',
  'mime',
];
const ENGINES = ['postgres', 'postgres', 'postgres', 'timescaledb', 'mysql', 'redis'];
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

export const DEFAULTS = {
  seed: 20240611,
  /** Total regular files in the tree, manifests and inventory included. */
  files: 100_000,
  /** .infra*.yaml files: producer roots + prod manifests + dev variants. */
  manifests: 1_000,
  /** Manifests that are .infra.dev.yaml variants of a prod manifest beside them. */
  devVariants: 300,
  /** Producer roots (org-level .infra.yaml with droplets, no service). */
  producers: 10,
  hosts: 50,
  clusters: 50,
  orgs: 10,
  teamsPerOrg: 7,
};

/**
 * Plans the tree in memory: returns { files: Map<relPath, content>, stats }.
 * Nothing touches the disk here, so the plan itself is testable and cheap.
 */
export function planTree(options = {}) {
  const o = { ...DEFAULTS, ...options };
  const r = prng(o.seed);
  const files = new Map();
  const add = (path, content) => files.set(path, content);

  // ---- inventory ---------------------------------------------------------------------------------------------
  // Host 0: this machine (local, workstation). 1-5: dev boxes (bare-metal). 6-9: macs.
  // 10..: production bare-metal / digitalocean / vps in turn.
  const hosts = [];
  for (let i = 0; i < o.hosts; i++) {
    let h;
    if (i === 0) h = { name: 'laptop', provider: 'local', role: 'workstation', local: true };
    else if (i <= 5) h = { name: `dev-${pad(i, 2)}`, provider: 'bare-metal', role: 'dev' };
    else if (i <= 9) h = { name: `mac-${pad(i, 2)}`, provider: 'mac', role: 'production' };
    else h = { name: `${['bm', 'do', 'vps'][i % 3]}-${pad(i, 2)}`, provider: ['bare-metal', 'digitalocean', 'vps'][i % 3], role: 'production' };
    h.index = i;
    h.nextPort = i === 0 ? 4000 : 3000;
    h.projects = [];
    hosts.push(h);
  }
  const prodHosts = hosts.filter((h) => h.role === 'production');
  const devHosts = hosts.filter((h) => h.role === 'dev');
  const laptop = hosts[0];
  // One production host is frozen: it carries exactly what it already runs (filled in below).
  const frozen = prodHosts[prodHosts.length - 1];

  const clusters = [];
  const serverHosts = prodHosts.filter((h) => h.provider !== 'mac');
  for (let i = 0; i < o.clusters; i++) {
    const onDev = i % 10 === 9;
    const host = onDev ? devHosts[i % devHosts.length] : serverHosts[i % serverHosts.length];
    const engine = ENGINES[i % ENGINES.length];
    clusters.push({
      name: `${engine === 'timescaledb' ? 'ts' : engine === 'redis' ? 'cache' : engine === 'mysql' ? 'my' : 'pg'}-${pad(i, 2)}`,
      host: host.name,
      port: 25000 + i,
      engine,
      dev: onDev,
    });
  }
  const prodClusters = clusters.filter((c) => !c.dev && c.engine !== 'redis');
  const devClusters = clusters.filter((c) => c.dev);

  // ---- projects ----------------------------------------------------------------------------------------------
  const prodCount = o.manifests - o.devVariants - o.producers;
  const projects = [];
  for (let i = 0; i < prodCount; i++) {
    const org = i % o.orgs;
    const team = Math.floor(i / o.orgs) % o.teamsPerOrg;
    const name = `${WORDS[i % WORDS.length]}-${SUFFIXES[Math.floor(i / WORDS.length) % SUFFIXES.length]}-${pad(i, 3)}`;
    // One project in six lives in a monorepo: org/team/mono-N/apps/<name>.
    const mono = i % 6 === 5 ? `mono-${pad(Math.floor(i / 60), 2)}/apps/` : '';
    projects.push({ index: i, name, org, team, dir: `org-${pad(org, 2)}/team-${team}/${mono}${name}` });
  }

  const manifestFiles = [];
  for (const p of projects) {
    const v1 = r.chance(0.25);
    // v1 knows no vps provider.
    const candidates = v1 ? prodHosts.filter((h) => h.provider !== 'vps' && h !== frozen) : prodHosts.filter((h) => h !== frozen);
    const host = p.index % 97 === 3 ? frozen : r.pick(candidates);
    host.projects.push(p.name);
    const kind = v1 ? 'app' : r.chance(0.15) ? 'worker' : 'app';
    const port = kind === 'worker' ? undefined : host.nextPort++;
    const deps = [];
    if (p.index > 0)
      for (let k = r.int(0, 3); k > 0; k--) {
        const dep = projects[r.int(Math.max(0, p.index - 200), p.index - 1)].name;
        if (!deps.includes(dep)) deps.push(dep);
      }
    const database = r.chance(0.4) ? { cluster: r.pick(prodClusters).name, name: snake(p.name), user: snake(p.name) } : undefined;
    const m = { project: p.name, provider: host.provider, host: host.name, port, kind, deps, database, owner: `team-${p.team}` };
    p.prod = m;
    const text = v1 ? manifestV1(m, 'prod', host.provider !== 'mac') : manifestV2(m, 'prod', r, host);
    manifestFiles.push([`${p.dir}/.infra.yaml`, text]);
  }
  // Dev variants: half on this machine (PID mode), half on dev boxes (systemd).
  for (let k = 0; k < o.devVariants; k++) {
    const p = projects[Math.floor((k * projects.length) / o.devVariants)];
    const onLaptop = k % 2 === 0;
    const host = onLaptop ? laptop : devHosts[k % devHosts.length];
    const v1 = r.chance(0.2);
    const m = {
      project: p.name,
      provider: host.provider,
      host: host.name,
      port: host.nextPort++,
      kind: 'app',
      deps: p.prod.deps,
      database:
        p.prod.database && devClusters.length > 0
          ? { cluster: devClusters[k % devClusters.length].name, name: `${snake(p.name)}_dev`, user: `${snake(p.name)}_dev` }
          : undefined,
      owner: p.prod.owner,
    };
    const text = v1 ? manifestV1(m, 'dev', !onLaptop) : manifestV2(m, 'dev', r, host);
    manifestFiles.push([`${p.dir}/.infra.dev.yaml`, text]);
  }
  // Producer roots: droplets declared once, registered hosts that exist.
  const doHosts = prodHosts.filter((h) => h.provider === 'digitalocean');
  for (let k = 0; k < o.producers; k++) {
    const h = doHosts[k % doHosts.length];
    manifestFiles.push([`org-${pad(k % o.orgs, 2)}/${k >= o.orgs ? `producer-${k}/` : ''}.infra.yaml`, producerManifest(k, h)]);
  }
  for (const [path, text] of manifestFiles) add(path, text);

  frozen.frozenCarries = [...frozen.projects];
  add('mesh-hosts.json', `${JSON.stringify(inventory(hosts, clusters, r), null, 2)}\n`);

  // ---- everything else: sources, tests, docs, .git, node_modules, dist ---------------------------------------
  const bulk = [];
  const monoRoots = new Set();
  for (const p of projects) {
    bulk.push(...projectFiles(p.dir, p.name, r));
    const mono = /^(.*\/mono-\d+)\/apps\//.exec(p.dir);
    if (mono && !monoRoots.has(mono[1])) {
      monoRoots.add(mono[1]);
      bulk.push(...nodeModules(`${mono[1]}/node_modules`, r, 12));
      bulk.push(...gitDir(`${mono[1]}/.git`, r, 40));
      bulk.push([`${mono[1]}/package.json`, '{ "private": true, "workspaces": ["apps/*"] }\n']);
    }
  }
  for (let k = 0; k < o.orgs; k++) bulk.push(...docsDir(`org-${pad(k, 2)}/handbook`, r));

  // Exactly o.files files: trim the bulk from the end, or top up with source files round-robin.
  const room = o.files - files.size;
  if (room < 0) throw new Error(`planTree: ${files.size} manifests/inventory exceed files=${o.files}`);
  if (bulk.length > room) bulk.length = room;
  for (const [path, text] of bulk) add(path, text);
  for (let k = 0; files.size < o.files; k++) {
    const p = projects[k % projects.length];
    add(`${p.dir}/src/extra/gen-${pad(k, 5)}.ts`, `export const n${k} = ${k};\n`);
  }

  const stats = {
    files: files.size,
    manifests: manifestFiles.length,
    devVariants: o.devVariants,
    producers: o.producers,
    v1: manifestFiles.filter(([, t]) => t.includes('apiVersion: infra/v1')).length,
    hosts: hosts.length,
    clusters: clusters.length,
    inSkippedDirs: [...files.keys()].filter((f) => /(^|\/)(node_modules|\.git|dist)\//.test(f)).length,
  };
  return { files, stats };
}

/** Writes a planned tree under `root` (which must exist and be empty). Returns the number of directories made. */
export function writeTree(root, files) {
  const made = new Set();
  for (const [rel, content] of files) {
    const dir = dirname(rel);
    if (dir !== '.' && !made.has(dir)) {
      mkdirSync(join(root, dir), { recursive: true });
      for (let d = dir; d !== '.' && !made.has(d); d = dirname(d)) made.add(d);
    }
    writeFileSync(join(root, rel), content);
  }
  return made.size;
}

// ---- manifests -----------------------------------------------------------------------------------------------

function manifestV2(m, env, r, host) {
  const lines = ['# yaml-language-server: $schema=../../../schemas/infra-v2.schema.json', 'apiVersion: infra/v2', `project: ${m.project}`];
  if (env !== 'prod') lines.push(`environment: ${env}`);
  lines.push(`provider: ${m.provider}`, `owner: ${m.owner}`);
  if (m.database) {
    lines.push('database:', `  cluster: ${m.database.cluster}`, `  name: ${m.database.name}`, `  user: ${m.database.user}`);
    if (env === 'prod') lines.push('  backup: { rpo: 1h, rto: 4h, method: nightly pg_dump → restic, target: backup-store }');
  }
  lines.push('service:', `  host: ${m.host}`);
  if (m.port !== undefined) lines.push(`  port: ${m.port}`);
  if (m.kind !== 'app') lines.push(`  kind: ${m.kind}`);
  lines.push(
    `  command: ${m.kind === 'worker' ? 'node dist/worker.js' : r.pick(['node dist/server.js', 'python -m app.serve', './bin/server --listen', 'bun run start'])}`,
  );
  if (m.kind === 'app') lines.push(`  health: { readiness: /readyz, liveness: /livez, timeout: ${r.pick(['30s', '60s', '2m', 45])} }`);
  if (m.kind === 'app' && env === 'prod' && r.chance(0.5)) lines.push(`  domains: [${m.project}.example.com, www.${m.project}.example.org]`);
  lines.push(`  env_file: /etc/${m.project}/${env}.env`);
  if (r.chance(0.5)) lines.push(`  user: ${snake(m.project).slice(0, 30)}`);
  if (r.chance(0.3)) lines.push(`  directory: /srv/${m.project}${env === 'prod' ? '' : `-${env}`}`);
  if (r.chance(0.3)) lines.push('  artifact: dist', `  keep_releases: ${r.int(2, 10)}`);
  if (host.role === 'production' && r.chance(0.1)) {
    lines.push(
      '  stateful: true',
      '  backup:',
      '    rpo: 15m',
      '    rto: 1h',
      '    method: hourly rsync of the data directory',
      '    target: backup-store',
      '    drill: 2024-05-01',
    );
  }
  if (env === 'prod' && host.provider === 'bare-metal' && r.chance(0.03)) lines.push('  gpu: { mode: on-demand }');
  if (m.deps.length > 0) lines.push(`  depends_on: [${m.deps.join(', ')}]`);
  return `${lines.join('\n')}\n`;
}

function manifestV1(m, env, systemd) {
  const lines = [
    '# yaml-language-server: $schema=../../../schemas/infra-v1.schema.json',
    '# an infra/v1 manifest, deployed by its own script',
    'apiVersion: infra/v1',
    `project: ${m.project}`,
  ];
  if (env !== 'prod') lines.push(`environment: ${env}`);
  lines.push(`provider: ${m.provider}`);
  if (m.database) lines.push('database:', `  cluster: ${m.database.cluster}`, `  name: ${m.database.name}`, `  user: ${m.database.user}`);
  lines.push('service:', `  host: ${m.host}`, '  runtime: node20');
  if (m.port !== undefined) lines.push(`  port: ${m.port}`);
  if (systemd) lines.push(`  systemd_unit: ${m.project}${env === 'prod' ? '' : `-${env}`}.service`);
  lines.push('  deploy: scripts/deploy.sh');
  if (m.deps.length > 0) {
    lines.push('  depends_on:');
    for (const d of m.deps) lines.push(`    - ${d}`);
  }
  return `${lines.join('\n')}\n`;
}

function producerManifest(k, host) {
  return [
    '# yaml-language-server: $schema=../schemas/infra-v2.schema.json',
    '# Producer root: shared droplets declared once.',
    'apiVersion: infra/v2',
    `project: org-${pad(k, 2)}-infra`,
    'provider: digitalocean',
    'owner: ops',
    'droplets:',
    `  - name: com.example.ct.forge-${k}`,
    '    role: forge',
    '    region: nyc3',
    '    size: s-1vcpu-2gb',
    `    hosts: [${host.name}]`,
    '    services:',
    `      - { name: forge-${k}, kind: forgejo, producer: ct, port: 3000, domain: forge-${k}.example.com }`,
    `  - name: com.example.dns-${k}`,
    '    role: dns',
    '    services:',
    '      - { name: dns, kind: dns, port: 53 }',
    'runner_pool:',
    `  name: org-${pad(k, 2)}-runners`,
    '  region: nyc3',
    '',
  ].join('\n');
}

function inventory(hosts, clusters, r) {
  const inv = {
    $schema: '../schemas/mesh-hosts.schema.json',
    version: 1,
    mesh: { cidr: '10.9.0.0/24', hub: hosts[10].name, topology: 'hub-and-spoke', listen_port: 51820 },
    conventions: { droplet_naming: { prefix: 'com.example', producers: ['ct', 'mc'] }, default_region: 'nyc3' },
    hosts: {},
    clusters: {},
    tunnels: [],
  };
  for (const h of hosts) {
    const entry = { provider: h.provider, role: h.role };
    if (h.local) {
      entry.local = true;
      entry.description = 'this machine: dev variants run here in PID mode';
    } else {
      entry.address = `10.0.${Math.floor(h.index / 200)}.${(h.index % 200) + 10}`;
      entry.user = h.provider === 'mac' ? 'admin' : 'ops';
      entry.mesh_ip = `10.9.0.${h.index + 1}`;
      entry.description = `${h.role} ${h.provider} host ${h.index}`;
      entry.wireguard = { public_key: wgKey(r), ...(h.provider === 'bare-metal' ? { behind_nat: true } : { endpoint: `${entry.address}:51820` }) };
    }
    if (h.frozenCarries) entry.frozen = { since: '2024-01-01', reason: 'draining to newer hardware', carries: h.frozenCarries };
    inv.hosts[h.name] = entry;
  }
  for (const c of clusters) {
    inv.clusters[c.name] = {
      host: c.host,
      port: c.port,
      engine: c.engine,
      ...(c.engine === 'redis' ? { role: 'cache' } : {}),
      backup:
        c.engine === 'redis'
          ? { rpo: 'n/a', rto: '15m', method: 'none: cache' }
          : { rpo: '1h', rto: '1h', method: 'nightly logical dumps → restic', target: 'backup-store' },
    };
  }
  for (let k = 0; k < 5; k++) {
    const c = clusters[k * 3];
    const from = hosts.find((h) => h.index >= 12 + k && h.name !== c.host);
    inv.tunnels.push({
      name: `db-tunnel-${k}`,
      from: from.name,
      to: c.host,
      direction: 'forward',
      ports: [c.port],
      carries: c.name,
      critical: k === 0,
      owner: 'ops',
    });
  }
  return inv;
}

function wgKey(r) {
  let s = '';
  for (let i = 0; i < 42; i++) s += B64[r.int(0, 63)];
  return `${s}${'AEIMQUYcgkosw048'[r.int(0, 15)]}=`;
}

// ---- bulk files ----------------------------------------------------------------------------------------------

function projectFiles(dir, name, r) {
  const out = [
    [`${dir}/package.json`, `{ "name": "${name}", "version": "1.${r.int(0, 40)}.0", "type": "module" }\n`],
    [`${dir}/README.md`, `# ${name}\n`],
    [`${dir}/tsconfig.json`, '{ "extends": "../../tsconfig.base.json" }\n'],
    [`${dir}/.gitignore`, 'node_modules\ndist\n'],
  ];
  const srcDirs = r.int(3, 6);
  for (let d = 0; d < srcDirs; d++) {
    const sub = SRC_DIRS[(d + r.int(0, 7)) % SRC_DIRS.length];
    const nested = r.chance(0.3) ? `/${sub}-${d}` : '';
    for (let f = r.int(3, 8); f > 0; f--) out.push([`${dir}/src/${sub}${nested}/file-${d}-${f}.ts`, `export const v = ${f};\n`]);
  }
  out.push([`${dir}/src/index.ts`, 'export {};\n']);
  for (let f = r.int(4, 10); f > 0; f--) out.push([`${dir}/test/case-${f}.test.ts`, `// test ${f}\n`]);
  for (let f = r.int(0, 3); f > 0; f--) out.push([`${dir}/docs/note-${f}.md`, `note ${f}\n`]);
  out.push(...gitDir(`${dir}/.git`, r, r.int(10, 24)));
  out.push(...nodeModules(`${dir}/node_modules`, r, r.int(6, 10)));
  for (let f = r.int(5, 10); f > 0; f--) out.push([`${dir}/dist/out-${f}.js`, `export const o = ${f};\n`]);
  return out;
}

function gitDir(dir, r, objects) {
  const out = [
    [`${dir}/HEAD`, 'ref: refs/heads/main\n'],
    [`${dir}/config`, '[core]\n\tbare = false\n'],
    [`${dir}/description`, 'repo\n'],
    [`${dir}/index`, 'DIRC'],
    [`${dir}/refs/heads/main`, `${hex(r, 40)}\n`],
    [`${dir}/hooks/pre-commit.sample`, '#!/bin/sh\n'],
    [`${dir}/info/exclude`, '# exclude\n'],
  ];
  for (let k = 0; k < objects; k++) out.push([`${dir}/objects/${hex(r, 2)}/${hex(r, 38)}`, 'x']);
  return out;
}

function nodeModules(dir, r, packages) {
  const out = [
    [`${dir}/.package-lock.json`, '{}\n'],
    [`${dir}/.bin/tsc`, '#!/bin/sh\n'],
  ];
  const start = r.int(0, NPM_PACKAGES.length - 1);
  for (let k = 0; k < packages; k++) {
    const pkg = `${dir}/${NPM_PACKAGES[(start + k) % NPM_PACKAGES.length]}`;
    out.push([`${pkg}/package.json`, '{ "version": "1.0.0" }\n'], [`${pkg}/index.js`, 'module.exports = {};\n'], [`${pkg}/README.md`, 'readme\n']);
    for (let f = r.int(3, 7); f > 0; f--) out.push([`${pkg}/lib/part-${f}.js`, `exports.p = ${f};\n`]);
    if (r.chance(0.2)) out.push([`${pkg}/node_modules/inner/index.js`, '1;\n'], [`${pkg}/node_modules/inner/package.json`, '{}\n']);
  }
  return out;
}

function docsDir(dir, r) {
  const out = [];
  for (let f = r.int(20, 40); f > 0; f--) out.push([`${dir}/section-${f % 5}/page-${f}.md`, `page ${f}\n`]);
  return out;
}

function hex(r, n) {
  let s = '';
  for (let i = 0; i < n; i++) s += '0123456789abcdef'[r.int(0, 15)];
  return s;
}

function pad(n, width) {
  return String(n).padStart(width, '0');
}

function snake(name) {
  return name.replace(/-/g, '_');
}

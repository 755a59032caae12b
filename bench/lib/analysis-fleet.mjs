/**
 * The generated fleet of the analysis and dashboard benchmarks: real files (one .infra.yaml per
 * service + mesh-hosts.json) in `dir`. Returns the workstation and mesh host names.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * 85% of hosts on the mesh; the rest reach the fleet only over tunnels, most of them through a
 * workstation (chains like host → workstation → mesh host), some directly. Workstation and
 * dev hosts run dev variants only. Services depend on 0-3 earlier services (acyclic); 40% own a
 * database on a shared cluster; 10% are stateful with a backup policy.
 */
export function generateFleet(dir, rnd, { hosts: HOSTS, services: SERVICES, clusters: CLUSTERS }) {
  const pad = (n, w) => String(n).padStart(w, '0');
  const hosts = [];
  for (let i = 0; i < HOSTS; i++) {
    const name = `h${pad(i, 3)}`;
    const role = i % 50 === 7 ? 'workstation' : i % 40 === 13 ? 'dev' : 'production';
    const onMesh = role === 'production' && i % 7 !== 3;
    hosts.push({ name, role, onMesh });
  }
  const mesh = hosts.filter((h) => h.onMesh);
  const workstations = hosts.filter((h) => h.role === 'workstation');
  const inv = { version: 1, mesh: { cidr: '10.9.0.0/16', hub: mesh[0].name, topology: 'full-mesh' }, hosts: {}, clusters: {}, tunnels: [] };
  hosts.forEach((h, i) => {
    inv.hosts[h.name] = {
      address: `192.0.2.${(i % 250) + 1}`,
      provider: 'bare-metal',
      role: h.role,
      ...(h.onMesh ? { mesh_ip: `10.9.${Math.floor(i / 250)}.${(i % 250) + 1}` } : {}),
    };
  });
  const clusters = [];
  for (let i = 0; i < CLUSTERS; i++) {
    const host = mesh[rnd.int(0, mesh.length - 1)].name;
    const name = `pg${pad(i, 3)}`;
    clusters.push(name);
    inv.clusters[name] = {
      host,
      port: 20000 + i,
      engine: 'postgres',
      ...(i % 5 === 0 ? {} : { backup: { rpo: `${rnd.int(1, 24)}h`, rto: `${rnd.int(1, 8)}h`, method: 'nightly dump' } }),
    };
  }
  // Off-mesh production hosts: a chain through a workstation to a mesh host, or a direct tunnel.
  let t = 0;
  for (const h of hosts.filter((x) => !x.onMesh && x.role === 'production')) {
    const to = mesh[rnd.int(0, mesh.length - 1)].name;
    if (rnd.chance(0.6) && workstations.length > 0) {
      const ws = workstations[rnd.int(0, workstations.length - 1)].name;
      inv.tunnels.push({ name: `t${pad(t++, 4)}`, from: h.name, to: ws, direction: 'reverse', ports: [30000 + t], carries: 'fleet', critical: true });
      inv.tunnels.push({ name: `t${pad(t++, 4)}`, from: ws, to, direction: 'forward', ports: [30000 + t], carries: 'fleet', critical: true });
      inv.tunnels.push({ name: `t${pad(t++, 4)}`, from: to, to: ws, direction: 'forward', ports: [30000 + t], carries: 'fleet' });
      inv.tunnels.push({ name: `t${pad(t++, 4)}`, from: ws, to: h.name, direction: 'reverse', ports: [30000 + t], carries: 'fleet' });
    } else {
      inv.tunnels.push({ name: `t${pad(t++, 4)}`, from: h.name, to, direction: 'forward', ports: [30000 + t] });
      inv.tunnels.push({ name: `t${pad(t++, 4)}`, from: to, to: h.name, direction: 'reverse', ports: [30000 + t] });
    }
  }
  for (const w of workstations)
    for (const h of hosts.filter((x) => x.role === 'dev'))
      inv.tunnels.push({ name: `t${pad(t++, 4)}`, from: w.name, to: h.name, ports: [30000 + t] });
  writeFileSync(join(dir, 'mesh-hosts.json'), JSON.stringify(inv, null, 1));

  const prod = [];
  for (let i = 0; i < SERVICES; i++) {
    const h = hosts[i % HOSTS];
    const personal = h.role !== 'production';
    const project = `svc-${pad(i, 4)}`;
    const deps = new Set();
    const pool = personal ? prod : prod;
    const n = pool.length === 0 ? 0 : rnd.int(0, 3);
    for (let d = 0; d < n; d++) deps.add(pool[rnd.int(Math.max(0, pool.length - 400), pool.length - 1)]);
    const lines = [`apiVersion: infra/v2`, `project: ${project}`];
    if (personal) lines.push('environment: dev');
    lines.push('provider: bare-metal', `owner: team-${i % 17}`);
    if (!personal && rnd.chance(0.4))
      lines.push('database:', `  cluster: ${clusters[rnd.int(0, clusters.length - 1)]}`, `  name: db_${i}`, `  user: u_${i}`);
    lines.push('service:', `  host: ${h.name}`, `  port: ${10000 + i}`, '  command: bin/serve');
    if (deps.size > 0) lines.push(`  depends_on: [${[...deps].join(', ')}]`);
    if (!personal && rnd.chance(0.1)) lines.push('  stateful: true', '  backup: { rpo: 1h, rto: 2h, method: restic }');
    if (!personal && rnd.chance(0.05)) lines.push(`  domains: [${project}.example.com]`);
    const pdir = join(dir, 'projects', pad(Math.floor(i / 100), 2), project);
    mkdirSync(pdir, { recursive: true });
    writeFileSync(join(pdir, personal ? '.infra.dev.yaml' : '.infra.yaml'), `${lines.join('\n')}\n`);
    if (!personal) prod.push(project);
  }
  return { workstations: workstations.map((w) => w.name), mesh: mesh.map((m) => m.name) };
}

// Docker Engine, Compose and a registry on real test hosts (Debian's docker.io, docker-compose
// and docker-registry). Each host that asks for Docker runs its own dockerd with its own
// data-root on a tmpfs mounted inside the host, so nothing touches this machine's images; a
// registry host serves a real registry with htpasswd auth. Images are built on a test host from
// files the test writes (busybox-static serving static files), never downloaded.
import { existsSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ensureUpperDir, writeUpperFile } from './host-image.js';
import { commandInPath } from './system.js';
import type { TestFleet } from './test-fleet.js';

export const REGISTRY_PORT = 5000;
/** The test registry's only account. Its bcrypt hash below is what htpasswd holds. */
export const REGISTRY_USER = 'deploy';
export const REGISTRY_PASSWORD = 'ma-test-registry';
const REGISTRY_HTPASSWD = `${REGISTRY_USER}:$2b$10$uR9p7KIlVS2B9pttwIQlxet0i47LxayiPWO4RYaSsxr14I3Y1hVDu\n`;
export const BUSYBOX = '/bin/busybox';

/** Why Docker cannot run on test hosts here (what to install), or undefined. */
export function dockerSkipReason(): string | undefined {
  const need: [string, string][] = [
    ['dockerd', 'docker.io'],
    ['docker', 'docker.io'],
    ['containerd', 'containerd'],
    ['docker-compose', 'docker-compose'],
    ['docker-registry', 'docker-registry'],
  ];
  for (const [command, pkg] of need) if (!commandInPath(command)) return `no ${command} (apt-get install ${pkg})`;
  if (!existsSync(BUSYBOX)) return 'no static busybox (apt-get install busybox-static)';
  return undefined;
}

function unmask(upperDir: string, unit: string, enable: boolean): void {
  const unitDir = ensureUpperDir(upperDir, 'etc/systemd/system');
  rmSync(join(unitDir, unit), { force: true });
  if (!enable) return;
  const wants = ensureUpperDir(upperDir, 'etc/systemd/system/multi-user.target.wants');
  const link = join(wants, unit);
  if (!existsSync(link)) symlinkSync(`/lib/systemd/system/${unit}`, link);
}

export interface DockerHostOptions {
  /** Registries (host:port) dockerd may reach over plain HTTP. */
  insecureRegistries?: readonly string[];
  /** Also run docker-registry on this host (port 5000, htpasswd auth). */
  registry?: boolean;
  /** Write dockerd's test-host settings but leave its units masked, as on a host where nobody set Docker up: `hosts prepare` unmasks and starts them. */
  leaveMasked?: boolean;
}

/**
 * For prepareHost: dockerd (with containerd) started at boot, its data-root a tmpfs of its own
 * (overlay2 cannot sit on the host's overlay root, and nothing may land in this machine's
 * /var/lib/docker). No iptables rules, no default bridge: the host's network namespace stays as
 * the harness made it; Compose's own networks and published ports (docker-proxy) still work.
 */
export function prepareDockerHost(upperDir: string, options: DockerHostOptions = {}): void {
  writeUpperFile(
    upperDir,
    'etc/systemd/system/var-lib-docker.mount',
    [
      '[Unit]',
      'Description=Docker data-root (test host tmpfs)',
      '[Mount]',
      'What=tmpfs',
      'Where=/var/lib/docker',
      'Type=tmpfs',
      'Options=mode=0711,size=1g',
      '',
    ].join('\n'),
  );
  const flags = [
    '-H fd://',
    '--containerd=/run/containerd/containerd.sock',
    '--data-root /var/lib/docker',
    '--iptables=false',
    '--ip-masq=false',
    '--bridge=none',
    ...(options.insecureRegistries ?? []).map((r) => `--insecure-registry ${r}`),
  ];
  writeUpperFile(
    upperDir,
    'etc/systemd/system/docker.service.d/manage-apps-test.conf',
    ['[Unit]', 'RequiresMountsFor=/var/lib/docker', '[Service]', 'ExecStart=', `ExecStart=/usr/sbin/dockerd ${flags.join(' ')}`, ''].join('\n'),
  );
  if (!options.leaveMasked)
    for (const unit of ['containerd.service', 'docker.socket', 'docker.service']) unmask(upperDir, unit, unit !== 'docker.socket');
  if (options.registry) {
    writeUpperFile(upperDir, 'etc/docker/registry/htpasswd', REGISTRY_HTPASSWD);
    writeUpperFile(
      upperDir,
      'etc/docker/registry/config.yml',
      [
        'version: 0.1',
        'storage:',
        '  filesystem:',
        '    rootdirectory: /var/lib/docker-registry',
        '  delete:',
        '    enabled: true',
        'http:',
        `  addr: :${REGISTRY_PORT}`,
        'auth:',
        '  htpasswd:',
        '    realm: manage-apps-test',
        '    path: /etc/docker/registry/htpasswd',
        '',
      ].join('\n'),
    );
    unmask(upperDir, 'docker-registry.service', true);
  }
}

/** An image's build context: a Dockerfile FROM scratch with the static busybox and the given files. */
export interface ImageSpec {
  /** Files under /www (served by busybox httpd: e.g. readyz, livez, version). */
  www: Record<string, string>;
  /** The container's command (default: httpd on $PORT, in the foreground). */
  cmd?: readonly string[];
}

export function dockerfile(spec: ImageSpec): string {
  const cmd = spec.cmd ?? [BUSYBOX, 'sh', '-c', 'exec /bin/busybox httpd -f -p "${PORT:-80}" -h /www'];
  return ['FROM scratch', 'COPY busybox /bin/busybox', 'COPY www /www', 'ENV PORT=80', `CMD ${JSON.stringify(cmd)}`, ''].join('\n');
}

/** For prepareHost: writes each image's build context under /opt/images/<name> in the host. */
export function writeImageContexts(upperDir: string, images: Record<string, ImageSpec>): void {
  for (const [name, spec] of Object.entries(images)) {
    writeUpperFile(upperDir, `opt/images/${name}/Dockerfile`, dockerfile(spec));
    writeUpperFile(upperDir, `opt/images/${name}/busybox`, '', 0o755);
    ensureUpperDir(upperDir, `opt/images/${name}/www`);
    for (const [file, text] of Object.entries(spec.www)) writeUpperFile(upperDir, `opt/images/${name}/www/${file}`, text);
  }
}

async function must(fleet: TestFleet, host: string, command: string, timeoutMs = 120_000): Promise<string> {
  const r = await fleet.ssh(host, command, { timeoutMs });
  if (r.exitCode !== 0) throw new Error(`${host}: ${command}: exit ${r.exitCode}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** Waits until dockerd (and the registry, when asked) answer on the host. */
export async function waitForDocker(fleet: TestFleet, host: string, options: { registry?: boolean } = {}): Promise<void> {
  const registry = options.registry ? ` && curl -s -o /dev/null http://127.0.0.1:${REGISTRY_PORT}/v2/` : '';
  await must(fleet, host, `for i in $(seq 1 300); do docker info >/dev/null 2>&1${registry} && exit 0; sleep 0.1; done; docker info; exit 1`, 60_000);
}

/** `docker login` on the host, the password on stdin: the host keeps the credentials (~/.docker/config.json). */
export async function dockerLogin(fleet: TestFleet, host: string, registry: string): Promise<void> {
  await must(fleet, host, `printf '%s' '${REGISTRY_PASSWORD}' | docker login -u ${REGISTRY_USER} --password-stdin ${registry} >/dev/null`);
}

/**
 * Builds /opt/images/<name> (written by writeImageContexts) as `ref` on the host, pushes it, and
 * returns the digest the registry gave it (sha256:…). The busybox binary is copied in first
 * (the upper layer holds a placeholder so the file list stays small).
 */
export async function buildAndPush(fleet: TestFleet, host: string, name: string, ref: string): Promise<string> {
  const dir = `/opt/images/${name}`;
  await must(fleet, host, `cp ${BUSYBOX} ${dir}/busybox && DOCKER_BUILDKIT=0 docker build -q -t ${ref} ${dir} >/dev/null`);
  const out = await must(fleet, host, `docker push ${ref}`);
  const digest = /digest: (sha256:[0-9a-f]{64})/.exec(out)?.[1];
  if (!digest) throw new Error(`${host}: docker push ${ref}: no digest in\n${out}`);
  return digest;
}

/**
 * The Compose equivalent of a hardened unit (render/hardening.ts), as far as Compose can say it:
 * the keys manage-apps' override file (`releases/<id>/.manage-apps/compose.override.yml`) adds
 * to the service, besides the pinned image and the env file:
 *
 *   read_only: true                          the container's root file system is read-only
 *   tmpfs: ["/tmp"]                          (with it: a writable /tmp, unless the file mounts one)
 *   cap_drop: [ALL]                          no capability (the file's cap_add still adds back)
 *   security_opt: ["no-new-privileges:true"] setuid binaries give nothing
 *   user: "65534:65534"                      nobody, unless the compose file names the user
 *
 * Compose merges the lists (cap_drop, security_opt, tmpfs) with the compose file's; `user` and
 * `read_only` are only added when the compose file does not set them: an image that must run as
 * its own user says so there. Each can be relaxed (service.hardening.relax, with a reason, written
 * into the override as a comment). A container writes its volumes and tmpfs mounts; everything
 * else it needs to write is a volume in the compose file. Docker (20.10+) lets a container bind
 * ports below 1024 without a capability, so an image listening on 80 still runs.
 */
import type { Service } from '../fleet/model.js';
import type { Relaxation } from '../manifest/hardening.js';
import { printable } from '../text/control.js';

export const COMPOSE_USER = '65534:65534';

/** The override's hardening lines for the service (each indented for `services.<name>:`). */
export function composeHardening(service: Service): string[] {
  const c = service.compose;
  if (c === undefined) return [];
  const relaxed = new Map<string, Relaxation>((service.hardening?.relax ?? []).map((r) => [r.directive, r]));
  const out: string[] = ['# Hardening (docs/render.md#hardening): relax one key with service.hardening.relax and a reason.'];
  const put = (directive: string, line: string) => {
    const r = relaxed.get(directive);
    out.push(r === undefined ? line : `# relaxed ${directive} (service.hardening.relax): ${printable(r.reason)}`);
  };
  if (c.declares.includes('read_only')) out.push('# read_only: as the compose file sets it');
  else {
    put('read_only', 'read_only: true');
    if (!relaxed.has('read_only') && !c.tmpfs.some((t) => t === '/tmp' || t.startsWith('/tmp:'))) out.push('tmpfs: ["/tmp"]');
  }
  put('cap_drop', 'cap_drop: [ALL]');
  put('no-new-privileges', 'security_opt: ["no-new-privileges:true"]');
  if (c.declares.includes('user')) out.push('# user: as the compose file sets it');
  else put('user', `user: "${COMPOSE_USER}"`);
  return out.map((l) => `    ${l}`);
}

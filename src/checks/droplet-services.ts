/**
 * Rules for the services producer-root manifests list under `droplets[].services`: they are part
 * of the fleet, so a port or a domain they claim is taken. Clashes between manifests' own
 * services and clusters are port_clash / domain_unique of the cross-file rules; these are the
 * clashes a droplet service takes part in, located at the later claim (clusters, then droplet
 * services, then services: shared metal is declared first).
 */
import type { LoadedInventory } from '../inventory/load.js';
import { problem, type Location, type Problem } from '../problems.js';
import { dropletServices, listeners, type Fleet, type Listener } from '../fleet/model.js';
import type { LoadedManifest } from '../manifest/load.js';

export function checkDropletServices(fleet: Fleet, manifests: readonly LoadedManifest[], inventory: LoadedInventory): Problem[] {
  const byFile = new Map(manifests.map((m) => [m.file, m]));
  const locate = (file: string, path: (string | number)[]): Location => {
    if (file === inventory.file) return inventory.source?.locate(path) ?? { file, line: 1, column: 1 };
    return byFile.get(file)?.source.locate(path) ?? { file, line: 1, column: 1 };
  };
  const out: Problem[] = [];
  const order = { cluster: 0, droplet: 1, service: 2 } as const;
  const claims = [...listeners(fleet)].sort((a, b) => order[a.type] - order[b.type]);
  const taken = new Map<string, Listener>();
  for (const l of claims) {
    const key = `${l.host}\u0000${l.port}`;
    const first = taken.get(key);
    if (first === undefined) {
      taken.set(key, l);
      continue;
    }
    // Two droplet services of one droplet on two of its names are one listener, not a clash.
    if (first.owner === l.owner) continue;
    if (first.type !== 'droplet' && l.type !== 'droplet') continue;
    const label =
      first.type === 'droplet' ? `droplet service "${first.owner}"` : first.type === 'cluster' ? `cluster "${first.owner}"` : `"${first.owner}"`;
    out.push(
      problem(
        'port_clash',
        locate(l.source, l.path),
        `port ${l.port} on host "${l.host}" is already taken by ${label} (${first.source})`,
        'pick a free port (see `manage-apps ports`)',
      ),
    );
  }
  const domains = new Map<string, { owner: string; file: string }>();
  for (const d of dropletServices(fleet)) {
    if (d.domain === undefined) continue;
    const first = domains.get(d.domain);
    if (first)
      out.push(
        problem(
          'domain_unique',
          locate(d.manifest, [...d.path, 'domain']),
          `domain "${d.domain}" is already served by droplet service "${first.owner}" (${first.file})`,
          'a domain goes to one service: drop it here or there',
        ),
      );
    else domains.set(d.domain, { owner: d.id, file: d.manifest });
  }
  for (const s of fleet.services) {
    s.domains.forEach((domain, i) => {
      const first = domains.get(domain);
      if (first)
        out.push(
          problem(
            'domain_unique',
            locate(s.manifest, ['service', 'domains', i]),
            `domain "${domain}" is already served by droplet service "${first.owner}" (${first.file})`,
            'a domain goes to one service: drop it here or there',
          ),
        );
    });
  }
  return out;
}

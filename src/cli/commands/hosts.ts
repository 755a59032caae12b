import { hosts as hostsUseCase } from '../../app/hosts.js';
import type { CommandResult, GlobalOptions } from '../context.js';
import { fleetSource } from '../ops-options.js';
import { outputWidth, plural, style, table, visibleLength } from '../style.js';
import { viewResult } from './shared.js';

export async function hosts(options: GlobalOptions): Promise<CommandResult> {
  const answer = await hostsUseCase(fleetSource(options));
  const { loaded } = answer;
  return viewResult(answer, ({ hosts: rows, unplaced }) => {
    if (rows.length === 0) return 'The inventory lists no hosts.';
    const render = (joiner: string) =>
      table(
        ['HOST', 'ROLE', 'PROVIDER', 'ADDRESS', 'MESH IP', 'SERVICES', 'CLUSTERS'],
        rows.map((h) => [
          h.name + (h.local ? style.dim(' (this machine)') : ''),
          h.role + (h.frozen ? style.yellow(' (frozen)') : ''),
          h.provider,
          h.address ?? h.public_ip ?? (h.alias !== h.name ? `ssh ${h.alias}` : ''),
          h.mesh_ip ?? style.dim('not on mesh'),
          h.services
            .map(
              (s) =>
                s.project +
                (s.environment === 'prod' ? '' : `:${s.environment}`) +
                (s.port === null ? '' : `:${s.port}`) +
                (s.droplet === null ? '' : style.dim(` (droplet ${s.droplet})`)),
            )
            .join(joiner),
          h.clusters.map((c) => `${c.name} (${c.engine} :${c.port})`).join(joiner),
        ]),
      );
    // One line per host when it fits; otherwise one service and one cluster per line.
    const wide = render(', ');
    const lines = Math.max(...wide.split('\n').map(visibleLength)) <= outputWidth() ? wide : render('\n');
    const out = [
      lines,
      '',
      `${plural(rows.length, 'host')}, ${plural(loaded.fleet.services.length, 'service')}, ${plural(loaded.fleet.clusters.length, 'database cluster')}, ${plural(loaded.fleet.tunnels.length, 'tunnel')}.`,
    ];
    if (unplaced.length > 0) out.push(style.yellow(`Not placed on a known host: ${unplaced.join(', ')}`));
    return out.join('\n');
  });
}

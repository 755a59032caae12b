/** Config renderers: net ssh-config/reconcile/wireguard/caddy, infra render, units (issue 6). Implementations load on demand. */
import { Option } from 'commander';
import { dryRunFlag, hostFlag, sshOptions } from './flags.js';
import type { CommandSpec } from './types.js';

/** Every renderer prints by default; --write writes; --check is the drift check for CI (exit 1 on any difference). */
const modes = (what: string): Option[] => [
  new Option('--write', `write ${what} (atomically, keeping a .bak of what it replaces)`),
  new Option('--check', `exit 1 when ${what} on disk differ from the rendering; write nothing`),
];
const out = (what: string) => new Option('--out <dir>', `the directory that holds ${what} (needed by --write and --check)`);
const host = () => hostFlag("only this host's file(s)");
/** --apply: install on the hosts over ssh, checked there first, reloaded gracefully. */
const apply = (what: string): Option[] => [
  new Option('--apply', `install ${what} on each host over ssh: checked there by its own tool first, atomically with a .bak, reloaded gracefully`),
  dryRunFlag("with --apply: check each host's file there and say what would change; install nothing"),
  ...sshOptions('per-host timeout of --apply in seconds (default 60)'),
];

export const RENDER_COMMANDS: CommandSpec[] = [
  {
    name: 'net ssh-config',
    summary: 'ssh Host blocks for the inventory; --write keeps them in one managed block of ~/.ssh/config',
    options: [
      ...modes('the ssh config'),
      new Option('--file <path>', 'the ssh config to manage (default: ~/.ssh/config)'),
      new Option('--include', 'write the hosts to config.d/manage-apps beside it and manage only an Include line in it'),
    ],
    run: async (_args, o) => (await import('../commands/render/net-ssh-config.js')).netSshConfig(o),
  },
  {
    name: 'net reconcile',
    summary: 'regenerate the "services" map of mesh-hosts.json from every manifest, droplet services included (nothing else in the file changes)',
    options: modes('mesh-hosts.json'),
    run: async (_args, o) => (await import('../commands/render/net-reconcile.js')).netReconcile(o),
  },
  {
    name: 'net wireguard',
    summary: 'a wg-quick config per mesh host (<host>.conf); private keys stay on the hosts',
    options: [...modes('the configs'), out('<host>.conf'), host(), ...apply('/etc/wireguard/<interface>.conf (wg syncconf: the interface stays up)')],
    run: async (_args, o) => (await import('../commands/render/net-wireguard.js')).netWireguard(o),
  },
  {
    name: 'net caddy',
    summary:
      "a Caddyfile per edge host (<host>.Caddyfile) routing each service's domains over the mesh; non-public names (*.lan, localhost, IPs, …) get tls internal",
    options: [
      ...modes('the Caddyfiles'),
      out('<host>.Caddyfile'),
      host(),
      ...apply("/etc/caddy/Caddyfile (through Caddy's admin endpoint: never a restart)"),
    ],
    run: async (_args, o) => (await import('../commands/render/net-caddy.js')).netCaddy(o),
  },
  {
    name: 'infra render',
    summary:
      "OpenTofu/Terraform JSON (main.tf.json) for the DigitalOcean droplets and the runner pool (var.runners, default 0), named by the inventory's droplet_naming, with the fleet's ssh key",
    options: [...modes('main.tf.json'), out('main.tf.json')],
    run: async (_args, o) => (await import('../commands/render/infra-render.js')).infraRender(o),
  },
  {
    name: 'units',
    summary: 'the systemd unit of each infra/v2 service (<host>/<unit>), the same one deploy installs',
    options: [...modes('the unit files'), out('<host>/<unit>'), host()],
    run: async (_args, o) => (await import('../commands/render/units.js')).units(o),
  },
  {
    name: 'net tunnels',
    summary:
      'per host, what makes each declared tunnel real: the ssh unit and its ssh_config on the host that opens it, the sshd Match block and restricted authorized_keys on the far host (<host>/<path>)',
    options: [...modes('the tunnel files'), out('<host>/<path on the host>'), host()],
    run: async (_args, o) => (await import('../commands/render/net-tunnels.js')).netTunnels(o),
  },
];

/** Tenants from templates (docs/tenants.md). Implementations load on demand. */
import { Option } from 'commander';
import { dryRunFlag, sshOptions } from './flags.js';
import type { CommandSpec } from './types.js';

/** A flag given several times: every value, in order. */
const repeated = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

export const TENANTS_COMMANDS: CommandSpec[] = [
  {
    name: 'tenants list',
    summary: 'the declared tenants: kind, TLDs, surfaces, their instances (port, unit) and routes, every name they are served under',
    run: async (_args, o) => (await import('../commands/tenants.js')).tenantsList(o),
  },
  {
    name: 'tenants status',
    summary:
      "each tenant's URLs probed through the edges that serve them now (TLS, its name as SNI), and its last add/remove; exit 1 when one does not answer",
    args: '[slug]',
    run: async (args, o) => (await import('../commands/tenants.js')).tenantsStatus(args[0], o),
  },
  {
    name: 'tenants add',
    summary:
      "onboard a tenant: its declaration checked with the whole fleet and written, DNS of its public names looked up against the edge, its instances deployed through their gates, the edge's Caddyfile installed and reloaded gracefully, every new URL probed; run again to finish one that stopped half-way",
    args: '<slug>',
    options: [
      new Option('--kind <kind>', 'person or org').choices(['person', 'org']),
      new Option('--tld <tld>', 'a brand TLD it operates under ({tld}; give it once per TLD)').argParser(repeated),
      new Option('--surface <surface>', 'a templated surface it enables (site, ai, data, …; once per surface)').argParser(repeated),
      new Option('--config <KEY=value>', 'a non-secret setting its instances get as environment (once per setting)').argParser(repeated),
      new Option('--probe-timeout <seconds>', 'how long each new URL may take to answer through the edge (default 30)'),
      dryRunFlag('show the declaration, DNS, instances, routes and URLs it would touch, and touch nothing'),
      ...sshOptions('per-command timeout besides shipping and readiness waits (default 20)'),
    ],
    run: async (args, o) => (await import('../commands/tenants.js')).tenantsAdd(args[0]!, o),
  },
  {
    name: 'tenants remove',
    summary:
      'offboard a tenant: its declaration taken out, the edge reloaded without its routes, then its instances stopped; other tenants untouched',
    args: '<slug>',
    options: [dryRunFlag('show what it would take away, and touch nothing'), ...sshOptions('per-command timeout (default 20)')],
    run: async (args, o) => (await import('../commands/tenants.js')).tenantsRemove(args[0]!, o),
  },
];

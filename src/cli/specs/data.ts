/** The data layer (issue 12): db provision/status, backups run/install/drill. Implementations load on demand. */
import { Option } from 'commander';
import { backupTimeoutFlag, dryRunFlag, envFlag, readyTimeoutFlag, sshOptions } from './flags.js';
import type { CommandSpec } from './types.js';

/** The db commands select databases by environment; the backups commands work on whole clusters. */
const envOption = (): Option => envFlag('databases');
const hostOptions = (): Option[] => sshOptions('per-host answer timeout (default 20)');

export const DATA_COMMANDS: CommandSpec[] = [
  {
    name: 'db provision',
    summary:
      "each declared PostgreSQL database: its own login role and database on its cluster (as the host's postgres account), pg_hba.conf for the service host only, DATABASE_URL and PG* in the service's env_file",
    args: '[targets...]',
    options: [
      envOption(),
      ...hostOptions(),
      new Option('--rotate', 'new passwords: set on both sides, then restart the running services through their readiness gate'),
      dryRunFlag('say what would change and touch nothing'),
      readyTimeoutFlag("each restarted service's"),
    ],
    run: async (args, o) => (await import('../commands/db.js')).dbProvision(args, o),
  },
];

DATA_COMMANDS.push({
  name: 'db status',
  summary:
    'per PostgreSQL cluster: declared databases and users (exist? owner, size, connections), drift (undeclared databases and roles), live own_db violations; one ssh round trip per cluster host',
  args: '[clusters...]',
  options: [envOption(), ...hostOptions()],
  run: async (args, o) => (await import('../commands/db.js')).dbStatusCommand(args, o),
});

const clusterArgs = '[clusters...]';
DATA_COMMANDS.push(
  {
    name: 'backups run',
    summary:
      "run each PostgreSQL cluster's declared backup now, on its host: consistent dumps streamed host to host to the declared target (restic when the method says so), a catalog entry with sizes, checksums and row counts",
    args: clusterArgs,
    options: [...hostOptions(), backupTimeoutFlag('cluster backup')],
    run: async (args, o) => (await import('../commands/backups-ops.js')).backupsRun(args, o),
  },
  {
    name: 'backups install',
    summary:
      'install the backup on the hosts and a systemd timer on each cluster host whose period is the declared RPO, so backups run with the operator offline',
    args: clusterArgs,
    options: [...hostOptions(), dryRunFlag('say what would be installed and touch nothing')],
    run: async (args, o) => (await import('../commands/backups-ops.js')).backupsInstall(args, o),
  },
  {
    name: 'backups drill',
    summary:
      'restore the newest backup into a throw-away cluster on the target host, check checksums and row counts against the catalog, measure achieved RPO/RTO, and append the evidence to backup-evidence.jsonl',
    args: clusterArgs,
    options: [...hostOptions(), backupTimeoutFlag('drill')],
    run: async (args, o) => (await import('../commands/backups-ops.js')).backupsDrill(args, o),
  },
);

/** How a command is declared: main.ts turns these into commander commands. */
import { Option } from 'commander';
import type { StartDashboard } from '../../app/dashboard.js';
import type { GraphFormat } from '../../app/graph.js';
import type { Strategy } from '../../ops/deploy.js';
import type { CommandResult } from '../context.js';

/**
 * The value of every flag a command declares, as commander hands it over: a string for
 * `<arg>`, a boolean for a switch (false for `--no-…`), either for `[arg]`. Commands parse the
 * strings into typed settings (src/cli/ops-options.ts); choices are checked by commander.
 */
export interface CliOptions {
  root?: string;
  inventory?: string;
  json?: boolean;
  debug?: boolean;
  env?: string;
  host?: string;
  sshConfig?: string;
  connectTimeout?: string;
  timeout?: string;
  concurrency?: string;
  dryRun?: boolean;
  readyTimeout?: string;
  /** start/restart --no-wait: false; deploy/rollback --wait [seconds]: true or the seconds. */
  wait?: boolean | string;
  breakLock?: boolean;
  revertMargin?: string;
  force?: boolean;
  grace?: string;
  /** start --no-deps: false. */
  deps?: boolean;
  lines?: string;
  follow?: boolean;
  artifact?: string;
  strategy?: Strategy;
  keep?: string;
  scriptTimeout?: string;
  tag?: string;
  to?: string;
  all?: boolean;
  live?: boolean;
  format?: GraphFormat;
  strict?: boolean;
  writeEnv?: string;
  check?: boolean;
  write?: boolean;
  out?: string;
  file?: string;
  include?: boolean;
  rotate?: boolean;
  apply?: boolean;
  raw?: boolean;
  backupTimeout?: string;
  port?: string;
  open?: boolean;
  allowActions?: boolean;
  interval?: string;
  execute?: boolean;
  abort?: boolean;
  from?: string;
  reason?: string;
  observe?: string;
  release?: string;
  key?: string;
  /** ledger verify: settle promotions a crash left unrecorded first. */
  repair?: boolean;
  /** daemon start: how long the background process waits for a command before it ends. */
  idle?: string;
}

/** What the composition root (src/main.ts) hands the command line: the other front end, started by `ui`. */
export interface FrontEnds {
  startDashboard: StartDashboard;
}

export type Handler = (args: string[], options: CliOptions, frontEnds: FrontEnds) => Promise<CommandResult>;

export interface CommandSpec {
  /** Name, or "group sub" for a sub-command (e.g. "net ssh-config"). */
  name: string;
  summary: string;
  /** commander argument syntax, e.g. "<host...>" or "[targets...]". */
  args?: string;
  options?: Option[];
  run: Handler;
}

/** --root, --inventory and --json: every command takes them. */
export const commonOptions = (): Option[] => [
  new Option('--root <dir>', 'the tree to search for .infra.yaml manifests (default: the current directory)'),
  new Option('--inventory <file>', 'the host inventory (default: <root>/mesh-hosts.json)'),
  new Option('--json', 'print one JSON document (shape: docs/json.md)'),
  new Option('--debug', 'print stack traces of internal errors'),
];

/** How a command is declared: main.ts turns these into commander commands. */
import { Option } from 'commander';
import type { StartDashboard } from '../../app/dashboard.js';
import type { CommandResult } from '../context.js';

/** What the composition root (src/main.ts) hands the command line: the other front end, started by `ui`. */
export interface FrontEnds {
  startDashboard: StartDashboard;
}

export type Handler = (args: string[], options: Record<string, unknown>, frontEnds: FrontEnds) => Promise<CommandResult>;

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

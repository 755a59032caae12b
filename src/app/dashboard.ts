/**
 * The dashboard as the command line sees it: the settings it starts with and the handle it
 * gives back. The server itself is src/dashboard; the composition root (src/main.ts) hands
 * its start function to the CLI, so neither front end imports the other.
 */
import type { FleetOptions } from '../load/fleet.js';
import type { OpsSettings } from '../ops/settings.js';

export interface DashboardSettings {
  source: FleetOptions;
  /** The user's ssh settings: the status rounds and the actions run with them (each with its own defaults). */
  given: Partial<OpsSettings>;
  /** On 127.0.0.1; 0: any free port. */
  port: number;
  /** Seconds between status rounds. */
  interval: number;
  allowActions: boolean;
}

export interface RunningDashboard {
  url: string;
  port: number;
  token: string;
  /**
   * A link for a browser that another program opens (`ui --open`): it carries no token, only a
   * code that works once, within a minute, and answers with a redirect to the token URL. The
   * opener's argv (xdg-open, open: readable by every local user in /proc) never holds the
   * token; a link seen there is dead once the browser used it, and unusable after the window.
   */
  oneTimeLink(): string;
  close(): Promise<void>;
}

export type StartDashboard = (settings: DashboardSettings) => Promise<RunningDashboard>;

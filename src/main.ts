/**
 * The composition root: the command line, handed the dashboard's start function (`ui` is the
 * one command that serves instead of printing). The two front ends never import each other;
 * this file alone knows both, and loads the dashboard only when `ui` starts it. It also starts
 * the resident process (`manage-apps daemon start` runs serveDaemon from this very entry), handing
 * it the command line's main to run for its clients.
 */
import { main as commandLine } from './cli/main.js';

export const main = (argv: string[]): Promise<number> =>
  commandLine(argv, {
    startDashboard: async (settings) => (await import('./dashboard/server.js')).startDashboard(settings),
  });

/** The resident process (src/daemon/server.ts), started detached by `manage-apps daemon start`. */
export const serveDaemon = async (settings: { entry: string; idleTimeoutS: number }): Promise<void> =>
  (await import('./daemon/server.js')).serveDaemon({ ...settings, run: main });

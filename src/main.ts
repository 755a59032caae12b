/**
 * The composition root: the command line, handed the dashboard's start function (`ui` is the
 * one command that serves instead of printing). The two front ends never import each other;
 * this file alone knows both, and loads the dashboard only when `ui` starts it.
 */
import { main as commandLine } from './cli/main.js';

export const main = (argv: string[]): Promise<number> =>
  commandLine(argv, {
    startDashboard: async (settings) => (await import('./dashboard/server.js')).startDashboard(settings),
  });

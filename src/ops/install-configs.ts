/**
 * Rendered configs installed on their hosts (`net caddy --apply`, `net wireguard --apply`): one ssh
 * round trip per host (src/hosts/config-install.ts: check with the tool, install atomically with a
 * backup, reload gracefully), hosts in parallel, and a report per host.
 */
import pLimit from 'p-limit';
import type { Fleet } from '../fleet/model.js';
import { installConfigScript, type ConfigInstall } from '../hosts/config-install.js';
import { records } from '../runtime/shell.js';
import { failureReason } from '../transport/types.js';
import { Ops } from './context.js';
import type { OpsSettings } from './settings.js';
import { stepPrinter } from './progress.js';

export interface HostConfig extends ConfigInstall {
  host: string;
}

/**
 * changed / unchanged: the file was (or already was) the rendered one and the running service has
 * it; would-change: --dry-run, the host would get a new file; refused: the tool or the running
 * service refused it (file and running config untouched); failed: the host could not do a step;
 * unreachable: no answer (what happened there is unknown: run it again).
 */
export type ConfigState = 'changed' | 'unchanged' | 'would-change' | 'refused' | 'failed' | 'unreachable';

export interface InstalledConfig {
  host: string;
  /** The file on the host. */
  path: string;
  state: ConfigState;
  /** How the running service took it: graceful (reloaded in place), started, down (not running, file installed). */
  reload?: 'graceful' | 'started' | 'down';
  /** The previous file, kept on the host. */
  backup?: string;
  /** The tool's message for refused/failed (located in the rendered file), or what the reload said. */
  message?: string;
  seconds: number;
}

export async function installConfigs(
  fleet: Fleet,
  configs: readonly HostConfig[],
  settings: OpsSettings & { dryRun: boolean },
  progress: (line: string) => void = () => {},
): Promise<InstalledConfig[]> {
  const ops = new Ops(fleet, settings);
  const limit = pLimit(settings.concurrency);
  return Promise.all(
    configs.map((c) =>
      limit(async (): Promise<InstalledConfig> => {
        const host = fleet.hosts.find((h) => h.name === c.host);
        const started = Date.now();
        const seconds = () => Math.round((Date.now() - started) / 100) / 10;
        if (host === undefined) return { host: c.host, path: c.target, state: 'failed', message: 'not in the inventory', seconds: 0 };
        const result = await ops.transport(host).script(installConfigScript(c, settings.dryRun), {
          timeoutMs: settings.commandTimeoutMs,
          onStdout: stepPrinter(c.host, progress),
        });
        const recs = records(result.stdout);
        const config = recs.filter((r) => r[0] === 'config').at(-1);
        const reload = recs.find((r) => r[0] === 'reload');
        const backup = recs.find((r) => r[0] === 'backup')?.[1];
        const out: InstalledConfig = { host: c.host, path: c.target, state: 'failed', seconds: seconds() };
        if (result.unreachable !== undefined || config === undefined) {
          // Cut off mid-way: the host finishes on its own (the script ignores the hang-up), or never started.
          out.state = result.unreachable !== undefined ? 'unreachable' : 'failed';
          out.message = `${failureReason(result)}: run it again to see where the host stands`;
        } else {
          out.state = config[1] as ConfigState;
          if (config[2] && (out.state === 'refused' || out.state === 'failed')) out.message = config[2];
        }
        if (reload !== undefined && out.state !== 'refused') {
          out.reload = reload[1] as InstalledConfig['reload'];
          if (reload[1] !== 'graceful' && reload[2]) out.message = reload[2];
        }
        if (backup !== undefined && out.state === 'changed') out.backup = backup;
        progress(`${c.host}: ${out.state}${out.message ? `: ${out.message}` : ''}`);
        return out;
      }),
    ),
  );
}

/**
 * `net caddy --apply`, `net wireguard --apply`: the rendered files installed on their hosts, checked
 * there first by their own tool and taken by the running service gracefully (src/ops/install-configs.ts).
 */
import { EXIT_OK, EXIT_PROBLEMS } from '../errors.js';
import type { Fleet } from '../fleet/model.js';
import { CADDYFILE_PATH, wireguardTarget, type ConfigKind } from '../hosts/config-install.js';
import { installConfigs, type HostConfig, type InstalledConfig } from '../ops/install-configs.js';
import { resolveSettings, type OpsSettings } from '../ops/settings.js';

export interface RenderedForHost {
  host: string;
  /** The rendered file's name (`e1.Caddyfile`, `e1.conf`). */
  label: string;
  content: string;
}

export interface ApplyDocument {
  mode: 'apply' | 'dry-run';
  hosts: InstalledConfig[];
}

/** What each rendered file becomes on its host: where it goes, with which mode, which service takes it. */
function hostConfig(fleet: Fleet, kind: ConfigKind, file: RenderedForHost): HostConfig {
  if (kind === 'caddy') {
    const edge = fleet.services.find((s) => s.kind === 'edge' && s.host === file.host && s.unit !== undefined);
    return {
      kind,
      host: file.host,
      label: file.label,
      target: CADDYFILE_PATH,
      content: file.content,
      mode: 0o644,
      unit: edge?.unit ?? 'caddy.service',
    };
  }
  const iface = fleet.mesh?.interface ?? 'wg0';
  return { kind, host: file.host, label: file.label, target: wireguardTarget(iface), content: file.content, mode: 0o600, iface };
}

export async function applyConfigs(
  fleet: Fleet,
  kind: ConfigKind,
  files: readonly RenderedForHost[],
  given: Partial<OpsSettings>,
  dryRun: boolean,
  onStep: (line: string) => void = () => {},
): Promise<{ exitCode: number; document: ApplyDocument }> {
  const hosts = await installConfigs(
    fleet,
    files.map((f) => hostConfig(fleet, kind, f)),
    // A validation and a reload take a few seconds; a busy host more.
    { ...resolveSettings(given, { commandTimeoutMs: 60_000 }), dryRun },
    onStep,
  );
  const ok = hosts.every((h) => h.state === 'changed' || h.state === 'unchanged' || h.state === 'would-change');
  return { exitCode: ok ? EXIT_OK : EXIT_PROBLEMS, document: { mode: dryRun ? 'dry-run' : 'apply', hosts } };
}

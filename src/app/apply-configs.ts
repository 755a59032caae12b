/**
 * `net caddy --apply`, `net wireguard --apply`: the rendered files installed on their hosts, checked
 * there first by their own tool and taken by the running service gracefully (src/ops/install-configs.ts).
 */
import { EXIT_OK, EXIT_PROBLEMS } from '../errors.js';
import type { Fleet } from '../fleet/model.js';
import type { FleetOptions } from '../load/fleet.js';
import { countBySeverity, problemJson } from '../problems.js';
import type { Answer } from './answer.js';
import { renderFleetFiles } from './render.js';
import type { RenderReport } from './render-files.js';
import { CADDYFILE_PATH, wireguardTarget, type ConfigKind } from '../hosts/config-install.js';
import { installConfigs, type HostConfig, type InstalledConfig } from '../ops/install-configs.js';
import { resolveSettings, type OpsSettings } from '../ops/settings.js';

export interface RenderedForHost {
  host: string;
  /** The rendered file's name (`e1.Caddyfile`, `e1.conf`). */
  label: string;
  content: string;
}

export type { InstalledConfig } from '../ops/install-configs.js';

/** The --json document of `net caddy --apply`, `net wireguard --apply` (docs/json.md). */
export interface ApplyDocument {
  command: string;
  mode: 'apply';
  dryRun: boolean;
  hosts: InstalledConfig[];
  skipped: { name: string; reason: string }[];
  problems: Record<string, unknown>[];
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

const KINDS = { 'net caddy': 'caddy', 'net wireguard': 'wireguard' } as const;

/**
 * The rendering (as `net caddy` / `net wireguard` print it, `host` for one host's file) installed
 * on the hosts; nothing when a problem stops the rendering. The render report comes along for
 * the text (its problems, notes and skipped hosts).
 */
export async function applyRendered(
  command: keyof typeof KINDS,
  source: FleetOptions & { host?: string },
  given: Partial<OpsSettings>,
  dryRun: boolean,
  onStep: (line: string) => void = () => {},
): Promise<Answer<ApplyDocument> & { report: RenderReport }> {
  const rendered = await renderFleetFiles(command, { ...source, mode: 'print' });
  const r = rendered.report;
  const document: ApplyDocument = { command, mode: 'apply', dryRun, hosts: [], skipped: r.skipped, problems: r.problems.map(problemJson) };
  if (r.blocked) return { exitCode: EXIT_PROBLEMS, document, loaded: r.loaded, report: r };
  const suffix = command === 'net caddy' ? /\.Caddyfile$/ : /\.conf$/;
  const files = r.rendered.map((f) => ({ host: f.path.replace(suffix, ''), label: f.path, content: f.content }));
  const applied = await installRendered(r.loaded.fleet, KINDS[command], files, given, dryRun, onStep);
  const errors = countBySeverity(r.problems).errors > 0;
  return {
    exitCode: applied.exitCode === EXIT_OK && !errors ? EXIT_OK : EXIT_PROBLEMS,
    document: { ...document, hosts: applied.hosts },
    loaded: r.loaded,
    report: r,
  };
}

async function installRendered(
  fleet: Fleet,
  kind: ConfigKind,
  files: readonly RenderedForHost[],
  given: Partial<OpsSettings>,
  dryRun: boolean,
  onStep: (line: string) => void = () => {},
): Promise<{ exitCode: number; hosts: InstalledConfig[] }> {
  const hosts = await installConfigs(
    fleet,
    files.map((f) => hostConfig(fleet, kind, f)),
    // A validation and a reload take a few seconds; a busy host more.
    { ...resolveSettings(given, { commandTimeoutMs: 60_000 }), dryRun },
    onStep,
  );
  const ok = hosts.every((h) => h.state === 'changed' || h.state === 'unchanged' || h.state === 'would-change');
  return { exitCode: ok ? EXIT_OK : EXIT_PROBLEMS, hosts };
}

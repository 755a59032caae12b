/**
 * What `drift` reports: one finding per difference between what a host runs and what the
 * repository declares, each with a verdict (docs/drift.md). The --json shape (docs/json.md).
 */

export const VERDICTS = ['missing', 'extra', 'changed', 'edited on host', 'unknown'] as const;
/**
 * missing: declared, absent on the host; extra: on the host, declared nowhere; changed: both,
 * different (the declaration changed since manage-apps wrote it, or nothing says who changed
 * it); edited on host: changed on the host since manage-apps wrote it (its fingerprint says
 * so); unknown: could not be read (the detail says why).
 */
export type Verdict = (typeof VERDICTS)[number];

/** What a finding is about. */
export type DriftKind =
  | 'unit'
  | 'unit-enabled'
  | 'drop-in'
  | 'release'
  | 'image'
  | 'compose-file'
  | 'caddy'
  | 'tunnel-file'
  | 'authorized-keys'
  | 'pg_hba'
  | 'secrets'
  | 'env-file'
  | 'wireguard'
  | 'port'
  | 'host';

export interface DriftProperty {
  /** "[Service] ExecStart", "enabled", "image", … */
  name: string;
  declared: string | null;
  live: string | null;
}

export interface Finding {
  /** Stable within a fleet: `<host>/<kind>/<subject>`; `adopt` takes it. */
  id: string;
  host: string;
  kind: DriftKind;
  /** The unit, the path, the port, the release directory. */
  subject: string;
  verdict: Verdict;
  /** The service (or tunnel, cluster) it belongs to, when one does. */
  owner: string | null;
  /** One line for people. */
  detail: string;
  /** Properties that differ (systemd settings, the enabled state, an image). */
  properties: DriftProperty[];
  /** A short unified diff (declared → live) for text; null when there is none to show. */
  diff: string | null;
  /** `adopt` can write the live value into the repository (a port, an image tag). */
  adoptable: boolean;
}

export interface HostDrift {
  host: string;
  reachable: boolean;
  /** Why the host could not be read (unreachable, the script failed). */
  reason: string | null;
  /** What was compared there (units, releases, compose, caddy, tunnels, pg_hba, ports). */
  compared: string[];
}

export interface DriftDocument {
  hosts: HostDrift[];
  findings: Finding[];
  /** Per verdict. */
  counts: Record<Verdict, number>;
}

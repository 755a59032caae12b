/**
 * A problem is anything wrong in the user's files, located at file:line:column.
 * Every check in manage-apps reports through this one shape so that `validate`,
 * `--json` consumers and the human reporter agree.
 */
import { abbreviated } from './text/control.js';

export type Severity = 'error' | 'warning';

export interface Location {
  /** Path relative to the root (or absolute when outside it). */
  file: string;
  line: number;
  column: number;
  /** Length of the highlighted span on that line (for the code frame). */
  length?: number;
}

export interface Problem extends Location {
  rule: string;
  severity: Severity;
  message: string;
  hint?: string;
  /** Set when the located line holds a secret: the reporter masks it instead of printing it. */
  redact?: boolean;
}

export interface RuleInfo {
  id: string;
  severity: Severity;
  /** 'must'/'should' for the infra/v1 convention's rules; 'check' for manage-apps' own checks. */
  level: 'must' | 'should' | 'check';
  summary: string;
}

/** Every rule manage-apps reports, with the infra/v1 convention's ids where it has one. */
export const RULES: Record<string, RuleInfo> = {
  yaml_syntax: { id: 'yaml_syntax', severity: 'error', level: 'check', summary: 'The file is not valid YAML (or JSON, for the inventory).' },
  schema: {
    id: 'schema',
    severity: 'error',
    level: 'check',
    summary: 'The file does not match its JSON Schema (types, required fields, unknown keys, enums).',
  },
  api_version: {
    id: 'api_version',
    severity: 'error',
    level: 'check',
    summary: 'apiVersion is missing or not one manage-apps knows (infra/v1, infra/v2).',
  },
  inventory: { id: 'inventory', severity: 'error', level: 'check', summary: 'The host inventory is missing, unreadable or inconsistent.' },
  discovery: { id: 'discovery', severity: 'error', level: 'check', summary: 'A directory or manifest could not be read.' },
  host_in_mesh: { id: 'host_in_mesh', severity: 'error', level: 'must', summary: 'service.host is a host of mesh-hosts.json.' },
  own_db: { id: 'own_db', severity: 'error', level: 'must', summary: 'Each project has its own logical database and its own user on a cluster.' },
  db_name: {
    id: 'db_name',
    severity: 'error',
    level: 'check',
    summary:
      'A PostgreSQL database or user name is plain (lower-case letters, digits, _), not a pg_hba.conf keyword (all, sameuser, samerole, replication, +group, @file) and not a name the cluster keeps for itself (postgres, template0/1, pg_*).',
  },
  http_coupling: {
    id: 'http_coupling',
    severity: 'error',
    level: 'must',
    summary: 'Cross-service dependencies are HTTP only, declared in depends_on, and name known projects.',
  },
  droplet_naming: {
    id: 'droplet_naming',
    severity: 'error',
    level: 'must',
    summary: 'Droplets are named reverse-DNS: <prefix>.<role> or <prefix>.<producer>.<role>, once each.',
  },
  gpu_ondemand: { id: 'gpu_ondemand', severity: 'warning', level: 'should', summary: 'GPU workloads are on-demand, never a standing GPU.' },
  systemd_supervision: {
    id: 'systemd_supervision',
    severity: 'error',
    level: 'must',
    summary: 'Standing services on cloud and bare-metal hosts run as systemd units; PID mode is for local and mac only.',
  },
  cloud_provider: {
    id: 'cloud_provider',
    severity: 'error',
    level: 'must',
    summary: "A manifest's provider agrees with its host's provider; standing cloud droplets run on DigitalOcean.",
  },
  env_variants: {
    id: 'env_variants',
    severity: 'error',
    level: 'should',
    summary: '.infra.yaml is prod and .infra.<env>.yaml is <env>: the environment field agrees with the file name.',
  },
  shared_infra_topology: {
    id: 'shared_infra_topology',
    severity: 'warning',
    level: 'should',
    summary: 'Droplet hosts are registered in mesh-hosts.json.',
  },
  unknown_cluster: { id: 'unknown_cluster', severity: 'error', level: 'check', summary: 'database.cluster names a cluster of mesh-hosts.json.' },
  tenants: {
    id: 'tenants',
    severity: 'error',
    level: 'check',
    summary: 'The tenants file beside the inventory reads and follows its schema (docs/tenants.md).',
  },
  tenant_template: {
    id: 'tenant_template',
    severity: 'error',
    level: 'check',
    summary: 'Domains with placeholders belong to a template (service.tenants); a template with instances renders its own unit from a command.',
  },
  tenant_port: {
    id: 'tenant_port',
    severity: 'error',
    level: 'check',
    summary: "Each tenant instance has its port recorded in the tenants file, inside its template's range.",
  },
  tenant_config: {
    id: 'tenant_config',
    severity: 'error',
    level: 'must',
    summary: "A tenant's config holds no secret and no control character: it is in git and in its units.",
  },
  tenant_surface: {
    id: 'tenant_surface',
    severity: 'warning',
    level: 'should',
    summary: 'A surface a tenant enables is served by some template.',
  },
  port_clash: { id: 'port_clash', severity: 'error', level: 'check', summary: 'No two services (or clusters) listen on one port of one host.' },
  port_range: { id: 'port_range', severity: 'error', level: 'check', summary: 'Ports are between 1 and 65535.' },
  cluster_service: {
    id: 'cluster_service',
    severity: 'error',
    level: 'check',
    summary: 'A service that supervises a cluster (service.cluster) names an inventory cluster, runs on its host, and listens on its port.',
  },
  swap_ports: {
    id: 'swap_ports',
    severity: 'error',
    level: 'check',
    summary: 'service.swap.ports are two different ports, service.port is one of them, and the service has a command.',
  },
  runtime: {
    id: 'runtime',
    severity: 'error',
    level: 'check',
    summary:
      "What the service's supervisor cannot take: on a Mac (launchd), a service.user, a calendar launchd has fields for, a reason for a GUI session.",
  },
  schedule: {
    id: 'schedule',
    severity: 'error',
    level: 'check',
    summary:
      'service.schedule: systemd accepts the calendar (systemd-analyze calendar), and the job has a command, no port, no swap, and a host whose supervisor runs timers.',
  },
  mesh_address: { id: 'mesh_address', severity: 'error', level: 'check', summary: 'Mesh IPs are inside the mesh CIDR and used once.' },
  duplicate_project: { id: 'duplicate_project', severity: 'error', level: 'check', summary: 'A project is declared once per environment.' },
  dependency_cycle: { id: 'dependency_cycle', severity: 'error', level: 'check', summary: 'depends_on has no cycles (start order must exist).' },
  placement: {
    id: 'placement',
    severity: 'error',
    level: 'check',
    summary: 'Production runs on production hosts: not on a workstation or dev host, nothing new on a frozen host.',
  },
  secret_in_manifest: {
    id: 'secret_in_manifest',
    severity: 'error',
    level: 'check',
    summary: 'No secret is written into a manifest: it is in git. Secrets live in service.env_file on the host.',
  },
  render: {
    id: 'render',
    severity: 'error',
    level: 'check',
    summary: 'A value cannot be rendered into a config file (missing key, endpoint or address).',
  },
  managed_block: {
    id: 'managed_block',
    severity: 'error',
    level: 'check',
    summary: "The markers of manage-apps' block in a user's file are broken: nothing is written.",
  },
  tunnel: {
    id: 'tunnel',
    severity: 'error',
    level: 'check',
    summary: 'A tunnel can be opened: who opens it is clear, its listening port is free on its host, its opener reaches the far end.',
  },
  compose_file: {
    id: 'compose_file',
    severity: 'error',
    level: 'check',
    summary:
      "A compose service's compose file exists, parses, defines the service, publishes the manifest's port and names an image; no secret is written into it.",
  },
  hardening: {
    id: 'hardening',
    severity: 'error',
    level: 'check',
    summary:
      'service.hardening names directives manage-apps sets, each relaxed once with a one-line reason, and paths a unit can hold outside the releases.',
  },
  secrets: {
    id: 'secrets',
    severity: 'error',
    level: 'check',
    summary:
      'service.secrets names each secret by a plain name and one known source (file, pass, env, command), never a value; a secret two services share comes from one source.',
  },
  safe_name: {
    id: 'safe_name',
    severity: 'error',
    level: 'check',
    summary: 'Names used on hosts (project, unit, user) are plain: letters, digits, ".", "_", "-".',
  },
  control_character: {
    id: 'control_character',
    severity: 'error',
    level: 'check',
    summary: "A manifest's path holds no control character (a line break would reach rendered files).",
  },
  project_path: {
    id: 'project_path',
    severity: 'error',
    level: 'check',
    summary:
      'What a manifest ships stays inside its project (artifact, compose bundle; symbolic links resolved), and no image or service name starts with "-" (docker would read it as an option).',
  },
  promotion: {
    id: 'promotion',
    severity: 'error',
    level: 'check',
    summary:
      "A promotion path names environments the project has, once each; only environments on the path need approval, never the first; a project's manifests that declare one agree.",
  },
  file_size: { id: 'file_size', severity: 'error', level: 'check', summary: 'A manifest is at most 1 MiB and the inventory at most 8 MiB.' },
};

/** A message quotes values from the files: however long one is, a message stays readable. */
const MAX_MESSAGE = 1000;

export function problem(rule: keyof typeof RULES | string, at: Location, message: string, hint?: string, severity?: Severity): Problem {
  const info = RULES[rule];
  const p: Problem = {
    file: at.file,
    line: at.line,
    column: at.column,
    rule,
    severity: severity ?? info?.severity ?? 'error',
    message: abbreviated(message, MAX_MESSAGE),
  };
  if (at.length !== undefined) p.length = at.length;
  if (hint !== undefined) p.hint = abbreviated(hint, MAX_MESSAGE);
  return p;
}

export function sortProblems(problems: Problem[]): Problem[] {
  return problems.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column || a.rule.localeCompare(b.rule));
}

export function countBySeverity(problems: readonly Problem[]): { errors: number; warnings: number } {
  let errors = 0;
  let warnings = 0;
  for (const p of problems) {
    if (p.severity === 'error') errors++;
    else warnings++;
  }
  return { errors, warnings };
}

/** The JSON shape of a problem (documented in docs/json.md); internal fields stay out. */
export function problemJson(p: Problem): Record<string, unknown> {
  const out: Record<string, unknown> = { file: p.file, line: p.line, column: p.column, rule: p.rule, severity: p.severity, message: p.message };
  if (p.hint !== undefined) out['hint'] = p.hint;
  return out;
}

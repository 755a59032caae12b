/**
 * What a host's drift script printed, against what the repository declares: one finding per
 * difference, with a verdict. Each comparison's normalisation is in docs/drift.md; whatever a
 * tool normalises by itself (systemd: comments, blank lines, trailing spaces; Caddy: key order,
 * a swap's upstream order) is never drift.
 */
import { createPatch } from 'diff';
import { HBA_BEGIN, HBA_END, hbaLines, hbaUnquote } from '../data/hba.js';
import { parseInspect, type ClusterState } from '../data/postgres.js';
import type { Host } from '../fleet/model.js';
import { AUTHORIZED_KEYS_END, AUTHORIZED_KEYS_START, authorizedKeysPath, keyPath } from '../render/tunnels.js';
import { parseContainers } from '../runtime/compose.js';
import { fingerprint, parseWritten } from '../runtime/fingerprint.js';
import { parseReleaseStates, type ReleaseState } from '../runtime/release.js';
import { records, sections } from '../runtime/shell.js';
import type { RuntimeService } from '../runtime/types.js';
import { SSHD_DROPIN } from '../tunnels/resolve.js';
import { ENV_FILE_NAME } from '../secrets/layout.js';
import { CADDYFILE, secretsDir, secretsFingerprintsPath, UNIT_DIR, type DeclaredHost } from './declared.js';
import { DROP_IN_DIRS } from './host-script.js';
import type { DriftKind, DriftProperty, Finding, Verdict } from './types.js';

/** A file as the host has it: absent, unreadable, or its bytes. */
export type FileRead = { state: 'absent' } | { state: 'unreadable' } | { state: 'present'; bytes: Buffer; text: string };

export interface HostRead {
  hostname: string | null;
  files: Map<string, FileRead>;
  /** What manage-apps last wrote, by path (runtime/fingerprint.ts). */
  written: Map<string, string>;
  /** Each checked unit's enabled state as its links say (enabled, enabled-runtime, masked, disabled). */
  enabled: Map<string, string>;
  marked: string[];
  releases: Map<string, ReleaseState>;
  containers: ReturnType<typeof parseContainers>;
  caddy: { live?: FileRead; declared?: FileRead; liveError?: string };
  hostKeys: string[];
  clusters: Map<string, ClusterState>;
  listeners: Listener[];
  /** The names env files set (values never read), by path. */
  envKeys: Map<string, EnvKeysRead>;
  /** The values of the credentials env files' variables that are not secret, by path. */
  envValues: Map<string, Map<string, string>>;
  /** The credential files of a secrets generation, by its directory. */
  creds: Map<string, string[]>;
  /** The WireGuard interface, when it was asked about. */
  wireguard: WireguardRead | undefined;
}

export type EnvKeysRead = { state: 'absent' | 'link' | 'unreadable' } | { state: 'present'; keys: string[] };

export interface WireguardPeer {
  publicKey: string;
  /** Sorted, comma-separated ("(none)" for none). */
  allowedIps: string;
  /** Seconds, or "off". */
  keepalive: string;
}

export type WireguardRead = { state: 'none' } | { state: 'down'; reason: string } | { state: 'up'; peers: WireguardPeer[] };

export interface Listener {
  address: string;
  port: number;
  /** "python3 (pid 123)", when ss could say. */
  process: string | null;
  pid: number | null;
  /** The systemd unit the process runs in (from its cgroup), when it runs in one. */
  unit: string | null;
}

const decode = (field: string | undefined): FileRead => {
  if (field === undefined || field === '-') return { state: 'absent' };
  if (!field.startsWith('=')) return { state: 'unreadable' };
  const bytes = Buffer.from(field.slice(1), 'base64');
  return { state: 'present', bytes, text: bytes.toString('utf8') };
};

/** ss -Hltnp lines → listeners ("LISTEN 0 4096 0.0.0.0:22 0.0.0.0:* users:(("sshd",pid=1,fd=3))"). */
export function parseListeners(text: string | undefined, cgroups: ReadonlyMap<number, string> = new Map()): Listener[] {
  const out: Listener[] = [];
  for (const line of (text ?? '').split('\n')) {
    const f = line.trim().split(/\s+/);
    const local = f[3];
    if (f[0] !== 'LISTEN' || local === undefined) continue;
    const colon = local.lastIndexOf(':');
    const port = Number(local.slice(colon + 1));
    if (!Number.isInteger(port)) continue;
    const proc = /users:\(\("([^"]+)",pid=(\d+)/.exec(line);
    const pid = proc ? Number(proc[2]) : null;
    const unit = pid === null ? null : (/\/([^/\s]+\.service)(\/|\s|$)/.exec(cgroups.get(pid) ?? '')?.[1] ?? null);
    out.push({
      address: local
        .slice(0, colon)
        .replace(/^\[|\]$/g, '')
        .replace(/%.*$/, ''),
      port,
      process: proc ? `${proc[1]} (pid ${proc[2]})` : null,
      pid,
      unit,
    });
  }
  return out;
}

/**
 * The records of drift's host script. `declared`: the declared content by path of the files the
 * script checked by their sha256 ("@@same": the host holds exactly that, so it did not send it).
 */
export function parseHostRead(output: string, declared: ReadonlyMap<string, string> = new Map()): HostRead {
  const recs = records(output);
  const texts = sections(output);
  const files = new Map<string, FileRead>();
  const caddy: HostRead['caddy'] = {};
  const hostKeys: string[] = [];
  for (const r of recs) {
    if (r[0] === 'file' && r[1]) files.set(r[1], decode(r[2]));
    const same = r[0] === 'same' && r[1] ? declared.get(r[1]) : undefined;
    if (same !== undefined) files.set(r[1]!, { state: 'present', bytes: Buffer.from(same, 'utf8'), text: same });
    if (r[0] === 'hostkey' && r[1]) hostKeys.push(r[1]);
    if (r[0] === 'caddy' && r[1] === 'live') {
      caddy.live = decode(r[2]?.startsWith('?') ? '?' : r[2]);
      if (r[2]?.startsWith('?')) caddy.liveError = r[2].slice(1).trim();
    }
    if (r[0] === 'caddy' && r[1] === 'declared') caddy.declared = decode(r[2]);
  }
  const envKeys = new Map<string, EnvKeysRead>();
  const envValues = new Map<string, Map<string, string>>();
  const creds = new Map<string, string[]>();
  let wireguard: WireguardRead | undefined;
  const wgPeers: WireguardPeer[] = [];
  for (const r of recs) {
    if (r[0] === 'envkeys' && r[1])
      envKeys.set(
        r[1],
        r[2] === 'file'
          ? // Each name once, in one order (the host lists them as the file has them).
            { state: 'present', keys: [...new Set((r[3] ?? '').split(' ').filter(Boolean))].sort() }
          : { state: r[2] === '-' ? 'absent' : r[2] === 'link' ? 'link' : 'unreadable' },
      );
    if (r[0] === 'envval' && r[1] && r[2]) {
      const eq = r[2].indexOf('=');
      const m = envValues.get(r[1]) ?? new Map<string, string>();
      m.set(r[2].slice(0, eq), unquoteEnv(r[2].slice(eq + 1)));
      envValues.set(r[1], m);
    }
    if (r[0] === 'creds' && r[1])
      creds.set(
        r[1],
        (r[2] ?? '')
          .split(' ')
          .filter((f) => f.endsWith('.cred'))
          .map((f) => f.slice(0, -'.cred'.length)),
      );
    if (r[0] === 'wg')
      wireguard =
        r[1] === 'up' ? { state: 'up', peers: wgPeers } : r[1] === 'down' ? { state: 'down', reason: (r[2] ?? '').trim() } : { state: 'none' };
    if (r[0] === 'wgpeer' && r[1])
      wgPeers.push({ publicKey: r[1], allowedIps: normalIps(r[2] ?? ''), keepalive: r[3] === undefined || r[3] === '' ? 'off' : r[3] });
  }
  const enabled = new Map<string, string>();
  for (const r of recs) if (r[0] === 'enabled' && r[1]) enabled.set(r[1], r[2] ?? '');
  return {
    hostname: recs.find((r) => r[0] === 'host')?.[1] ?? null,
    files,
    written: parseWritten(recs),
    enabled,
    marked: (texts.get('marked') ?? '').split('\n').filter((l) => l.startsWith('/')),
    releases: parseReleaseStates(output),
    containers: parseContainers(texts.get('containers')),
    caddy,
    hostKeys,
    clusters: parseInspect(output),
    listeners: parseListeners(texts.get('ports'), new Map(recs.filter((r) => r[0] === 'cgroup' && r[1]).map((r) => [Number(r[1]), r[2] ?? '']))),
    envKeys,
    envValues,
    creds,
    wireguard,
  };
}

/** An env file's value as a reader takes it: one pair of surrounding quotes removed. */
const unquoteEnv = (v: string) => (/^'.*'$|^".*"$/.test(v) ? v.slice(1, -1) : v);

/** Allowed IPs as a set: sorted, comma-separated, no spaces ("(none)" when there are none). */
export const normalIps = (text: string): string => {
  const ips = text
    .split(/[\s,]+/)
    .filter((x) => x !== '' && x !== '(none)')
    .sort();
  return ips.length === 0 ? '(none)' : ips.join(',');
};

/** The [Peer] sections of a wg-quick config: public key, allowed IPs, keepalive (what `wg show` reports of each). */
export function wireguardPeers(config: string): WireguardPeer[] {
  const peers: WireguardPeer[] = [];
  let peer: WireguardPeer | null = null;
  for (const raw of config.replace(/\r\n/g, '\n').split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') continue;
    if (line.startsWith('[')) {
      peer = /^\[peer\]$/i.test(line) ? { publicKey: '', allowedIps: '(none)', keepalive: 'off' } : null;
      if (peer) peers.push(peer);
      continue;
    }
    const eq = line.indexOf('=');
    if (peer === null || eq < 0) continue;
    const key = line.slice(0, eq).trim().toLowerCase();
    const value = line.slice(eq + 1).trim();
    if (key === 'publickey') peer.publicKey = value;
    if (key === 'allowedips') peer.allowedIps = normalIps(peer.allowedIps === '(none)' ? value : `${peer.allowedIps},${value}`);
    if (key === 'persistentkeepalive') peer.keepalive = value === '0' || value.toLowerCase() === 'off' ? 'off' : value;
  }
  return peers;
}

// ---- normalisation ----------------------------------------------------------------------------

/** Text as compared: LF line ends, no trailing spaces, no trailing blank lines. */
export const normalText = (text: string): string =>
  text
    .replace(/\r\n/g, '\n')
    .split('\n')
    .map((l) => l.trimEnd())
    .join('\n')
    .replace(/\n+$/, '');

/** A unit as systemd reads it: "[Section] Key=value" settings in order, no comments or blank lines, continuations joined, runs of spaces as one. */
export function unitSettings(text: string): string[] {
  const out: string[] = [];
  let section = '';
  const joined = text.replace(/\r\n/g, '\n').replace(/\\\n/g, ' ');
  for (const raw of joined.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    if (line.startsWith('[') && line.endsWith(']')) {
      section = line;
      continue;
    }
    const eq = line.indexOf('=');
    // Runs of spaces count as one: systemd splits command lines and lists on them.
    const value = (eq < 0 ? line : line.slice(eq + 1)).trim().replace(/\s+/g, ' ');
    out.push(eq < 0 ? `${section} ${value}` : `${section} ${line.slice(0, eq).trim()}=${value}`);
  }
  return out;
}

/** The settings that differ, by "[Section] Key": declared values and live values. */
function unitProperties(declared: string, live: string): DriftProperty[] {
  const group = (lines: string[]) => {
    const m = new Map<string, string[]>();
    for (const l of lines) {
      const eq = l.indexOf('=');
      const key = eq < 0 ? l : l.slice(0, eq);
      m.set(key, [...(m.get(key) ?? []), eq < 0 ? '' : l.slice(eq + 1)]);
    }
    return m;
  };
  const d = group(unitSettings(declared));
  const l = group(unitSettings(live));
  const out: DriftProperty[] = [];
  for (const key of new Set([...d.keys(), ...l.keys()])) {
    const a = d.get(key)?.join('\n') ?? null;
    const b = l.get(key)?.join('\n') ?? null;
    if (a !== b) out.push({ name: key, declared: a, live: b });
  }
  return out;
}

const DIFF_LINES = 40;

/** A short unified diff, declared → live (headers dropped, at most DIFF_LINES lines). */
export function shortDiff(path: string, declared: string, live: string): string {
  const lines = createPatch(path, `${declared}\n`, `${live}\n`, 'declared', 'live', { context: 2 }).split('\n').slice(2);
  const body = lines.filter((l) => l !== '\\ No newline at end of file');
  while (body.length > 0 && body[body.length - 1] === '') body.pop();
  return body.length > DIFF_LINES ? [...body.slice(0, DIFF_LINES), `… ${body.length - DIFF_LINES} more lines`].join('\n') : body.join('\n');
}

// ---- findings ---------------------------------------------------------------------------------

interface FindingInput {
  kind: DriftKind;
  subject: string;
  verdict: Verdict;
  owner: string | null;
  detail: string;
  properties?: DriftProperty[];
  diff?: string | null;
  adoptable?: boolean;
}

export class Findings {
  readonly list: Finding[] = [];
  constructor(readonly host: string) {}
  add(f: FindingInput): void {
    this.list.push({
      id: `${this.host}/${f.kind}/${f.subject}`,
      host: this.host,
      kind: f.kind,
      subject: f.subject,
      verdict: f.verdict,
      owner: f.owner,
      detail: f.detail,
      properties: f.properties ?? [],
      diff: f.diff ?? null,
      adoptable: f.adoptable ?? false,
    });
  }
}

/**
 * Who changed a file that differs: the live bytes still have the fingerprint of what manage-apps
 * wrote → the declaration changed; they do not → edited on the host; no record → changed.
 */
function whoChanged(live: Buffer, written: string | undefined): { verdict: Verdict; why: string } {
  if (written === undefined) return { verdict: 'changed', why: 'no record of what manage-apps last wrote there' };
  if (fingerprint(live) === written) return { verdict: 'changed', why: 'the declaration changed since manage-apps wrote it' };
  return { verdict: 'edited on host', why: 'changed on the host since manage-apps wrote it' };
}

interface TextCompare {
  kind: DriftKind;
  path: string;
  owner: string | null;
  declared: string;
  /** Equal when these are equal (default: normalText). */
  same?: (declared: string, live: string) => boolean;
  properties?: (declared: string, live: string) => DriftProperty[];
  what: string;
}

function compareText(out: Findings, read: HostRead, c: TextCompare): FileRead | undefined {
  const live = read.files.get(c.path);
  if (live === undefined) return undefined;
  if (live.state === 'absent') {
    out.add({ kind: c.kind, subject: c.path, verdict: 'missing', owner: c.owner, detail: `${c.what} ${c.path} is not on the host` });
    return live;
  }
  if (live.state === 'unreadable') {
    out.add({
      kind: c.kind,
      subject: c.path,
      verdict: 'unknown',
      owner: c.owner,
      detail: `cannot read ${c.path} (permission denied for the ssh user, and no sudo)`,
    });
    return live;
  }
  const same = c.same ?? ((a, b) => normalText(a) === normalText(b));
  if (same(c.declared, live.text)) return live;
  const { verdict, why } = whoChanged(live.bytes, read.written.get(c.path));
  out.add({
    kind: c.kind,
    subject: c.path,
    verdict,
    owner: c.owner,
    detail: `${c.what} ${c.path} differs from what the repository renders: ${why}`,
    properties: c.properties?.(c.declared, live.text) ?? [],
    diff: shortDiff(c.path, normalText(c.declared), normalText(live.text)),
  });
  return live;
}

const sameUnit = (a: string, b: string) => unitSettings(a).join('\n') === unitSettings(b).join('\n');

function compareUnits(out: Findings, d: DeclaredHost, read: HostRead): void {
  for (const u of d.units) {
    const path = `${UNIT_DIR}/${u.file}`;
    const live = compareText(out, read, {
      kind: 'unit',
      path,
      owner: u.owner,
      declared: u.content,
      same: sameUnit,
      properties: unitProperties,
      what: 'unit',
    });
    if (live?.state === 'present' && u.enabled !== null) {
      const state = read.enabled.get(u.enabled) ?? '';
      if (state !== 'enabled')
        out.add({
          kind: 'unit-enabled',
          subject: u.enabled,
          verdict: 'changed',
          owner: u.owner,
          detail: `${u.enabled} is ${state || 'in no known state'}, declared enabled (started at boot)`,
          properties: [{ name: 'UnitFileState', declared: 'enabled', live: state || null }],
        });
    }
    // Drop-ins someone added: systemd applies them over the unit manage-apps installed.
    const dirs = DROP_IN_DIRS.map((dir) => `${dir}/${u.file}.d/`);
    for (const [p, f] of read.files) {
      if (!dirs.some((dir) => p.startsWith(dir))) continue;
      out.add({
        kind: 'drop-in',
        subject: p,
        verdict: 'extra',
        owner: u.owner,
        detail: `a drop-in overrides ${u.file}: ${p}`,
        properties:
          f.state === 'present'
            ? unitSettings(f.text).map((s) => ({
                name: s.slice(0, s.indexOf('=') < 0 ? s.length : s.indexOf('=')),
                declared: null,
                live: s.slice(s.indexOf('=') + 1),
              }))
            : [],
      });
    }
  }
  // Units with manage-apps' marker that nothing declares here any more.
  for (const p of read.marked) {
    const file = p.slice(UNIT_DIR.length + 1);
    if (d.allUnitFiles.has(file)) continue;
    out.add({
      kind: 'unit',
      subject: p,
      verdict: 'extra',
      owner: null,
      detail: `${file} was installed by manage-apps, but no manifest or tunnel declares it on this host any more`,
    });
  }
  for (const u of d.unrenderable)
    out.add({ kind: 'unit', subject: u.owner, verdict: 'unknown', owner: u.owner, detail: `its unit cannot be rendered: ${u.reason}` });
}

function compareReleases(out: Findings, released: readonly RuntimeService[], read: HostRead): void {
  for (const s of released) {
    const state = read.releases.get(s.id) ?? { current: null, releases: [] };
    const subject = s.directory!;
    if (state.current === null) {
      out.add({
        kind: 'release',
        subject,
        verdict: 'missing',
        owner: s.id,
        detail: `no live release in ${subject} (never deployed, or current is gone)`,
      });
      continue;
    }
    const passed = state.releases.filter((r) => r.outcome === 'passed');
    const newest = passed[passed.length - 1];
    if (newest === undefined || newest.id === state.current) continue;
    const live = state.releases.find((r) => r.id === state.current);
    out.add({
      kind: 'release',
      subject,
      verdict: 'changed',
      owner: s.id,
      detail: `the live release ${state.current} (${live?.outcome ?? 'no record'}) is not the newest that passed its gate (${newest.id})${state.current < newest.id ? ': a rollback, or current switched by hand' : ''}`,
      properties: [{ name: 'release', declared: newest.id, live: state.current }],
    });
  }
}

function compareCompose(out: Findings, composed: readonly RuntimeService[], read: HostRead, localFiles: ReadonlyMap<string, string | null>): void {
  for (const s of composed) {
    const t = s.compose!;
    const c = t.names.map((n) => read.containers.byName.get(n)).find((x) => x !== undefined);
    const pinnedRead = read.files.get(`${s.directory}/current/.manage-apps/image`);
    const pinned = pinnedRead?.state === 'present' ? pinnedRead.text.trim() : null;
    if (read.containers.noDocker) {
      out.add({
        kind: 'image',
        subject: t.names[0]!,
        verdict: 'unknown',
        owner: s.id,
        detail: 'docker is not installed (or not usable by the ssh user) on the host',
      });
      continue;
    }
    if (c === undefined) {
      out.add({ kind: 'image', subject: t.names[0]!, verdict: 'missing', owner: s.id, detail: `no container of ${t.project}/${t.service}` });
      continue;
    }
    if (pinned !== null && c.image !== pinned) {
      const tag = /^[^@]+:([^/:@]+)$/.exec(c.image)?.[1];
      out.add({
        kind: 'image',
        subject: c.name,
        verdict: 'edited on host',
        owner: s.id,
        detail: `the container runs ${c.image}, the live release pins ${pinned} (re-tagged or recreated outside manage-apps)`,
        properties: [{ name: 'image', declared: pinned, live: c.image }],
        adoptable: tag !== undefined,
      });
    }
    const local = localFiles.get(s.id);
    const path = `${s.directory}/current/${t.file}`;
    if (local !== null && local !== undefined) {
      const live = read.files.get(path);
      if (live?.state === 'present' && normalText(live.text) !== normalText(local))
        out.add({
          kind: 'compose-file',
          subject: path,
          verdict: 'changed',
          owner: s.id,
          detail: `the live release's compose file differs from the repository's (changed on the host, or in the repository since the last deploy)`,
          diff: shortDiff(path, normalText(local), normalText(live.text)),
        });
    }
  }
}

/** JSON with object keys sorted and each reverse_proxy's upstreams sorted by dial (a swap reorders them live). */
export function canonicalJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonicalJson);
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const out: Record<string, unknown> = {};
    for (const [k, v] of entries) {
      let c = canonicalJson(v);
      if (k === 'upstreams' && Array.isArray(c)) c = [...c].sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
      out[k] = c;
    }
    return out;
  }
  return value;
}

interface Route {
  key: string;
  hosts: string;
  body: string;
}

/** The HTTP routes of a Caddy JSON config, keyed by server and matcher. */
function routesOf(config: unknown): Route[] {
  const servers = ((config as { apps?: { http?: { servers?: Record<string, { routes?: unknown[] }> } } })?.apps?.http?.servers ?? {}) as Record<
    string,
    { routes?: unknown[] }
  >;
  const out: Route[] = [];
  for (const [name, server] of Object.entries(servers))
    for (const r of server.routes ?? []) {
      const match = (r as { match?: { host?: string[] }[] }).match;
      const hosts = (match ?? []).flatMap((m) => m.host ?? []).join(', ') || '(every host)';
      out.push({ key: `${name} ${JSON.stringify(canonicalJson(match ?? null))}`, hosts, body: JSON.stringify(canonicalJson(r), null, 2) });
    }
  return out;
}

function compareCaddy(out: Findings, d: DeclaredHost, read: HostRead): void {
  if (d.caddyfile === null) return;
  const owner = d.services.find((s) => s.kind === 'edge')?.id ?? null;
  compareText(out, read, { kind: 'caddy', path: CADDYFILE, owner, declared: d.caddyfile, what: 'the Caddyfile' });
  const { live, declared } = read.caddy;
  if (live?.state !== 'present') {
    out.add({
      kind: 'caddy',
      subject: 'live config',
      verdict: 'unknown',
      owner,
      detail: `cannot read Caddy's live config through its admin socket: ${read.caddy.liveError || 'no answer'}`,
    });
    return;
  }
  if (declared?.state !== 'present') {
    out.add({
      kind: 'caddy',
      subject: 'live config',
      verdict: 'unknown',
      owner,
      detail: "the host's caddy could not adapt the rendered Caddyfile (is caddy installed there?)",
    });
    return;
  }
  let liveJson: unknown;
  let declaredJson: unknown;
  try {
    liveJson = JSON.parse(live.text);
    declaredJson = JSON.parse(declared.text);
  } catch {
    out.add({ kind: 'caddy', subject: 'live config', verdict: 'unknown', owner, detail: 'Caddy answered something that is not JSON' });
    return;
  }
  const a = JSON.stringify(canonicalJson(declaredJson));
  const b = JSON.stringify(canonicalJson(liveJson));
  if (a === b) return;
  // Route by route where the routes differ; the rest of the config as one finding.
  const dr = new Map(routesOf(declaredJson).map((r) => [r.key, r]));
  const lr = new Map(routesOf(liveJson).map((r) => [r.key, r]));
  let routeFindings = 0;
  for (const [key, r] of lr)
    if (!dr.has(key)) {
      routeFindings++;
      out.add({
        kind: 'caddy',
        subject: `route ${r.hosts}`,
        verdict: 'extra',
        owner,
        detail: `Caddy serves a route for ${r.hosts} that no manifest declares (added through the admin API or another config)`,
        diff: shortDiff('route', '', r.body),
      });
    }
  for (const [key, r] of dr) {
    const l = lr.get(key);
    if (l === undefined) {
      routeFindings++;
      out.add({
        kind: 'caddy',
        subject: `route ${r.hosts}`,
        verdict: 'missing',
        owner,
        detail: `Caddy does not serve the declared route for ${r.hosts}`,
      });
    } else if (l.body !== r.body) {
      routeFindings++;
      out.add({
        kind: 'caddy',
        subject: `route ${r.hosts}`,
        verdict: 'edited on host',
        owner,
        detail: `Caddy's live route for ${r.hosts} differs from the rendered one`,
        diff: shortDiff('route', r.body, l.body),
      });
    }
  }
  const strip = (j: unknown) => {
    const c = canonicalJson(j) as { apps?: { http?: { servers?: Record<string, { routes?: unknown }> } } };
    for (const s of Object.values(c.apps?.http?.servers ?? {})) delete s.routes;
    return JSON.stringify(c, null, 2);
  };
  if (routeFindings === 0 || strip(declaredJson) !== strip(liveJson))
    out.add({
      kind: 'caddy',
      subject: 'live config',
      verdict: 'edited on host',
      owner,
      detail: "Caddy's live config differs from the rendered Caddyfile (changed through the admin API, or loaded from another file)",
      diff: shortDiff('config', strip(declaredJson), strip(liveJson)),
    });
}

/** A managed block's lines, or null when the markers are not there. */
export function blockLines(text: string, start: string, end: string): string[] | null {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  const b = lines.indexOf(start);
  const e = b < 0 ? -1 : lines.indexOf(end, b + 1);
  return b < 0 || e < 0 ? null : lines.slice(b + 1, e).map((l) => l.trimEnd());
}

const hbaFields = (line: string) => line.trim().split(/\s+/).join(' ');

function compareHba(out: Findings, d: DeclaredHost, read: HostRead): void {
  const byCluster = new Map<string, typeof d.databases>();
  for (const x of d.databases) byCluster.set(x.cluster.name, [...(byCluster.get(x.cluster.name) ?? []), x]);
  for (const [cluster, dbs] of byCluster) {
    const state = read.clusters.get(cluster);
    const owner = `cluster ${cluster}`;
    if (state === undefined || !state.ok || state.hba === undefined || state.hbaFile === undefined) {
      out.add({
        kind: 'pg_hba',
        subject: cluster,
        verdict: 'unknown',
        owner,
        detail: `cannot read the cluster's pg_hba.conf: ${state?.error ?? 'no answer from psql'}`,
      });
      continue;
    }
    const declared = hbaLines(dbs.filter((x) => x.clientCidr !== undefined).map((x) => ({ database: x.name, user: x.user, address: x.clientCidr! })));
    const block = blockLines(state.hba, HBA_BEGIN, HBA_END);
    const path = state.hbaFile;
    if (block === null) {
      if (declared.length > 0)
        out.add({
          kind: 'pg_hba',
          subject: path,
          verdict: 'missing',
          owner,
          detail: `${path} has no managed block (run \`manage-apps db provision\`)`,
        });
    } else {
      const live = block.filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
      if (live.map(hbaFields).join('\n') !== declared.map(hbaFields).join('\n')) {
        const { verdict, why } = whoChanged(Buffer.from(`${state.hba}\n`), read.written.get(path));
        out.add({
          kind: 'pg_hba',
          subject: path,
          verdict,
          owner,
          detail: `the managed block of ${path} differs from what \`db provision\` writes: ${why}`,
          diff: shortDiff(path, declared.join('\n'), live.join('\n')),
        });
      }
    }
    // Outside the block: the operator's, unless a line names a managed database or user (pg_hba takes the first line that matches).
    const names = new Set(dbs.flatMap((x) => [x.name, x.user]));
    const lines = state.hba.split('\n');
    const b = lines.indexOf(HBA_BEGIN);
    const e = b < 0 ? -1 : lines.indexOf(HBA_END, b + 1);
    lines.forEach((line, i) => {
      if (b >= 0 && i >= b && i <= e) return;
      const f = line.trim().split(/\s+/);
      if (f[0] === undefined || f[0] === '' || f[0].startsWith('#') || f.length < 3) return;
      if (![f[1], f[2]].some((x) => x !== undefined && x.split(',').some((n) => names.has(hbaUnquote(n))))) return;
      out.add({
        kind: 'pg_hba',
        subject: `${path}:${i + 1}`,
        verdict: 'extra',
        owner,
        detail: `line ${i + 1} of ${path}, outside the managed block, admits a managed database or user: ${line.trim()}`,
      });
    });
  }
}

const LOOPBACK = /^(127\.|::1$|::ffff:127\.)/;

/** The service whose unit (a swap: one of its instances) runs in this systemd unit. */
const serviceOfUnit = (d: DeclaredHost, unit: string | null) =>
  unit === null
    ? undefined
    : d.services.find(
        (s) => s.unit !== undefined && (s.unit === unit || (s.swapPorts !== undefined && unit.startsWith(s.unit.replace(/\.service$/, '@')))),
      );

function comparePorts(out: Findings, d: DeclaredHost, host: Host, read: HostRead): void {
  const declared = new Map<number, string>();
  for (const e of d.ports) declared.set(e.port, e.owner);
  for (const s of d.services) for (const p of s.swapPorts ?? []) declared.set(p, s.id);
  declared.set(host.port ?? 22, 'sshd');
  // An edge serves HTTP (the redirect to HTTPS) besides its declared port.
  if (d.caddyfile !== null) for (const p of [80, 443]) if (!declared.has(p)) declared.set(p, 'the edge (Caddy)');
  const seen = new Set<number>();
  for (const l of read.listeners) {
    if (LOOPBACK.test(l.address) || l.address === 'localhost' || declared.has(l.port) || seen.has(l.port)) continue;
    seen.add(l.port);
    const service = serviceOfUnit(d, l.unit);
    const where = l.address === '*' || l.address === '0.0.0.0' || l.address === '::' ? 'every address' : l.address;
    out.add({
      kind: 'port',
      subject: String(l.port),
      verdict: 'extra',
      owner: service?.id ?? null,
      detail:
        service === undefined
          ? `TCP ${l.port} is open on ${where}${l.process ? ` by ${l.process}` : ''}${l.unit ? ` in ${l.unit}` : ''}, and no manifest declares it`
          : `${service.id} (${l.unit}) listens on TCP ${l.port}, its manifest declares ${service.port ?? 'no port'}`,
      properties: [{ name: 'port', declared: service?.port === undefined ? null : String(service.port), live: String(l.port) }],
      // Only a port a declared service holds can be written into its manifest.
      adoptable: service !== undefined && service.swapPorts === undefined,
    });
  }
  // A declared port another process holds.
  for (const s of d.services) {
    if (s.port === undefined || s.unit === undefined || s.swapPorts !== undefined) continue;
    const holder = read.listeners.find((l) => l.port === s.port && l.unit !== null);
    if (holder === undefined || serviceOfUnit(d, holder.unit) === s) continue;
    out.add({
      kind: 'port',
      subject: String(s.port),
      verdict: 'changed',
      owner: s.id,
      detail: `TCP ${s.port} is declared for ${s.id} (${s.unit}), but ${holder.process ?? 'another process'} in ${holder.unit} holds it`,
      properties: [{ name: 'holder', declared: s.unit, live: holder.unit }],
    });
  }
}

/** The "NAME<TAB>delivery<TAB>hmac-sha256:…" lines of a fingerprints file → delivery by name (the fingerprints are not kept). */
export function deliveredSecrets(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const [name, delivery] = line.split('\t');
    if (name) out.set(name, delivery ?? '');
  }
  return out;
}

function compareSecrets(out: Findings, d: DeclaredHost, read: HostRead): void {
  for (const s of d.services) {
    const declared = s.secrets ?? [];
    if (declared.length === 0) continue;
    const path = secretsFingerprintsPath(s);
    const live = read.files.get(path);
    if (live === undefined) continue;
    if (live.state !== 'present') {
      out.add({
        kind: 'secrets',
        subject: path,
        verdict: live.state === 'absent' ? 'missing' : 'unknown',
        owner: s.id,
        detail:
          live.state === 'absent'
            ? `no secrets delivered to ${s.id} (declared: ${declared.map((x) => x.name).join(', ')})`
            : `cannot read ${path} (root only)`,
      });
      continue;
    }
    const delivered = deliveredSecrets(live.text);
    compareGeneration(out, s.id, secretsDir(s), delivered, read);
    const properties: DriftProperty[] = [];
    for (const x of declared) {
      const got = delivered.get(x.name);
      if (got !== x.delivery) properties.push({ name: x.name, declared: x.delivery, live: got ?? null });
    }
    for (const [name, delivery] of delivered) if (!declared.some((x) => x.name === name)) properties.push({ name, declared: null, live: delivery });
    if (properties.length === 0) continue;
    const verdict = properties.every((p) => p.live === null) ? 'missing' : properties.every((p) => p.declared === null) ? 'extra' : 'changed';
    out.add({
      kind: 'secrets',
      subject: path,
      verdict,
      owner: s.id,
      detail: `the secrets delivered to ${s.id} are not the ones its manifest declares (names and deliveries compared; values never read)`,
      properties,
    });
  }
}

/**
 * A generation against its own fingerprints file: the names its env file sets and its
 * credential files are the ones it records (a name added to or taken out of secrets.env by hand,
 * a credential file removed). Names only; no value is read.
 */
function compareGeneration(out: Findings, owner: string, dir: string, recorded: ReadonlyMap<string, string>, read: HostRead): void {
  const wantEnv = [...recorded].filter(([, d]) => d === 'env').map(([n]) => n);
  const wantCred = [...recorded].filter(([, d]) => d === 'credential').map(([n]) => n);
  const envPath = `${dir}/${ENV_FILE_NAME}`;
  const env = read.envKeys.get(envPath);
  const haveEnv = env?.state === 'present' ? env.keys : [];
  if (env !== undefined && env.state !== 'present' && env.state !== 'absent')
    out.add({
      kind: 'env-file',
      subject: envPath,
      verdict: 'unknown',
      owner,
      detail: `cannot read ${envPath}${env.state === 'link' ? ' (a link)' : ''}`,
    });
  else if (env !== undefined)
    setDrift(out, { kind: 'env-file', subject: envPath, owner, what: `${envPath}`, want: wantEnv, have: haveEnv, record: 'its fingerprints file' });
  const creds = read.creds.get(dir);
  if (creds !== undefined)
    setDrift(out, {
      kind: 'secrets',
      subject: `${dir}/*.cred`,
      owner,
      what: `the credential files in ${dir}`,
      want: wantCred,
      have: creds,
      record: 'its fingerprints file',
    });
}

/** Names declared and names present: a finding when they differ (missing, extra, or both: edited on host). */
function setDrift(
  out: Findings,
  c: { kind: DriftKind; subject: string; owner: string; what: string; want: readonly string[]; have: readonly string[]; record: string },
): void {
  const missing = c.want.filter((n) => !c.have.includes(n));
  const extra = c.have.filter((n) => !c.want.includes(n));
  if (missing.length + extra.length === 0) return;
  out.add({
    kind: c.kind,
    subject: c.subject,
    verdict: extra.length === 0 ? 'missing' : missing.length === 0 ? 'extra' : 'edited on host',
    owner: c.owner,
    detail: `${c.what} ${[missing.length > 0 ? `lacks ${missing.join(', ')}` : '', extra.length > 0 ? `sets ${extra.join(', ')}` : ''].filter(Boolean).join(' and ')}, which ${c.record} does not say (names compared; values never read)`,
    properties: [...missing.map((n) => ({ name: n, declared: 'set', live: null })), ...extra.map((n) => ({ name: n, declared: null, live: 'set' }))],
  });
}

/**
 * The env files `db provision` writes database credentials into: the six variables it keeps are
 * set, and those that are not secret (host, port, database, user) hold what it would write now.
 * The other lines are the operator's; PGPASSWORD and DATABASE_URL are never read.
 */
function compareEnvFiles(out: Findings, d: DeclaredHost, read: HostRead): void {
  for (const e of d.envFiles) {
    const keys = read.envKeys.get(e.path);
    if (keys === undefined) continue;
    if (keys.state !== 'present') {
      out.add({
        kind: 'env-file',
        subject: e.path,
        verdict: keys.state === 'absent' ? 'missing' : 'unknown',
        owner: e.owner,
        detail:
          keys.state === 'absent'
            ? `${e.path} is not on the host (\`db provision\` writes the database credentials there)`
            : `cannot read ${e.path}${keys.state === 'link' ? ': it is a link (not followed)' : ''}`,
      });
      continue;
    }
    const values = read.envValues.get(e.path) ?? new Map<string, string>();
    const properties: DriftProperty[] = [];
    for (const k of e.keys) {
      if (!keys.keys.includes(k)) properties.push({ name: k, declared: 'set', live: null });
      else if (e.values[k] !== undefined && values.get(k) !== e.values[k])
        properties.push({ name: k, declared: e.values[k]!, live: values.get(k) ?? null });
    }
    if (properties.length === 0) continue;
    out.add({
      kind: 'env-file',
      subject: e.path,
      verdict: properties.every((p) => p.live === null) ? 'missing' : 'changed',
      owner: e.owner,
      detail: `the database credentials in ${e.path} are not the ones \`db provision\` writes (${properties.map((p) => p.name).join(', ')}; the password is never read)`,
      properties,
    });
  }
}

/**
 * The mesh: the config file against `net wireguard` (as text; its key lines are replaced on the
 * host before anything is sent), and the interface's peers as the kernel has them against the
 * config's peers: public key, allowed IPs (as a set), keepalive. Endpoints are not compared (a
 * peer roams, and a name resolves to an address), nor handshakes and counters.
 */
function compareWireguard(out: Findings, d: DeclaredHost, read: HostRead): void {
  const w = d.wireguard;
  if (w === null) return;
  const owner = `mesh ${w.iface}`;
  const file = compareText(out, read, { kind: 'wireguard', path: w.path, owner, declared: w.content, what: 'the WireGuard config' });
  const fileMatches = file?.state === 'present' && normalText(file.text) === normalText(w.content);
  const live = read.wireguard;
  if (live === undefined) return;
  if (live.state !== 'up') {
    out.add({
      kind: 'wireguard',
      subject: w.iface,
      verdict: live.state === 'none' ? 'unknown' : 'missing',
      owner,
      detail: live.state === 'none' ? 'wg is not installed on the host (wireguard-tools)' : `the interface ${w.iface} is not up: ${live.reason}`,
    });
    return;
  }
  const declared = new Map(wireguardPeers(w.content).map((p) => [p.publicKey, p]));
  const running = new Map(live.peers.map((p) => [p.publicKey, p]));
  // The kernel runs what someone set by hand (`wg set`) when the file is the declared one; else it may run the file.
  const changedVerdict: Verdict = fileMatches ? 'edited on host' : 'changed';
  for (const [key, p] of running)
    if (!declared.has(key))
      out.add({
        kind: 'wireguard',
        subject: `${w.iface} peer ${key}`,
        verdict: 'extra',
        owner,
        detail: `${w.iface} has a peer no host of the mesh declares (${key}, allowed IPs ${p.allowedIps})`,
        properties: [{ name: 'AllowedIPs', declared: null, live: p.allowedIps }],
      });
  for (const [key, p] of declared) {
    const l = running.get(key);
    if (l === undefined) {
      out.add({
        kind: 'wireguard',
        subject: `${w.iface} peer ${key}`,
        verdict: 'missing',
        owner,
        detail: `${w.iface} does not have the declared peer ${key}`,
      });
      continue;
    }
    const properties: DriftProperty[] = [];
    if (l.allowedIps !== p.allowedIps) properties.push({ name: 'AllowedIPs', declared: p.allowedIps, live: l.allowedIps });
    if (l.keepalive !== p.keepalive) properties.push({ name: 'PersistentKeepalive', declared: p.keepalive, live: l.keepalive });
    if (properties.length > 0)
      out.add({
        kind: 'wireguard',
        subject: `${w.iface} peer ${key}`,
        verdict: changedVerdict,
        owner,
        detail: `${w.iface}'s peer ${key} runs with ${properties.map((x) => `${x.name} ${x.live}`).join(', ')}, the mesh declares ${properties.map((x) => x.declared).join(', ')}`,
        properties,
      });
  }
}

export interface TunnelKeysRead {
  publicKeys: Map<string, string>;
  hostKeys: Map<string, string[]>;
  /** Hosts whose round trip failed. */
  unread: Set<string>;
}

function compareTunnels(out: Findings, d: DeclaredHost, read: HostRead, rendered: ReadonlyMap<string, string>, keys: TunnelKeysRead): void {
  for (const t of d.initiated)
    for (const path of [...rendered.keys()].filter((p) => p.startsWith(`${d.host.name}${t.dir}/`)).map((p) => p.slice(d.host.name.length)))
      compareText(out, read, {
        kind: 'tunnel-file',
        path,
        owner: `tunnel ${t.name}`,
        declared: rendered.get(`${d.host.name}${path}`)!,
        what: `tunnel ${t.name}'s file`,
      });
  if (d.served.length === 0) return;
  const dropIn = rendered.get(`${d.host.name}${SSHD_DROPIN}`);
  if (dropIn !== undefined)
    compareText(out, read, { kind: 'tunnel-file', path: SSHD_DROPIN, owner: 'tunnels', declared: dropIn, what: "the tunnels' sshd drop-in" });
  for (const user of [...new Set(d.served.map((t) => t.farUser))].sort()) {
    const path = authorizedKeysPath(user);
    const tunnels = d.served.filter((t) => t.farUser === user);
    const owner = `tunnel ${tunnels.map((t) => t.name).join(', ')}`;
    const blind = tunnels.filter((t) => keys.unread.has(t.initiator) || !keys.publicKeys.has(t.name));
    if (blind.length > 0) {
      out.add({
        kind: 'authorized-keys',
        subject: path,
        verdict: 'unknown',
        owner,
        detail: `the key of ${blind.map((t) => `${t.name} (on ${t.initiator})`).join(', ')} could not be read, so its line cannot be checked`,
      });
      continue;
    }
    const live = read.files.get(path);
    const declaredText = rendered.get(`${d.host.name}${path}`) ?? '';
    const declared = blockLines(declaredText, AUTHORIZED_KEYS_START, AUTHORIZED_KEYS_END) ?? [];
    if (live === undefined) continue;
    if (live.state !== 'present') {
      out.add({
        kind: 'authorized-keys',
        subject: path,
        verdict: live.state === 'absent' ? 'missing' : 'unknown',
        owner,
        detail: live.state === 'absent' ? `${path} is not on the host` : `cannot read ${path}`,
      });
      continue;
    }
    const block = blockLines(live.text, AUTHORIZED_KEYS_START, AUTHORIZED_KEYS_END);
    if (block === null) {
      out.add({ kind: 'authorized-keys', subject: path, verdict: 'missing', owner, detail: `${path} has no managed block` });
      continue;
    }
    if (block.join('\n') === declared.join('\n')) continue;
    const { verdict, why } = whoChanged(live.bytes, read.written.get(path));
    out.add({
      kind: 'authorized-keys',
      subject: path,
      verdict,
      owner,
      detail: `the managed block of ${path} differs from what \`tunnels up\` writes: ${why}`,
      diff: shortDiff(path, declared.join('\n'), block.join('\n')),
    });
  }
}

export interface CompareInput {
  declared: DeclaredHost;
  read: HostRead;
  released: RuntimeService[];
  composed: RuntimeService[];
  /** The repository's compose file of each compose service (null: unreadable). */
  composeFiles: ReadonlyMap<string, string | null>;
  /** `net tunnels`, rendered with the keys read on every host: path "<host><path>" → content. */
  tunnelFiles: ReadonlyMap<string, string>;
  keys: TunnelKeysRead;
}

export function compareHost(input: CompareInput): Finding[] {
  const { declared: d, read } = input;
  const out = new Findings(d.host.name);
  compareUnits(out, d, read);
  compareReleases(out, input.released, read);
  compareCompose(out, input.composed, read, input.composeFiles);
  compareCaddy(out, d, read);
  compareTunnels(out, d, read, input.tunnelFiles, input.keys);
  compareHba(out, d, read);
  compareSecrets(out, d, read);
  compareEnvFiles(out, d, read);
  compareWireguard(out, d, read);
  comparePorts(out, d, d.host, read);
  return out.list;
}

/** The tunnels' public keys (initiators) and sshd host keys (far hosts) the hosts' answers hold. */
export function tunnelKeys(declared: readonly DeclaredHost[], reads: ReadonlyMap<string, HostRead>): TunnelKeysRead {
  const publicKeys = new Map<string, string>();
  const hostKeys = new Map<string, string[]>();
  const unread = new Set<string>();
  for (const d of declared) {
    const read = reads.get(d.host.name);
    if (read === undefined) {
      unread.add(d.host.name);
      continue;
    }
    for (const t of d.initiated) {
      const f = read.files.get(`${keyPath(t)}.pub`);
      if (f?.state === 'present') publicKeys.set(t.name, f.text.trim().split(/\s+/).slice(0, 2).join(' '));
    }
    if (read.hostKeys.length > 0) hostKeys.set(d.host.name, read.hostKeys);
  }
  return { publicKeys, hostKeys, unread };
}

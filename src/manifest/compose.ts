/**
 * What manage-apps reads from a project's compose file (service.compose.file): whether it
 * parses, whether it defines the named service, the host ports that service publishes, its
 * image, its container name and whether it uses the host's network. `validate` reports what is
 * wrong at file:line:column (in the compose file or the manifest); the fleet model takes the
 * ports (the port registry and port_clash see them) and the image.
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { SourceDocument, type PathSegment } from '../source/document.js';
import type { Location, Problem } from '../problems.js';
import { looksLikeSecret, SECRET_KEY } from '../text/secrets.js';

export interface PublishedPort {
  port: number;
  /** Where it is written in the compose file. */
  path: PathSegment[];
}

export interface ComposeFacts {
  /** Host ports the service publishes (ports: "8080:80", "127.0.0.1:8080:80", {published: 8080}). */
  published: PublishedPort[];
  /** Port entries that cannot be read without the host's environment ("${PORT}:80") or a range. */
  unreadablePorts: { text: string; path: PathSegment[] }[];
  /** network_mode: host: the container listens on the host's ports directly. */
  networkHost: boolean;
  /** The image as the compose file writes it (may hold ${VARS}). */
  image?: string;
  containerName?: string;
  /** environment entries that carry a secret in the file itself. */
  secrets: { path: PathSegment[]; key: string }[];
  /** Hardening keys the compose file sets itself (user, read_only): manage-apps' override leaves them as written. */
  declares: string[];
  /** Its tmpfs mounts (the override adds /tmp only when none is there). */
  tmpfs: string[];
}

export type ComposeRead =
  | { ok: true; source: SourceDocument; facts: ComposeFacts; services: string[] }
  | { ok: false; kind: 'missing' | 'unreadable'; reason: string }
  | { ok: false; kind: 'syntax'; source: SourceDocument; problems: Problem[] }
  | { ok: false; kind: 'no-service'; source: SourceDocument; services: string[]; at: Location };

/** The compose file as problems show it: beside the manifest (both relative to the root). */
export const composeDisplay = (manifest: string, file: string): string =>
  manifest.includes('/') ? `${manifest.slice(0, manifest.lastIndexOf('/'))}/${file}` : file;

/** Compose files are a few KB; a larger one is refused rather than parsed (1 MiB). */
export const MAX_COMPOSE_BYTES = 1 << 20;

const cache = new Map<string, { read: ComposeRead; digest: string }>();

/** While `recordComposeReads` runs: each compose file read, by absolute path, and the sha256 of the text its facts came from. */
let recording: Map<string, string> | undefined;
/** A file that could not be read, or was read twice with different texts during one recording. */
export const UNREAD = 'unread';

/**
 * Runs `work` (synchronous: nothing else reads compose files meanwhile) and gives, for every
 * compose file it read, the sha256 of the text its facts were parsed from (UNREAD when it was
 * not parsed: missing, not a file, too large, or changed between two reads). The resolved-fleet
 * cache keys on exactly what the fleet was made from, not on what the file holds a moment later.
 */
export function recordComposeReads<T>(work: () => T): { result: T; digests: Map<string, string> } {
  const digests = new Map<string, string>();
  const outer = recording;
  recording = digests;
  try {
    return { result: work(), digests };
  } finally {
    recording = outer;
  }
}

function noteRead(absPath: string, digest: string): void {
  if (recording === undefined) return;
  const seen = recording.get(absPath);
  recording.set(absPath, seen === undefined || seen === digest ? digest : UNREAD);
}

/** Reads the compose file at `absPath` (shown as `file`) and the facts of `service`. Parsed once per file and text. */
export function readCompose(absPath: string, file: string, service: string): ComposeRead {
  const { read, digest } = readComposeOnce(absPath, file, service);
  noteRead(absPath, digest);
  return read;
}

function readComposeOnce(absPath: string, file: string, service: string): { read: ComposeRead; digest: string } {
  const unread = (read: ComposeRead) => ({ read, digest: UNREAD });
  let stat;
  try {
    stat = statSync(absPath);
  } catch {
    return unread({ ok: false, kind: 'missing', reason: `${file} does not exist` });
  }
  if (!stat.isFile()) return unread({ ok: false, kind: 'unreadable', reason: `${file} is not a regular file` });
  if (stat.size > MAX_COMPOSE_BYTES) return unread({ ok: false, kind: 'unreadable', reason: `${file} is larger than 1 MiB` });
  let text: string;
  try {
    text = readFileSync(absPath, 'utf8');
  } catch (error) {
    return unread({ ok: false, kind: 'unreadable', reason: `${file} cannot be read: ${(error as NodeJS.ErrnoException).code ?? String(error)}` });
  }
  // Keyed on the text, not on the size and modification time: a file rewritten within the same
  // tick with as many bytes must not keep its old facts in a process that loads the fleet again (ui).
  const key = `${absPath}\u0000${service}`;
  const digest = composeTextDigest(text);
  const hit = cache.get(key);
  if (hit && hit.digest === digest) return hit;
  const read = parseCompose(file, text, service);
  cache.set(key, { read, digest });
  return { read, digest };
}

/** What `recordComposeReads` gives for a compose file's text. */
export function composeTextDigest(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

export function parseCompose(file: string, text: string, service: string): ComposeRead {
  const source = SourceDocument.parseYaml(file, text);
  if (source.syntaxProblems.length > 0) return { ok: false, kind: 'syntax', source, problems: source.syntaxProblems };
  const root = source.value;
  const services = isRecord(root) && isRecord(root['services']) ? (root['services'] as Record<string, unknown>) : undefined;
  const names = services === undefined ? [] : Object.keys(services);
  const def = services?.[service];
  if (!isRecord(def)) {
    const at = services === undefined ? source.locate([]) : source.locate(['services'], { key: true });
    return { ok: false, kind: 'no-service', source, services: names, at };
  }
  const base: PathSegment[] = ['services', service];
  const tmpfs = def['tmpfs'];
  const facts: ComposeFacts = {
    published: [],
    unreadablePorts: [],
    networkHost: def['network_mode'] === 'host',
    secrets: [],
    declares: ['user', 'read_only'].filter((k) => def[k] !== undefined && def[k] !== null),
    tmpfs: (Array.isArray(tmpfs) ? tmpfs : tmpfs === undefined || tmpfs === null ? [] : [tmpfs]).map(String),
  };
  if (typeof def['image'] === 'string') facts.image = def['image'];
  if (typeof def['container_name'] === 'string') facts.containerName = def['container_name'];
  const ports = Array.isArray(def['ports']) ? def['ports'] : [];
  ports.forEach((entry, i) => {
    const path = [...base, 'ports', i];
    const published = publishedPort(entry);
    if (published === undefined) return;
    if (typeof published === 'number') facts.published.push({ port: published, path });
    else facts.unreadablePorts.push({ text: published.text, path });
  });
  const env = def['environment'];
  const envEntries: [string, unknown, PathSegment[]][] = Array.isArray(env)
    ? env.flatMap((e, i): [string, unknown, PathSegment[]][] => {
        if (typeof e !== 'string') return [];
        const eq = e.indexOf('=');
        return eq < 0 ? [] : [[e.slice(0, eq), e.slice(eq + 1), [...base, 'environment', i]]];
      })
    : isRecord(env)
      ? Object.entries(env).map(([k, v]): [string, unknown, PathSegment[]] => [k, v, [...base, 'environment', k]])
      : [];
  for (const [key, value, path] of envEntries) {
    if (value === null || value === undefined) continue;
    const text = String(value).trim();
    // ${VAR} is filled in from the host's env file at `up`: that is where secrets belong.
    if (text === '' || /^\$\{?[A-Za-z_][A-Za-z0-9_]*(:?-[^}]*)?\}?$/.test(text)) continue;
    if (SECRET_KEY.test(key) || looksLikeSecret(text)) facts.secrets.push({ path, key });
  }
  return { ok: true, source, facts, services: names };
}

/**
 * The host port of one `ports:` entry: a number, `{ text }` when it cannot be known here (a
 * ${VAR}, a range), undefined when nothing is published on the host (a container port only).
 */
export function publishedPort(entry: unknown): number | { text: string } | undefined {
  if (isRecord(entry)) {
    const p = entry['published'];
    if (p === undefined || p === null) return undefined;
    const n = typeof p === 'number' ? p : /^\d+$/.test(String(p)) ? Number(p) : undefined;
    return n ?? { text: String(p) };
  }
  if (typeof entry === 'number') return undefined;
  if (typeof entry !== 'string') return undefined;
  const spec = entry.replace(/\/(tcp|udp|sctp)$/, '');
  // [IP:]HOST:CONTAINER, where IP may be [v6]; a single number publishes a random host port.
  const parts = spec.startsWith('[') ? [spec.slice(0, spec.indexOf(']') + 1), ...spec.slice(spec.indexOf(']') + 2).split(':')] : spec.split(':');
  if (parts.length < 2) return undefined;
  const host = parts[parts.length - 2]!;
  if (host === '') return undefined;
  return /^\d+$/.test(host) ? Number(host) : { text: entry };
}

/** The repository of an image reference: without its tag or digest ("reg:5000/app:1" → "reg:5000/app"). */
export function imageRepository(image: string): string {
  const at = image.indexOf('@');
  const ref = at >= 0 ? image.slice(0, at) : image;
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  return colon > slash ? ref.slice(0, colon) : ref;
}

/** The tag of an image reference, if it names one. */
export function imageTag(image: string): string | undefined {
  const ref = image.split('@')[0]!;
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  return colon > slash ? ref.slice(colon + 1) : undefined;
}

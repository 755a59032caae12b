/**
 * "What everything depends on" (identity and OpenBao move last), decided by a small
 * documented heuristic (docs/analysis.md, "Drain"):
 * - identity / secrets by name: a word of the project (or cluster) name or of its owner is one
 *   of IDENTITY_WORDS / SECRET_WORDS (words split on anything but letters and digits);
 * - a database cluster with SHARED_CLUSTER_USERS or more consumer projects;
 * - anything with MANY_DEPENDANTS or more transitive dependants (services, fleet-wide).
 */
import { clusterKey, serviceKey, type FleetIndex, type NodeKey } from './topology.js';

export const IDENTITY_WORDS: readonly string[] = [
  'identity',
  'idp',
  'sso',
  'auth',
  'authn',
  'authz',
  'oauth',
  'oidc',
  'iam',
  'keycloak',
  'keycape',
  'authelia',
  'authentik',
  'lldap',
  'ldap',
  'privacyidea',
  'dex',
  'zitadel',
  'kanidm',
];
export const SECRET_WORDS: readonly string[] = ['openbao', 'bao', 'vault', 'secret', 'secrets', 'kms'];
export const SHARED_CLUSTER_USERS = 3;
export const MANY_DEPENDANTS = 5;

export type CoreReason = 'identity' | 'secrets' | 'shared-database' | 'many-dependants';

export interface CoreVerdict {
  reason: CoreReason;
  detail: string;
}

const words = (name: string | undefined): string[] =>
  (name ?? '')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);

/** identity or secrets, judged from names alone (the project or cluster, and its owner). */
export function nameKind(name: string, owner?: string): 'identity' | 'secrets' | undefined {
  const all = [...words(name), ...words(owner)];
  if (all.some((w) => SECRET_WORDS.includes(w))) return 'secrets';
  if (all.some((w) => IDENTITY_WORDS.includes(w))) return 'identity';
  return undefined;
}

/** Distinct services that rely on `key`, directly or through others. */
export function transitiveDependants(index: FleetIndex, key: NodeKey): Set<string> {
  const seen = new Set<string>();
  const queue: NodeKey[] = [key];
  for (let i = 0; i < queue.length; i++) {
    for (const e of index.consumersOf.get(queue[i]!) ?? []) {
      if (seen.has(e.from.id)) continue;
      seen.add(e.from.id);
      queue.push(serviceKey(e.from.id));
    }
  }
  seen.delete(key.slice(2));
  return seen;
}

export function coreVerdict(index: FleetIndex, key: NodeKey, dependants: number): CoreVerdict | undefined {
  const isCluster = key.startsWith('c:');
  const name = key.slice(2);
  const s = isCluster ? undefined : index.services.get(name);
  const c = isCluster ? index.clusters.get(name) : undefined;
  const kind = nameKind(s?.project ?? name, s?.owner ?? c?.owner);
  if (kind === 'identity') return { reason: 'identity', detail: 'identity: everything authenticates through it' };
  if (kind === 'secrets') return { reason: 'secrets', detail: 'secrets: everything reads its credentials from it' };
  if (c) {
    const users = new Set((index.consumersOf.get(clusterKey(c.name)) ?? []).map((e) => e.from.project));
    if (users.size >= SHARED_CLUSTER_USERS) return { reason: 'shared-database', detail: `database cluster shared by ${users.size} projects` };
  }
  if (dependants >= MANY_DEPENDANTS) return { reason: 'many-dependants', detail: `${dependants} services rely on it, directly or not` };
  return undefined;
}

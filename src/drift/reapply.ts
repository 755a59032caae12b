/**
 * `reapply`: what puts each finding of `drift` back as declared, through the paths that
 * install those things in the first place — `deploy` (the unit rendered now, the enabled state,
 * the image, a release, gated on readiness with the host's revert armed), `tunnels up`, `db
 * provision`, `net caddy --apply`, `net wireguard --apply`, `backups install` — and which findings no path of manage-apps can put back (a
 * process it did not start, a line of the operator's outside a managed block). A drop-in someone added is set aside (moved, never deleted) before the
 * deploy restarts its unit.
 */
import { quote } from '../transport/quote.js';
import { PRELUDE } from '../runtime/shell.js';
import { HOST_SECRETS_ROOT } from '../secrets/layout.js';
import { DROP_IN_DIRS } from './host-script.js';
import type { Finding } from './types.js';

/** Where a drop-in reapply set aside goes: one directory per run, the path's "/" as "%". */
export const SET_ASIDE_DIR = '/var/lib/manage-apps/set-aside';

export interface ReapplyPlan {
  /** Services to deploy again (the repository's artifact, the unit rendered now). */
  deploy: string[];
  /** Tunnels to bring up again. */
  tunnels: string[];
  /** Clusters whose managed pg_hba block `db provision` writes again. */
  clusters: string[];
  /** Edges that get the rendered Caddyfile again, and Caddy loads it (`net caddy --apply`). */
  caddy: string[];
  /** Hosts whose WireGuard config `net wireguard --apply` installs again and syncs into the interface. */
  wireguard: string[];
  /** Clusters whose backup unit and timer `backups install` writes again. */
  backups: string[];
  /** Services whose env file gets its database credentials again (`db provision` of their cluster). */
  envFiles: string[];
  /** Drop-ins to set aside, by host. */
  setAside: Map<string, string[]>;
  /** What reapply leaves, and why (the finding's id). */
  left: { id: string; why: string }[];
  /** Which step takes care of each finding (its id → "deploy shop", …). */
  by: Map<string, string>;
}

const backupClusters = (owner: string | null) => (owner?.startsWith('backup ') ? owner.slice('backup '.length).split(', ') : []);
const tunnelNames = (owner: string | null) => (owner?.startsWith('tunnel ') ? owner.slice('tunnel '.length).split(', ') : []);

export function planReapply(findings: readonly Finding[], services: ReadonlySet<string>, tunnelsByHost: ReadonlyMap<string, string[]>): ReapplyPlan {
  const plan: ReapplyPlan = {
    deploy: [],
    tunnels: [],
    clusters: [],
    caddy: [],
    wireguard: [],
    backups: [],
    envFiles: [],
    setAside: new Map(),
    left: [],
    by: new Map(),
  };
  const add = (list: string[], item: string) => {
    if (!list.includes(item)) list.push(item);
  };
  const leave = (f: Finding, why: string) => plan.left.push({ id: f.id, why });
  for (const f of findings) {
    if (f.verdict === 'unknown') {
      leave(f, `not read: ${f.detail}`);
      continue;
    }
    const owner = f.owner ?? '';
    switch (f.kind) {
      case 'unit':
      case 'unit-enabled':
      case 'drop-in':
      case 'release':
      case 'image':
      case 'compose-file':
      case 'tunnel-file':
      case 'authorized-keys': {
        if (f.kind === 'drop-in') {
          if (!DROP_IN_DIRS.some((d) => f.subject.startsWith(`${d}/`)) || !f.subject.endsWith('.conf')) {
            leave(f, 'not a drop-in path reapply sets aside');
            continue;
          }
          plan.setAside.set(f.host, [...(plan.setAside.get(f.host) ?? []), f.subject]);
        }
        if (backupClusters(f.owner).length > 0) {
          for (const c of backupClusters(f.owner)) add(plan.backups, c);
          plan.by.set(f.id, `backups install ${backupClusters(f.owner).join(' ')}`);
        } else if (services.has(owner)) {
          add(plan.deploy, owner);
          plan.by.set(f.id, `deploy ${owner}`);
        } else if (tunnelNames(f.owner).length > 0 || owner === 'tunnels') {
          const names = owner === 'tunnels' ? (tunnelsByHost.get(f.host) ?? []) : tunnelNames(f.owner);
          for (const n of names) add(plan.tunnels, n);
          plan.by.set(f.id, `tunnels up ${names.join(' ')}`);
        } else if (f.kind === 'unit' && f.verdict === 'extra')
          leave(f, 'installed by manage-apps, declared by nothing: if it is really gone, `systemctl disable --now` it and remove the file');
        else leave(f, 'no declared service or tunnel owns it');
        break;
      }
      case 'pg_hba': {
        const cluster = owner.replace(/^cluster /, '');
        if (/:\d+$/.test(f.subject)) leave(f, "a line of the operator's, outside the managed block: edit it by hand");
        else {
          add(plan.clusters, cluster);
          plan.by.set(f.id, `db provision ${cluster}`);
        }
        break;
      }
      case 'caddy':
        add(plan.caddy, f.host);
        plan.by.set(f.id, `net caddy --apply on ${f.host}`);
        break;
      case 'wireguard':
        if (f.subject.includes('/') || f.subject.includes(' peer ')) {
          add(plan.wireguard, f.host);
          plan.by.set(f.id, `net wireguard --apply on ${f.host}`);
        } else leave(f, 'the interface is not up: start it (systemctl start wg-quick@<interface>)');
        break;
      case 'env-file':
        if (f.subject.startsWith(`${HOST_SECRETS_ROOT}/`))
          leave(f, "secrets are delivered from the operator's store, not by reapply: deliver them again");
        else if (services.has(owner)) {
          add(plan.envFiles, owner);
          plan.by.set(f.id, `db provision for ${owner}`);
        } else leave(f, 'no declared service owns it');
        break;
      case 'secrets':
        leave(f, "secrets are delivered from the operator's store, not by reapply: deliver them again");
        break;
      case 'port':
        leave(
          f,
          f.adoptable
            ? `a declared service listens there: \`manage-apps adopt ${f.id}\` makes its manifest say so`
            : 'a process manage-apps did not start: stop it by hand',
        );
        break;
      default:
        leave(f, 'nothing in manage-apps installs it');
    }
  }
  return plan;
}

/** Moves each drop-in into one directory of this run (kept, never deleted), then daemon-reload. Prints "@@aside<TAB>path<TAB>ok|error". */
export function setAsideScript(paths: readonly string[], stamp: string): string {
  const dir = `${SET_ASIDE_DIR}/${stamp}`;
  return `${PRELUDE}
$SUDO mkdir -p -m 700 ${quote(dir)} || { printf '@@aside\\t-\\terror\\n'; exit 1; }
${paths
  .map(
    (p) =>
      `if [ -f ${quote(p)} ] && [ ! -L ${quote(p)} ] && $SUDO mv -f -- ${quote(p)} ${quote(`${dir}/${p.replace(/\//g, '%')}`)}; then printf '@@aside\\t%s\\tok\\n' ${quote(p)}; else printf '@@aside\\t%s\\terror\\n' ${quote(p)}; fi`,
  )
  .join('\n')}
$SUDO systemctl daemon-reload
`;
}

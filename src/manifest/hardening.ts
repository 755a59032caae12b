/**
 * service.hardening (infra/v2): what a service declares it writes, and the hardening directives
 * it relaxes, each with its reason. The renderers (render/hardening.ts for systemd units,
 * render/compose-hardening.ts for Compose services) apply them; this module only knows the
 * names, so `validate` can locate every mistake (docs/manifest.md#hardening).
 *
 *   hardening:
 *     state_directory: quinn            # /var/lib/quinn, writable by the service (StateDirectory=)
 *     read_write_paths: [/srv/uploads]  # more paths it writes (ReadWritePaths=)
 *     relax:
 *       - directive: PrivateDevices
 *         reason: needs /dev/nvidia0 for CUDA
 *       - directive: RestrictAddressFamilies
 *         value: AF_UNIX AF_INET AF_INET6 AF_NETLINK
 *         reason: lists network interfaces (getifaddrs)
 */
import type { Location, Problem } from '../problems.js';
import { problem } from '../problems.js';
import { nameIssue } from '../names.js';
import type { PathSegment, SourceDocument } from '../source/document.js';
import { closest } from '../text/suggest.js';
import { hasControlCharacter } from '../text/control.js';

/** The systemd directives a rendered unit sets by default, in the order the unit lists them; each may be relaxed. */
export const UNIT_DIRECTIVES = [
  'DynamicUser',
  'NoNewPrivileges',
  'ProtectSystem',
  'ProtectHome',
  'PrivateTmp',
  'PrivateDevices',
  'PrivateUsers',
  'PrivateMounts',
  'CapabilityBoundingSet',
  'RestrictAddressFamilies',
  'SystemCallFilter',
  'SystemCallArchitectures',
  'MemoryDenyWriteExecute',
  'LockPersonality',
  'RestrictRealtime',
  'RestrictSUIDSGID',
  'RestrictNamespaces',
  'ProtectClock',
  'ProtectHostname',
  'ProtectKernelTunables',
  'ProtectKernelModules',
  'ProtectKernelLogs',
  'ProtectControlGroups',
  'ProtectProc',
  'ProcSubset',
  'RemoveIPC',
  'UMask',
] as const;
export type UnitDirective = (typeof UNIT_DIRECTIVES)[number];

/** What a Compose service gets (the keys of its service in manage-apps' override file); each may be relaxed. */
export const COMPOSE_DIRECTIVES = ['read_only', 'cap_drop', 'no-new-privileges', 'user'] as const;

export interface Relaxation {
  directive: string;
  /** The value rendered instead of the default; without it the directive is left out. */
  value?: string;
  reason: string;
}

export interface ManifestHardening {
  state_directory?: string;
  read_write_paths?: string[];
  relax?: Relaxation[];
}

/** A relaxed value goes into a unit line as is: plain words only (no "%" specifiers, "$" variables, quotes or line breaks). */
export const RELAX_VALUE = /^[A-Za-z0-9 _@:.,/=+~-]+$/;
/** A state directory is a relative path under /var/lib (systemd's StateDirectory=). */
export const STATE_DIRECTORY = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)*$/;
/** Paths a unit names: plain characters only (no spaces, quotes, "%" or "$"). */
export const UNIT_PATH = /^\/[A-Za-z0-9._/@+,:=-]*$/;
const MAX_REASON = 200;

export interface HardeningTarget {
  /** Compose service (its own directive set) or a systemd unit. */
  compose: boolean;
  /** service.user, when declared. */
  user?: string;
  /** service.directory (default /srv/<project>): releases live under it. */
  directory: string;
}

/** Every mistake in service.hardening, located. Run once the schema has checked the types. */
export function hardeningProblems(source: SourceDocument, hardening: ManifestHardening | undefined, target: HardeningTarget): Problem[] {
  if (hardening === undefined) return [];
  const out: Problem[] = [];
  const at = (...path: PathSegment[]): Location => source.locate(['service', 'hardening', ...path]);
  const add = (where: Location, message: string, hint?: string) => out.push(problem('hardening', where, message, hint));
  if (target.compose) {
    if (hardening.state_directory !== undefined)
      add(
        at('state_directory'),
        'a Compose service has no state_directory: Docker runs it',
        'declare a volume in the compose file for what it keeps',
      );
    if (hardening.read_write_paths !== undefined)
      add(
        at('read_write_paths'),
        'a Compose service has no read_write_paths: its root file system is read-only, volumes and tmpfs are writable',
        'declare a volume (or a tmpfs) in the compose file for what it writes',
      );
  }
  const state = hardening.state_directory;
  if (state !== undefined && !target.compose && (!STATE_DIRECTORY.test(state) || state.split('/').includes('..') || state.length > 128)) {
    add(
      at('state_directory'),
      `state_directory ${JSON.stringify(state)} is not a plain relative path`,
      'a name under /var/lib, e.g. quinn or quinn/uploads (letters, digits, ".", "_", "-")',
    );
  }
  const releaseDirs = ['current', 'releases', '.swap'].map((d) => `${target.directory.replace(/\/+$/, '')}/${d}`);
  (target.compose ? [] : (hardening.read_write_paths ?? [])).forEach((path, i) => {
    const issue =
      nameIssue('path', path) ??
      (UNIT_PATH.test(path) ? undefined : 'has a character a unit cannot hold (only letters, digits and . _ / @ + , : = -)');
    if (issue !== undefined) return add(at('read_write_paths', i), `read_write_paths entry ${JSON.stringify(path)} ${issue}`);
    const clean = path.replace(/\/+$/, '') || '/';
    if (clean === '/')
      return add(
        at('read_write_paths', i),
        'read_write_paths "/" would make the whole file system writable',
        'name the directories it writes, or relax ProtectSystem with a reason',
      );
    const inRelease = releaseDirs.find((d) => clean === d || clean.startsWith(`${d}/`));
    if (inRelease !== undefined)
      add(
        at('read_write_paths', i),
        `${path} is inside ${inRelease}: releases are replaced by every deploy and stay read-only`,
        "keep what it writes in its state directory (hardening.state_directory, or stateful: true) or outside the service directory's releases",
      );
  });
  const known: readonly string[] = target.compose ? COMPOSE_DIRECTIVES : UNIT_DIRECTIVES;
  const seen = new Map<string, number>();
  (hardening.relax ?? []).forEach((r, i) => {
    if (!known.includes(r.directive)) {
      const other: readonly string[] = target.compose ? UNIT_DIRECTIVES : COMPOSE_DIRECTIVES;
      const near = closest(r.directive, known);
      const hint =
        near !== undefined
          ? `did you mean ${near}?`
          : other.includes(r.directive)
            ? `${r.directive} is a ${target.compose ? 'systemd unit' : 'Compose'} setting; this service ${target.compose ? 'is a Compose service' : 'runs as a systemd unit'}: one of ${known.join(', ')}`
            : `one of ${known.join(', ')}`;
      add(at('relax', i, 'directive'), `${JSON.stringify(r.directive)} is not a hardening directive manage-apps sets`, hint);
    } else if (seen.has(r.directive)) {
      add(at('relax', i, 'directive'), `${r.directive} is relaxed twice (first at relax[${seen.get(r.directive)}])`, 'one entry per directive');
    } else seen.set(r.directive, i);
    if (r.directive === 'DynamicUser' && target.user !== undefined)
      add(
        at('relax', i, 'directive'),
        `the service runs as its declared user ${target.user}: DynamicUser is not rendered, there is nothing to relax`,
        'remove this entry',
      );
    const reason = r.reason.trim();
    if (reason === '' || hasControlCharacter(r.reason) || r.reason.length > MAX_REASON) {
      add(
        at('relax', i, 'reason'),
        reason === ''
          ? 'the reason is empty'
          : r.reason.length > MAX_REASON
            ? `the reason is ${r.reason.length} characters long (at most ${MAX_REASON})`
            : 'the reason contains a control character (it is written into the unit as a one-line comment)',
        'say in one line what needs it, e.g. "needs /dev/nvidia0 for CUDA"',
      );
    }
    if (r.value !== undefined) {
      if (target.compose)
        add(
          at('relax', i, 'value'),
          'a Compose relaxation takes no value: the directive is left out of the override',
          'remove value, or set the key in the compose file itself',
        );
      else if (!RELAX_VALUE.test(r.value))
        add(
          at('relax', i, 'value'),
          `value ${JSON.stringify(r.value)} cannot be written into a unit`,
          'plain words: letters, digits, spaces and _ @ : . , / = + ~ -',
        );
    }
  });
  return out;
}

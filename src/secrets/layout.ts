/**
 * Where a host keeps delivered secrets (docs/secrets.md#where-a-host-keeps-them): the paths the
 * rendered units and compose overrides name, and the scripts write. Names only, no I/O.
 */
import { validName } from '../transport/quote.js';

/** Root's tree on a host (a PID-mode service on this machine uses `<state dir>/secrets`). */
export const HOST_SECRETS_ROOT = '/var/lib/manage-apps/secrets';
export const FINGERPRINT_HEADER = '# manage-apps secret fingerprints v1';
export const ENV_FILE_NAME = 'secrets.env';

/** The directory of one service's secrets under a root: <root>/<environment>/<project>. */
export function serviceSecretsDir(root: string, environment: string, project: string): string {
  return `${root}/${validName('environment', environment)}/${validName('project', project)}`;
}

/** The path a unit or compose file names: always through `current`, so a switch needs no re-render. */
export function currentPath(root: string, environment: string, project: string, file: string): string {
  return `${serviceSecretsDir(root, environment, project)}/current/${file}`;
}

export const credentialFile = (name: string) => `${name}.cred`;

/**
 * How credentials reach a rendered unit on a host: `encrypted` by systemd-creds and loaded with
 * LoadCredentialEncrypted= (systemd 250 and later), or `file`, a root-only plain file loaded with
 * LoadCredential= (systemd 247 to 249, which have credentials but no systemd-creds). Older
 * systemd has no credentials at all: `none`.
 */
export type CredentialStore = 'encrypted' | 'file' | 'none';
export const SYSTEMD_CREDS_SINCE = 250;
export const SYSTEMD_LOAD_CREDENTIAL_SINCE = 247;

/** The store for a host whose systemd is `version` (undefined: not given, a current systemd). */
export function credentialStore(version: number | undefined): CredentialStore {
  if (version === undefined || version >= SYSTEMD_CREDS_SINCE) return 'encrypted';
  return version >= SYSTEMD_LOAD_CREDENTIAL_SINCE ? 'file' : 'none';
}

/** The root-only directory (0700) of a generation holding its plain credential files (0400), for the `file` store. */
export const PLAIN_CREDENTIALS_DIR = 'credentials';
export const plainCredentialFile = (name: string) => `${PLAIN_CREDENTIALS_DIR}/${name}`;

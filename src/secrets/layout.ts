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

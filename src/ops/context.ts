/**
 * What every ops command shares: the loaded fleet, one transport per host (ssh with the
 * user's config, or this machine for PID mode), and the runtime view of each service.
 */
import { composeHardening } from '../render/compose-hardening.js';
import { join } from 'node:path';
import { edgeProbeName, type Fleet, type Host, type Service } from '../fleet/model.js';
import { fileSafe, validName } from '../transport/quote.js';
import { LocalTransport } from '../transport/local.js';
import { SshTransport, type PendingScript, type SshOptions } from '../transport/ssh.js';
import type { Transport } from '../transport/types.js';
import { UsageError } from '../errors.js';
import { stateDirWord } from '../runtime/pid.js';
import { runtimeOf } from '../runtime/registry.js';
import type { ActivationOptions, ActivationRuntime } from '../runtime/runtime.js';
import type { RuntimeService } from '../runtime/types.js';
import type { Shell } from '../transport/quote.js';
import type { OpsSettings } from './settings.js';
import { isThisMachine } from './this-machine.js';
import { currentPath, ENV_FILE_NAME, HOST_SECRETS_ROOT } from '../secrets/layout.js';

export class Ops {
  private readonly transports = new Map<string, Transport>();
  /** Scripts whose ssh connections were started before the fleet was loaded (see prewarmHosts); a host's first script runs there. */
  readonly pending = new Map<string, PendingScript>();

  constructor(
    readonly fleet: Fleet,
    readonly settings: OpsSettings,
  ) {}

  host(service: Service): Host | undefined {
    return service.host === undefined ? undefined : this.fleet.hosts.find((h) => h.name === service.host);
  }

  /** The state directory for this machine's PID-mode services. */
  get localStateDir(): string {
    return this.settings.stateDir ?? join(this.fleet.root, '.state');
  }

  isLocal(host: Host): boolean {
    return isThisMachine(host);
  }

  transport(host: Host): Transport {
    let t = this.transports.get(host.name);
    if (!t) {
      if (this.isLocal(host)) t = new LocalTransport(host.name);
      else {
        const options: SshOptions = { connectTimeoutS: this.settings.connectTimeoutS };
        if (this.settings.sshConfig !== undefined) options.configFile = this.settings.sshConfig;
        if (this.settings.controlDir !== undefined) options.controlDir = this.settings.controlDir;
        // Its first script takes the connection prewarm opened for this host, if one is still waiting.
        t = new SshTransport(host.name, host.alias, options, () => {
          const started = this.pending.get(host.name);
          this.pending.delete(host.name);
          return started;
        });
      }
      this.transports.set(host.name, t);
    }
    return t;
  }

  /** Where PID-mode files live for a host: <root>/.state here, $HOME/.local/state/manage-apps there. */
  stateWord(host: Host): Shell {
    return stateDirWord(this.isLocal(host) ? this.localStateDir : undefined);
  }

  /** The runtime view of a service: validated names, the command, where it runs, its environment. */
  runtime(service: Service): RuntimeService {
    validName('project', service.project);
    validName('environment', service.environment);
    validName('http path', service.health.readiness);
    validName('http path', service.health.liveness);
    const host = this.host(service);
    const rs: RuntimeService = {
      id: service.id,
      key: fileSafe(service.id),
      readiness: service.health.readiness,
      liveness: service.health.liveness,
    };
    if (service.unit !== undefined) rs.unit = validName('unit', service.unit);
    if (service.port !== undefined) rs.port = service.port;
    const tlsName = edgeProbeName(this.fleet, service);
    if (tlsName !== undefined) rs.tls = { name: validName('host', tlsName) };
    if (service.envFile !== undefined) rs.envFile = validName('path', service.envFile);
    if ((service.secrets ?? []).some((d) => d.delivery === 'env')) {
      const root = host !== undefined && this.isLocal(host) ? join(this.localStateDir, 'secrets') : HOST_SECRETS_ROOT;
      rs.secretsEnvFile = validName('path', currentPath(root, service.environment, service.project, ENV_FILE_NAME));
    }
    // What else its runtime needs (the directory, the compose names, the command and state directory, …).
    const view = runtimeOf(service).view(service, rs, {
      remote: host !== undefined && !this.isLocal(host),
      state: host === undefined ? undefined : this.stateWord(host),
    });
    // A Compose service's override carries the hardening its release runs with (docs/render.md#hardening).
    if (view.compose !== undefined) view.compose.hardening = composeHardening(service);
    return view;
  }

  /** How a release of this service is put into service on its host (the deploy path's only runtime seam). */
  activation(service: Service, imageRef?: string, options?: ActivationOptions): ActivationRuntime {
    const { releases, noDeploy } = runtimeOf(service);
    if (releases === undefined) throw new UsageError(`${service.id}: no releases to activate (${noDeploy ?? 'its runtime ships none'})`);
    return releases.activation(this.runtime(service), imageRef, options);
  }
}

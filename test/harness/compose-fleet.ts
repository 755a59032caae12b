// A fleet of test hosts for Compose services: a registry host (dockerd and a real registry with
// htpasswd auth, where the images are built from files the test writes and pushed), hosts that
// run dockerd and are logged in to that registry, and hosts without Docker (an edge, say). The
// compose tests share it instead of each setting it up again (runtime, secrets, move, recover).
import {
  buildAndPush,
  dockerLogin,
  dockerSkipReason,
  prepareDockerHost,
  REGISTRY_PORT,
  waitForDocker,
  writeImageContexts,
  type ImageSpec,
} from './docker.js';
import { TestFleet, type HostPreparation } from './test-fleet.js';

export interface ComposeFleetSpec {
  /** The registry host's name; the registry is `<name>:5000`. */
  registry: string;
  /** Hosts running dockerd, logged in to the registry. */
  docker: readonly string[];
  /** Hosts without Docker. */
  plain?: readonly string[];
  /** The images built on the registry host, by name. */
  images: Record<string, ImageSpec>;
  /** The reference each image is pushed as, given the registry (`reg:5000`) and the image's name. */
  refOf: (registry: string, name: string) => string;
  /** More preparation of a host, after Docker's (files in its upper layer). */
  prepareHost?: (h: HostPreparation) => void;
}

export interface ComposeFleet {
  fleet: TestFleet;
  /** `<registry host>:5000` */
  registry: string;
  /** The digest (sha256:…) the registry gave each image, by name. */
  digests: Record<string, string>;
}

export async function composeFleet(spec: ComposeFleetSpec): Promise<ComposeFleet> {
  const reason = dockerSkipReason();
  if (reason) throw new Error(`Docker on test hosts: ${reason}`);
  const registry = `${spec.registry}:${REGISTRY_PORT}`;
  const docker = new Set(spec.docker);
  const fleet = await TestFleet.up(
    { names: [spec.registry, ...spec.docker, ...(spec.plain ?? [])] },
    {
      prepareHost: (h) => {
        if (h.name === spec.registry) {
          prepareDockerHost(h.upperDir, { registry: true, insecureRegistries: [registry] });
          writeImageContexts(h.upperDir, spec.images);
        } else if (docker.has(h.name)) prepareDockerHost(h.upperDir, { insecureRegistries: [registry] });
        spec.prepareHost?.(h);
      },
    },
  );
  try {
    await Promise.all([waitForDocker(fleet, spec.registry, { registry: true }), ...spec.docker.map((h) => waitForDocker(fleet, h))]);
    await Promise.all([spec.registry, ...spec.docker].map((h) => dockerLogin(fleet, h, registry)));
    const digests: Record<string, string> = {};
    await Promise.all(
      Object.keys(spec.images).map(async (name) => {
        digests[name] = await buildAndPush(fleet, spec.registry, name, spec.refOf(registry, name));
      }),
    );
    return { fleet, registry, digests };
  } catch (error) {
    await fleet.down();
    throw error;
  }
}

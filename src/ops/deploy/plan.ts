/** Which strategy a service deploys with, and the plan `--dry-run` prints. */
import type { Host, Service } from '../../fleet/model.js';
import { leavesProject } from '../../checks/project-paths.js';
import { UsageError } from '../../errors.js';
import { renderTimer, renderUnit, UnitError } from '../../render/systemd-unit.js';
import { validName } from '../../transport/quote.js';
import { releaseId, resolveArtifact, type Artifact } from '../artifact.js';
import type { Ops } from '../context.js';
import { readyTimeout } from '../lifecycle.js';
import { composeDeploySteps } from '../../runtime/compose.js';
import { launchdDeploySteps } from '../../runtime/launchd.js';
import { runtimeOf } from '../../runtime/registry.js';
import { composeImageRef } from '../image.js';
import type { Selection } from '../selection.js';
import type { DeployOptions, DeployPlanEntry, DeployReport, DeployResult, DeployTimings, Strategy } from './types.js';

export interface Decided {
  strategy: Strategy;
  artifactPath?: string;
  artifactBase?: string;
}

/** `refused`: the manifest asks for something deploy must not do (a failure, not a skip). */
export function decideStrategy(service: Service, options: Pick<DeployOptions, 'artifact' | 'strategy'>): Decided | { error: string; refused?: true } {
  // A compose service ships its compose file's directory (or --artifact) and pins an image.
  if (service.compose !== undefined) {
    if (options.strategy !== undefined && options.strategy !== 'compose')
      return { error: `a compose service is deployed with the compose strategy, not ${options.strategy}` };
    const outside = options.artifact === undefined ? leavesProject(service.compose.file, service.projectDir) : undefined;
    if (outside !== undefined)
      return {
        error: `service.compose.file ${JSON.stringify(service.compose.file)} ${outside}: its directory is not shipped (validate says where)`,
        refused: true,
      };
    return {
      strategy: 'compose',
      ...(options.artifact !== undefined
        ? { artifactPath: options.artifact, artifactBase: process.cwd() }
        : { artifactPath: service.compose.bundleDir, artifactBase: service.projectDir }),
    };
  }
  const { releases, noDeploy } = runtimeOf(service);
  if (releases === undefined) return { error: noDeploy ?? 'its runtime ships no releases' };
  const artifact =
    options.artifact !== undefined
      ? { artifactPath: options.artifact, artifactBase: process.cwd() }
      : service.artifact !== undefined
        ? { artifactPath: service.artifact, artifactBase: service.projectDir }
        : undefined;
  // The manifest's artifact stays inside the project (links resolved, checked again here: the tree may have changed since validate); --artifact is the operator's.
  const outside = options.artifact === undefined && service.artifact !== undefined ? leavesProject(service.artifact, service.projectDir) : undefined;
  if (outside !== undefined)
    return {
      error: `service.artifact ${JSON.stringify(service.artifact)} ${outside}: nothing outside the project is shipped (pass --artifact to ship it yourself)`,
      refused: true,
    };
  const strategy = options.strategy ?? (artifact ? 'release' : service.deployScript !== undefined ? 'script' : undefined);
  if (strategy === 'script') {
    if (service.deployScript === undefined) return { error: 'no service.deploy script to run' };
    if (service.unit === undefined) return { error: 'no systemd unit to restart after the script' };
    return { strategy };
  }
  if (strategy === 'release') {
    if (!artifact) return { error: 'no artifact: set service.artifact or pass --artifact DIR|ARCHIVE' };
    if (service.command === undefined && service.unit === undefined) return { error: 'no service.command to render a unit from' };
    return { strategy, ...artifact };
  }
  if (service.command !== undefined) return { error: 'no artifact: set service.artifact or pass --artifact DIR|ARCHIVE' };
  return { error: 'nothing to deploy: no service.artifact, service.command or service.deploy' };
}

export function emptyTimings(): DeployTimings {
  return { totalMs: 0, lockMs: 0, shipMs: 0, activateMs: 0, gateMs: null, overheadMs: null };
}

function unitText(service: Service, host: Host, what: 'unit' | 'timer' = 'unit'): string | undefined {
  if (service.command === undefined) return undefined;
  try {
    // A scheduled job's timer ships beside its unit (.units/<id>.timer).
    if (what === 'timer') return service.schedule === undefined ? undefined : renderTimer(service, host);
    // A swap runs the release as a templated unit <stem>@.service (render/systemd-unit.ts; runtime/systemd-swap.ts runs it).
    return renderUnit(service, host, service.swapPorts === undefined ? {} : { template: 'swap' });
  } catch (error) {
    if (error instanceof UnitError)
      throw new UsageError(`${service.id}: ${error.message} (${service.manifest}: ${error.path.join('.')})`, error.hint);
    throw error;
  }
}

/** The counts of a deploy run: one skipped because one it depends on failed is skipped, not a second failure. */
export function deploySummary(results: readonly Pick<DeployResult, 'ok' | 'outcome'>[]): DeployReport['summary'] {
  return {
    deployed: results.filter((r) => r.ok && r.outcome === 'deployed').length,
    failed: results.filter((r) => !r.ok && r.outcome !== 'skipped').length,
    skipped: results.filter((r) => r.outcome === 'skipped').length,
  };
}

/** Services in a bulk deploy (no project named) leave edges alone: an edge is deployed only when named. */
export function deployable(selection: Selection): { services: Service[]; skipped: Service[] } {
  const services: Service[] = [];
  const skipped: Service[] = [];
  for (const s of selection.services) (s.kind === 'edge' && !selection.named.has(s.id) ? skipped : services).push(s);
  return { services, skipped };
}

export interface Planned {
  entry: DeployPlanEntry;
  decided?: Decided;
  artifact?: Artifact;
  unit?: string;
  /** A scheduled job: its timer, shipped and installed beside the unit. */
  timer?: string;
  /** launchd: the property list the release runs with, shipped beside it. */
  plist?: string;
  /** Compose: the image reference the new release pins. */
  imageRef?: string;
  /** Not deployed because the manifest asks for what deploy refuses: a failure, not a skip. */
  refused?: boolean;
}

/** The plan of one service's deploy, for --dry-run and the progress titles. */
export async function planDeploy(ops: Ops, service: Service, options: DeployOptions): Promise<Planned> {
  const host = ops.host(service)!;
  const entry: DeployPlanEntry = { id: service.id, host: host.name, alias: host.alias, strategy: null, steps: [] };
  validName('path', service.directory);
  const decided = decideStrategy(service, options);
  if ('error' in decided) return { entry: { ...entry, skipped: decided.error }, ...(decided.refused ? { refused: true } : {}) };
  entry.strategy = decided.strategy;
  const rs = ops.runtime(service);
  const timeout = readyTimeout(service, options) / 1000;
  const wait =
    service.port === undefined
      ? `wait until ${rs.unit ?? rs.launchd?.label ?? 'the container'} keeps running`
      : `wait up to ${timeout}s for HTTP 2xx on 127.0.0.1:${service.port}${service.health.readiness} (probed on ${host.name})`;
  const lockStep = `take the deploy lock ${service.directory}/.deploy.lock on ${host.name} (${options.wait ? 'waiting for it' : 'fail if held'}; a provably stale lock is broken)`;
  if (decided.strategy === 'script') {
    entry.steps = [
      lockStep,
      `run ${service.deployScript} locally in ${service.projectDir} with MANAGE_APPS_* variables`,
      `restart ${rs.unit} on ${host.name}`,
      wait,
      'on failure: report the unit status, the last journal lines and the readiness answer',
      'unlock',
    ];
    return { entry, decided };
  }
  const artifact = await resolveArtifact(decided.artifactPath!, decided.artifactBase!);
  const release = options.releaseBase ?? releaseId(artifact.hash);
  const windowS = Math.ceil((readyTimeout(service, options) + options.revertMarginMs) / 1000);
  if (decided.strategy === 'compose') {
    const imageRef = options.imageDigest ?? (await composeImageRef(service, options.tag));
    entry.release = release;
    entry.artifact = { path: artifact.path, kind: artifact.kind, bytes: artifact.bytes };
    entry.image = imageRef;
    entry.steps = [
      `${lockStep}, and in the same round trip ship ${artifact.path} (${artifact.kind}, ${artifact.bytes} bytes: the compose bundle) as a tar stream to ${service.directory}/releases/${release}`,
      `arm the host's own revert: a systemd timer that switches back to the live release (and its pinned digest) after ${windowS}s unless this deploy confirms`,
      ...composeDeploySteps(rs, service.directory, release, imageRef),
      wait,
      'on success: confirm (disarm the revert, record the release and its digest as passed)',
      'on failure: diagnose (container state, docker logs, the readiness answer), record it as failed, switch back to the previous release and recreate the service from the digest pinned there, confirm it is healthy, exit non-zero',
      `keep the last ${options.keep ?? service.keepReleases} releases (failed and unconfirmed ones go first)`,
      'unlock',
    ];
    return { entry, decided, artifact, imageRef };
  }
  if (rs.launchd !== undefined) {
    entry.release = release;
    entry.artifact = { path: artifact.path, kind: artifact.kind, bytes: artifact.bytes };
    entry.plist_file = rs.launchd.plist;
    entry.steps = [
      `${lockStep}, and in the same round trip ship ${artifact.path} (${artifact.kind}, ${artifact.bytes} bytes) as a tar stream to ${service.directory}/releases/${release}, its property list as .units/${release}.plist`,
      ...launchdDeploySteps(rs, service.directory, release, windowS, wait),
      `keep the last ${options.keep ?? service.keepReleases} releases (failed and unconfirmed ones go first)`,
      'unlock',
    ];
    return { entry, decided, artifact, plist: rs.launchd.plist };
  }
  const unit = unitText(service, host);
  const timer = unitText(service, host, 'timer');
  entry.release = release;
  entry.artifact = { path: artifact.path, kind: artifact.kind, bytes: artifact.bytes };
  if (unit !== undefined) entry.unit_file = unit;
  entry.steps = [
    `${lockStep}, and in the same round trip ship ${artifact.path} (${artifact.kind}, ${artifact.bytes} bytes) as a tar stream to ${service.directory}/releases/${release}`,
    `arm the host's own revert: a systemd timer that switches back to the live release after ${windowS}s unless this deploy confirms`,
    ...(service.migrate === undefined
      ? []
      : [`run service.migrate in the new release with ${service.envFile ?? 'no env file'}: ${service.migrate} (on failure nothing switches)`]),
    ...secretsStep(service),
    unit === undefined
      ? `keep the installed unit ${rs.unit}`
      : `install /etc/systemd/system/${rs.unit} rendered from service.command (daemon-reload and enable when it changed)`,
    `switch ${service.directory}/current to releases/${release} (ln -sfn + mv -T)`,
    `restart ${rs.unit}`,
    wait,
    'on success: confirm (disarm the revert, record the release as passed)',
    'on failure: diagnose, record it as failed, switch back to the previous release, restart it, confirm it is healthy, exit non-zero',
    `keep the last ${options.keep ?? service.keepReleases} releases (failed and unconfirmed ones go first)`,
    'unlock',
  ];
  if (service.swapPorts !== undefined) {
    const [a, b] = service.swapPorts;
    entry.steps.splice(
      2,
      1,
      `install the templated unit /etc/systemd/system/${rs.unit?.replace(/\.service$/, '')}@.service rendered from service.command (PORT from the instance name)`,
    );
    entry.steps.splice(
      4,
      1,
      `swap: pin the release to whichever of ports ${a}/${b} the live instance does not use (${service.directory}/.swap/<port>) and start that instance of ${rs.unit?.replace(/\.service$/, '')}@.service beside the live one`,
    );
    entry.steps.splice(
      6,
      1,
      'on success: make every edge routing its domains prefer the new port (Caddy admin API, graceful; both ports are its upstreams), confirm, let the old instance drain, stop it',
    );
  }
  if (timer !== undefined && rs.job !== undefined) {
    entry.timer_file = timer;
    entry.steps.splice(
      1,
      1,
      `wait for a run of ${rs.unit} in progress to end (with --force: stop it), before the revert is armed`,
      `arm the host's own revert: a systemd timer that switches back to the live release and its timer after ${windowS}s unless this deploy confirms`,
    );
    const install = entry.steps.findIndex((s) => s.startsWith('install ') || s.startsWith('keep the installed unit'));
    entry.steps[install] =
      `install /etc/systemd/system/${rs.unit} and ${rs.job.timer} (${rs.job.calendar}) rendered from service.command and service.schedule (daemon-reload when they changed)`;
    const restart = entry.steps.indexOf(`restart ${rs.unit}`);
    entry.steps.splice(
      restart,
      2,
      `enable and restart ${rs.job.timer} (no run is started; the next one comes at its due time)`,
      `wait until ${rs.job.timer} is active`,
    );
  }
  return { entry, decided, artifact, ...(unit === undefined ? {} : { unit }), ...(timer === undefined ? {} : { timer }) };
}

/** A service with service.secrets: they are resolved here and delivered before anything switches (docs/secrets.md). */
function secretsStep(service: Service): string[] {
  const names = (service.secrets ?? []).map((d) => d.name);
  return names.length === 0
    ? []
    : [
        `resolve ${names.join(', ')} on this machine and deliver what changed (ssh stdin; a secret that cannot be resolved stops this deploy, nothing switches)`,
      ];
}

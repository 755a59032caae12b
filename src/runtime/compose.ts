/**
 * Docker Compose mode: the scripts that run on a host for a compose service, and the parsers
 * for what they print. The same shapes as systemd mode (status records, "@@gate" verdicts,
 * diagnosis sections), so ops treats a container like a unit.
 *
 * - Compose is detected on the host: `docker compose` (v2) when the plugin answers, else
 *   `docker-compose` (v1, what Debian 12 ships); every script that runs it prints which
 *   ("@@compose<TAB>v1|v2<TAB>command").
 * - A release is the compose file's directory under releases/<id>/ with manage-apps' own files
 *   in releases/<id>/.manage-apps/: `compose.override.yml` (pins the image, adds the env file)
 *   and `image` (the digest that passed the gate). Rollback pins that digest again, whatever the
 *   tag points at by then.
 * - Only the service's own container is ever recreated: `up -d --no-deps --no-build <service>`
 *   in its compose project; never `down`, never another project (the edge's).
 * - Registry credentials are the host's own (`docker login` there, ~/.docker/config.json):
 *   nothing secret travels in a script or argv.
 */
import { quote, sh, validName } from '../transport/quote.js';
import { ACTION_GERUND, type ActivationRuntime, type LifecycleCall, type LifecycleDone, type Runtime } from './runtime.js';
import { BASE_PRELUDE, healthOf, parseGate, parseProbes, PRELUDE, records, safePath, sections } from './shell.js';
import type { ComposeTarget, RuntimeService, ServiceRuntimeStatus, UnitState } from './types.js';

/** An image reference deploy may pin: never starting with "-" (docker would read it as an option). */
export const IMAGE_REF = /^[A-Za-z0-9][A-Za-z0-9._/:@-]*$/;

/** The container names compose gives a service (or its container_name). */
export function containerNames(project: string, service: string, containerName?: string): string[] {
  return containerName !== undefined ? [containerName] : [`${project}_${service}_1`, `${project}-${service}-1`];
}

/**
 * How each compose runs on a host: v2 is the docker CLI plugin (`docker compose`), v1 the
 * standalone Python program (`docker-compose`, what Debian 12 ships). Everything after these
 * words is the same argv for both (composeUpArgv).
 */
export const COMPOSE_COMMANDS = { v2: ['docker', 'compose'], v1: ['docker-compose'] } as const;
export type ComposeVersion = keyof typeof COMPOSE_COMMANDS;

/** Shell helpers shared by the compose scripts: docker with sudo when needed, compose detection, the service's container. */
export const COMPOSE_FUNCTIONS = String.raw`DK=''
if [ "$(id -u)" != 0 ] && ! id -nG 2>/dev/null | tr ' ' '\n' | grep -qx docker; then DK='sudo -n'; fi
ma_docker() { $DK docker "$@"; }
# ma_compose_detect: docker compose (v2) when the plugin answers, else docker-compose (v1).
# Asking docker for its plugin costs a docker start; a plugin file in none of the directories the
# docker CLI searches, beside a docker-compose on PATH, means v1 without asking.
ma_compose_detect() {
  MA_CV=''
  for ma_p in "${'$'}{HOME:-/root}/.docker/cli-plugins" /usr/local/lib/docker/cli-plugins /usr/local/libexec/docker/cli-plugins /usr/lib/docker/cli-plugins /usr/libexec/docker/cli-plugins; do
    [ -e "$ma_p/docker-compose" ] || continue
    $DK docker compose version >/dev/null 2>&1 && MA_CV=v2
    break
  done
  if [ -n "$MA_CV" ]; then :
  elif command -v docker-compose >/dev/null 2>&1; then MA_CV=v1
  elif $DK docker compose version >/dev/null 2>&1; then MA_CV=v2
  else printf '@@compose\tnone\t\n'; return 1; fi
  printf '@@compose\t%s\t%s\n' "$MA_CV" "$( [ "$MA_CV" = v2 ] && echo 'docker compose' || echo docker-compose)"
}
ma_compose() { if [ "$MA_CV" = v2 ]; then $DK ${COMPOSE_COMMANDS.v2.join(' ')} "$@"; else $DK ${COMPOSE_COMMANDS.v1.join(' ')} "$@"; fi; }
# ma_cid PROJECT SERVICE: the id of the service's container (running or not), by compose's labels.
ma_cid() { ma_docker ps -aq --no-trunc --filter "label=com.docker.compose.project=$1" --filter "label=com.docker.compose.service=$2" 2>/dev/null | head -n 1; }
`;

// Field names of the CLI's typed container view (.ID, not the JSON's "Id"): on a template error
// the CLI retries on the raw JSON, where a missing .State.Health is an error of its own.
const INSPECT_FORMAT =
  '{{.Name}}\t{{index .Config.Labels "com.docker.compose.project"}}\t{{index .Config.Labels "com.docker.compose.service"}}\t{{.ID}}\t{{.State.Status}}\t{{.State.StartedAt}}\t{{.RestartCount}}\t{{.State.Pid}}\t{{.State.ExitCode}}\t{{if .State.Health}}{{.State.Health.Status}}{{end}}\t{{.Config.Image}}\t{{.Image}}';

/** Status of every compose service of a host: ONE `docker inspect` of their containers, between "@@begin containers" and "@@end". */
export function containerPart(services: readonly RuntimeService[]): string {
  const names = [...new Set(services.flatMap((s) => s.compose?.names ?? []))];
  if (names.length === 0) return '';
  // Without docker -H access (not root, not in the docker group), sudo -n.
  return [
    `printf '@@begin\\tcontainers\\n'`,
    `if [ "$(id -u)" = 0 ]; then ${sh`docker inspect --type container --format ${INSPECT_FORMAT} -- ${names}`.text} 2>/dev/null; else ${sh`docker inspect --type container --format ${INSPECT_FORMAT} -- ${names}`.text} 2>/dev/null || ${sh`sudo -n docker inspect --type container --format ${INSPECT_FORMAT} -- ${names}`.text} 2>/dev/null; fi`,
    `command -v docker >/dev/null 2>&1 || printf 'no-docker\\n'`,
    `printf '@@end\\n'`,
  ].join('\n');
}

export interface ContainerInfo {
  name: string;
  id: string;
  /** created, running, restarting, exited, paused, dead. */
  status: string;
  health: string | null;
  restarts: number;
  exitCode: number;
  /** The reference it was created from (repo@sha256:… once manage-apps pinned it). */
  image: string;
  /** The registry digest when the reference carries one. */
  digest: string | null;
  imageId: string;
}

/** The containers section → container by name ("/shop_app_1" → "shop_app_1"). */
export function parseContainers(text: string | undefined): {
  byName: Map<string, ContainerInfo & { project: string; service: string; startedAt: string; pid: number }>;
  noDocker: boolean;
} {
  const byName = new Map<string, ContainerInfo & { project: string; service: string; startedAt: string; pid: number }>();
  let noDocker = false;
  for (const line of (text ?? '').split('\n')) {
    if (line.trim() === 'no-docker') noDocker = true;
    const f = line.split('\t');
    if (f.length < 12 || !f[0]!.startsWith('/')) continue;
    const image = f[10]!;
    const digest = /@(sha256:[0-9a-f]{64})$/.exec(image)?.[1] ?? null;
    byName.set(f[0]!.slice(1), {
      name: f[0]!.slice(1),
      project: f[1]!,
      service: f[2]!,
      id: f[3]!,
      status: f[4]!,
      startedAt: f[5]!,
      restarts: Number(f[6]) || 0,
      pid: Number(f[7]) || 0,
      exitCode: Number(f[8]) || 0,
      health: f[9] === '' ? null : f[9]!,
      image,
      digest,
      imageId: f[11]!,
    });
  }
  return { byName, noDocker };
}

/** A container's state in the unit-state shape status reports for every service. */
export function containerState(c: (ContainerInfo & { startedAt: string; pid: number }) | undefined, noDocker: boolean): UnitState {
  if (c === undefined) return { load: noDocker ? 'no-docker' : 'not-found', active: 'inactive', sub: 'dead', since: null, restarts: null, pid: null };
  const active =
    c.status === 'running'
      ? 'active'
      : c.status === 'restarting'
        ? 'activating'
        : (c.status === 'exited' || c.status === 'dead') && c.exitCode !== 0
          ? 'failed'
          : 'inactive';
  const since = c.status === 'running' && !c.startedAt.startsWith('0001-') ? new Date(Date.parse(c.startedAt)).toISOString() : null;
  return {
    load: 'container',
    active,
    sub: c.health === null ? c.status : `${c.status}, ${c.health}`,
    since,
    restarts: c.restarts,
    pid: c.pid > 0 ? c.pid : null,
  };
}

/** Parses the compose part of a host's status. */
export function parseComposeStatus(services: readonly RuntimeService[], output: string): ServiceRuntimeStatus[] {
  const parts = sections(output);
  const { byName, noDocker } = parseContainers(parts.get('containers'));
  const probes = parseProbes(parts.get('probes'));
  return services.map((s) => {
    const c = (s.compose?.names ?? [])
      .map((n) => byName.get(n))
      .find((x) => x !== undefined && x.project === s.compose!.project && x.service === s.compose!.service);
    const container =
      c === undefined
        ? null
        : {
            id: c.id.slice(0, 12),
            name: c.name,
            status: c.status,
            health: c.health,
            restarts: c.restarts,
            image: c.image,
            digest: c.digest,
            image_id: c.imageId,
          };
    return { id: s.id, state: containerState(c, noDocker), health: healthOf(s, probes), container };
  });
}

// ---- deploy: the activation fragments -----------------------------------------------------------

/** Compose's arguments for a release: the project, its compose file and manage-apps' override. */
function composeArgs(t: ComposeTarget, releaseDir: string): string {
  const env = t.envFile === undefined ? '' : sh` --env-file ${t.envFile}`.text;
  return `-p ${quote(t.project)} --project-directory ${releaseDir} -f ${releaseDir}/${quote(t.file)} -f ${releaseDir}/.manage-apps/compose.override.yml${env}`;
}

/**
 * `up` of this one service only (never its dependencies, never a build), as shell words after the
 * compose command. `stopTimeoutS`: how long the container it replaces gets to stop (compose's `-t`;
 * Docker's default is 10 s).
 */
export function composeUpArgs(t: ComposeTarget, releaseDir: string, stopTimeoutS?: number): string {
  return `${composeArgs(t, releaseDir)} up -d --no-deps --no-build${stopTimeoutS === undefined ? '' : ` -t ${stopTimeoutS}`} ${quote(t.service)}`;
}

/**
 * How long a container that failed its gate gets to stop when the switch back replaces it: it
 * never answered ready, so nothing it holds is worth Docker's default 10 s (a process that ignores
 * SIGTERM made every failed deploy wait that long before the previous release came back).
 */
export const FAILED_CONTAINER_STOP_S = 1;

/** The argv a host runs for `up` with compose `version` from release directory `releaseDir` (what the scripts' ma_compose builds). */
export function composeUpArgv(version: ComposeVersion, t: ComposeTarget, releaseDir: string, stopTimeoutS?: number): string[] {
  return [
    ...COMPOSE_COMMANDS[version],
    '-p',
    t.project,
    '--project-directory',
    releaseDir,
    '-f',
    `${releaseDir}/${t.file}`,
    '-f',
    `${releaseDir}/.manage-apps/compose.override.yml`,
    ...(t.envFile === undefined ? [] : ['--env-file', t.envFile]),
    'up',
    '-d',
    '--no-deps',
    '--no-build',
    ...(stopTimeoutS === undefined ? [] : ['-t', String(stopTimeoutS)]),
    t.service,
  ];
}

/**
 * Waits until the service's new container runs and answers readiness on the host's loopback (a
 * service without a port: running for ten polls in a row). Gives up early when it exits, sits
 * in a restart loop, restarts, or Docker's own healthcheck calls it unhealthy.
 * Prints "@@gate<TAB>ready|crashed|timeout<TAB>detail<TAB>ms" and "@@container<TAB>id".
 */
function gateLoop(s: RuntimeService, t: ComposeTarget, timeoutMs: number): string {
  const ms = Math.max(200, Math.round(timeoutMs));
  const ready =
    s.port !== undefined
      ? `code=$(ma_probe ${s.port} ${quote(s.readiness)} 2)
  case $code in 2??) [ "$S" = running ] && { ma_gate ready "$code"; exit 0; } ;; esac`
      : `if [ "$S" = running ]; then stable=$((stable + 1)); else stable=0; fi
  [ "$stable" -ge 10 ] && { ma_gate ready running; exit 0; }`;
  return `stable=0; code=000; base=''
deadline=$(( $(ma_now_ms) + ${ms} ))
cid=$(ma_cid ${quote(t.project)} ${quote(t.service)})
printf '@@container\\t%s\\n' "$cid"
while :; do
  [ -n "$cid" ] || cid=$(ma_cid ${quote(t.project)} ${quote(t.service)})
  set -- $(ma_docker inspect --type container --format '{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' -- "$cid" 2>/dev/null) '' '' '' ''
  S=$1; N=$2; X=$3; H=$4
  [ -z "$base" ] && base=$N
  case $S in
    '') ma_gate crashed "the container of ${t.service} is gone"; exit 1 ;;
    exited|dead) ma_gate crashed "the container exited (exit status $X)"; exit 1 ;;
    restarting) ma_gate crashed "the container exited (exit status $X) and Docker is restarting it"; exit 1 ;;
  esac
  # A restarted container runs again: its last exit status is gone by then.
  if [ -n "$N" ] && [ "$N" != "$base" ]; then ma_gate crashed "the container exited and Docker restarted it $((N - base)) time(s)$( [ "$S" = running ] || printf ' (exit status %s)' "$X")"; exit 1; fi
  [ "$H" = unhealthy ] && { ma_gate crashed "Docker's healthcheck reports the container unhealthy"; exit 1; }
  ${ready}
  if [ "$(ma_now_ms)" -ge "$deadline" ]; then ma_gate timeout "$code"; exit 1; fi
  sleep 0.2
done`;
}

function gateHeader(): string {
  return `g0=$(ma_now_ms)
ma_gate() { printf '@@gate\\t%s\\t%s\\t%s\\n' "$1" "$2" "$(( $(ma_now_ms) - g0 ))"; }`;
}

/** `up -d --no-deps --no-build <service>` from a release directory: only this service's container is (re)created. */
function upCommand(t: ComposeTarget, releaseDir: string, stopTimeoutS?: number): string {
  return `out=$(ma_compose ${composeUpArgs(t, releaseDir, stopTimeoutS)} 2>&1) || { ma_gate crashed "compose up failed: $(printf '%s' "$out" | tail -n 3 | tr '\\n\\t' '  ')"; exit 1; }`;
}

/**
 * Makes the release in shell variable `rel` runnable (its image on the host, pinned in its
 * override). A release with a recorded digest (`.manage-apps/image`) gets it back, pulled by
 * digest when the host no longer has it (a tag moved since changes nothing); a new one pulls its
 * reference while the old container keeps serving, resolves the registry digest and pins that.
 * Prints @@compose, @@pulled, @@digest. A failure prints "@@error" (`fail` = 'error': before
 * anything was armed or switched) or a crashed gate ('gate': the switch's own path), and exits.
 * Every variable is ma_-prefixed: these fragments run inside the release and revert scripts,
 * whose own variables ($d, $r, $l, $h, $rel, $prev, …) they must never overwrite.
 */
function imageFragment(rel: string, imageRef: string | undefined, repo: string, fail: 'error' | 'gate'): string {
  const die = (msg: string) => (fail === 'error' ? `{ printf '@@error\\t%s\\n' "${msg}"; exit 1; }` : `{ ma_gate crashed "${msg}"; exit 1; }`);
  const tail = (v: string) => `$(printf '%s' "$${v}" | tail -n 3 | tr '\\n\\t' '  ')`;
  return `ma_rd="$d/releases/$${rel}"
[ -n "\${MA_CV:-}" ] || ma_compose_detect || ${die('neither docker compose (v2) nor docker-compose (v1) is installed on the host')}
ma_digest=$(cat "$ma_rd/.manage-apps/image" 2>/dev/null)
if [ -n "$ma_digest" ]; then
  # The digest, not the tag: a tag moved in the registry since does not change what comes back.
  if ! ma_docker image inspect -- "$ma_digest" >/dev/null 2>&1; then
    ma_out=$(ma_docker pull -q -- "$ma_digest" 2>&1) || ${die(`pulling $ma_digest failed: ${tail('ma_out')}`)}
    printf '@@pulled\\t%s\\n' "$ma_digest"
  fi
  [ -f "$ma_rd/.manage-apps/compose.override.yml" ] || ma_override "$ma_rd" "$ma_digest"
else
  ma_ref=$(cat "$ma_rd/.manage-apps/ref" 2>/dev/null)
  [ -n "$ma_ref" ] || ma_ref=${quote(imageRef ?? '')}
  case $ma_ref in ''|-*|*[!A-Za-z0-9._/:@-]*) ${die(`release $${rel} has no image recorded (it was shipped, but its image was never pulled and pinned): switch to a release that passed its gate, or deploy again with --tag`)} ;; esac
  # The reference is recorded before the pull: a release whose pull never finished (a failed
  # pull, a CLI killed) can still be rolled back to later, by pulling what it was shipped for.
  if [ ! -f "$ma_rd/.manage-apps/ref" ]; then
    $SUDO mkdir -p "$ma_rd/.manage-apps" && printf '%s\n' "$ma_ref" | $SUDO tee "$ma_rd/.manage-apps/ref.tmp" >/dev/null && $SUDO mv -f "$ma_rd/.manage-apps/ref.tmp" "$ma_rd/.manage-apps/ref"
  fi
  # Pull while the old container keeps serving (the image of this one service: what compose pull
  # would fetch, without starting compose's interpreter): nothing has changed yet if it fails.
  ma_out=$(ma_docker pull -- "$ma_ref" 2>&1) || ${die(`pulling $ma_ref failed: ${tail('ma_out')}`)}
  printf '@@pulled\\t%s\\n' "$ma_ref"
  ma_repo=${quote(repo)}
  [ -n "$ma_repo" ] || ma_repo="\${ma_ref%:*}@sha256:"
  # The registry digest: the pull says it ("Digest: sha256:…"); else the image's RepoDigests.
  ma_digest=$(printf '%s\\n' "$ma_out" | sed -n 's/^Digest: \\(sha256:[0-9a-f]\\{64\\}\\)$/\\1/p' | head -n 1)
  if [ -n "$ma_digest" ]; then ma_digest="$ma_repo\${ma_digest#sha256:}"
  else ma_digest=$(ma_docker image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' -- "$ma_ref" 2>/dev/null | grep -F "$ma_repo" | head -n 1); fi
  case $ma_digest in *@sha256:*) ;; *) ${die('no registry digest for $ma_ref after the pull')} ;; esac
  case $ma_digest in -*|*[!A-Za-z0-9._/:@-]*) ${die('unexpected digest reference')} ;; esac
  ma_override "$ma_rd" "$ma_digest"
  printf '%s\\n' "$ma_digest" | $SUDO tee "$ma_rd/.manage-apps/image.tmp" >/dev/null && $SUDO mv -f "$ma_rd/.manage-apps/image.tmp" "$ma_rd/.manage-apps/image"
fi
printf '@@digest\\t%s\\n' "$ma_digest"`;
}

/**
 * The compose runtime as fragments of a release's host scripts (the release layout, the lock and
 * `current` belong to release.ts; these only say what Docker does):
 *
 * - `functions`: docker/compose helpers, the gate verdict, `ma_override DIR REF` (the release's
 *   override: the image pinned to REF, the env file; in the compose file's own `version` when it
 *   declares one, since compose v1 refuses to merge two);
 * - `install(rel)`: makes the release in shell variable `rel` runnable before `current` points at
 *   it: a release with a recorded digest (`.manage-apps/image`) gets it back (pulled by digest when
 *   the host no longer has it: a tag moved since changes nothing); a new one pulls its reference
 *   (`.manage-apps/ref`) while the old container keeps serving, resolves the registry digest and
 *   pins that. Prints @@compose, @@pulled, @@digest;
 * - `restartAndGate(ms)`: `up -d --no-deps --no-build <service>` from `current`, then the gate;
 * - `stop()`, `diagnose(sinceVar)`.
 */

export function composeActivation(s: RuntimeService, imageRef?: string): ActivationRuntime {
  if (imageRef !== undefined && !IMAGE_REF.test(imageRef)) throw new Error(`${s.id}: unsafe image reference ${JSON.stringify(imageRef)}`);
  const t = s.compose!;
  const envFiles = [t.envFile, t.secretsEnvFile].filter((f): f is string => f !== undefined);
  const envFile = `${envFiles.length === 0 ? '' : `\n    env_file: [${envFiles.map((f) => JSON.stringify(f)).join(', ')}]`}${(t.hardening ?? []).map((l) => `\n${l}`).join('')}`;
  const repo = t.image === undefined ? '' : `${t.image}@sha256:`;
  return {
    key: s.key,
    label: `${t.project}/${t.service}`,
    functions: `${COMPOSE_FUNCTIONS}${gateHeader()}
ma_override() {
  $SUDO mkdir -p "$1/.manage-apps"
  ma_v=$(sed -n 's/^version:[[:space:]]*//p' "$1/"${quote(t.file)} 2>/dev/null | head -n 1 | tr -cd '0-9.')
  { [ -n "$ma_v" ] && printf 'version: "%s"\\n' "$ma_v"; printf '%s"%s"%s\\n' ${quote(`services:\n  ${JSON.stringify(t.service)}:\n    image: `)} "$2" ${quote(envFile)}; } | $SUDO tee "$1/.manage-apps/compose.override.yml.tmp" >/dev/null && $SUDO mv -f "$1/.manage-apps/compose.override.yml.tmp" "$1/.manage-apps/compose.override.yml"
}`,
    // Before the revert is armed (nothing live changes): the pull does not eat into the window.
    prepare: (rel) => `${imageFragment(rel, imageRef, repo, 'error')}
ma_prepared=$${rel}`,
    install: (rel) => `if [ "\${ma_prepared:-}" != "$${rel}" ]; then
${imageFragment(rel, imageRef, repo, 'gate')}
fi`,
    restartAndGate: (timeoutMs) => `g0=$(ma_now_ms)
printf '@@since\\t%s\\n' "$(date +%s)"
${upCommand(t, '"$d/current"')}
${gateLoop(s, t, timeoutMs)}`,
    // After a failed gate the container being replaced is the failed one: a short stop. The dead-man
    // switch's revert replaces one that may have passed its gate: Docker's own grace.
    restoreAndGate: (timeoutMs, after) => `g0=$(ma_now_ms)
printf '@@since\\t%s\\n' "$(date +%s)"
${upCommand(t, '"$d/current"', after === 'failed-gate' ? FAILED_CONTAINER_STOP_S : undefined)}
${gateLoop(s, t, timeoutMs)}`,
    stop: () => `cid=$(ma_cid ${quote(t.project)} ${quote(t.service)})
[ -n "$cid" ] && ma_docker stop -- "$cid" >/dev/null 2>&1`,
    diagnose: (since) => diagnosisBody(s, `$${since}`),
    // Its container runs, from a release `current` points at (the up command needs one).
    running: () =>
      `[ -e "$d/current" ] && ma_compose_detect >/dev/null && [ -n "$(ma_docker ps -q --no-trunc --filter label=com.docker.compose.project=${quote(t.project)} --filter label=com.docker.compose.service=${quote(t.service)} 2>/dev/null | head -n 1)" ]`,
  };
}

/** The exact remote commands of a compose deploy, for --dry-run (compose is `<compose>`: detected on the host). */
export function composeDeploySteps(s: RuntimeService, directory: string, release: string, imageRef: string): string[] {
  const t = s.compose!;
  const r = `${directory}/releases/${release}`;
  return [
    `detect compose on the host: docker compose version (v2), else docker-compose (v1)`,
    `docker pull ${imageRef}   (the old container keeps running; before the host's revert is armed)`,
    `the registry digest it prints (else docker image inspect --format '{{range .RepoDigests}}…' ${imageRef})   → pin ${t.image ?? 'the repository'}@sha256:… in ${r}/.manage-apps/compose.override.yml (services.${t.service}.image${t.envFile === undefined ? '' : `, env_file = ${t.envFile}`}${t.hardening === undefined ? '' : ', the hardening: read_only, cap_drop ALL, no-new-privileges, a non-root user'}) and ${r}/.manage-apps/image`,
    `arm the host's revert (systemd-run --on-active=<window> … ${directory}/.revert/revert.sh)`,
    `ln -sfn releases/${release} ${directory}/.current.manage-apps && mv -T ${directory}/.current.manage-apps ${directory}/current`,
    `<compose> ${composeUpArgs(t, quote(`${directory}/current`))}   (recreates this service only: the project's other services and other projects are left alone)`,
  ];
}

// ---- lifecycle, logs, diagnosis ----------------------------------------------------------------

export type ComposeAction = 'start' | 'stop' | 'restart';

/**
 * start: `up -d --no-deps --no-build` from the current release (creates the container if it is
 * missing), else `docker start` of an existing container; stop: `docker stop -t GRACE`; restart:
 * `docker restart -t GRACE`. Then (start, restart, unless noWait) the gate. Prints
 * "@@before<TAB>status" and "@@done<TAB>action<TAB>rc" or a gate.
 */
export function composeActionScript(
  s: RuntimeService,
  directory: string | undefined,
  action: ComposeAction,
  options: { graceS: number; timeoutMs?: number },
): string {
  const t = s.compose!;
  const r = `"$d/current"`;
  const act =
    action === 'stop'
      ? `[ -z "$cid" ] && { printf '@@done\\tstop\\t0\\tno container\\n'; exit 0; }
out=$(ma_docker stop -t ${options.graceS} -- "$cid" 2>&1); rc=$?`
      : action === 'restart'
        ? `[ -z "$cid" ] && { ma_gate crashed "no container of ${t.service} (deploy it first)"; exit 1; }
out=$(ma_docker restart -t ${options.graceS} -- "$cid" 2>&1); rc=$?`
        : `if [ -n "$d" ] && [ -f ${r}/.manage-apps/compose.override.yml ]; then
  ma_compose_detect || { ma_gate crashed 'neither docker compose (v2) nor docker-compose (v1) is installed on the host'; exit 1; }
  out=$(ma_compose ${composeUpArgs(t, r)} 2>&1); rc=$?
elif [ -n "$cid" ]; then out=$(ma_docker start -- "$cid" 2>&1); rc=$?
else ma_gate crashed "no container of ${t.service} and no release to create it from (deploy it first)"; exit 1; fi`;
  const wait = action !== 'stop' && options.timeoutMs !== undefined;
  return `${PRELUDE}${COMPOSE_FUNCTIONS}
d=${directory === undefined ? "''" : quote(directory)}
${gateHeader()}
cid=$(ma_cid ${quote(t.project)} ${quote(t.service)})
printf '@@before\\t%s\\n' "$( [ -n "$cid" ] && ma_docker inspect --type container --format '{{.State.Status}}' -- "$cid" 2>/dev/null)"
printf '@@since\\t%s\\n' "$(date +%s)"
${act}
[ "$rc" = 0 ] || { ma_gate crashed "$(printf '%s' "$out" | tail -n 3 | tr '\\n\\t' '  ')"; printf '@@done\\t%s\\t%s\\n' ${quote(action)} "$rc"; exit 1; }
${wait ? gateLoop(s, t, options.timeoutMs!) : `printf '@@done\\t%s\\t0\\n' ${quote(action)}`}
`;
}

/** `docker logs` of the service's container; -f follows. */
export function composeLogsScript(s: RuntimeService, lines: number, follow: boolean): string {
  const t = s.compose!;
  return `${BASE_PRELUDE}${COMPOSE_FUNCTIONS}
cid=$(ma_cid ${quote(t.project)} ${quote(t.service)})
[ -n "$cid" ] || { echo ${quote(`no container of ${t.service} in compose project ${t.project}`)} >&2; exit 1; }
exec ${'$DK'} docker logs --timestamps --tail ${lines}${follow ? ' -f' : ''} -- "$cid" 2>&1
`;
}

/** The container's state, its docker logs since the epoch in `since` (a shell word) and the readiness answer. */
function diagnosisBody(s: RuntimeService, since: string | undefined, lines = 20): string {
  const t = s.compose!;
  const sinceArg = since === undefined ? '' : ` $( [ -n "${since}" ] && printf -- '--since %s' "${since}")`;
  return `cid=$(ma_cid ${quote(t.project)} ${quote(t.service)})
printf '@@begin\\tstatus\\n'
[ -n "$cid" ] && ma_docker inspect --type container --format 'container {{.Name}} ({{printf "%.12s" .ID}}): {{.State.Status}}, exit status {{.State.ExitCode}}, restarts {{.RestartCount}}, image {{.Config.Image}}{{if .State.Health}}, health {{.State.Health.Status}}{{end}}{{if .State.Error}}, error: {{.State.Error}}{{end}}' -- "$cid" 2>&1
[ -z "$cid" ] && echo ${quote(`no container of ${t.service} in compose project ${t.project}`)}
printf '@@begin\\tjournal\\n'
[ -n "$cid" ] && ma_docker logs --timestamps --tail ${lines}${sinceArg} -- "$cid" 2>&1
${s.port === undefined ? '' : `printf '@@begin\\treadiness\\n'\nma_answer ${s.port} ${quote(s.readiness)}\nprintf '\\n'`}
printf '@@end\\n'`;
}

/** What a failed gate reports: the container's state, its last log lines (since `sinceEpoch`), the readiness answer. */
export function composeDiagnosisScript(s: RuntimeService, sinceEpoch: number | undefined, lines = 20): string {
  return `${PRELUDE}${COMPOSE_FUNCTIONS}
${diagnosisBody(s, sinceEpoch === undefined ? undefined : String(Math.floor(sinceEpoch)), lines)}
`;
}

/** "@@compose<TAB>v1<TAB>docker-compose" → "docker-compose (v1)". */
export function composeUsed(output: string): string | undefined {
  const r = records(output).find((x) => x[0] === 'compose');
  if (r === undefined) return undefined;
  return r[1] === 'none' ? 'none' : `${r[2]} (${r[1]})`;
}

/** Compose: docker stop/restart of the service's container, or `up -d --no-deps` from the current release; gated like a unit. */
async function lifecycle({ service, rs, action, wait: waitAsked, graceS, timeoutMs, quickMs, run, report }: LifecycleCall): Promise<LifecycleDone> {
  const wait = action !== 'stop' && waitAsked;
  report(
    `${ACTION_GERUND[action]} ${rs.compose!.project}/${rs.compose!.service}${wait ? `, waiting for ${service.port === undefined ? 'it to keep running' : service.health.readiness}` : ''}`,
  );
  const script = composeActionScript(rs, validName('path', service.directory), action, { graceS, ...(wait ? { timeoutMs } : {}) });
  const r = await run(script, (wait ? timeoutMs : 0) + quickMs + graceS * 1000 + 90_000);
  if (r.unreachable) return { outcome: 'unreachable', ok: false, detail: r.unreachable };
  const recs = records(r.stdout);
  const before = recs.find((x) => x[0] === 'before')?.[1];
  const compose = composeUsed(r.stdout);
  const via = compose === undefined ? '' : ` (${compose})`;
  const doneRec = recs.find((x) => x[0] === 'done');
  if (!wait && doneRec?.[2] === '0')
    return {
      outcome:
        action === 'stop'
          ? doneRec[3] === 'no container' || before !== 'running'
            ? 'not-running'
            : 'stopped'
          : action === 'restart'
            ? 'restarted'
            : 'started',
      ok: true,
      detail: `container${via}`,
    };
  const gate = parseGate(r.stdout);
  if (gate.outcome === 'ready')
    return {
      outcome: action === 'start' && before === 'running' ? 'running' : action === 'restart' ? 'restarted' : 'started',
      ok: true,
      detail: `ready${via}`,
    };
  const since = Number(recs.find((x) => x[0] === 'since')?.[1] ?? '') || undefined;
  return { outcome: 'failed', ok: false, gate, diagnose: since === undefined ? {} : { since } };
}

/** The Docker Compose runtime: the service is one service of a compose project, run by Docker; releases pin its image by digest. */
export const compose: Runtime<'compose'> = {
  supervisor: 'compose',
  ownsProcesses: false,
  noSystemdUnit: 'Docker Compose: Docker runs its container, no systemd unit',
  noSchedule: 'a Compose service is not a scheduled job',

  view(service, common) {
    const rs: RuntimeService = { ...common };
    // Only a safe directory is read (status shows its dead-man switch); deploy refuses an unsafe one itself.
    const directory = safePath(service.directory);
    if (directory !== undefined) rs.directory = directory;
    if (service.compose !== undefined) {
      const c = service.compose;
      rs.compose = {
        project: validName('project', c.project),
        service: validName('project', c.service),
        file: validName('project', c.fileInBundle),
        names: containerNames(c.project, c.service, c.containerName === undefined ? undefined : validName('project', c.containerName)),
        ...(c.image === undefined ? {} : { image: c.image }),
        ...(common.envFile === undefined ? {} : { envFile: common.envFile }),
        ...(common.secretsEnvFile === undefined ? {} : { secretsEnvFile: common.secretsEnvFile }),
      };
    }
    return rs;
  },

  statusPart: (services) => containerPart(services),
  probed: (services) => [...services],
  parseStatus: (services, output) => (services.length === 0 ? [] : parseComposeStatus(services, output)),
  noStateReason: (service) => `Docker gave no state for the container of ${service.compose?.service ?? service.id}`,
  statusLabel: (row) =>
    row.container ? `container ${row.container.name}${row.container.digest ? ` ${row.container.digest.slice(0, 19)}` : ''}` : 'container (none)',
  declaredLabel: (row) => row.unit ?? (row.compose ? `compose ${row.compose.project}/${row.compose.service}` : ''),

  lifecycle,
  diagnosisScript: (rs, { since }) => composeDiagnosisScript(rs, since),
  logs: (rs, lines, follow) => ({
    script: composeLogsScript(rs, lines, follow),
    source: `docker logs of ${rs.compose!.project}/${rs.compose!.service}`,
  }),

  releases: {
    activatable: () => true,
    activation: (rs, imageRef) => composeActivation(rs, imageRef),
  },
};

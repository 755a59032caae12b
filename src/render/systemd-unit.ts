/**
 * The systemd unit of an infra/v2 service: the one `deploy` installs (it calls
 * renderUnit) and the one `manage-apps units` prints, byte for byte.
 *
 *   WorkingDirectory = <service.directory>/current (the live release)
 *   ExecStart        = service.command, as argv; see below
 *   EnvironmentFile  = -<env_file> (optional: a missing file is not fatal)
 *   Environment      = PORT=<port>, so the app knows its port
 *   Restart          = on-failure, RestartSec = 5s
 *   then the account and the hardening (render/hardening.ts): User = service.user, else a
 *   dynamic user; a read-only system, no capabilities, a system-call filter, …
 *
 * ExecStart. The command is split like a POSIX shell would split it. When it
 * needs a shell (pipes, redirections, `&&`, `;`, `$VAR`, globs, `~`, backquotes)
 * it runs as `/bin/sh -c '<command>'` in the working directory. Otherwise it
 * runs directly: a program with a "/" that is relative (./bin/app, dist/app) is
 * resolved against the working directory (systemd needs an absolute path for
 * those); a bare name (node, python3) is left to systemd, which looks it up in
 * its fixed search path (/usr/local/sbin, /usr/local/bin, /usr/sbin, /usr/bin),
 * not in $PATH. Every word is quoted for systemd: "%" and "$" are escaped so
 * specifiers and variables are never expanded by systemd.
 */
import { posix } from 'node:path';
import type { Fleet, Host, Service } from '../fleet/model.js';
import type { Problem } from '../problems.js';
import type { PathSegment } from '../source/document.js';
import { printable } from '../text/control.js';
import { CommandLineError, splitCommand } from '../text/command-line.js';
import { RUNTIMES } from '../runtime/registry.js';
import { hardeningLines } from './hardening.js';
import { RELAX_VALUE, STATE_DIRECTORY, UNIT_DIRECTIVES } from '../manifest/hardening.js';
import { byCodePoint, renderProblem, type RenderOutput, type Skipped } from './common.js';
import { defaultLocator, type Locator } from '../source/locator.js';
import { shown } from '../text/plain.js';
import { credentialFile, credentialStore, currentPath, ENV_FILE_NAME, HOST_SECRETS_ROOT, plainCredentialFile } from '../secrets/layout.js';
import { jobConditionScript, jobRecordScript, jobTimer } from '../fleet/schedule.js';

export const RESTART_SEC = '5s';
export const SHELL = '/bin/sh';

export interface UnitOptions {
  /** The directory the unit runs in; default `<service.directory>/current`. */
  releaseDir?: string;
  /** `swap`: the template `<stem>@.service` a swap's instances run from (PORT=%i, `.swap/%i`). */
  template?: 'swap';
}

/** A service field that cannot be rendered into a unit; `path` locates it in the manifest. */
export class UnitError extends Error {
  constructor(
    message: string,
    readonly path: PathSegment[],
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'UnitError';
  }
}

/** Absolute paths the unit names: plain characters only (no spaces, quotes, "%" or "$"). */
const UNIT_PATH = /^\/[A-Za-z0-9._/@+,:=-]*$/;
const UNIT_NAME = /^[A-Za-z0-9][A-Za-z0-9:_.@-]*\.service$/;
const USER = /^[a-z_][a-z0-9_-]*$/;

export interface ParsedCommand {
  /** Words after quote removal, when the command runs directly. */
  words?: string[];
  /** The command needs /bin/sh -c. */
  shell: boolean;
}

/** Splits a command like sh would; reports whether it needs a shell. Throws on an unclosed quote. */
export function parseCommand(command: string): ParsedCommand {
  let lexed: { words: string[]; shell: boolean };
  try {
    lexed = splitCommand(command);
  } catch (error) {
    if (error instanceof CommandLineError) throw new UnitError(error.message, ['service', 'command']);
    throw error;
  }
  const { words, shell } = lexed;
  // NAME=value before the program is a shell assignment.
  return shell || /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[0]!) ? { shell: true } : { words, shell };
}

/** One word of an Exec line, quoted for systemd (systemd.syntax(7)): specifiers and variables escaped. */
/**
 * One Environment= assignment: the whole KEY=value double-quoted (systemd splits unquoted words on
 * spaces), backslashes and quotes escaped, % doubled (a specifier otherwise). Environment= expands
 * no $variables, so $ stays as it is. Control characters never get here (rule tenant_config).
 */
function environmentAssignment(key: string, value: string): string {
  if (!/^[A-Z_][A-Z0-9_]*$/.test(key)) throw new UnitError(`environment name ${shown(key)} is not a plain variable name`, ['service']);
  if (/[\u0000-\u001f\u007f]/.test(value)) throw new UnitError(`the value of ${key} contains a control character`, ['service']);
  return `"${`${key}=${value}`.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/%/g, '%%')}"`;
}

export function quoteExecWord(word: string): string {
  const escaped = word.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(escaped)) return escaped;
  let out = '"';
  for (const ch of escaped) {
    const code = ch.codePointAt(0)!;
    if (ch === '\\') out += '\\\\';
    else if (ch === '"') out += '\\"';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/** The ExecStart value for a command run in `workdir`. */
export function execStart(command: string, workdir: string): string {
  const parsed = parseCommand(command);
  if (parsed.shell) return [SHELL, '-c', command.trim()].map(quoteExecWord).join(' ');
  const [program, ...args] = parsed.words!;
  let resolved = program!;
  if (resolved.includes('/')) {
    if (!resolved.startsWith('/')) resolved = posix.join(workdir, resolved);
  } else if (/^[-@:+!]/.test(resolved)) {
    throw new UnitError(
      `program ${shown(resolved)} starts with a character systemd reads as an ExecStart prefix`,
      ['service', 'command'],
      'name the program by its path, e.g. ./bin/app',
    );
  }
  return [resolved, ...args].map(quoteExecWord).join(' ');
}

function checkPath(value: string, path: PathSegment[], what: string): void {
  if (!UNIT_PATH.test(value))
    throw new UnitError(
      `${what} ${shown(value)} cannot be written into a unit`,
      path,
      'use an absolute path of letters, digits and . _ / @ + , : = -',
    );
}

/**
 * The unit file of a service that has a `command`. Pure: same service, same text.
 * `host` only names the host in the unit's description and header.
 * Throws UnitError (with the manifest path of the field) when a value cannot be rendered.
 */
export function renderUnit(service: Service, host: Host | undefined, options: UnitOptions = {}): string {
  if (service.command === undefined)
    throw new UnitError(
      `"${service.id}" has no command: there is no unit to render`,
      ['service'],
      'infra/v2: add service.command; an infra/v1 systemd_unit is installed by its deploy script',
    );
  const unit = unitName(service);
  checkPath(service.directory, ['service', 'directory'], 'directory');
  const workdir = options.releaseDir ?? posix.join(service.directory, 'current');
  checkPath(workdir, ['service', 'directory'], 'release directory');
  if (service.envFile !== undefined) checkPath(service.envFile, ['service', 'env_file'], 'env_file');
  if (service.runAs !== undefined && !USER.test(service.runAs))
    throw new UnitError(`user ${shown(service.runAs)} is not a plain user name`, ['service', 'user']);
  if (service.port !== undefined && (!Number.isInteger(service.port) || service.port < 1 || service.port > 65535))
    throw new UnitError(`port ${service.port} is outside 1-65535`, ['service', 'port']);
  service.hardening?.read_write_paths?.forEach((p, i) => checkPath(p, ['service', 'hardening', 'read_write_paths', i], 'read_write_paths entry'));
  const state = service.hardening?.state_directory;
  if (state !== undefined && (!STATE_DIRECTORY.test(state) || state.split('/').includes('..')))
    throw new UnitError(`state_directory ${shown(state)} is not a plain relative path`, ['service', 'hardening', 'state_directory']);
  service.hardening?.relax?.forEach((r, i) => {
    if (!(UNIT_DIRECTIVES as readonly string[]).includes(r.directive))
      throw new UnitError(`${shown(r.directive)} is not a hardening directive manage-apps sets`, ['service', 'hardening', 'relax', i, 'directive']);
    if (r.value !== undefined && !RELAX_VALUE.test(r.value))
      throw new UnitError(`value ${shown(r.value)} cannot be written into a unit`, ['service', 'hardening', 'relax', i, 'value']);
  });
  const exec = execStart(service.command, workdir);
  const where = host === undefined ? (service.host === undefined ? '' : ` on ${service.host}`) : ` on ${host.name}`;
  const lines = [
    `# ${unit}: rendered by manage-apps from ${printable(service.manifest)}; do not edit by hand.`,
    '[Unit]',
    `Description=${printable(`${service.id}${where} (manage-apps)`).replace(/%/g, '%%')}`,
    'Wants=network-online.target',
    'After=network-online.target',
    '',
    '[Service]',
    'Type=exec',
  ];
  const job = service.schedule;
  // A scheduled job runs once per due time (its timer starts it) and is never restarted.
  if (job !== undefined) lines[lines.length - 1] = 'Type=oneshot';
  lines.push(`WorkingDirectory=${workdir}`);
  if (service.envFile !== undefined) lines.push(`EnvironmentFile=-${service.envFile}`);
  lines.push(...secretLines(service, host));
  if (service.port !== undefined) lines.push(`Environment=PORT=${service.port}`);
  for (const [key, value] of Object.entries(service.env ?? {})) lines.push(`Environment=${environmentAssignment(key, value)}`);
  if (job === undefined) lines.push(`ExecStart=${exec}`, 'Restart=on-failure', `RestartSec=${RESTART_SEC}`);
  else
    lines.push(
      // "+": the helpers run as root outside the sandbox, writing only the job's own record (fleet/schedule.ts).
      `ExecCondition=+${[SHELL, '-c', jobConditionScript(unit)].map(quoteExecWord).join(' ')}`,
      `ExecStart=${exec}`,
      `ExecStopPost=+${[SHELL, '-c', jobRecordScript(unit)].map(quoteExecWord).join(' ')}`,
      `TimeoutStartSec=${job.timeoutS}`,
    );
  const ports = service.swapPorts ?? (service.port === undefined ? [] : [service.port]);
  lines.push(...hardeningLines(service, { unit: options.template === 'swap' ? swapTemplateName(unit) : unit, ports, workdir }));
  // A job is started by its timer (renderTimer), which is what is enabled.
  if (job === undefined) lines.push('', '[Install]', 'WantedBy=multi-user.target');
  const text = `${lines.join('\n')}\n`;
  if (options.template !== 'swap') return text;
  if (service.port === undefined) throw new UnitError(`"${service.id}" has no port: a swap needs one`, ['service', 'port']);
  // A swap runs the release as a templated unit: each instance gets its port from its name and
  // runs the release pinned for that port (.swap/<port>), so a restart by systemd never moves
  // it onto another release (runtime/systemd-swap.ts swapActivation).
  return text
    .replace(`\nEnvironment=PORT=${service.port}\n`, '\nEnvironment=PORT=%i\n')
    .split(`${service.directory}/current`)
    .join(`${service.directory}/.swap/%i`);
}

/**
 * service.secrets (docs/secrets.md): credentials systemd decrypts for the service at start
 * ($CREDENTIALS_DIRECTORY, not inherited by child processes' environments), and the env file of
 * the ones it reads as variables; both through `current`, which `secrets push` switches. On a host
 * whose inventory gives a systemd older than 250 (no systemd-creds), credentials are root-only
 * plain files loaded with LoadCredential= (247 and later); older still has no credentials.
 */
function secretLines(service: Service, host: Host | undefined): string[] {
  const secrets = service.secrets ?? [];
  if (secrets.length === 0) return [];
  const at = (file: string) => currentPath(HOST_SECRETS_ROOT, service.environment, service.project, file);
  const lines: string[] = [];
  if (secrets.some((d) => d.delivery === 'env')) lines.push(`EnvironmentFile=-${at(ENV_FILE_NAME)}`);
  const store = credentialStore(host?.systemd);
  for (const d of secrets) {
    if (d.delivery !== 'credential') continue;
    if (store === 'none')
      throw new UnitError(
        `${host!.name} runs systemd ${host!.systemd}, which has no credentials (247 brought them): ${d.name} cannot be one there`,
        ['service', 'secrets', d.name],
        'declare it with as: env (docs/secrets.md), or correct "systemd" for that host in the inventory',
      );
    lines.push(
      store === 'file'
        ? `LoadCredential=${d.name}:${at(plainCredentialFile(d.name))}`
        : `LoadCredentialEncrypted=${d.name}:${at(credentialFile(d.name))}`,
    );
  }
  return lines;
}

/**
 * The timer of a scheduled job (service.schedule): `<stem>.timer`, installed and enabled with
 * each release beside the job's unit. AccuracySec=1s: systemd's default of a minute would blur
 * a schedule of seconds. Pure, like renderUnit; throws UnitError for a service without schedule.
 */
export function renderTimer(service: Service, host: Host | undefined): string {
  const job = service.schedule;
  if (job === undefined) throw new UnitError(`"${service.id}" has no schedule: there is no timer to render`, ['service', 'schedule']);
  const unit = unitName(service);
  if (/[\u0000-\u001f\u007f]/.test(job.onCalendar))
    throw new UnitError(`calendar ${shown(job.calendar)} cannot be written into a timer`, ['service', 'schedule', 'calendar']);
  const where = host === undefined ? (service.host === undefined ? '' : ` on ${service.host}`) : ` on ${host.name}`;
  const lines = [
    `# ${jobTimer(unit)}: rendered by manage-apps from ${printable(service.manifest)}; do not edit by hand.`,
    '[Unit]',
    `Description=${printable(`${service.id}${where}: ${job.calendar} (manage-apps)`).replace(/%/g, '%%')}`,
    '',
    '[Timer]',
    `OnCalendar=${job.onCalendar}`,
    `Persistent=${job.catchUp ? 'true' : 'false'}`,
    ...(job.randomizedDelayS > 0 ? [`RandomizedDelaySec=${job.randomizedDelayS}`] : []),
    'AccuracySec=1s',
    `Unit=${unit}`,
    '',
    '[Install]',
    'WantedBy=timers.target',
  ];
  return `${lines.join('\n')}\n`;
}

/** "api.service" → "api@.service": the template a swap's instances `api@<port>.service` run from. */
export function swapTemplateName(unit: string): string {
  return unit.replace(/\.service$/, '@.service');
}

/** The unit's file name: service.unit (from the manifest or derived by the fleet model). */
export function unitName(service: Service): string {
  const unit = service.unit ?? `${service.project}${service.environment === 'prod' ? '' : `-${service.environment}`}.service`;
  if (!UNIT_NAME.test(unit))
    throw new UnitError(`unit name ${shown(unit)} is not a plain .service name`, ['service', 'systemd_unit'], 'e.g. my-app.service');
  return unit;
}

/** Why a service gets no rendered unit, or undefined when it gets one. */
export function unitSkipReason(service: Service): string | undefined {
  const noUnit = RUNTIMES[service.supervisor].noSystemdUnit;
  if (noUnit !== null) return noUnit;
  if (service.command === undefined) {
    if (service.unit === undefined) return 'no command and no unit';
    return service.deployScript !== undefined
      ? `${service.unit}: managed by its deploy script (no command to render a unit from)`
      : `${service.unit}: installed outside manage-apps (no command to render a unit from)`;
  }
  if (service.host === undefined) return 'no host';
  return undefined;
}

/** Every renderable unit of the fleet, as `<host>/<unit>`; the rest are listed as skipped. */
export function renderUnits(fleet: Fleet, locator: Locator = defaultLocator(fleet.inventoryFile)): RenderOutput {
  const problems: Problem[] = [];
  const skipped: Skipped[] = [];
  const files: RenderOutput['files'] = [];
  const taken = new Map<string, string>();
  for (const service of [...fleet.services].sort((a, b) => byCodePoint(a.id, b.id))) {
    const reason = unitSkipReason(service);
    if (reason !== undefined) {
      skipped.push({ name: service.id, reason });
      continue;
    }
    try {
      const host = fleet.hosts.find((h) => h.name === service.host);
      const path = `${service.host}/${unitName(service)}`;
      const first = taken.get(path);
      if (first !== undefined) {
        problems.push(
          renderProblem(
            locator.manifest(service.manifest, ['service']),
            `"${service.id}" and "${first}" would both install ${path}`,
            'give one of them another systemd_unit name',
          ),
        );
        continue;
      }
      taken.set(path, service.id);
      files.push({ path, content: renderUnit(service, host) });
      if (service.schedule !== undefined) files.push({ path: `${service.host}/${jobTimer(unitName(service))}`, content: renderTimer(service, host) });
    } catch (err) {
      if (!(err instanceof UnitError)) throw err;
      problems.push(renderProblem(locator.manifest(service.manifest, err.path), `${service.id}: ${err.message}`, err.hint));
    }
  }
  if (problems.some((p) => p.severity === 'error')) return { files: [], problems, skipped };
  return { files: files.sort((a, b) => byCodePoint(a.path, b.path)), problems, skipped };
}

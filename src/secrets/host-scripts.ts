/**
 * The host's side of secrets (docs/secrets.md#where-a-host-keeps-them): one directory per service
 * under a root-owned tree, each delivery a new generation directory that `current` points at,
 * swapped with one rename, the one before kept as `previous` until confirmed. A service, its
 * files and their fingerprints therefore always change together: a run cut at any point leaves
 * `current` on the old generation or on the complete new one, never a torn file.
 *
 * Values travel inside the script's here-documents, base64-encoded, on ssh's stdin: never in an
 * argument of any process on either end. The host decodes them with builtins and pipes (printf is
 * a shell builtin: a forked subshell's argv is still `sh`), into systemd-creds or a 0600 file.
 *
 * Scripts only build text; callers run them (one round trip per host for each of read, write).
 */
import { PRELUDE, records } from '../runtime/shell.js';
import { heredoc, quote, validName } from '../transport/quote.js';
import type { SecretDelivery } from '../manifest/secrets.js';
import { serviceSecretsDir } from './layout.js';

export { HOST_SECRETS_ROOT, FINGERPRINT_HEADER, ENV_FILE_NAME, credentialFile } from './layout.js';

export interface SecretsDirTarget {
  id: string;
  environment: string;
  project: string;
  /** The unit whose process start is compared with the last switch (systemd services). */
  unit?: string;
}

export interface FingerprintLine {
  name: string;
  delivery: SecretDelivery;
  fingerprint: string;
}

export interface ServiceSecretsState {
  id: string;
  /** Generation names (g.<id>), '' when none. */
  current: string;
  previous: string;
  /** Epoch seconds of the last switch of `current` (0: never). */
  switchedAt: number;
  /** The unit's process started before the last switch: it runs the values before it. */
  runningOlder: boolean;
  /** Its unit is active (systemd services; false for the others: push does not restart them). */
  active: boolean;
  fingerprints: FingerprintLine[];
}

export interface HostSecretsState {
  /** Hex salt, '' when the host has none yet. Never shown. */
  salt: string;
  /** systemd-creds is on the host (systemd ≥ 250). */
  creds: boolean;
  /** The host's systemd major version (`systemctl --version`), 0 when it could not be told. */
  systemd: number;
  services: Map<string, ServiceSecretsState>;
}

/**
 * What `sudo` is for this root: the host tree is root's; this machine's state directory is the
 * operator's own (no sudo). ROOT_MODE decides the directory mode and the owner check.
 */
function modePrelude(root: string, asRoot: boolean): string {
  return `MA_R=${quote(validName('path', root))}
MA_DM=${asRoot ? '0711' : '0700'}
${asRoot ? '' : 'SUDO=\n'}`;
}

/**
 * ma_systemd_version: $ma_sv, the host's systemd major version, from the name of the
 * libsystemd-shared-<version>.so its systemctl is linked with (Debian, Ubuntu, Fedora, Arch keep
 * it under …/systemd/), read by the shell itself; `systemctl --version` (whose start alone costs
 * more than the rest of the read on a busy host) only where none, or two versions, are found.
 */
const SYSTEMD_VERSION_FUNCTION = `ma_systemd_version() {
  ma_sv='' ma_two=''
  for ma_p in /usr/lib/systemd/libsystemd-shared-*.so /usr/lib/*/systemd/libsystemd-shared-*.so /usr/lib64/systemd/libsystemd-shared-*.so /lib/systemd/libsystemd-shared-*.so; do
    [ -f "$ma_p" ] || continue
    ma_v=\${ma_p##*/libsystemd-shared-}; ma_v=\${ma_v%%[!0-9]*}
    if [ -z "$ma_sv" ]; then ma_sv=$ma_v; elif [ "$ma_sv" != "$ma_v" ]; then ma_two=1; fi
  done
  [ -n "$ma_sv" ] && [ -z "$ma_two" ] || ma_sv=$(systemctl --version 2>/dev/null | sed -n '1s/^systemd \\([0-9]*\\).*/\\1/p')
}
`;

/**
 * ma_unit_read UNIT: `@@unit UNIT STATE` (active or inactive, as far as secrets care: a process
 * of it runs or none does), then `@@pid PID START` for each of its processes, START the clock
 * ticks since boot at which it started (field 22 of /proc/PID/stat, after the command name in
 * parentheses, which may hold spaces and is the process's to choose). On a host with the unified
 * cgroup hierarchy all of it is read by the shell (ma_cgroup, src/runtime/shell.ts): the unit's
 * cgroup says whether a process runs and which. A unit with no cgroup runs no process; systemd
 * is asked (`systemctl show`, whose start alone costs more than the rest of the read) only when
 * it still holds an invocation for it (/run/systemd/units/invocation:UNIT, kept from start to
 * stop: a oneshot that remains active after exiting, or a slice nested deeper), and on cgroup v1.
 */
const UNIT_READ_FUNCTION = `ma_field20() { [ $# -ge 20 ] || return 0; shift 19; ma_st=$1; }
ma_pid_start() {
  ma_stat=''; read -r ma_stat 2>/dev/null </proc/"$1"/stat || [ -n "$ma_stat" ] || return 0
  ma_st=''; ma_field20 \${ma_stat##*) }
  case $ma_st in '' | *[!0-9]*) ;; *) printf '@@pid\\t%s\\t%s\\t%s\\n' "$ma_u" "$1" "$ma_st" ;; esac
}
ma_unit_read() {
  ma_u=$1 ma_a=inactive
  ma_cgroup "$ma_u"
  if [ -n "$ma_cg" ]; then
    ma_populated "$ma_cg" && ma_a=active
    printf '@@unit\\t%s\\t%s\\n' "$ma_u" "$ma_a"
    while read -r ma_p; do ma_pid_start "$ma_p"; done 2>/dev/null < "$ma_cg/cgroup.procs"
    return 0
  fi
  if [ "$ma_cg_ok" = 1 ] && [ ! -L "/run/systemd/units/invocation:$ma_u" ]; then printf '@@unit\\t%s\\tinactive\\n' "$ma_u"; return 0; fi
  ma_p=0
  for ma_w in $(systemctl show -p ActiveState,MainPID -- "$ma_u" 2>/dev/null); do
    case $ma_w in ActiveState=*) ma_a=\${ma_w#ActiveState=} ;; MainPID=[1-9]*) ma_p=\${ma_w#MainPID=} ;; esac
  done
  printf '@@unit\\t%s\\t%s\\n' "$ma_u" "$ma_a"
  [ "$ma_p" = 0 ] && return 0
  if [ -r /proc/"$ma_p"/stat ]; then ma_pid_start "$ma_p"; else printf '@@age\\t%s\\t%s\\t%s\\n' "$ma_u" "$ma_p" "$(ps -o etimes= -p "$ma_p" 2>/dev/null)"; fi
}
# ma_boot: @@boot with the wall-clock second the host booted (ma_btime), against which a
# process's start in ticks since boot is placed; @@now with the time now where there is no /proc.
ma_boot() {
  ma_btime
  if [ -n "$ma_bt" ]; then printf '@@boot\\t%s\\n' "$ma_bt"; else printf '@@now\\t%s\\n' "$(date +%s)"; fi
}
`;

/**
 * One round trip: the salt, whether systemd-creds exists, and per service its generations,
 * fingerprints and processes, as records the CLI joins (parseRead). Two processes whatever the
 * number of services (one find for the links, one grep for the fingerprints where they are read
 * through sudo); as root the shell reads the fingerprints itself, and the units' processes and
 * their start from the kernel's files: every fork costs on a busy host, and `systemctl` most of
 * all (asked only for a unit that is started with no cgroup where one looks).
 */
export function readScript(root: string, asRoot: boolean, targets: readonly SecretsDirTarget[]): string {
  const dirs = targets.map((t) => serviceSecretsDir(root, t.environment, t.project));
  const units = [...new Set(targets.flatMap((t) => (t.unit === undefined ? [] : [validName('unit', t.unit)])))];
  const links = dirs.flatMap((d) => [`${d}/current`, `${d}/previous`]).map(quote);
  const fingerprints = dirs.map((d) => quote(`${d}/current/fingerprints`)).join(' ');
  const spec = targets.map((t, i) => `@@target\t${t.id}\t${t.unit ?? ''}\t${dirs[i]}`).join('\n');
  const parts =
    targets.length === 0
      ? []
      : [
          `printf '%s\\n' ${quote(spec)}`,
          // The links themselves (no -L): their targets and when they last switched. A find
          // without -printf (not GNU: busybox's) prints nothing: then readlink and stat, one by one.
          `ma_l=$($SUDO find ${links.join(' ')} -maxdepth 0 -printf '@@link\\t%p\\t%l\\t%T@\\n' 2>/dev/null)`,
          `[ -n "$ma_l" ] || ma_l=$(for ma_p in ${links.join(' ')}; do ma_t=$($SUDO readlink -- "$ma_p" 2>/dev/null) && printf '@@link\\t%s\\t%s\\t%s\\n' "$ma_p" "$ma_t" "$($SUDO stat -c %Y -- "$ma_p" 2>/dev/null)"; done)`,
          `[ -z "$ma_l" ] || printf '%s\\n' "$ma_l"`,
          ...(units.length === 0 ? [] : [UNIT_READ_FUNCTION, ...units.map((u) => `ma_unit_read ${quote(u)}`), 'ma_boot']),
          // "PATH:LINE" as grep -H prints them, the comment lines left out.
          `if [ -z "$SUDO" ]; then
  for ma_f in ${fingerprints}; do
    [ -f "$ma_f" ] || continue
    while IFS= read -r ma_x || [ -n "$ma_x" ]; do case $ma_x in '#'*) ;; *) printf '@@fl\\t%s:%s\\n' "$ma_f" "$ma_x" ;; esac; done < "$ma_f"
  done
else
  ma_x=$($SUDO grep -s -H -v '^#' -- ${fingerprints})
  [ -z "$ma_x" ] || while IFS= read -r ma_y; do printf '@@fl\\t%s\\n' "$ma_y"; done <<MA_EOF
$ma_x
MA_EOF
fi`,
        ];
  return `${PRELUDE}${modePrelude(root, asRoot)}${SYSTEMD_VERSION_FUNCTION}
main() {
ma_salt=''
if [ -z "$SUDO" ]; then IFS= read -r ma_salt < "$MA_R/salt" 2>/dev/null || :; else ma_salt=$($SUDO cat -- "$MA_R/salt" 2>/dev/null | head -n 1); fi
printf '@@salt\\t%s\\n' "$ma_salt"
if command -v systemd-creds >/dev/null 2>&1; then printf '@@creds\\tyes\\n'; else printf '@@creds\\tno\\n'; fi
ma_systemd_version
printf '@@systemd\\t%s\\n' "$ma_sv"
${parts.join('\n')}
}
main
`;
}

/** Where a `@@fl` record's path ends and the fingerprints file's line begins ("PATH:LINE", grep -H's form). */
const FINGERPRINTS_AT = '/current/fingerprints:';

/** Clock ticks a second in /proc/PID/stat: USER_HZ, 100 on every architecture Linux hosts run. */
const TICKS_PER_SECOND = 100;

/**
 * The host's records joined per service. A process runs the values before the last switch when
 * it started before it; its start is placed late rather than early (btime counts whole seconds,
 * the ticks hundredths), so a process restarted right after a switch is never taken for an older
 * one.
 */
export function parseRead(output: string): HostSecretsState {
  const state: HostSecretsState = { salt: '', creds: false, systemd: 0, services: new Map() };
  const targets: { id: string; unit: string; dir: string }[] = [];
  const links = new Map<string, { target: string; mtime: number }>();
  const units = new Map<string, { active: boolean; starts: number[]; ages: number[] }>();
  const lines = new Map<string, string[]>();
  let boot: number | undefined;
  let now: number | undefined;
  const unitOf = (name: string) => {
    let u = units.get(name);
    if (u === undefined) units.set(name, (u = { active: false, starts: [], ages: [] }));
    return u;
  };
  for (const [kind, a, b, c, d] of records(output)) {
    if (kind === 'salt') state.salt = /^[0-9a-f]{64}$/.test(a ?? '') ? a! : '';
    else if (kind === 'creds') state.creds = a === 'yes';
    else if (kind === 'systemd') state.systemd = /^[0-9]{1,4}$/.test(a ?? '') ? Number(a) : 0;
    else if (kind === 'target' && a !== undefined && c !== undefined) targets.push({ id: a, unit: b ?? '', dir: c });
    else if (kind === 'link' && a !== undefined && b !== undefined) links.set(a, { target: b, mtime: Number(c) || 0 });
    else if (kind === 'unit' && a !== undefined) unitOf(a).active = b === 'active';
    else if (kind === 'pid' && a !== undefined && /^[0-9]+$/.test(c ?? '')) unitOf(a).starts.push(Number(c) / TICKS_PER_SECOND);
    else if (kind === 'age' && a !== undefined && /^\s*[0-9]+\s*$/.test(c ?? '')) unitOf(a).ages.push(Number(c));
    else if (kind === 'boot' && /^[0-9]+$/.test(a ?? '')) boot = Number(a);
    else if (kind === 'now' && /^[0-9]+$/.test(a ?? '')) now = Number(a);
    else if (kind === 'fl' && a !== undefined) {
      // The rest of the record is the file's line: put back the tabs the split took.
      const line = [a, b, c, d].filter((x) => x !== undefined).join('\t');
      const at = line.indexOf(FINGERPRINTS_AT);
      if (at < 0) continue;
      const dir = line.slice(0, at);
      const got = lines.get(dir) ?? [];
      got.push(line.slice(at + FINGERPRINTS_AT.length));
      lines.set(dir, got);
    }
  }
  for (const t of targets) {
    const current = links.get(`${t.dir}/current`);
    const switchedAt = current?.mtime ?? 0;
    const unit = t.unit === '' ? undefined : units.get(t.unit);
    // Latest each process can have started, in epoch seconds: btime is whole seconds (the boot's
    // fraction dropped), a start in ticks is rounded down; `date +%s` is whole seconds rounded
    // down, and so is ps's age (a start is at most now + 1 - age).
    const latestStarts = [
      ...(boot === undefined ? [] : (unit?.starts ?? []).map((s) => boot! + 1 + s + 1 / TICKS_PER_SECOND)),
      ...(now === undefined ? [] : (unit?.ages ?? []).map((age) => now! + 1 - age)),
    ];
    const service: ServiceSecretsState = {
      id: t.id,
      current: current?.target ?? '',
      previous: links.get(`${t.dir}/previous`)?.target ?? '',
      switchedAt: Math.floor(switchedAt),
      runningOlder: switchedAt > 0 && latestStarts.some((start) => start < switchedAt),
      active: unit?.active === true,
      fingerprints: [],
    };
    if (service.current !== '')
      for (const line of lines.get(t.dir) ?? []) {
        const [name, delivery, fingerprint] = line.split('\t');
        if (name !== undefined && fingerprint !== undefined && (delivery === 'credential' || delivery === 'env'))
          service.fingerprints.push({ name, delivery, fingerprint });
      }
    state.services.set(t.id, service);
  }
  return state;
}

/**
 * The body that writes one generation, run as root (or the operator, for this machine) by
 * `sh -c BODY sh ROOT DIR OWNER GEN ID ASROOT` with the payload on stdin. Every directory of the
 * tree is one it made or one owned by it and writable by no one else, never a link: a service
 * account cannot swap a file under root's feet.
 */
const WRITE_BODY = String.raw`set -u
umask 077
R=$1; d=$2; owner=$3; g=$4; id=$5; asroot=$6
dm=0711; [ "$asroot" = 1 ] || dm=0700
fail() { printf '@@fail\t%s\t%s\n' "$id" "$1"; exit 1; }
# The effective uid from the shell's own /proc/self/status (Linux), else id -u.
me=''
if [ -r /proc/self/status ]; then
  while read -r k ruid me rest; do [ "$k" = Uid: ] && break; me=''; done </proc/self/status
fi
[ -n "$me" ] || me=$(id -u)
# ours_stat UID LINES: each "UID MODE NAME" line (stat's) names a directory owned by UID and
# writable by no one else.
ours_stat() {
  while read -r su sa sn; do
    [ "$su" = "$1" ] || fail "$sn is owned by another account: not written"
    case $sa in *[2367]? | *[2367]) fail "$sn is writable by another account: not written" ;; esac
  done <<MA_OURS
$2
MA_OURS
}
ours() {
  [ -L "$1" ] && fail "$1 is a symbolic link: not used"
  [ -d "$1" ] || mkdir -m "$dm" -- "$1" 2>/dev/null || [ -d "$1" ] || fail "cannot create $1"
  s=$(stat -c '%u %a %n' -- "$1") || fail "cannot read $1"
  ours_stat "$me" "$s"
}
# A push after the first finds the service's three directories there (the root, the
# environment's, the service's): then they are read by one stat with those above them.
three=0
if [ -d "$R" ] && [ ! -L "$R" ] && [ -d "${'$'}{d%/*}" ] && [ ! -L "${'$'}{d%/*}" ] && [ -d "$d" ] && [ ! -L "$d" ]; then three=1; fi
if [ "$asroot" = 1 ]; then
  # Every directory above the root of the secrets (not /) is root's and no one else's to write:
  # walked by the shell (R is an absolute path without . or ..), read by one stat.
  p=${'$'}{R%/*}; set --
  while [ -n "$p" ]; do
    [ -L "$p" ] && fail "$p is a symbolic link: not used"
    [ -e "$p" ] && set -- "$@" "$p"
    p=${'$'}{p%/*}
  done
  # Root's own three, in the same stat (ours: root's, as those above).
  if [ "$three" = 1 ] && [ "$me" = 0 ]; then set -- "$@" "$R" "${'$'}{d%/*}" "$d"; three=checked; fi
  if [ $# -gt 0 ]; then
    st=$(stat -c '%u %a %n' -- "$@") || fail "cannot read the directories above $R"
    ours_stat 0 "$st"
  fi
  [ -d "${'$'}{R%/*}" ] || mkdir -p -m 0755 -- "${'$'}{R%/*}" 2>/dev/null
else
  # This machine: the state directory under the fleet's root, the operator's own (a fresh root has none yet).
  mkdir -p -m 0700 -- "${'$'}{R%/*}" 2>/dev/null
fi
# Otherwise each is made (or found) and checked in turn, a parent before what goes in it.
if [ "$three" = checked ]; then :
elif [ "$three" = 1 ]; then
  s=$(stat -c '%u %a %n' -- "$R" "${'$'}{d%/*}" "$d") || fail "cannot read $d"
  ours_stat "$me" "$s"
else
  ours "$R"
  ours "${'$'}{d%/*}"
  ours "$d"
fi
new="$d/g.$g"
mkdir -m "$dm" -- "$new" || fail "cannot create $new"
trap 'rm -rf -- "$new" "$d/.current.$g" "$d/.previous.$g"' EXIT
old=$(readlink -- "$d/current" 2>/dev/null || true)
ended=0
# Payload lines "KIND A B" (B may hold spaces; fpline: the rest is one line of the fingerprints file).
while IFS= read -r line; do
  kind=${'$'}{line%% *}; rest=${'$'}{line#"$kind"}; rest=${'$'}{rest# }
  a=${'$'}{rest%% *}; b=${'$'}{rest#"$a"}; b=${'$'}{b# }
  case $kind in
    salt)
      if [ ! -e "$R/salt" ]; then
        t=$(mktemp "$R/.salt.XXXXXX") && printf '%s\n' "$a" > "$t" && mv -f -- "$t" "$R/salt" || fail "cannot write the salt"
      fi
      salt=''; IFS= read -r salt < "$R/salt" || [ -n "$salt" ] || fail "cannot read the salt"
      [ "$salt" = "$a" ] || fail "the host's salt changed during the push: push again" ;;
    cred | credkeep)
      # credkeep: the value is the one the generation current points at holds (same keyed
      # fingerprint): its encrypted file is copied (a plain file of ours, never a link) rather than
      # encrypted again, which costs systemd-creds a start and the host key; else encrypted.
      kept=0
      if [ "$kind" = credkeep ]; then
        case $old in g.[A-Za-z0-9]*) [ -f "$d/$old/$a.cred" ] && [ ! -L "$d/$old/$a.cred" ] && cp -- "$d/$old/$a.cred" "$new/$a.cred" && kept=1 ;; esac
      fi
      if [ "$kept" = 0 ]; then
        command -v systemd-creds >/dev/null 2>&1 || fail "systemd-creds is not on this host (systemd older than 250)"
        printf '%s' "$b" | base64 -d | systemd-creds encrypt --name="$a" - "$new/$a.cred" >/dev/null 2>&1 || fail "systemd-creds encrypt failed for $a"
      fi ;;
    credfile)
      # systemd older than 250: a plain file root alone reads (0400) in a directory root alone enters (0700), for LoadCredential=.
      [ -d "$new/credentials" ] || mkdir -m 0700 -- "$new/credentials" || fail "cannot create $new/credentials"
      printf '%s' "$b" | base64 -d > "$new/credentials/$a" && chmod 0400 -- "$new/credentials/$a" || fail "cannot write the credential $a" ;;
    envfile)
      printf '%s' "$a" | base64 -d > "$new/secrets.env" || fail "cannot write secrets.env"
      if [ "$owner" != - ]; then chown -- "$owner:" "$new/secrets.env" 2>/dev/null || fail "user $owner does not exist on this host"; fi ;;
    fpline)
      # Fingerprints are keyed hashes and names, nothing secret: written by the shell, line by line.
      printf '%s\n' "$rest" >> "$new/fingerprints" || fail "cannot write the fingerprints" ;;
    end) ended=1; break ;;
  esac
done
[ "$ended" = 1 ] && [ -f "$new/fingerprints" ] || fail "the payload did not arrive whole: nothing switched"
# previous first: a cut between the two renames leaves previous = current = the old generation.
if [ -n "$old" ] && [ "$old" != "g.$g" ]; then
  ln -s -- "$old" "$d/.previous.$g" && mv -T -f -- "$d/.previous.$g" "$d/previous" || fail "cannot keep the previous generation"
  prev=$old
else
  prev=$(readlink -- "$d/previous" 2>/dev/null || true)
fi
ln -s -- "g.$g" "$d/.current.$g" && mv -T -f -- "$d/.current.$g" "$d/current" || fail "cannot switch current"
trap - EXIT
for x in "$d"/g.*; do
  n=${'$'}{x##*/}
  [ "$n" = "g.$g" ] || [ "$n" = "$prev" ] || rm -rf -- "$x"
done
printf '@@written\t%s\tg.%s\n' "$id" "$g"
`;

export interface GenerationWrite {
  id: string;
  environment: string;
  project: string;
  /** The service's user (the env file's owner); undefined: root's (or the operator's, on this machine). */
  owner?: string;
  /** Credentials to encrypt on the host: name → value; `unchanged`: the current generation's encrypted file may be copied instead. */
  credentials: { name: string; value: string; unchanged?: boolean }[];
  /** `file`: the credentials go as root-only plain files (LoadCredential=, systemd older than 250), not encrypted. */
  credentialStore?: 'encrypted' | 'file';
  /** The whole secrets.env, when the service takes env variables. */
  envFile?: string;
  /** The whole fingerprints file. */
  fingerprints: string;
  /** Restart it on the new values through its gate, in the same run, when it runs now (below). */
  restart?: RestartOnHost;
}

/**
 * The runtime's fragments (runtime.ts ActivationRuntime) that restart a service on the host right
 * after its switch: `running` (a condition), `restartAndGate`, `restoreAndGate` (after switching
 * back), with `functions` defined first and `$d` set to `directory`.
 */
export interface RestartOnHost {
  directory: string;
  functions: string;
  running: string;
  restartAndGate: string;
  restoreAndGate: string;
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

/** The fingerprints file's lines, each sent as one payload line (the file's last newline ends its last line, it starts none). */
function fingerprintLines(text: string): string[] {
  if (/[\r\0]/.test(text)) throw new Error('a fingerprints file holds a carriage return or NUL');
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

/**
 * `current` back to `previous` for the service whose directory is in shell variable `$1`, the
 * two links swapped (each by one rename): prints `@@back<TAB>id<TAB>done|none|fail` (none: no values before to go back to).
 */
const SWITCH_BACK_FUNCTION = `ma_switch_back() {
  ma_sc=$($SUDO readlink -- "$1/current" 2>/dev/null || true); ma_sp=$($SUDO readlink -- "$1/previous" 2>/dev/null || true)
  if [ -z "$ma_sp" ] || ! $SUDO test -d "$1/$ma_sp"; then printf '@@back\\t%s\\tnone\\n' "$2"; return 1; fi
  if $SUDO ln -s -- "$ma_sc" "$1/.previous.sw" && $SUDO ln -s -- "$ma_sp" "$1/.current.sw" && $SUDO mv -T -f -- "$1/.current.sw" "$1/current" && $SUDO mv -T -f -- "$1/.previous.sw" "$1/previous"; then
    printf '@@back\\t%s\\tdone\\n' "$2"; return 0
  fi
  $SUDO rm -f -- "$1/.previous.sw" "$1/.current.sw"; printf '@@back\\t%s\\tfail\\n' "$2"; return 1
}`;

/**
 * Restarts the service (when it runs) right after its switch, in the same script: its gate on the
 * host, and on a failed gate `current` switched back and the service restarted on the values
 * before. Nothing of it depends on the ssh session: the script ignores SIGHUP and SIGPIPE, so a
 * CLI killed or cut off after the switch leaves the host to finish (new values through the gate,
 * or the old ones back), never a switched file with a service that still runs the old values.
 * Records: @@idle id (not running: nothing restarted) · @@restart id, then the gate's @@since and
 * @@gate · on a failed gate @@back id done|none|fail, then @@restore id and the second gate.
 */
function restartFragment(dir: string, id: string, r: RestartOnHost): string {
  return `(
d=${quote(r.directory)}
${r.functions}
if ! { ${r.running}; } >/dev/null 2>&1; then printf '@@idle\\t%s\\n' ${id}; exit 0; fi
printf '@@restart\\t%s\\n' ${id}
( ${r.restartAndGate}
) && exit 0
ma_switch_back ${dir} ${id} || exit 1
printf '@@restore\\t%s\\n' ${id}
( ${r.restoreAndGate}
)
exit 1
)`;
}

/**
 * One round trip writing a generation per service and restarting what runs them, through their
 * gate; \`salt\` is sent when the host has none yet.
 */
export function writeScript(root: string, asRoot: boolean, writes: readonly GenerationWrite[], generation: string, salt?: string): string {
  if (!/^[A-Za-z0-9]+$/.test(generation)) throw new Error(`unsafe generation id ${generation}`);
  const parts = writes.map((w, i) => {
    const d = serviceSecretsDir(root, w.environment, w.project);
    const owner = w.owner === undefined ? '-' : validName('user', w.owner);
    const payload = [
      ...(salt === undefined ? [] : [`salt ${salt}`]),
      ...w.credentials.map(
        (c) => `${w.credentialStore === 'file' ? 'credfile' : c.unchanged === true ? 'credkeep' : 'cred'} ${c.name} ${b64(c.value)}`,
      ),
      ...(w.envFile === undefined ? [] : [`envfile ${b64(w.envFile)}`]),
      ...fingerprintLines(w.fingerprints).map((line) => `fpline ${line}`),
      'end',
    ].join('\n');
    const args = [root, d, owner, generation, w.id, asRoot ? '1' : '0'].map(quote).join(' ');
    // The write's records are kept and printed after: nothing is written to a stream that may be
    // gone between the switch and the restart.
    return `write_${i}() {
${heredoc(`$SUDO sh -c ${quote(WRITE_BODY)} sh ${args}`, payload, 'MA_SECRETS')}
}
if ma_out=$(write_${i}); then
  printf '%s\\n' "$ma_out"
${
  w.restart === undefined
    ? ''
    : `  ${restartFragment(quote(d), quote(w.id), w.restart)} || ma_failed=1
`
}else
  printf '%s\\n' "$ma_out"; ma_failed=1
fi`;
  });
  // Functions: nothing runs before the whole script arrived (a cut stream runs nothing).
  return `${PRELUDE}${modePrelude(root, asRoot)}${SWITCH_BACK_FUNCTION}
main() {
trap '' HUP PIPE
ma_failed=0
${parts.join('\n')}
return $ma_failed
}
main
`;
}

export interface WrittenService {
  ok: boolean;
  generation?: string;
  error?: string;
  /** After the switch: not running (nothing restarted), or the gate's output (parseGate). */
  restart?: { idle: true } | { idle: false; output: string };
  /** A failed gate: `current` switched back (done), nothing to go back to (none), or the switch failed. */
  back?: 'done' | 'none' | 'fail';
  /** After switching back: the restart on the values before, its gate's output. */
  restore?: string;
}

/** The write script's records per service; a gate's records belong to the @@restart/@@restore line before them. */
export function parseWrite(output: string): Map<string, WrittenService> {
  const out = new Map<string, WrittenService>();
  let open: { w: WrittenService; part: 'restart' | 'restore'; lines: string[] } | undefined;
  const close = () => {
    if (open === undefined) return;
    const text = open.lines.join('\n');
    if (open.part === 'restart') open.w.restart = { idle: false, output: text };
    else open.w.restore = text;
    open = undefined;
  };
  for (const line of output.split('\n')) {
    if (!line.startsWith('@@')) continue;
    const [kind, id, a] = line.slice(2).split('\t');
    const one = (key: string) => out.get(key) ?? (out.set(key, { ok: false }).get(key) as WrittenService);
    if (
      (kind === 'written' || kind === 'fail' || kind === 'idle' || kind === 'restart' || kind === 'back' || kind === 'restore') &&
      id !== undefined
    ) {
      close();
      const w = one(id);
      if (kind === 'written') {
        w.ok = true;
        if (a !== undefined) w.generation = a;
      } else if (kind === 'fail') w.error = a ?? 'failed';
      else if (kind === 'idle') w.restart = { idle: true };
      else if (kind === 'back') w.back = a === 'done' || a === 'none' ? a : 'fail';
      else open = { w, part: kind, lines: [] };
      continue;
    }
    open?.lines.push(line);
  }
  close();
  return out;
}

/**
 * `current` ↔ `previous` (revert: back to the values before the last change) or dropping
 * `previous` (confirm). One round trip for every service of a host.
 */
export function switchScript(root: string, asRoot: boolean, targets: readonly SecretsDirTarget[], action: 'revert' | 'confirm'): string {
  const parts = targets.map((t) => {
    const d = quote(serviceSecretsDir(root, t.environment, t.project));
    const id = quote(t.id);
    if (action === 'confirm')
      return `p=$($SUDO readlink -- ${d}/previous 2>/dev/null || true)
if [ -z "$p" ]; then printf '@@none\\t%s\\n' ${id}
else $SUDO rm -f -- ${d}/previous && case $p in g.*) $SUDO rm -rf -- ${d}/"$p" ;; esac; printf '@@done\\t%s\\t%s\\n' ${id} "$p"; fi`;
    return `c=$($SUDO readlink -- ${d}/current 2>/dev/null || true); p=$($SUDO readlink -- ${d}/previous 2>/dev/null || true)
if [ -z "$p" ] || ! $SUDO test -d ${d}/"$p"; then printf '@@none\\t%s\\n' ${id}
elif $SUDO ln -s -- "$c" ${d}/.previous.sw && $SUDO ln -s -- "$p" ${d}/.current.sw && $SUDO mv -T -f -- ${d}/.current.sw ${d}/current && $SUDO mv -T -f -- ${d}/.previous.sw ${d}/previous; then printf '@@done\\t%s\\t%s\\n' ${id} "$p"
else $SUDO rm -f -- ${d}/.previous.sw ${d}/.current.sw; printf '@@fail\\t%s\\t%s\\n' ${id} 'cannot switch current'; fi`;
  });
  return `${PRELUDE}${modePrelude(root, asRoot)}main() {
${parts.join('\n')}
}
main
`;
}

/**
 * `secrets revert` in one round trip per host: each service's `current` back to `previous` and,
 * in the same script, the service restarted on those values through its gate when it runs (a
 * systemd unit, a Compose service: the fragments push uses); when they fail the gate there, the
 * host switches forward again and restarts on the values it ran. Records: @@reverted id
 * done|none|fail, then the restart's records as in the write script (parseWrite).
 */
export function revertScript(root: string, asRoot: boolean, targets: readonly { target: SecretsDirTarget; restart?: RestartOnHost }[]): string {
  const parts = targets.map(({ target, restart }) => {
    const d = quote(serviceSecretsDir(root, target.environment, target.project));
    const id = quote(target.id);
    return `ma_r=$(ma_switch_back ${d} ${id}); ma_st=\${ma_r##*$(printf '\t')}
printf '@@reverted\t%s\t%s\n' ${id} "$ma_st"
if [ "$ma_st" = done ]; then
${restart === undefined ? '  :' : `  ${restartFragment(d, id, restart)} || ma_failed=1`}
elif [ "$ma_st" = fail ]; then ma_failed=1
fi`;
  });
  return `${PRELUDE}${modePrelude(root, asRoot)}${SWITCH_BACK_FUNCTION}
main() {
trap '' HUP PIPE
ma_failed=0
${parts.join('\n')}
return $ma_failed
}
main
`;
}

export function parseRevert(output: string): Map<string, { state: 'done' | 'none' | 'fail'; restart: WrittenService | undefined }> {
  const written = parseWrite(output);
  const out = new Map<string, { state: 'done' | 'none' | 'fail'; restart: WrittenService | undefined }>();
  for (const [kind, id, a] of records(output))
    if (kind === 'reverted' && id !== undefined) out.set(id, { state: a === 'done' || a === 'none' ? a : 'fail', restart: written.get(id) });
  return out;
}

export function parseSwitch(output: string): Map<string, { state: 'done' | 'none' | 'fail'; detail?: string }> {
  const out = new Map<string, { state: 'done' | 'none' | 'fail'; detail?: string }>();
  for (const [kind, id, a] of records(output)) {
    if (id === undefined) continue;
    if (kind === 'done' || kind === 'none' || kind === 'fail') out.set(id, { state: kind, ...(a === undefined ? {} : { detail: a }) });
  }
  return out;
}

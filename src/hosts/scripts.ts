/**
 * The one script per host `hosts prepare` sends: it checks every requirement and, with apply,
 * installs what is missing, in a fixed order (packages, accounts, directories, clusters, units),
 * checking each item again after acting on it. Builders only: the caller decides where to run.
 *
 * Records (one line each, tab-separated; anything else on stdout is ignored):
 *   @@have  ID DETAIL      present (and, with apply, was already there)
 *   @@miss  ID DETAIL      missing (check only, or what apply could not make present)
 *   @@done  ID DETAIL      apply made it present
 *   @@fail  ID DETAIL      apply tried and failed (the reason)
 *   @@step  TEXT           with apply: a step about to run (progress)
 *   @@pkg   CAPABILITY PACKAGE   the package the host's apt would install for a capability
 *   @@pgversion VERSION    the PostgreSQL version a cluster without a declared one uses here
 *
 * Crash safety: the script ignores SIGHUP and SIGPIPE, so once the host has it, it runs to the
 * end even when the CLI is killed or the network drops (its output goes nowhere); a lock keeps a
 * second run waiting for it. Every step is idempotent and judged by what is on the host: apt
 * finishes an interrupted dpkg (`dpkg --configure -a`) first; a cluster whose creation was cut
 * short (its marker still there) is dropped and made again before anything could have used it;
 * the listen file is written to a temporary name and renamed.
 */
import { quote } from '../transport/quote.js';
import { TUNNEL_ACCOUNT_FUNCTIONS } from '../tunnels/accounts.js';
import type { Capability, HostRequirements, Need, Requirement } from './requirements.js';

export const PREPARE_LOCK = '/run/manage-apps-prepare.lock';
/** Markers of cluster creations under way (a marker left behind means the creation was cut short). */
export const PREPARE_STATE_DIR = '/var/lib/manage-apps/prepare';
export const LISTEN_FILE = 'conf.d/manage-apps-listen.conf';

/** The Debian/Ubuntu packages for a capability (compose: docker-compose-v2 where the release has it). */
export function aptPackage(capability: Capability, version: string | undefined, composePackage = 'docker-compose'): string {
  switch (capability) {
    case 'caddy':
      return 'caddy';
    case 'postgresql':
      return version === undefined ? 'postgresql' : `postgresql-${version}`;
    case 'docker':
      return 'docker.io';
    case 'compose':
      return composePackage;
    case 'restic':
      return 'restic';
  }
}

/** What to install on a Mac (never run for the user: Homebrew refuses root, and a Mac is the user's own machine). */
export function macInstruction(need: Need): string {
  switch (need.kind) {
    case 'program':
      switch (need.capability) {
        case 'caddy':
          return 'brew install caddy';
        case 'postgresql':
          return `brew install postgresql@${need.version ?? '16'}`;
        case 'docker':
          return 'install Docker Desktop (or: brew install colima docker && colima start)';
        case 'compose':
          return 'brew install docker-compose (Docker Desktop includes it)';
        case 'restic':
          return 'brew install restic';
      }
      break;
    case 'unit':
      return `start ${need.unit.replace(/\.service$/, '')} (brew services start ${need.unit.replace(/\.service$/, '')})`;
    case 'account':
      return `create the account ${need.user} (sudo sysadminctl -addUser ${need.user} -shell /usr/bin/false)`;
    case 'directory':
      return `sudo mkdir -p ${need.path}`;
    case 'cluster':
      return `initdb a cluster for ${need.cluster} listening on port ${need.port} (${need.listen.join(', ')}) and start it`;
  }
}

const HELPERS = String.raw`set -u
umask 022
export LC_ALL=C DEBIAN_FRONTEND=noninteractive PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
ma_have() { printf '@@have\t%s\t%s\n' "$1" "$2"; }
ma_miss() { printf '@@miss\t%s\t%s\n' "$1" "$2"; }
ma_line() { tr '\n\t' '  ' | cut -c1-300; }
ma_changed() { :; }
# ma_unit_state UNIT: "ok", or what is wrong (masked, disabled, inactive) in words.
ma_unit_state() {
  e=$(systemctl is-enabled "$1" 2>/dev/null); a=$(systemctl is-active "$1" 2>/dev/null)
  case $e in masked|masked-runtime) echo masked; return ;; enabled|enabled-runtime|static|indirect|generated|alias) ;; *) echo "not enabled (${'$'}{e:-unknown})"; return ;; esac
  [ "$a" = active ] || { echo "not running (${'$'}{a:-unknown})"; return; }
  echo ok
}
# ma_pg_version [DECLARED]: the declared version, else the newest installed server.
ma_pg_version() {
  if [ -n "$1" ]; then echo "$1"; return; fi
  ls /usr/lib/postgresql 2>/dev/null | while read -r v; do [ -x "/usr/lib/postgresql/$v/bin/postgres" ] && echo "$v"; done | sort -V | tail -n 1
}
# ma_dir_safe PATH: every existing component is a real directory (no link manage-apps did not make).
ma_dir_safe() {
  p=''
  set -f
  for c in $(printf '%s' "$1" | tr '/' ' '); do p="$p/$c"; [ -e "$p" ] || [ -L "$p" ] || return 0; [ -d "$p" ] && [ ! -L "$p" ] || { set +f; return 1; }; done
  set +f
  return 0
}
${TUNNEL_ACCOUNT_FUNCTIONS}
`;

/** A program's presence, judged by what runs (a package half-configured by a killed apt shows in dpkg --audit). */
function programCheck(id: string, capability: Capability, version: string | undefined): string {
  const q = quote(id);
  switch (capability) {
    case 'caddy':
      return `if command -v caddy >/dev/null 2>&1; then ma_have ${q} "$(caddy version 2>/dev/null | cut -d' ' -f1)"; else ma_miss ${q} 'caddy is not installed'; fi`;
    case 'restic':
      return `if command -v restic >/dev/null 2>&1; then ma_have ${q} "$(restic version 2>/dev/null | cut -d' ' -f2)"; else ma_miss ${q} 'restic is not installed'; fi`;
    case 'docker':
      return `if command -v dockerd >/dev/null 2>&1 && command -v docker >/dev/null 2>&1; then ma_have ${q} "$(dockerd --version 2>/dev/null | cut -d' ' -f3 | tr -d ,)"; else ma_miss ${q} 'Docker Engine is not installed'; fi`;
    case 'compose':
      return `if docker compose version >/dev/null 2>&1; then ma_have ${q} "docker compose $(docker compose version --short 2>/dev/null)"; elif command -v docker-compose >/dev/null 2>&1; then ma_have ${q} "docker-compose $(docker-compose version --short 2>/dev/null)"; else ma_miss ${q} 'Docker Compose is not installed'; fi`;
    case 'postgresql':
      return version === undefined
        ? `v=$(ma_pg_version ''); if [ -n "$v" ] && command -v pg_createcluster >/dev/null 2>&1; then ma_have ${q} "PostgreSQL $v"; else ma_miss ${q} 'no PostgreSQL server is installed'; fi`
        : `if [ -x ${quote(`/usr/lib/postgresql/${version}/bin/postgres`)} ] && command -v pg_createcluster >/dev/null 2>&1; then ma_have ${q} ${quote(`PostgreSQL ${version}`)}; else ma_miss ${q} ${quote(`PostgreSQL ${version} is not installed`)}; fi`;
  }
}

const macProgram: Record<Capability, string> = {
  caddy: 'caddy',
  restic: 'restic',
  docker: 'docker',
  compose: 'docker-compose',
  postgresql: 'postgres',
};

function accountCheck(id: string, need: Extract<Need, { kind: 'account' }>): string {
  const u = quote(need.user);
  // A tunnel account counts only as one manage-apps made (tunnels up refuses any other).
  if (need.homeOwner === 'root')
    return `if ma_ours ${u} && [ -d ${quote(need.home)} ] && [ ! -L ${quote(need.home)} ]; then ma_have ${quote(id)} "uid $(id -u ${u}), made by manage-apps, home ${need.home}"; elif id -u ${u} >/dev/null 2>&1; then ma_miss ${quote(id)} 'exists, not recorded as made by manage-apps'; else ma_miss ${quote(id)} ${quote(`no account ${need.user}`)}; fi`;
  return `if e=$(getent passwd ${u}); then h=$(printf '%s' "$e" | cut -d: -f6); s=$(printf '%s' "$e" | cut -d: -f7); if [ -d "$h" ]; then ma_have ${quote(id)} "uid $(id -u ${u}), home $h, shell $s"; else ma_miss ${quote(id)} "home $h is missing"; fi; else ma_miss ${quote(id)} ${quote(`no account ${need.user}`)}; fi`;
}

function directoryCheck(id: string, path: string): string {
  const p = quote(path);
  return `if [ -d ${p} ] && [ ! -L ${p} ]; then ma_have ${quote(id)} "$(stat -c '%U:%G %a' ${p} 2>/dev/null)"; elif [ -e ${p} ] || [ -L ${p} ]; then ma_miss ${quote(id)} 'exists but is not a directory'; else ma_miss ${quote(id)} 'does not exist'; fi`;
}

/** The listen file's whole content (compared byte for byte). */
export function listenConf(listen: readonly string[]): string {
  return `# Written by manage-apps hosts prepare: the addresses the services using this cluster connect to.\nlisten_addresses = '${listen.join(',')}'\n`;
}

/**
 * Checks a cluster: created (and not a creation cut short), on the declared port, listening on
 * exactly the declared addresses, its unit unmasked, enabled and running. Sets cl_<i>_* variables
 * the apply part reads.
 */
function clusterCheck(i: number, id: string, need: Extract<Need, { kind: 'cluster' }>): string {
  const name = quote(need.cluster);
  return [
    `v=$(ma_pg_version ${quote(need.version ?? '')}); cl_${i}_v=$v; cl_${i}_why=''`,
    `[ -n "$v" ] && printf '@@pgversion\\t%s\\t%s\\n' ${quote(id)} "$v"`,
    `if [ -z "$v" ]; then cl_${i}_why='no PostgreSQL server to create it with'`,
    `elif [ -e ${quote(PREPARE_STATE_DIR)}/cluster-${need.cluster}.creating ]; then cl_${i}_why='its creation was interrupted'`,
    `elif [ ! -f "/etc/postgresql/$v/"${name}/postgresql.conf ] || [ ! -f "/var/lib/postgresql/$v/"${name}/PG_VERSION ]; then cl_${i}_why="not created (PostgreSQL $v)"`,
    'else',
    `  p=$(sed -n "s/^[[:space:]]*port[[:space:]]*=[[:space:]]*\\([0-9]*\\).*/\\1/p" "/etc/postgresql/$v/"${name}/postgresql.conf | tail -n 1)`,
    `  [ "$p" = ${need.port} ] || cl_${i}_why="runs on port $p, the inventory says ${need.port}: change one of them"`,
    `  if [ -z "$cl_${i}_why" ]; then`,
    `    f="/etc/postgresql/$v/"${name}/${LISTEN_FILE}`,
    `    if [ ! -f "$f" ] || [ "$(cat "$f")" != "$(printf '%s' ${quote(listenConf(need.listen).trimEnd())})" ]; then cl_${i}_why=${quote(`listen_addresses not set to ${need.listen.join(',')}`)}; fi`,
    `    s=$(ma_unit_state "postgresql@$v-"${name}.service)`,
    `    [ "$s" = ok ] || cl_${i}_why="${'$'}{cl_${i}_why:+$cl_${i}_why; }postgresql@$v-${need.cluster}.service $s"`,
    '  fi',
    'fi',
    `if [ -z "$cl_${i}_why" ]; then ma_have ${quote(id)} "PostgreSQL $v, port ${need.port}, listening on ${need.listen.join(',')}"; else ma_miss ${quote(id)} "$cl_${i}_why"; fi`,
  ].join('\n');
}

function check(i: number, r: Requirement, platform: 'apt' | 'mac'): string {
  const n = r.need;
  switch (n.kind) {
    case 'program':
      if (platform === 'mac')
        return `if command -v ${macProgram[n.capability]} >/dev/null 2>&1; then ma_have ${quote(r.id)} 'installed'; else ma_miss ${quote(r.id)} ${quote(`${macProgram[n.capability]} is not installed`)}; fi`;
      return programCheck(r.id, n.capability, n.version);
    case 'unit':
      if (platform === 'mac') return `ma_miss ${quote(r.id)} 'not checked on a Mac'`;
      return `s=$(ma_unit_state ${quote(n.unit)}); if [ "$s" = ok ]; then ma_have ${quote(r.id)} 'enabled, running'; else ma_miss ${quote(r.id)} "$s"; fi`;
    case 'account':
      if (platform === 'mac')
        return `if id -u ${quote(n.user)} >/dev/null 2>&1; then ma_have ${quote(r.id)} 'exists'; else ma_miss ${quote(r.id)} ${quote(`no account ${n.user}`)}; fi`;
      return accountCheck(r.id, n);
    case 'directory':
      return directoryCheck(r.id, n.path);
    case 'cluster':
      if (platform === 'mac') return `ma_miss ${quote(r.id)} 'not checked on a Mac'`;
      return clusterCheck(i, r.id, n);
  }
}

/** The check for every requirement (read-only; apt hosts also say which packages their apt would install). */
export function checkScript(h: HostRequirements): string {
  const lines = [HELPERS];
  if (h.platform === 'apt') {
    lines.push(
      `if ! command -v apt-get >/dev/null 2>&1; then printf '@@noapt\\n'; fi`,
      `a=$(dpkg --audit 2>/dev/null | head -n 3 | ma_line); [ -z "$a" ] || ma_miss dpkg "packages left half-installed: $a"`,
    );
    if (h.requirements.some((r) => r.need.kind === 'program' && r.need.capability === 'compose')) {
      lines.push(
        `if apt-cache show --no-all-versions docker-compose-v2 >/dev/null 2>&1; then printf '@@pkg\\tcompose\\tdocker-compose-v2\\n'; else printf '@@pkg\\tcompose\\tdocker-compose\\n'; fi`,
      );
    }
  }
  h.requirements.forEach((r, i) => lines.push(check(i, r, h.platform)));
  return h.platform === 'apt' ? asRoot(lines.join('\n')) : `${lines.join('\n')}\n`;
}

/** The script runs as root: directly, or under `sudo -n` for a non-root ssh user. */
function asRoot(body: string): string {
  return `if [ "$(id -u)" = 0 ]; then sh -c ${quote(body)}; else sudo -n sh -c ${quote(body)}; fi\n`;
}

/** The commands apply runs for a requirement, in words an operator can run by hand (--dry-run shows these). */
export function applySteps(r: Requirement, context: { pgVersion?: string; masked?: boolean }): string[] {
  const n = r.need;
  switch (n.kind) {
    case 'program':
      return []; // one apt-get for all of the host's packages (see installSteps)
    case 'account':
      return n.homeOwner === 'self'
        ? [`useradd --system --user-group --create-home --home-dir ${n.home} --shell /usr/sbin/nologin ${n.user}`]
        : [
            `record ${n.user} in /etc/manage-apps/accounts; useradd --system --user-group --no-create-home --home-dir ${n.home} --shell /usr/sbin/nologin -p '*' ${n.user}`,
            `mkdir -m 755 ${n.home} (root-owned: the tunnel account's, as tunnels up makes it)`,
          ];
    case 'directory':
      return [`mkdir -p ${n.path} (root:root 0755)`];
    case 'unit':
      return [`systemctl unmask ${[n.unit, ...(n.requires ?? [])].join(' ')} (those masked)`, `systemctl enable --now ${n.unit}`];
    case 'cluster': {
      const v = n.version ?? context.pgVersion ?? '<installed version>';
      return [
        `pg_createcluster ${v} ${n.cluster} --port ${n.port} --start-conf auto (unless it exists)`,
        `write /etc/postgresql/${v}/${n.cluster}/${LISTEN_FILE}: listen_addresses = '${n.listen.join(',')}'`,
        `systemctl unmask postgresql@.service postgresql@${v}-${n.cluster}.service (if masked)`,
        `systemctl enable postgresql@${v}-${n.cluster}.service; start it, or restart it when listen_addresses changed`,
      ];
    }
  }
}

export const APT_INSTALL =
  'apt-get install -y --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold -o DPkg::Lock::Timeout=300';

export function installSteps(packages: readonly string[], dpkgInterrupted: boolean): string[] {
  const steps: string[] = [];
  if (dpkgInterrupted) steps.push('dpkg --configure -a');
  if (packages.length > 0) steps.push('apt-get update', `${APT_INSTALL} ${packages.join(' ')}`);
  return steps;
}

/**
 * The apply script for an apt host: packages for every missing program (one apt-get), then each
 * requirement checked and, when missing, made present, then checked again.
 */
export function applyScript(h: HostRequirements, packages: ReadonlyMap<string, string>): string {
  const lines = [
    HELPERS,
    // Once the host has the script it runs to the end: a killed CLI or a cut network only loses its output.
    "trap '' HUP PIPE",
    `exec 9>${PREPARE_LOCK}; flock -w 600 9 || { printf '@@fail\\t-\\tanother hosts prepare holds ${PREPARE_LOCK}\\n'; exit 1; }`,
    'ma_done() { printf \'@@done\\t%s\\t%s\\n\' "$1" "$2"; }',
    'ma_fail() { printf \'@@fail\\t%s\\t%s\\n\' "$1" "$2"; }',
    'ma_step() { printf \'@@step\\t%s\\n\' "$1"; }',
    `mkdir -p ${PREPARE_STATE_DIR} && chmod 700 ${PREPARE_STATE_DIR}`,
    // A dpkg run cut short (a killed apt-get) is finished before anything else.
    'if [ -n "$(dpkg --audit 2>/dev/null)" ]; then ma_step "dpkg --configure -a"; if o=$(dpkg --configure -a 2>&1); then ma_done dpkg "finished an interrupted package installation"; else ma_fail dpkg "dpkg --configure -a: $(printf \'%s\' "$o" | tail -n 3 | ma_line)"; fi; fi',
  ];
  // Programs: which are missing, then one apt-get for all of them.
  const programs = h.requirements.map((r, i) => ({ r, i })).filter(({ r }) => r.need.kind === 'program');
  lines.push("pkgs=''", 'compose_pkg=docker-compose');
  for (const { r } of programs) {
    const pkg = packages.get(r.id);
    if (pkg === undefined) continue;
    const n = r.need as Extract<Need, { kind: 'program' }>;
    // docker-compose-v2 where the release has it (Ubuntu, Debian 13), else the v1 docker-compose: asked only when compose is missing.
    const pick =
      n.capability === 'compose'
        ? 'if apt-cache show --no-all-versions docker-compose-v2 >/dev/null 2>&1; then compose_pkg=docker-compose-v2; fi; '
        : '';
    lines.push(`if ! ( ${check(0, r, 'apt')} ) | grep -q '^@@have'; then ${pick}pkgs="$pkgs ${pkg}"; fi`);
  }
  lines.push(
    'if [ -n "$pkgs" ]; then',
    '  ma_step "apt-get update"',
    '  apt-get update -q >/tmp/manage-apps-prepare-apt.log 2>&1 || ma_step "apt-get update failed (installing from the lists already there)"',
    `  ma_step "${APT_INSTALL}$pkgs"`,
    `  if ! ${APT_INSTALL} $pkgs </dev/null >>/tmp/manage-apps-prepare-apt.log 2>&1; then apt_err=$(grep -E '^(E|W):' /tmp/manage-apps-prepare-apt.log | tail -n 3 | ma_line); fi`,
    'fi',
  );
  for (const { r } of programs) {
    lines.push(
      `o=$( ${check(0, r, 'apt')} ); case $o in @@have*) if printf '%s' "$pkgs" | grep -q . ; then printf '%s\\n' "$o" | sed 's/^@@have/@@done/'; else printf '%s\\n' "$o"; fi ;; *) ma_fail ${quote(r.id)} "not installed: ${'$'}{apt_err:-apt-get install failed}" ;; esac`,
    );
  }
  h.requirements.forEach((r, i) => {
    const n = r.need;
    if (n.kind === 'program') return;
    lines.push(`o=$( ${check(i, r, 'apt')} )`, `case $o in *@@have*) printf '%s\\n' "$o" ;; *)`, fix(i, r), ';; esac');
  });
  return asRoot(lines.join('\n'));
}

/** The fix for a missing requirement, then its check again: @@done when present, @@fail otherwise. */
function fix(i: number, r: Requirement): string {
  const n = r.need;
  const id = quote(r.id);
  const recheck = `o=$( ${check(i, r, 'apt')} ); case $o in *@@have*) printf '%s\\n' "$o" | sed 's/^@@have/@@done/' ;; *) ma_fail ${id} "$(printf '%s' "$o" | cut -f3- | ma_line)" ;; esac`;
  switch (n.kind) {
    case 'account': {
      const u = quote(n.user);
      const h = quote(n.home);
      // Tunnel accounts: exactly as `tunnels up` makes them (one function for both).
      if (n.homeOwner === 'root')
        return [`ma_step ${quote(`create account ${n.user}`)}`, `ma_account ${u} || ma_fail ${id} "$ma_why"`, recheck].join('\n');
      const create =
        n.homeOwner === 'self'
          ? `useradd --system --user-group --home-dir ${h} --shell /usr/sbin/nologin ${u}`
          : `useradd --system --user-group --no-create-home --home-dir ${h} --shell /usr/sbin/nologin -p '*' ${u}`;
      // The home is made by hand (not useradd -m): an existing path that is a link or not a directory is refused, never followed.
      const home =
        n.homeOwner === 'self'
          ? `if [ ! -e ${h} ] && [ ! -L ${h} ]; then mkdir -m 750 ${h} && chown ${u}:${u} ${h}; fi`
          : `if [ ! -e ${h} ] && [ ! -L ${h} ]; then mkdir -m 755 ${h}; fi`;
      return [
        `ma_step ${quote(`create account ${n.user}`)}`,
        `if ! ma_dir_safe "$(dirname ${h})"; then ma_fail ${id} ${quote(`a component of ${n.home} is a link or not a directory`)}; else`,
        `getent passwd ${u} >/dev/null 2>&1 || err=$(${create} 2>&1) || ma_fail ${id} "useradd: $(printf '%s' "$err" | ma_line)"`,
        `getent passwd ${u} >/dev/null 2>&1 && ${home}`,
        recheck,
        'fi',
      ].join('\n');
    }
    case 'directory': {
      const p = quote(n.path);
      return [`ma_step ${quote(`mkdir -p ${n.path}`)}`, `if ma_dir_safe ${p}; then mkdir -p ${p} 2>/dev/null; fi`, recheck].join('\n');
    }
    case 'unit': {
      const u = quote(n.unit);
      return [
        `ma_step ${quote(`systemctl enable --now ${n.unit}`)}`,
        `for m in ${[n.unit, ...(n.requires ?? [])].map(quote).join(' ')}; do case $(systemctl is-enabled "$m" 2>/dev/null) in masked*) ma_step "systemctl unmask $m"; systemctl unmask "$m" >/dev/null 2>&1 ;; esac; done`,
        `systemctl enable ${u} >/dev/null 2>&1; systemctl start ${u} >/dev/null 2>&1`,
        recheck,
      ].join('\n');
    }
    case 'cluster': {
      const name = quote(n.cluster);
      const marker = `${PREPARE_STATE_DIR}/cluster-${n.cluster}.creating`;
      const listen = quote(listenConf(n.listen));
      return [
        `v=$(ma_pg_version ${quote(n.version ?? '')})`,
        `if [ -z "$v" ]; then ma_fail ${id} 'no PostgreSQL server installed to create it with'; else`,
        `unit="postgresql@$v-"${name}.service`,
        // A creation cut short leaves a marker: nothing can have used that cluster yet, so it is made again.
        `if [ -e ${quote(marker)} ]; then ma_step ${quote(`pg_dropcluster the interrupted creation of ${n.cluster}`)}; systemctl stop "$unit" >/dev/null 2>&1; pg_dropcluster "$v" ${name} >/dev/null 2>&1; rm -rf "/etc/postgresql/$v/"${name} "/var/lib/postgresql/$v/"${name}; rm -f ${quote(marker)}; fi`,
        `if [ ! -f "/etc/postgresql/$v/"${name}/postgresql.conf ]; then`,
        `  ma_step "pg_createcluster $v ${n.cluster} --port ${n.port}"`,
        `  : > ${quote(marker)}`,
        `  if err=$(pg_createcluster "$v" ${name} --port ${n.port} --start-conf auto 2>&1 </dev/null); then rm -f ${quote(marker)}; else ma_fail ${id} "pg_createcluster: $(printf '%s' "$err" | tail -n 3 | ma_line)"; fi`,
        'fi',
        `if [ ! -e ${quote(marker)} ] && [ -f "/etc/postgresql/$v/"${name}/postgresql.conf ]; then`,
        `  f="/etc/postgresql/$v/"${name}/${LISTEN_FILE}; changed=0`,
        `  mkdir -p "$(dirname "$f")"`,
        `  if [ ! -f "$f" ] || [ "$(cat "$f")" != "$(printf '%s' ${listen})" ]; then`,
        `    ma_step "listen_addresses = '${n.listen.join(',')}'"`,
        `    printf '%s' ${listen} > "$f.ma-tmp" && chmod 644 "$f.ma-tmp" && chown postgres:postgres "$f.ma-tmp" && mv -f "$f.ma-tmp" "$f" && changed=1`,
        '  fi',
        '  for u in postgresql@.service "$unit"; do case $(systemctl is-enabled "$u" 2>/dev/null) in masked*) ma_step "systemctl unmask $u"; systemctl unmask "$u" >/dev/null 2>&1 ;; esac; done',
        // pg_createcluster may have started it before the listen file existed: listen_addresses needs a restart.
        '  systemctl enable "$unit" >/dev/null 2>&1',
        `  if [ "$changed" = 1 ] && [ "$(systemctl is-active "$unit")" = active ]; then ma_step "systemctl restart $unit"; systemctl restart "$unit" >/dev/null 2>&1; else ma_step "systemctl start $unit"; systemctl start "$unit" >/dev/null 2>&1; fi`,
        'fi',
        recheck,
        'fi',
      ].join('\n');
    }
    case 'program':
      return '';
  }
}

/**
 * `tunnels up|down`: make declared tunnels real on their hosts, idempotently.
 *
 * up, in three rounds (one script per host per round, hosts in parallel):
 *   1. accounts: the far host's tunnel account (no shell, no password, root-owned home) and its
 *      current authorized_keys; the far sshd's host keys (read over the operator's host-checked
 *      connection: that is what gets pinned); on the initiator its `ma-tunnel` account and the
 *      tunnel's key, generated there when it has none (the private key never leaves it);
 *   2. far hosts: the sshd Match block (checked with `sshd -t`, put back if refused; sshd
 *      reloaded only when it changed) and the authorized_keys managed block with each tunnel's
 *      restricted line (written only if the file is still what round 1 read);
 *   3. initiators: the pinned known_hosts, the ssh_config, the unit; enabled, and (re)started
 *      only when something it reads changed or it is not running.
 * Every file is written whole to a temporary name and renamed (a kill leaves the old or the
 * new file, never half of one), only when its content differs (keeping a .bak of what it
 * replaces). So any interrupted run is finished by the next, and a run with nothing to do
 * changes nothing and says so.
 */
import { WRITTEN_FUNCTION } from '../runtime/fingerprint.js';
import pLimit from 'p-limit';
import type { FleetIndex } from '../analysis/topology.js';
import { UsageError } from '../errors.js';
import type { Host } from '../fleet/model.js';
import {
  AUTHORIZED_KEYS_END,
  AUTHORIZED_KEYS_START,
  authorizedKeyLine,
  authorizedKeysBlock,
  authorizedKeysPath,
  farHome,
  keyComment,
  keyPath,
  knownHostsFile,
  knownHostsPath,
  sshConfigPath,
  sshdDropIn,
  tunnelSshConfig,
  tunnelUnit,
  unitPath,
} from '../render/tunnels.js';
import { records } from '../runtime/shell.js';
import { closest } from '../text/suggest.js';
import { quote } from '../transport/quote.js';
import { failureReason, type RunResult } from '../transport/types.js';
import { TUNNEL_ACCOUNT_FUNCTIONS } from '../tunnels/accounts.js';
import { ACCOUNT_RECORD, CLIENT_ALIVE, INITIATOR_USER, SSHD_DROPIN, type ResolvedTunnel } from '../tunnels/resolve.js';
import type { Ops } from './context.js';

export interface TunnelOutcome {
  name: string;
  direction: 'forward' | 'reverse';
  initiator: string;
  far: string;
  unit: string;
  /** What this run changed for the tunnel, in words (empty: nothing). */
  changes: string[];
  /** The unit's ActiveState after the run (null when not reached). */
  state: string | null;
  error?: string;
}

export interface HostOutcome {
  host: string;
  reachable: boolean;
  /** Changes on the host that belong to no one tunnel (accounts, the sshd Match block). */
  changes: string[];
  error?: string;
}

export interface TunnelsRun {
  action: 'up' | 'down';
  dry_run: boolean;
  tunnels: TunnelOutcome[];
  hosts: HostOutcome[];
  /** Number of changes made (0: the hosts already were as declared). */
  changed: number;
  ok: boolean;
  /** --dry-run: what each host would be asked to do, round by round. */
  plan?: { round: number; host: string; steps: string[] }[];
}

export type ProgressLine = (line: string) => void;

/** The tunnels named on the command line (all of them when none is). */
export function selectTunnels(all: readonly ResolvedTunnel[], names: readonly string[]): ResolvedTunnel[] {
  if (names.length === 0) return [...all];
  const known = all.map((t) => t.name);
  return names.map((name) => {
    const t = all.find((x) => x.name === name);
    if (!t) {
      const guess = closest(name, known);
      throw new UsageError(
        `no tunnel "${name}" can be opened`,
        `${guess ? `did you mean "${guess}"? ` : ''}tunnels: ${known.join(', ') || '(none)'}; \`manage-apps validate\` says why a declared one cannot`,
      );
    }
    return t;
  });
}

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

/** Shell helpers every tunnels script starts with (run as root: `sudo -n` for another ssh user). */
const HELPERS = String.raw`set -u
umask 022
export LC_ALL=C PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
# One tunnels run at a time on a host: a rerun waits for the remains of a killed one.
if command -v flock >/dev/null 2>&1; then exec 9>/run/manage-apps-tunnels.lock && flock -w 30 9 || { printf '@@error\t-\tanother tunnels run holds /run/manage-apps-tunnels.lock\n'; exit 1; }; fi
ma_changed() { printf '@@changed\t%s\t%s\n' "$1" "$2"; }
ma_fail() { printf '@@error\t%s\t%s\n' "$1" "$2"; }
# ma_put PATH MODE OWNER BASE64: the file gets that content (temp + rename; .bak of a different old one); prints same|changed.
ma_put() {
  t="$1.ma-tmp"
  printf '%s' "$4" | base64 -d > "$t" || { rm -f "$t"; return 1; }
  if [ -f "$1" ] && [ ! -L "$1" ] && cmp -s "$t" "$1"; then rm -f "$t"; ma_written "$1"; echo same; return 0; fi
  if [ -f "$1" ] && [ ! -L "$1" ]; then cp -p "$1" "$1.bak" || return 1; fi
  chmod "$2" "$t" && chown "$3" "$t" && mv -f "$t" "$1" || { rm -f "$t"; return 1; }
  # What was written, kept on the host: drift tells a hand edit from a changed declaration by it.
  ma_written "$1"
  echo changed
}
${WRITTEN_FUNCTION}
${TUNNEL_ACCOUNT_FUNCTIONS}`;

/** The script runs as root: directly, or re-run under `sudo -n` for a non-root ssh user. */
function asRoot(body: string): string {
  return `if [ "$(id -u)" = 0 ]; then sh -c ${quote(body)}; else sudo -n sh -c ${quote(body)}; fi\n`;
}

function accountsScript(host: string, far: readonly ResolvedTunnel[], initiated: readonly ResolvedTunnel[], others: readonly string[]): string {
  const lines = [HELPERS];
  const farUsers = [...new Set(far.map((t) => t.farUser))].sort();
  const failAll = (list: readonly ResolvedTunnel[]) => list.map((t) => `ma_fail ${quote(t.name)} "$ma_why"`).join('; ');
  for (const user of farUsers) {
    const ak = authorizedKeysPath(user);
    // A refused account fails its own tunnels only; the host's other tunnels go on.
    lines.push(
      `if ma_account ${quote(user)}; then`,
      `  printf '@@account\\t%s\\tours\\n' ${quote(user)}`,
      `  mkdir -p ${quote(`${farHome(user)}/.ssh`)} && chmod 755 ${quote(`${farHome(user)}/.ssh`)} || exit 1`,
      `  rm -f ${quote(`${ak}.ma-tmp`)}`,
      `  if [ -f ${quote(ak)} ]; then printf '@@ak\\t%s\\t=%s\\n' ${quote(user)} "$(base64 -w0 < ${quote(ak)})"; else printf '@@ak\\t%s\\t-\\n' ${quote(user)}; fi`,
      `else ${failAll(far.filter((t) => t.farUser === user))}; fi`,
    );
  }
  // The accounts of this host's other tunnels (not selected): the Match block covers them only if they are ours.
  for (const user of others.filter((u) => !farUsers.includes(u)))
    lines.push(`if ma_ours ${quote(user)}; then printf '@@account\\t%s\\tours\\n' ${quote(user)}; fi`);
  if (far.length > 0) {
    lines.push(
      `keys=$(sshd -T 2>/dev/null | awk '$1=="hostkey"{print $2}')`,
      `[ -n "$keys" ] || { ma_fail - ${quote(`cannot read the host keys of sshd on ${host} (sshd -T)`)}; exit 1; }`,
      'for f in $keys; do [ -f "$f.pub" ] && printf \'@@hostkey\\t%s\\n\' "$(cut -d\' \' -f1,2 < "$f.pub")"; done',
    );
  }
  if (initiated.length > 0) {
    lines.push(`if ma_account ${INITIATOR_USER}; then`);
    for (const t of initiated) {
      const d = quote(t.dir);
      const key = quote(keyPath(t));
      lines.push(
        `mkdir -p ${d} && chown root:${INITIATOR_USER} ${d} && chmod 750 ${d} || { ma_fail ${quote(t.name)} 'cannot create its directory'; exit 1; }`,
        `rm -f ${d}/*.ma-tmp ${d}/*.ma-tmp.pub`,
        `if [ ! -s ${key} ] || ! ssh-keygen -y -f ${key} >/dev/null 2>&1; then`,
        `  ssh-keygen -q -t ed25519 -N '' -C ${quote(keyComment(t))} -f ${quote(`${keyPath(t)}.ma-tmp`)} </dev/null >/dev/null || { ma_fail ${quote(t.name)} 'ssh-keygen failed'; exit 1; }`,
        `  chown ${INITIATOR_USER}:${INITIATOR_USER} ${quote(`${keyPath(t)}.ma-tmp`)} && chmod 600 ${quote(`${keyPath(t)}.ma-tmp`)} && mv -f ${quote(`${keyPath(t)}.ma-tmp`)} ${key} || exit 1`,
        `  rm -f ${quote(`${keyPath(t)}.ma-tmp.pub`)}`,
        `  ma_changed ${quote(t.name)} ${quote(`key generated on ${t.initiator}`)}`,
        'fi',
        `pub=$(ssh-keygen -y -f ${key} | cut -d' ' -f1,2) || { ma_fail ${quote(t.name)} 'cannot read its key'; exit 1; }`,
        `r=$(ma_put ${quote(`${keyPath(t)}.pub`)} 644 root:root "$(printf '%s %s\\n' "$pub" ${quote(keyComment(t))} | base64 -w0)") || exit 1`,
        `printf '@@pubkey\\t%s\\t%s\\n' ${quote(t.name)} "$pub"`,
      );
    }
    lines.push(`else ${failAll(initiated)}; fi`);
  }
  return asRoot(lines.join('\n'));
}

function farScript(host: string, dropIn: string, keys: readonly { user: string; expected: string; content: string; tunnels: string[] }[]): string {
  const lines = [HELPERS];
  for (const k of keys) {
    const ak = quote(authorizedKeysPath(k.user));
    lines.push(
      `if [ -f ${ak} ]; then cur="=$(base64 -w0 < ${ak})"; else cur=-; fi`,
      `[ "$cur" = ${quote(k.expected)} ] || { ma_fail - ${quote(`the authorized_keys of ${k.user} on ${host} changed while this ran: run again`)}; exit 1; }`,
      `r=$(ma_put ${ak} 644 root:root ${quote(b64(k.content))}) || { ma_fail - ${quote(`cannot write the authorized_keys of ${k.user}`)}; exit 1; }`,
      `[ "$r" = same ] || ma_changed - ${quote(`authorized key(s) of ${k.tunnels.join(', ')} installed for ${k.user} on ${host}`)}`,
    );
  }
  lines.push(
    `r=$(ma_put ${SSHD_DROPIN} 644 root:root ${quote(b64(dropIn))}) || { ma_fail - 'cannot write the sshd Match block'; exit 1; }`,
    'if [ "$r" = changed ]; then',
    `  if ! err=$(sshd -t 2>&1); then`,
    `    if [ -f ${SSHD_DROPIN}.bak ]; then mv -f ${SSHD_DROPIN}.bak ${SSHD_DROPIN}; else rm -f ${SSHD_DROPIN}; fi`,
    `    ma_fail - "sshd refused the Match block (put back as it was): $err"; exit 1`,
    '  fi',
    `  systemctl reload ssh 2>/dev/null || systemctl reload sshd 2>/dev/null || { ma_fail - 'cannot reload sshd'; exit 1; }`,
    `  ma_changed - ${quote(`sshd Match block installed on ${host}`)}`,
    'fi',
  );
  for (const user of new Set(keys.map((k) => k.user))) {
    lines.push(
      `sshd -T -C user=${quote(user)},host=localhost,addr=127.0.0.1 2>/dev/null | grep -qx 'clientaliveinterval ${CLIENT_ALIVE.interval}' || { ma_fail - ${quote(`sshd on ${host} does not apply ${SSHD_DROPIN} to ${user} (is "Include /etc/ssh/sshd_config.d/*.conf" at the top of sshd_config?)`)}; exit 1; }`,
    );
  }
  return asRoot(lines.join('\n'));
}

function initiatorScript(list: readonly { t: ResolvedTunnel; knownHosts: string; restart: boolean }[]): string {
  const lines = [HELPERS, 'reload=0'];
  list.forEach(({ t }, i) => {
    lines.push(
      `unit${i}=0`,
      `r=$(ma_put ${quote(unitPath(t))} 644 root:root ${quote(b64(tunnelUnit(t)))}) || { ma_fail ${quote(t.name)} 'cannot write its unit'; exit 1; }`,
      `[ "$r" = same ] || { reload=1; unit${i}=1; ma_changed ${quote(t.name)} 'unit installed'; }`,
    );
  });
  lines.push('[ "$reload" = 0 ] || systemctl daemon-reload || { ma_fail - "systemctl daemon-reload failed"; exit 1; }');
  list.forEach(({ t, knownHosts, restart }, i) => {
    const n = quote(t.name);
    lines.push(
      `changed=${restart ? 1 : 0}`,
      `[ "$unit${i}" = 0 ] || changed=1`,
      `r=$(ma_put ${quote(knownHostsPath(t))} 644 root:root ${quote(b64(knownHosts))}) || { ma_fail ${n} 'cannot write its known_hosts'; exit 1; }`,
      `[ "$r" = same ] || { changed=1; ma_changed ${n} ${quote(`host key of ${t.far} pinned`)}; }`,
      `r=$(ma_put ${quote(sshConfigPath(t))} 644 root:root ${quote(b64(tunnelSshConfig(t)))}) || { ma_fail ${n} 'cannot write its ssh_config'; exit 1; }`,
      `[ "$r" = same ] || { changed=1; ma_changed ${n} 'ssh_config installed'; }`,
      `if ! systemctl is-enabled -q ${quote(t.unit)} 2>/dev/null; then systemctl enable -q ${quote(t.unit)} 2>/dev/null && ma_changed ${n} 'enabled'; fi`,
      `if [ "$changed" = 1 ] || ! systemctl is-active -q ${quote(t.unit)}; then`,
      `  systemctl restart ${quote(t.unit)} && ma_changed ${n} 'started' || ma_fail ${n} 'systemctl restart failed'`,
      'fi',
      `printf '@@state\\t%s\\t%s\\n' ${n} "$(systemctl is-active ${quote(t.unit)} 2>/dev/null)"`,
    );
  });
  return asRoot(lines.join('\n'));
}

function downScript(host: string, initiated: readonly ResolvedTunnel[], far: readonly ResolvedTunnel[]): string {
  const lines = [HELPERS];
  for (const t of initiated) {
    const n = quote(t.name);
    lines.push(
      `if [ -e ${quote(unitPath(t))} ] || systemctl is-active -q ${quote(t.unit)} 2>/dev/null; then`,
      `  systemctl disable --now -q ${quote(t.unit)} 2>/dev/null; rm -f ${quote(unitPath(t))} ${quote(`${unitPath(t)}.bak`)}; systemctl daemon-reload`,
      `  ma_changed ${n} ${quote(`unit stopped and removed on ${host}`)}`,
      'fi',
      `if [ -d ${quote(t.dir)} ]; then rm -rf ${quote(t.dir)} && ma_changed ${n} ${quote(`key and config removed on ${host}`)}; fi`,
      `printf '@@state\\t%s\\t%s\\n' ${n} "$(systemctl is-active ${quote(t.unit)} 2>/dev/null)"`,
    );
  }
  for (const t of far) {
    const ak = quote(authorizedKeysPath(t.farUser));
    const marker = quote(` ${keyComment(t)}`);
    // Only in an account manage-apps made (its home is root's): never root writing in another account's directory.
    lines.push(
      `if ma_ours ${quote(t.farUser)} && [ -f ${ak} ] && [ ! -L ${ak} ] && grep -qF -- ${marker} ${ak}; then`,
      `  grep -vF -- ${marker} ${ak} > ${ak}.ma-tmp; chmod 644 ${ak}.ma-tmp && mv -f ${ak}.ma-tmp ${ak} && ma_changed ${quote(t.name)} ${quote(`authorized key removed on ${host}`)}`,
      'fi',
    );
  }
  return asRoot(lines.join('\n'));
}

interface HostRound {
  result: RunResult;
  records: string[][];
}

/** The restricted line of each tunnel of this account in the current file (by the key's comment). */
function currentLines(content: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (content === undefined) return out;
  const start = content.indexOf(AUTHORIZED_KEYS_START);
  const end = content.indexOf(AUTHORIZED_KEYS_END);
  if (start === -1 || end === -1 || end < start) return out;
  for (const line of content.slice(start, end).split('\n')) {
    const m = / manage-apps-tunnel:([A-Za-z0-9._-]+)@\S+$/.exec(line);
    if (m && !line.startsWith('#')) out.set(m[1]!, line);
  }
  return out;
}

/** authorized_keys with the managed block replaced (or appended); the rest of the file kept. */
function spliceBlock(content: string | undefined, block: string): string {
  const text = content ?? '';
  const start = text.indexOf(AUTHORIZED_KEYS_START);
  const endAt = text.indexOf(AUTHORIZED_KEYS_END);
  if (start !== -1 && endAt > start) {
    const end = text.indexOf('\n', endAt);
    return text.slice(0, start) + block + (end === -1 ? '' : text.slice(end + 1));
  }
  return text === '' ? block : `${text}${text.endsWith('\n') ? '' : '\n'}${block}`;
}

export class TunnelRunner {
  private readonly outcomes = new Map<string, TunnelOutcome>();
  private readonly hostOutcomes = new Map<string, HostOutcome>();

  constructor(
    private readonly ops: Ops,
    private readonly index: FleetIndex,
    /** Every tunnel that can be opened (the far host's Match block covers them all). */
    private readonly all: readonly ResolvedTunnel[],
    private readonly progress: ProgressLine = () => {},
  ) {}

  private host(name: string): Host {
    return this.index.hosts.get(name)!;
  }

  private outcome(t: ResolvedTunnel): TunnelOutcome {
    let o = this.outcomes.get(t.name);
    if (!o)
      this.outcomes.set(
        t.name,
        (o = { name: t.name, direction: t.direction, initiator: t.initiator, far: t.far, unit: t.unit, changes: [], state: null }),
      );
    return o;
  }

  private hostOutcome(name: string): HostOutcome {
    let o = this.hostOutcomes.get(name);
    if (!o) this.hostOutcomes.set(name, (o = { host: name, reachable: true, changes: [] }));
    return o;
  }

  /** One script on each host, in parallel (bounded); records kept; failures noted on the host and its tunnels. */
  private async round(scripts: Map<string, string>, tunnelsOf: (host: string) => ResolvedTunnel[]): Promise<Map<string, HostRound>> {
    const limit = pLimit(this.ops.settings.concurrency);
    const out = new Map<string, HostRound>();
    await Promise.all(
      [...scripts].map(([name, script]) =>
        limit(async () => {
          const result = await this.ops.transport(this.host(name)).script(script, { timeoutMs: this.ops.settings.commandTimeoutMs });
          const recs = records(result.stdout);
          out.set(name, { result, records: recs });
          const ho = this.hostOutcome(name);
          if (result.unreachable !== undefined) ho.reachable = false;
          for (const [kind, who, text] of recs) {
            if (kind === 'changed') (who === '-' ? ho.changes : this.outcome(this.all.find((t) => t.name === who)!).changes).push(text ?? '');
          }
          const errors = recs.filter((r) => r[0] === 'error');
          // A script that ran to its end with errors only about named tunnels (a refused account)
          // failed those tunnels: the host's other tunnels go on.
          const ownErrors = errors.filter((e) => e[1] !== '-' && this.all.some((t) => t.name === e[1]));
          for (const e of ownErrors) this.outcome(this.all.find((t) => t.name === e[1])!).error ??= e[2] ?? 'failed';
          const failed = result.unreachable !== undefined || result.code !== 0 || errors.length > ownErrors.length;
          if (!failed) return;
          const reason = errors.map((e) => e[2]).join('; ') || failureReason(result);
          ho.error ??= reason;
          for (const t of tunnelsOf(name)) {
            const specific = errors.find((e) => e[1] === t.name);
            this.outcome(t).error ??= specific?.[2] ?? `${name}: ${reason}`;
          }
        }),
      ),
    );
    return out;
  }

  private finish(action: 'up' | 'down', selected: readonly ResolvedTunnel[]): TunnelsRun {
    const tunnels = selected.map((t) => this.outcome(t));
    const hosts = [...this.hostOutcomes.values()].sort((a, b) => a.host.localeCompare(b.host));
    const changed = tunnels.reduce((n, t) => n + t.changes.length, 0) + hosts.reduce((n, h) => n + h.changes.length, 0);
    const ok = tunnels.every((t) => t.error === undefined) && hosts.every((h) => h.error === undefined);
    return { action, dry_run: false, tunnels, hosts, changed, ok };
  }

  async up(selected: readonly ResolvedTunnel[]): Promise<TunnelsRun> {
    const initiators = new Map<string, ResolvedTunnel[]>();
    const fars = new Map<string, ResolvedTunnel[]>();
    for (const t of selected) {
      initiators.set(t.initiator, [...(initiators.get(t.initiator) ?? []), t]);
      fars.set(t.far, [...(fars.get(t.far) ?? []), t]);
    }
    const involved = (host: string) => selected.filter((t) => t.initiator === host || t.far === host);
    const hosts = [...new Set([...initiators.keys(), ...fars.keys()])].sort();

    // Round 1: accounts, keys (generated on the initiator), host keys, current authorized_keys.
    this.progress(`[1/3] accounts, keys and host keys on ${hosts.join(', ')}`);
    const otherAccounts = (host: string) =>
      [...new Set(this.all.filter((t) => t.far === host && !selected.includes(t)).map((t) => t.farUser))].sort();
    const r1 = await this.round(
      new Map(hosts.map((h) => [h, accountsScript(h, fars.get(h) ?? [], initiators.get(h) ?? [], otherAccounts(h))])),
      involved,
    );
    const publicKeys = new Map<string, string>();
    const keyGenerated = new Set<string>();
    const hostKeys = new Map<string, string[]>();
    const authorized = new Map<string, Map<string, string>>();
    /** The accounts on each host that manage-apps made (the only ones its Match block may name). */
    const ours = new Map<string, Set<string>>();
    for (const [host, r] of r1) {
      for (const [kind, a, b] of r.records) {
        if (kind === 'account' && a && b === 'ours') ours.set(host, new Set([...(ours.get(host) ?? []), a]));
        if (kind === 'pubkey' && a && b) publicKeys.set(a, b);
        if (kind === 'hostkey' && a) hostKeys.set(host, [...(hostKeys.get(host) ?? []), a]);
        if (kind === 'ak' && a && b !== undefined) {
          let m = authorized.get(host);
          if (!m) authorized.set(host, (m = new Map()));
          m.set(a, b);
        }
        if (kind === 'changed' && a && a !== '-' && (b ?? '').startsWith('key generated')) keyGenerated.add(a);
      }
    }
    const ready1 = (t: ResolvedTunnel) => this.outcome(t).error === undefined && publicKeys.has(t.name) && (hostKeys.get(t.far)?.length ?? 0) > 0;

    // Round 2: on each far host, its Match block and its accounts' authorized_keys.
    const farScripts = new Map<string, string>();
    const lineChanged = new Set<string>();
    for (const [far, list] of fars) {
      if (this.hostOutcome(far).error !== undefined) continue;
      const users = [...new Set(list.map((t) => t.farUser))].sort();
      const keys = users.map((user) => {
        const expected = authorized.get(far)?.get(user) ?? '-';
        const content = expected === '-' ? undefined : Buffer.from(expected.slice(1), 'base64').toString('utf8');
        const current = currentLines(content);
        // Every tunnel of the account: the selected ones with their new key, the others as they are.
        const lines: string[] = [];
        const names: string[] = [];
        for (const t of this.all.filter((x) => x.far === far && x.farUser === user).sort((a, b) => a.name.localeCompare(b.name))) {
          const chosen = list.includes(t) && ready1(t);
          const line = chosen ? authorizedKeyLine(t, publicKeys.get(t.name)) : current.get(t.name);
          if (line === undefined) continue;
          if (chosen && current.get(t.name) !== line) {
            lineChanged.add(t.name);
            names.push(t.name);
          }
          lines.push(line);
        }
        return {
          user,
          expected,
          content: spliceBlock(content, authorizedKeysBlock(lines)),
          tunnels: names.length > 0 ? names : list.map((t) => t.name),
        };
      });
      farScripts.set(
        far,
        farScript(
          far,
          sshdDropIn(this.all.filter((t) => t.far === far && ours.get(far)?.has(t.farUser) === true)),
          keys.filter((k) => ours.get(far)?.has(k.user) === true),
        ),
      );
    }
    this.progress(`[2/3] sshd Match block and restricted keys on ${[...farScripts.keys()].join(', ') || '(none)'}`);
    await this.round(farScripts, (h) => fars.get(h) ?? []);

    // Round 3: on each initiator, pinned host key, ssh_config, unit; started when needed.
    const initScripts = new Map<string, string>();
    for (const [host, list] of initiators) {
      const ready = list.filter((t) => this.outcome(t).error === undefined);
      if (ready.length === 0) continue;
      initScripts.set(
        host,
        initiatorScript(
          ready.map((t) => ({
            t,
            knownHosts: knownHostsFile(t, hostKeys.get(t.far) ?? []),
            restart: keyGenerated.has(t.name) || lineChanged.has(t.name),
          })),
        ),
      );
    }
    this.progress(`[3/3] units on ${[...initScripts.keys()].join(', ') || '(none)'}`);
    const r3 = await this.round(initScripts, (h) => (initiators.get(h) ?? []).filter((t) => this.outcome(t).error === undefined));
    for (const r of r3.values())
      for (const [kind, name, state] of r.records) if (kind === 'state' && name) this.outcomes.get(name)!.state = state ?? null;
    return this.finish('up', selected);
  }

  /** `only`: on these hosts alone (a moved tunnel taken off the end it left, its other end kept). */
  async down(selected: readonly ResolvedTunnel[], only?: ReadonlySet<string>): Promise<TunnelsRun> {
    const hosts = [...new Set(selected.flatMap((t) => [t.initiator, t.far]))].filter((h) => only === undefined || only.has(h)).sort();
    this.progress(`[1/1] stopping units and removing keys on ${hosts.join(', ')}`);
    const scripts = new Map(
      hosts.map((h) => [
        h,
        downScript(
          h,
          selected.filter((t) => t.initiator === h),
          selected.filter((t) => t.far === h),
        ),
      ]),
    );
    const r = await this.round(scripts, (h) => selected.filter((t) => t.initiator === h || t.far === h));
    for (const t of selected) this.outcome(t);
    for (const x of r.values()) {
      for (const [kind, name, state] of x.records) {
        const o = kind === 'state' && name !== undefined ? this.outcomes.get(name) : undefined;
        if (o) o.state = state || null;
      }
    }
    return this.finish('down', selected);
  }

  /** What up/down would ask of each host, round by round: nothing is contacted. */
  plan(action: 'up' | 'down', selected: readonly ResolvedTunnel[]): TunnelsRun {
    const steps: { round: number; host: string; steps: string[] }[] = [];
    const add = (round: number, host: string, step: string) => {
      let s = steps.find((x) => x.round === round && x.host === host);
      if (!s) steps.push((s = { round, host, steps: [] }));
      s.steps.push(step);
    };
    for (const t of selected) {
      if (action === 'down') {
        add(1, t.initiator, `stop and remove ${t.unit}, delete ${t.dir} (key included)`);
        add(1, t.far, `remove the key of ${t.name} from ${authorizedKeysPath(t.farUser)}`);
        continue;
      }
      add(1, t.far, `ensure account ${t.farUser}; read sshd's host keys and ${authorizedKeysPath(t.farUser)}`);
      add(1, t.initiator, `ensure account ${INITIATOR_USER}; generate ${keyPath(t)} unless it exists`);
      add(2, t.far, `install ${SSHD_DROPIN} (sshd -t, reload if changed); the restricted key of ${t.name} in ${authorizedKeysPath(t.farUser)}`);
      add(
        3,
        t.initiator,
        `pin ${t.far}'s host key in ${knownHostsPath(t)}; install ${sshConfigPath(t)} and ${unitPath(t)}; enable, start if changed or not running`,
      );
    }
    for (const s of steps) s.steps = [...new Set(s.steps)];
    steps.sort((a, b) => a.round - b.round || a.host.localeCompare(b.host));
    return {
      action,
      dry_run: true,
      changed: 0,
      ok: true,
      plan: steps,
      hosts: [],
      tunnels: selected.map((t) => ({
        name: t.name,
        direction: t.direction,
        initiator: t.initiator,
        far: t.far,
        unit: t.unit,
        changes: [],
        state: null,
      })),
    };
  }
}

/**
 * The tunnels' part of a host's status script (same script, same round trip as its services):
 * the unit of each tunnel the host opens (systemctl show), and an end-to-end probe of each
 * forwarded port that listens there, from the side that uses it: a TCP connection that must
 * stay open (a tunnel whose far end cannot reach its target accepts, then closes at once), and
 * `pg_isready` through it when the tunnel carries a Postgres cluster and the host has it.
 */
import { quote } from '../transport/quote.js';
import type { ResolvedTunnel } from '../tunnels/resolve.js';
import { records } from './shell.js';
import { parseTimestamp } from './systemd-units.js';

export interface TunnelProbeInput {
  tunnel: string;
  host: string;
  port: number;
  postgres: boolean;
}

export interface TunnelHostInput {
  units: readonly ResolvedTunnel[];
  probes: readonly TunnelProbeInput[];
}

export interface TunnelUnitState {
  load: string;
  active: string;
  sub: string;
  restarts: number | null;
  since: string | null;
}

export interface TunnelProbe {
  host: string;
  port: number;
  kind: 'tcp' | 'pg_isready';
  ok: boolean;
  detail: string;
}

const PROBE_FN = String.raw`ma_tunnel_tcp() {
  command -v bash >/dev/null 2>&1 || { echo no-bash; return; }
  timeout 5 bash -c 'exec 3<>"/dev/tcp/$1/$2" 2>/dev/null || { echo refused; exit; }
    IFS= read -r -t 1 -n 1 x <&3; r=$?
    if [ $r -eq 0 ] || [ $r -gt 128 ]; then echo open; else echo closed; fi' _ "$1" "$2" 2>/dev/null || echo timeout
}`;

export function tunnelStatusPart(input: TunnelHostInput): string {
  if (input.units.length === 0 && input.probes.length === 0) return '';
  const lines = [PROBE_FN];
  for (const t of input.units) {
    lines.push(
      `printf '@@tunnel-unit\\t%s\\t%s\\n' ${quote(t.name)} "$(systemctl show -p LoadState -p ActiveState -p SubState -p NRestarts -p ActiveEnterTimestamp -- ${quote(t.unit)} 2>/dev/null | tr '\\n' '\\t')"`,
    );
  }
  for (const p of input.probes) {
    const host = p.host === '0.0.0.0' || p.host === '::' ? '127.0.0.1' : p.host;
    lines.push(`printf '@@tunnel-tcp\\t%s\\t%s\\t%s\\n' ${quote(p.tunnel)} ${p.port} "$(ma_tunnel_tcp ${quote(host)} ${p.port})"`);
    if (p.postgres) {
      lines.push(
        `if command -v pg_isready >/dev/null 2>&1; then o=$(pg_isready -h ${quote(host)} -p ${p.port} -t 3 2>&1); printf '@@tunnel-pg\\t%s\\t%s\\t%s\\t%s\\n' ${quote(p.tunnel)} ${p.port} "$?" "$(printf '%s' "$o" | tr '\\t\\n' '  ')"; fi`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

export interface TunnelHostReport {
  units: Map<string, TunnelUnitState>;
  probes: Map<string, TunnelProbe[]>;
}

export function parseTunnelStatus(input: TunnelHostInput, output: string): TunnelHostReport {
  const units = new Map<string, TunnelUnitState>();
  const probes = new Map<string, TunnelProbe[]>();
  const hostOf = new Map(input.probes.map((p) => [`${p.tunnel}\u0000${p.port}`, p.host]));
  const add = (name: string, p: TunnelProbe) => probes.set(name, [...(probes.get(name) ?? []), p]);
  for (const r of records(output)) {
    const [kind, name] = r;
    if (name === undefined) continue;
    if (kind === 'tunnel-unit') {
      const props = new Map(
        r
          .slice(2)
          .filter(Boolean)
          .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
      );
      const restarts = Number(props.get('NRestarts'));
      units.set(name, {
        load: props.get('LoadState') ?? 'unknown',
        active: props.get('ActiveState') ?? 'unknown',
        sub: props.get('SubState') ?? 'unknown',
        restarts: props.has('NRestarts') && Number.isInteger(restarts) ? restarts : null,
        since: parseTimestamp(props.get('ActiveEnterTimestamp')),
      });
    } else if (kind === 'tunnel-tcp') {
      const port = Number(r[2]);
      const answer = r[3] ?? '';
      add(name, {
        host: hostOf.get(`${name}\u0000${port}`) ?? '',
        port,
        kind: 'tcp',
        ok: answer === 'open',
        detail:
          answer === 'open'
            ? 'connection stays open'
            : answer === 'closed'
              ? 'accepted, then closed: the far end cannot reach the target'
              : answer || 'no answer',
      });
    } else if (kind === 'tunnel-pg') {
      const port = Number(r[2]);
      add(name, { host: hostOf.get(`${name}\u0000${port}`) ?? '', port, kind: 'pg_isready', ok: r[3] === '0', detail: (r[4] ?? '').trim() });
    }
  }
  return { units, probes };
}
